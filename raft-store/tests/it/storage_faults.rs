//! Storage faults fail stop: a read of a ledger table that fails while an entry is computed,
//! or the failed write of its outcome, makes `apply` return the error to openraft (which then
//! stops the node) with nothing stored — no transfer, no final `Refusal`, no last-applied
//! move — and the same entry applies normally once the disk answers again (what a restart
//! does). Client reads answer the error instead of "absent". Faults are injected through
//! `RocksConfig::fault_hook`.

use std::io;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use tianping_ledger::{
    Batch, CollectionKey, Command, LedgerStore, NewAccount, NewCollection, NewPayout, NewTransfer,
    Table,
};
use tianping_raft_store::{
    Entry, FaultHook, RocksConfig, RocksStateMachine, RocksStore, StorageAccess,
};

use crate::support::{apply, machine, normal};

const T0: u64 = 1_764_000_000_000_000_000;

/// The access that fails while armed.
#[derive(Clone, Default)]
struct Faults(Arc<Mutex<Option<StorageAccess>>>);

impl Faults {
    fn arm(&self, access: Option<StorageAccess>) {
        *self.0.lock().expect("fault switch") = access;
    }

    fn hook(&self) -> FaultHook {
        let armed = self.0.clone();
        Arc::new(move |access| {
            (*armed.lock().expect("fault switch") == Some(access))
                .then(|| io::Error::other(format!("injected fault: {access:?}")))
        })
    }
}

fn accounts_entry() -> Entry {
    let account = |id| {
        Command::CreateAccount(NewAccount { id, ledger: 156, code: 1, ..NewAccount::default() })
    };
    normal(1, 1, Batch { timestamp: T0, commands: (1..=5).map(account).collect() })
}

/// A transfer, a payout and a collection: between them they read every table the state
/// machine reads while applying.
fn movements_entry(index: u64) -> Entry {
    let id = u128::from(index) * 100;
    normal(
        1,
        index,
        Batch {
            timestamp: T0 + index,
            commands: vec![
                Command::CreateTransfer(NewTransfer {
                    id,
                    debit_account_id: 1,
                    credit_account_id: 2,
                    amount: 10,
                    ledger: 156,
                    code: 1,
                    ..NewTransfer::default()
                }),
                Command::CreatePayout(NewPayout {
                    id: id + 1,
                    debit_account_id: 1,
                    credit_account_id: 3,
                    amount: 5,
                    ledger: 156,
                    code: 1,
                    bank: 7,
                    beneficiary: "beneficiary".to_owned(),
                    ..NewPayout::default()
                }),
                Command::BookCollection(NewCollection {
                    id: id + 2,
                    bank: 7,
                    bank_reference: format!("reference {index}"),
                    beneficiary_account_id: 2,
                    settlement_account_id: 4,
                    suspense_account_id: 5,
                    amount: 7,
                    ledger: 156,
                    code: 1,
                    ..NewCollection::default()
                }),
            ],
        },
    )
}

/// What the tables hold about entry `index`'s transfer, payout and collection (and whether
/// the first two ids were refused), and the last applied index.
async fn traces(machine: &mut RocksStateMachine, index: u64) -> (Vec<bool>, Option<u64>) {
    let id = u128::from(index) * 100;
    let traces = machine
        .with_ledger(|ledger| {
            vec![
                ledger.transfer(id).is_some(),
                ledger.refusal(id).is_some(),
                ledger.payout(id + 1).is_some(),
                ledger.refusal(id + 1).is_some(),
                ledger
                    .collection(&CollectionKey {
                        bank: 7,
                        bank_reference: format!("reference {index}"),
                    })
                    .is_some(),
            ]
        })
        .expect("reads with no fault armed");
    let (applied, _) = machine.applied_state().await.expect("applied state");
    (traces, applied.map(|log_id| log_id.index))
}

#[tokio::test]
async fn a_failed_read_or_write_stops_applying_and_stores_nothing() {
    let root = tempfile::tempdir().expect("temporary directory");
    let faults = Faults::default();
    // No account cache: every account read reaches RocksDB.
    let config = RocksConfig {
        account_cache_entries_max: 0,
        fault_hook: Some(faults.hook()),
        ..RocksConfig::default()
    };
    let (_log, mut machine) = RocksStore::open(root.path(), machine(), config).expect("opens");
    apply(&mut machine, vec![accounts_entry()]).await.expect("accounts created");
    let mut failed = Vec::new();
    let accesses =
        Table::ALL.map(StorageAccess::Read).into_iter().chain([StorageAccess::ApplyWrite]);
    for (index, access) in (2..).zip(accesses) {
        faults.arm(Some(access));
        let outcome = apply(&mut machine, vec![movements_entry(index)]).await;
        faults.arm(None);
        if let Err(error) = outcome {
            assert!(error.to_string().contains("injected fault"), "{error}");
            failed.push(access);
            // Nothing of the entry is stored, in particular no final refusal.
            assert_eq!(
                traces(&mut machine, index).await,
                (vec![false; 5], Some(index - 1)),
                "{access:?}"
            );
        }
        // Applied again once the disk answers (openraft re-applies it at restart): every
        // movement succeeds, as if the fault never happened.
        if failed.last() == Some(&access) {
            apply(&mut machine, vec![movements_entry(index)]).await.expect("applies");
        }
        assert_eq!(
            traces(&mut machine, index).await,
            (vec![true, false, true, false, true], Some(index)),
            "{access:?}"
        );
    }
    // Every table these commands read, and the write, stopped it. (`Meta` is cached since
    // the first entry; pending-transfer states are read by posts and voids, the payout index
    // by claims; the history, balance and audit tables are written, not read.)
    let expected = [
        Table::Accounts,
        Table::Transfers,
        Table::Expiries,
        Table::Payouts,
        Table::Collections,
        Table::Refusals,
    ]
    .map(StorageAccess::Read)
    .into_iter()
    .chain([StorageAccess::ApplyWrite])
    .collect::<Vec<_>>();
    assert_eq!(failed, expected);
}

#[tokio::test]
async fn a_failed_client_read_is_an_error_not_an_absent_record() {
    let root = tempfile::tempdir().expect("temporary directory");
    let faults = Faults::default();
    let config = RocksConfig {
        account_cache_entries_max: 0,
        fault_hook: Some(faults.hook()),
        ..RocksConfig::default()
    };
    let (_log, mut machine) = RocksStore::open(root.path(), machine(), config).expect("opens");
    apply(&mut machine, vec![accounts_entry()]).await.expect("accounts created");
    faults.arm(Some(StorageAccess::Read(Table::Accounts)));
    let error = machine.with_ledger(|ledger| ledger.account(1)).expect_err("the read failed");
    assert!(error.to_string().contains("injected fault"), "{error}");
    assert!(machine.state_digest().is_err());
    faults.arm(None);
    // The failure belonged to that session only.
    assert!(machine.with_ledger(|ledger| ledger.account(1)).expect("reads").is_some());
}
