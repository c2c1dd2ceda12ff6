//! The drill's verdict: what the clients were told, held against what the cluster holds once
//! healed and converged. The final state is read back through the API (every account, every
//! transfer id a client sent) into a `MemoryStore`, so the history crate's checkers and the
//! ledger's invariants judge it as they judge a simulated replica; every node's
//! `Admin/ReplicaDigest` gives the replicas' agreement.
//!
//! What the read-back holds is the part of the state the clients touched — their accounts and
//! every transfer whose id they sent — not the whole ledger: the checks below read no more.
//! A transfer nobody sent cannot be looked up, but it would move a balance, and "each
//! account's balance equals its transfers" finds that.

use std::time::Duration;

use tianping_client::{Client, Transfer};
use tianping_history::checker::{acknowledged, digests};
use tianping_history::{History, Replica};
use tianping_ledger::invariants::{self, StateDump, Violation};
use tianping_ledger::{LedgerStore, LedgerStoreMut, MemoryStore, StateDigest, WriteSet};
use tianping_proto::v1::ReplicaDigestRequest;
use tianping_proto::v1::admin_client::AdminClient;

use super::DrillError;
use super::workload::{BLOCKED, LIMITED, LIMITED_MAX, account_ids};
use crate::unavailability::Unavailability;

/// How many ids one lookup asks for.
const LOOKUP_CHUNK: usize = 1_000;

/// Longest one digest call may take (it reads the whole state).
const DIGEST_TIMEOUT: Duration = Duration::from_secs(20);

/// One property and what broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The property, as the report names it.
    pub name: &'static str,
    /// Its violations (empty: it holds).
    pub violations: Vec<String>,
}

/// Every check's outcome; the drill passes when none has a violation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// In the order the report lists them.
    pub checks: Vec<Check>,
}

impl Verdict {
    /// Whether every check holds.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.violations.is_empty())
    }

    fn push(&mut self, name: &'static str, violations: Vec<String>) {
        self.checks.push(Check { name, violations });
    }
}

/// One node's replica digest, as it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDigest {
    /// The node.
    pub node_id: u64,
    /// Its applied index.
    pub applied: u64,
    /// Its state digest at that index.
    pub digest: StateDigest,
}

/// Asks every node for its replica digest: answers, and the nodes that did not answer (why).
pub async fn read_digests(nodes: &[(u64, String, String)]) -> (Vec<NodeDigest>, Vec<String>) {
    let mut answers = Vec::new();
    let mut unreadable = Vec::new();
    for (node_id, _, address) in nodes {
        match digest_of(address).await {
            Ok(answer) => answers.push(answer),
            Err(why) => unreadable.push(format!("node {node_id}: {why}")),
        }
    }
    (answers, unreadable)
}

async fn digest_of(address: &str) -> Result<NodeDigest, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| format!("address {address:?}: {error}"))?
        .connect_timeout(Duration::from_secs(2));
    let mut admin = AdminClient::new(endpoint.connect_lazy());
    let answer =
        tokio::time::timeout(DIGEST_TIMEOUT, admin.replica_digest(ReplicaDigestRequest {}))
            .await
            .map_err(|_| format!("no digest within {DIGEST_TIMEOUT:?}"))?
            .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?
            .into_inner();
    let digest: [u8; 32] = answer
        .state_digest
        .as_slice()
        .try_into()
        .map_err(|_| format!("a digest of {} bytes, not 32", answer.state_digest.len()))?;
    Ok(NodeDigest {
        node_id: answer.node_id,
        applied: answer.applied_index,
        digest: StateDigest(digest),
    })
}

/// Reads the clients' accounts and every transfer id in `history.sent` back through `client`
/// (linearizable reads, on the leader) into a store holding just those records. The caller
/// puts the drill's own funding ids in `sent` too, so every balance has every transfer that
/// moved it.
pub async fn read_back(client: &Client, history: &History) -> Result<MemoryStore, DrillError> {
    let accounts = client
        .lookup_accounts(&account_ids())
        .await
        .map_err(|error| DrillError::Client(format!("reading the accounts back: {error}")))?;
    let ids: Vec<u128> = history.sent.iter().copied().collect();
    let mut transfers: Vec<Transfer> = Vec::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let found = client
            .lookup_transfers(chunk)
            .await
            .map_err(|error| DrillError::Client(format!("reading the transfers back: {error}")))?;
        transfers.extend(found);
    }
    let mut store = MemoryStore::new();
    let writes = WriteSet { accounts, transfers, meta: store.meta(), ..WriteSet::default() };
    store.commit(&writes);
    Ok(store)
}

