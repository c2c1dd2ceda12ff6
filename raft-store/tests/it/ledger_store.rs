//! The RocksDB `LedgerStore` answers every query exactly as the reference `MemoryStore` does
//! after the same log, and holds the same state (digest).

use tempfile::TempDir;
use tianping_ledger::store::{HistoryFilter, LedgerStore, PayoutIndexKey};
use tianping_ledger::{
    CollectionKey, DiscrepancyBlock, LedgerStoreMut, MemoryStore, PayoutState, ResultCode, Table,
};
use tianping_raft_store::rocks::RocksLedger;
use tianping_raft_store::{EntryPayload, RocksConfig, RocksStore};

use crate::support::{ACCOUNTS, apply, machine, workload_entry};

#[tokio::test]
async fn rocks_ledger_answers_like_the_memory_store() {
    let root = TempDir::new().expect("temporary directory");
    let config = RocksConfig { account_cache_entries_max: 10, ..RocksConfig::default() };
    let (_log_store, mut state_machine) =
        RocksStore::open(root.path(), machine(), config).expect("open");
    let mut reference = MemoryStore::new();
    let ledger_machine = machine();
    for index in 1..=30 {
        let entry = workload_entry(index, 40);
        if let EntryPayload::Normal(batch) = &entry.payload {
            let (_, writes) = ledger_machine.apply(&reference, batch).expect("batch accepted");
            reference.commit(&writes);
        }
        apply(&mut state_machine, vec![entry]).await.expect("apply");
    }
    assert_eq!(
        state_machine.state_digest().expect("digest"),
        tianping_ledger::state_digest(&reference)
    );
    state_machine.with_ledger(|rocks| compare(rocks, &reference)).expect("every read succeeds");
}

fn compare(rocks: &RocksLedger, reference: &MemoryStore) {
    assert_eq!(rocks.meta(), reference.meta());
    for id in 0..=ACCOUNTS + 1 {
        assert_eq!(
            rocks.account(u128::from(id)),
            reference.account(u128::from(id)),
            "account {id}"
        );
    }
    let now = reference.meta().last_timestamp;
    for limit in [0, 1, 7, 1000] {
        assert_eq!(rocks.expiries_due(now, limit), reference.expiries_due(now, limit));
        assert_eq!(rocks.expiries_due(now / 2, limit), reference.expiries_due(now / 2, limit));
        assert_eq!(rocks.audit_records(0, limit), reference.audit_records(0, limit));
    }
    for account_id in [1u128, 2, 3, 50] {
        for (timestamp_min, timestamp_max) in
            [(0, u64::MAX), (now - 900_000_000, now - 200_000_000), (now, 0)]
        {
            for limit in [0, 1, 5, 10_000] {
                for reversed in [false, true] {
                    let filter =
                        HistoryFilter { account_id, timestamp_min, timestamp_max, limit, reversed };
                    assert_eq!(
                        rocks.account_transfers(&filter),
                        reference.account_transfers(&filter),
                        "{filter:?}"
                    );
                    assert_eq!(
                        rocks.account_balances(&filter),
                        reference.account_balances(&filter),
                        "{filter:?}"
                    );
                }
            }
        }
    }
    assert!(!reference.audit_records(0, 10).is_empty(), "the workload changes account statuses");
    for index in (4..=30u64).step_by(4) {
        let payout_id = u128::from(index) << 40 | 1;
        assert!(reference.payout(payout_id).is_some(), "payout of entry {index} created");
        assert_eq!(rocks.payout(payout_id), reference.payout(payout_id));
        assert_eq!(rocks.pending_transfer(payout_id), reference.pending_transfer(payout_id));
        let key = CollectionKey { bank: 7, bank_reference: format!("reference {index}") };
        assert!(reference.collection(&key).is_some(), "collection of entry {index} booked");
        assert_eq!(rocks.collection(&key), reference.collection(&key));
    }
    for transfer_id in [2u128 << 32, 2 << 32 | 1, 30 << 32 | 39, 31 << 32] {
        assert_eq!(rocks.transfer(transfer_id), reference.transfer(transfer_id));
        assert_eq!(rocks.pending_transfer(transfer_id), reference.pending_transfer(transfer_id));
    }
    let first = PayoutIndexKey { state: PayoutState::Reserved, bank: 0, order: 0, payout_id: 0 };
    let last = PayoutIndexKey {
        state: PayoutState::Failed,
        bank: u32::MAX,
        order: u64::MAX,
        payout_id: u128::MAX,
    };
    assert_eq!(
        rocks.payout_index_range(&first, &last, 100),
        reference.payout_index_range(&first, &last, 100)
    );
    // Transfers out of account 6 while it is outflow-blocked are refused for a state-dependent
    // reason: their ids are final, in both stores alike.
    let mut refused = Vec::new();
    reference.visit_table(Table::Refusals, &mut |key, _| {
        refused.push(tianping_ledger::codec::decode_id_key(key).expect("refusal key"));
    });
    assert!(!refused.is_empty(), "the workload has state-dependent refusals");
    for id in refused {
        let expected = reference.refusal(id);
        assert_eq!(expected.map(|r| r.code), Some(ResultCode::DebitAccountOutflowBlocked));
        assert_eq!(rocks.refusal(id), expected, "refusal {id}");
        assert_eq!(rocks.transfer(id), None, "refused id {id} has no transfer");
    }
    assert_eq!(rocks.refusal(2 << 32), None);
    for index in (4..=32u64).step_by(4) {
        let id = u128::from(index) << 40 | 5;
        assert_eq!(rocks.discrepancy(id), reference.discrepancy(id), "discrepancy {id}");
    }
    assert!(reference.discrepancy(4 << 40 | 5).is_some(), "the workload records discrepancies");
    for limit in [0, 1, 3, 1000] {
        assert_eq!(
            rocks.discrepancy_index_range(0, u64::MAX, limit),
            reference.discrepancy_index_range(0, u64::MAX, limit)
        );
        assert_eq!(
            rocks.discrepancy_index_range(now / 2, now - 1, limit),
            reference.discrepancy_index_range(now / 2, now - 1, limit)
        );
        let first = DiscrepancyBlock { account_id: 0, discrepancy_id: 0 };
        let last = DiscrepancyBlock { account_id: u128::MAX, discrepancy_id: u128::MAX };
        let middle = DiscrepancyBlock { account_id: 8, discrepancy_id: 0 };
        for (from, to) in [(&first, &last), (&middle, &last), (&last, &first)] {
            assert_eq!(
                rocks.discrepancy_block_range(from, to, limit),
                reference.discrepancy_block_range(from, to, limit)
            );
        }
    }
    let blocks = reference.discrepancy_block_range(
        &DiscrepancyBlock { account_id: 0, discrepancy_id: 0 },
        &DiscrepancyBlock { account_id: u128::MAX, discrepancy_id: u128::MAX },
        1000,
    );
    assert!(!blocks.is_empty(), "open discrepancies hold accounts at the end of the workload");
}
