//! What the unit tests share: a run of batches through the real ledger on one node, with the
//! history a truthful client would have recorded, so each checker's test starts from evidence
//! every checker accepts and breaks exactly one thing.

use tianping_ledger::{
    AccountFlags, Batch, Command, Detail, LedgerConfig, LedgerStoreMut, MemoryStore, NewAccount,
    NewTransfer, StateMachine, state_digest,
};

use crate::checker::Evidence;
use crate::cluster::{LogEntry, Replica};
use crate::history::{AccountRead, Ack, AckedBatch, Balances, History};
use crate::replay::{self, Replay};

/// The node every test's log and replica belong to.
pub const NODE: u64 = 1;
/// Accounts 1, 2 and 3 on ledger 1; account 3 may not go below zero.
pub const GUARDED: u128 = 3;

/// A log, the replica that applied it, and what a truthful client was told.
pub struct Run {
    /// Entry 0 (membership, no batch), then one entry per batch.
    pub log: Vec<LogEntry>,
    /// Node `NODE` after the whole log.
    pub replica: Replica,
    /// Every transfer of the log sent and acknowledged as the ledger answered it.
    pub history: History,
}

impl Run {
    /// The log replayed as the checkers would.
    pub fn replay(&self) -> Replay {
        match replay::replay(&self.replica, &self.log) {
            Ok(replay) => replay,
            Err(reason) => panic!("the test log does not replay: {reason}"),
        }
    }

    /// Evidence of a run that recovered at once, every node caught up.
    pub fn evidence(self) -> Evidence {
        let replay = replay::replay(&self.replica, &self.log);
        Evidence {
            history: self.history,
            replicas: vec![self.replica],
            unreadable: Vec::new(),
            recovery: Some(std::time::Duration::from_secs(1)),
            recovery_bound: std::time::Duration::from_secs(15),
            target_index: 0,
            lagging: Vec::new(),
            replay,
        }
    }
}

/// A transfer of `amount` from `debit` to `credit` on ledger 1.
pub fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Command {
    Command::CreateTransfer(NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: 1,
        code: 1,
        ..NewTransfer::default()
    })
}

/// Creates accounts 1..=3 (entry 1 of every test log).
pub fn accounts() -> Batch {
    let commands = (1..=3)
        .map(|id| {
            let flags = if id == GUARDED {
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            } else {
                AccountFlags::default()
            };
            Command::CreateAccount(NewAccount {
                id,
                ledger: 1,
                code: 1,
                flags,
                ..NewAccount::default()
            })
        })
        .collect();
    Batch { timestamp: 1_000, commands }
}

/// A batch of `commands` stamped `timestamp`.
pub fn batch(timestamp: u64, commands: Vec<Command>) -> Batch {
    Batch { timestamp, commands }
}

/// The wire's name of a result code (`ExceedsCredits` → `exceeds_credits`).
fn wire_name(name: &str) -> String {
    let mut wire = String::new();
    for (position, letter) in name.chars().enumerate() {
        if letter.is_uppercase() && position > 0 {
            wire.push('_');
        }
        wire.push(letter.to_ascii_lowercase());
    }
    wire
}

/// Applies `batches` as log entries 1.. through the ledger on node `NODE`, recording the
/// answers a truthful client got, acknowledged in log order.
pub fn run(batches: Vec<Batch>) -> Run {
    let machine = StateMachine::new(LedgerConfig::default()).expect("the default configuration");
    let mut store = MemoryStore::new();
    let mut history = History::default();
    let mut log = vec![LogEntry { index: 0, batch: None }];
    for batch in batches {
        let index = log.len() as u64;
        let (results, writes) = machine.apply(&store, &batch).expect("the batch applies");
        store.commit(&writes);
        for (command, result) in batch.commands.iter().zip(&results) {
            let code_name = wire_name(result.code.name());
            match command {
                Command::CreateAccount(account) => {
                    history.accounts_acked.insert(account.id, (code_name, index));
                }
                Command::CreateTransfer(transfer) => {
                    let amount = match result.detail {
                        Detail::Amount(amount) => amount.to_string(),
                        _ => String::new(),
                    };
                    history.sent.insert(transfer.id);
                    let ack =
                        Ack { code_name, timestamp: result.timestamp, amount, log_index: index };
                    history.acks.insert(transfer.id, ack);
                }
                _ => {}
            }
        }
        let sequence = history.sequence();
        history.acked_batches.push(AckedBatch { sequence, log_index: index });
        history.batches_acked += 1;
        log.push(LogEntry { index, batch: Some(batch) });
    }
    let applied = log.len() as u64 - 1;
    let replica = Replica { node_id: NODE, applied, digest: state_digest(&store), ledger: store };
    Run { log, replica, history }
}

/// Accounts 1..3, then: 10 (1 → 2, 100) at index 2; 11 (3 → 1, refused: 3 has nothing) and
/// 12 (2 → 3, 40) at index 3; 13 (3 → 1, 25) at index 4.
pub fn standard() -> Run {
    run(vec![
        accounts(),
        batch(2_000, vec![transfer(10, 1, 2, 100)]),
        batch(3_000, vec![transfer(11, GUARDED, 1, 5), transfer(12, 2, GUARDED, 40)]),
        batch(4_000, vec![transfer(13, GUARDED, 1, 25)]),
    ])
}

/// Credits posted `credits` and debits posted `debits`, nothing pending.
pub fn posted(debits: u128, credits: u128) -> Balances {
    Balances { debits_posted: debits, credits_posted: credits, ..Balances::default() }
}

/// A balance read by `client` of `accounts`, numbered `sequence`, answered by `NODE`.
pub fn read(client: u32, sequence: u64, accounts: Vec<(u128, Option<Balances>)>) -> AccountRead {
    AccountRead {
        client,
        node_id: NODE,
        sequence,
        started: std::time::Duration::from_secs(sequence),
        ended: std::time::Duration::from_secs(sequence + 1),
        applied_index: 0,
        committed_bound: Some(4),
        accounts,
    }
}

/// Fails unless `violations` is exactly one sentence containing `needle`.
#[track_caller]
pub fn assert_one(violations: &[String], needle: &str) {
    assert!(
        violations.len() == 1 && violations[0].contains(needle),
        "expected one violation containing {needle:?}, got {violations:#?}"
    );
}