/// What the verdict judges.
pub struct Judged<'a> {
    /// The clients' history (the funding transfers are added to `sent` by the caller).
    pub history: &'a History,
    /// The read-back (`read_back`), and the node whose answers it holds.
    pub state: &'a MemoryStore,
    /// The node that answered the read-back.
    pub read_from: u64,
    /// Every node's digest once converged, and the nodes that did not answer.
    pub digests: &'a [NodeDigest],
    /// See `digests`.
    pub unreadable: &'a [String],
    /// How many nodes the cluster has.
    pub nodes: usize,
    /// The unavailability of each fault and heal, as the clients saw it.
    pub unavailability: &'a [(String, Unavailability)],
    /// Whether the cluster converged before the digests were read (why not, otherwise).
    pub converged: Result<(), String>,
}

/// Judges a drill.
pub fn judge(judged: &Judged<'_>) -> Verdict {
    let mut verdict = Verdict::default();
    let dump = StateDump::load(judged.state);
    let applied = judged.digests.iter().map(|digest| digest.applied).max().unwrap_or(0);
    let reference = Replica {
        node_id: judged.read_from,
        applied,
        digest: tianping_ledger::state_digest(judged.state),
        ledger: judged.state.clone(),
    };
    verdict.push(
        "every acknowledged write present with its fields; no refused write applied",
        acknowledged::check(judged.history, std::slice::from_ref(&reference)),
    );
    verdict.push(
        "balances conserved (debits equal credits over all accounts)",
        words(invariants::conservation::check(&dump)),
    );
    verdict.push(
        "each balance equals its committed transfers (none applied twice, none invented)",
        words(invariants::balances_match_transfers::check(&dump)),
    );
    let mut held = words(invariants::balance_flags::check(&dump));
    held.extend(words(invariants::limits::check(&dump)));
    held.extend(blocks_and_limits(&dump));
    verdict.push("blocks and limits held", held);
    verdict.push("replicas agree (one digest at one applied index, every node)", agreement(judged));
    let mut recovered: Vec<String> = judged
        .unavailability
        .iter()
        .filter(|(_, window)| window.duration().is_none())
        .map(|(event, _)| format!("the clients never committed again after: {event}"))
        .collect();
    recovered.extend(judged.history.anomalies.iter().map(|anomaly| format!("client: {anomaly}")));
    verdict.push("clients committed again after every fault", recovered);
    verdict
}

fn words(violations: Vec<Violation>) -> Vec<String> {
    violations.into_iter().map(|violation| violation.to_string()).collect()
}

/// The drill's own accounts: the blocked one never debited, the limited one never debited
/// above its single-transfer limit.
fn blocks_and_limits(dump: &StateDump) -> Vec<String> {
    let mut violations = Vec::new();
    for transfer in dump.transfers.values() {
        if transfer.debit_account_id == BLOCKED {
            violations.push(format!(
                "transfer {} debited {} from account {BLOCKED}, blocked for outflow before the workload",
                transfer.id, transfer.amount
            ));
        }
        if transfer.debit_account_id == LIMITED && transfer.amount > LIMITED_MAX {
            violations.push(format!(
                "transfer {} debited {} from account {LIMITED}, whose single debits are capped at {LIMITED_MAX}",
                transfer.id, transfer.amount
            ));
        }
    }
    violations
}

/// The replicas' agreement: every node answered, all at one applied index, and the history
/// crate's `digests` check over them (equal index, equal digest).
fn agreement(judged: &Judged<'_>) -> Vec<String> {
    let mut violations: Vec<String> =
        judged.unreadable.iter().map(|why| format!("no digest from {why}")).collect();
    if let Err(why) = &judged.converged {
        violations.push(format!("the cluster did not converge: {why}"));
    }
    if judged.digests.len() + judged.unreadable.len() < judged.nodes {
        violations.push(format!(
            "{} of {} nodes were asked for a digest",
            judged.digests.len() + judged.unreadable.len(),
            judged.nodes
        ));
    }
    let indexes: std::collections::BTreeSet<u64> =
        judged.digests.iter().map(|digest| digest.applied).collect();
    if indexes.len() > 1 {
        let each: Vec<String> = judged
            .digests
            .iter()
            .map(|digest| format!("node {} at {}", digest.node_id, digest.applied))
            .collect();
        violations.push(format!("replicas at different applied indexes: {}", each.join(", ")));
    }
    // `digests::check` compares (node, applied index, digest) only; the replicas' ledgers
    // stay on the nodes (the read-back above is one node's answers).
    let replicas: Vec<Replica> = judged
        .digests
        .iter()
        .map(|digest| Replica {
            node_id: digest.node_id,
            applied: digest.applied,
            digest: digest.digest,
            ledger: MemoryStore::new(),
        })
        .collect();
    violations.extend(digests::check(&replicas));
    violations
}

#[cfg(test)]
mod tests {
    use tianping_client::{Account, AccountFlags, AccountStatus, Limits, Transfer, TransferFlags};
    use tianping_history::{Ack, History};
    use tianping_ledger::OutflowUsage;
    use tianping_ledger::{LedgerStore, LedgerStoreMut, MemoryStore, StateDigest, WriteSet};

