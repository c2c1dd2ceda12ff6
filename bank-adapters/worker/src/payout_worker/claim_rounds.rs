//! Claim rounds against the ledger's own state machine and the bank simulator: a claim whose
//! answer is lost is asked again under the same claim id, and the worker drives the payout
//! the lost attempt claimed at once — with the token that attempt was given, long before its
//! lease could run out — then starts the next round under a fresh id.

use std::sync::Mutex;
use std::time::Duration;

use tianping_bank_adapters::connection::connect;
use tianping_client::{
    ClaimAnswer, Code, Error, EventResult, NewCollection, Payout, PayoutBatchClaim, PayoutState,
    RecordPayoutOutcome,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{BankContext, ClaimRound, payout_loop};
use crate::callbacks::ClaimDesk;
use crate::ledger::{CollectionsLedger, WorkerLedger};
use crate::metrics::WorkerMetrics;
use crate::testing::{DIRECT_BANK, MERCHANT, MemoryLedger, bank_config, connection, simulator};

const BANK: u32 = 2;
/// Long enough that a payout stranded by a lost answer could not be final within the test.
const LEASE_MS: u64 = 120_000;

/// The real ledger, except that the first claim answer that hands out payouts is lost after
/// the claim was applied (as when the leader commits and the connection drops); every claim
/// request is kept.
struct LossyLedger {
    ledger: MemoryLedger,
    lost_one: Mutex<bool>,
    claims: Mutex<Vec<PayoutBatchClaim>>,
}

impl CollectionsLedger for LossyLedger {
    async fn lookup_payouts(&self, ids: &[u128]) -> Result<Vec<Payout>, Error> {
        self.ledger.lookup_payouts(ids).await
    }

    async fn book_collections(
        &self,
        collections: &[NewCollection],
    ) -> Result<Vec<EventResult>, Error> {
        self.ledger.book_collections(collections).await
    }
}

impl WorkerLedger for LossyLedger {
    async fn claim_payouts(&self, claim: PayoutBatchClaim) -> Result<ClaimAnswer, Error> {
        self.claims.lock().expect("lock").push(claim);
        let answer = self.ledger.claim_payouts(claim).await?;
        let mut lost_one = self.lost_one.lock().expect("lock");
        if !*lost_one && !answer.claims().is_empty() {
            *lost_one = true;
            return Err(Error::OutcomeUnknown {
                attempts: 3,
                code: Code::Unavailable,
                message: "the leader stepped down before answering".to_owned(),
            });
        }
        Ok(answer)
    }

    async fn record_payout_outcome(
        &self,
        outcome: RecordPayoutOutcome,
    ) -> Result<EventResult, Error> {
        self.ledger.record_payout_outcome(outcome).await
    }
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_retried_under_its_id_and_driven_at_once() {
    const PAYOUT: u128 = 8_001;
    let keys = tempfile::tempdir().expect("temporary directory");
    let (server, stop_bank) = simulator(keys.path()).await;
    let gateway = connect(BANK, &connection(&server, DIRECT_BANK, keys.path()), keys.path())
        .expect("the gateway");
    let ledger = LossyLedger {
        ledger: MemoryLedger::new(&[BANK]),
        lost_one: Mutex::new(false),
        claims: Mutex::new(Vec::new()),
    };
    ledger.ledger.create_payout(PAYOUT, BANK, 4_200, &format!("{MERCHANT} Merchant"));
    let bank = bank_config(BANK);
    let metrics = WorkerMetrics::new();
    let claims = ClaimDesk::default();
    let stop = CancellationToken::new();
    let context = BankContext {
        ledger: &ledger,
        gateway: &gateway,
        claims: &claims,
        bank: &bank,
        metrics: &metrics,
        worker_id: 77,
        lease_ms: LEASE_MS,
        origin: Instant::now(),
        stop: stop.clone(),
    };
    let requests = || ledger.claims.lock().expect("lock").clone();
    let watch = async {
        let started = Instant::now();
        loop {
            let state = ledger.ledger.payout(PAYOUT).expect("the payout").state;
            if state == PayoutState::Succeeded && requests().len() >= 3 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "payout {state:?} after claims {:?}",
                requests()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
    };
    tokio::join!(payout_loop(&context, 4), watch);

    let sent = requests();
    assert!(*ledger.lost_one.lock().expect("lock"), "the first claim's answer was lost");
    assert_eq!(sent[1], sent[0], "the retry resends the round's claim, id and all");
    assert_ne!(sent[2].claim_id, sent[0].claim_id, "the next round has a fresh id");
    let payout = ledger.ledger.payout(PAYOUT).expect("the payout");
    assert_eq!(
        (payout.fencing_token, payout.worker_id),
        (1, 77),
        "driven under the lost attempt's claim, never claimed again"
    );
    let _ = stop_bank.send(());
    tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("shuts down in time")
        .expect("shuts down cleanly");
}

#[test]
fn a_round_is_asked_again_only_while_its_lease_could_run() {
    let open = ClaimRound { claim_id: 5, max: 4, asked_at_ms: 1_000 };
    let next = |open, now_ms, max| ClaimRound::next(open, now_ms, LEASE_MS, max).expect("an id");
    assert_eq!(next(Some(open), 1_000 + LEASE_MS - 1, 2), open);
    let after = next(Some(open), 1_000 + LEASE_MS, 2);
    assert_ne!(after.claim_id, open.claim_id);
    assert_eq!((after.max, after.asked_at_ms), (2, 1_000 + LEASE_MS));
    let fresh = next(None, 7, 3);
    assert_ne!(fresh.claim_id, next(None, 7, 3).claim_id);
}