    use super::{Judged, NodeDigest, judge};
    use crate::unavailability::Unavailability;

    fn account(id: u128, debits: u128, credits: u128) -> Account {
        Account {
            id,
            ledger: 1,
            code: 1,
            flags: AccountFlags::NONE,
            credit_line: 0,
            user_data: 0,
            debits_pending: 0,
            debits_posted: debits,
            credits_pending: 0,
            credits_posted: credits,
            status: AccountStatus::Active,
            status_changed_at: 0,
            limits: Limits::NONE,
            limits_day: 0,
            outflow_usage: OutflowUsage::default(),
            timestamp: 1,
        }
    }

    fn transfer(id: u128, debit: u128, credit: u128, amount: u128, timestamp: u64) -> Transfer {
        Transfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            amount_requested: amount,
            pending_id: 0,
            user_data: 0,
            timeout: 0,
            ledger: 1,
            code: 1,
            flags: TransferFlags::NONE,
            timestamp,
        }
    }

    fn state(accounts: Vec<Account>, transfers: Vec<Transfer>) -> MemoryStore {
        let mut store = MemoryStore::new();
        let writes = WriteSet { accounts, transfers, meta: store.meta(), ..WriteSet::default() };
        store.commit(&writes);
        store
    }

    fn ack(code: &str, timestamp: u64, amount: &str) -> Ack {
        Ack { code_name: code.into(), timestamp, amount: amount.into(), log_index: 7 }
    }

    fn digests(digest: [u8; 32]) -> Vec<NodeDigest> {
        (1..=3)
            .map(|node_id| NodeDigest { node_id, applied: 9, digest: StateDigest(digest) })
            .collect()
    }

    fn verdict(history: &History, store: &MemoryStore, digests: &[NodeDigest]) -> Vec<String> {
        let windows = [("kill".to_owned(), Unavailability::Unnoticed)];
        let judged = Judged {
            history,
            state: store,
            read_from: 1,
            digests,
            unreadable: &[],
            nodes: 3,
            unavailability: &windows,
            converged: Ok(()),
        };
        judge(&judged).checks.into_iter().flat_map(|check| check.violations).collect()
    }

    #[test]
    fn a_truthful_drill_passes_and_a_lost_write_is_named() {
        let mut history = History::default();
        history.sent.extend([(1u128 << 32) | 1, (1u128 << 32) | 2]);
        history.acks.insert((1u128 << 32) | 1, ack("ok", 50, "30"));
        history.acks.insert((1u128 << 32) | 2, ack("exceeds_credits", 60, ""));
        let accounts = vec![account(1, 30, 0), account(2, 0, 30)];
        let store = state(accounts.clone(), vec![transfer((1 << 32) | 1, 1, 2, 30, 50)]);
        assert_eq!(verdict(&history, &store, &digests([4; 32])), Vec::<String>::new());

        // The acknowledged transfer is gone (and the balances with it: a lost write).
        let lost = state(vec![account(1, 0, 0), account(2, 0, 0)], Vec::new());
        let violations = verdict(&history, &lost, &digests([4; 32]));
        assert_eq!(violations.len(), 1, "{violations:#?}");
        assert!(
            violations[0]
                .contains("transfer 4294967297 acknowledged `ok` at log index 7 is missing")
        );
    }

    #[test]
    fn a_refused_write_applied_twice_moved_and_disagreeing_replicas_fail() {
        let mut history = History::default();
        history.sent.insert(5);
        history.acks.insert(5, ack("exceeds_credits", 60, ""));
        // Applied although refused, and the balances say it moved twice.
        let store =
            state(vec![account(1, 60, 0), account(2, 0, 60)], vec![transfer(5, 1, 2, 30, 61)]);
        let mut nodes = digests([4; 32]);
        nodes[2].digest = StateDigest([5; 32]);
        let violations = verdict(&history, &store, &nodes);
        let has = |words: &str| violations.iter().any(|violation| violation.contains(words));
        assert!(has("transfer 5 was refused"), "{violations:#?}");
        assert!(has("account 1"), "{violations:#?}");
        assert!(has("replicas at applied index 9 differ"), "{violations:#?}");
    }

    #[test]
    fn a_debit_of_the_blocked_or_past_the_limit_fails() {
        let mut history = History::default();
        history.sent.extend([21, 22]);
        history.acks.insert(21, ack("ok", 50, "5"));
        history.acks.insert(22, ack("ok", 51, "400"));
        let store = state(
            vec![account(10, 5, 0), account(9, 400, 0), account(1, 0, 405)],
            vec![transfer(21, 10, 1, 5, 50), transfer(22, 9, 1, 400, 51)],
        );
        let violations = verdict(&history, &store, &digests([1; 32]));
        assert_eq!(violations.len(), 2, "{violations:#?}");
        assert!(violations[0].contains("blocked for outflow"));
        assert!(violations[1].contains("capped at 300"));
    }
}
