//! The matcher against random facts: skews anywhere in ±lateness (the edges included), and
//! any interleaving of the two streams.
//!
//! - Consistent facts never produce a finding, and every movement is counted where it
//!   belongs (matched, in flight, failed and unpaid).
//! - Injected differences, mixed among consistent facts, are each found exactly once, with
//!   their class, key and accounts to block — and nothing else is found.

use proptest::prelude::*;
use tianping_ledger::PayoutState;
use tianping_reconcile::judge::{AccountContext, Outcome};
use tianping_reconcile::matcher::{Matcher, MatcherConfig};

use crate::streams::{self, BANK, CURRENCY, Expected, Fact, Kind, LATENESS, Streams};

/// Random cases per property (`PROPERTY_CASES` overrides).
const CASES: u32 = 512;

/// What a run came to.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    findings: Vec<Expected>,
    matched: u64,
    in_flight: u64,
    failed_unpaid: u64,
}

/// Feeds both streams in the interleaving `order` chooses (`true`: the ledger's next item),
/// then answers every question from the ledger's payouts.
fn run(streams: &Streams, order: &[bool]) -> Run {
    let context = AccountContext { bank: BANK, currency: CURRENCY, utc_offset_seconds: 8 * 3600 };
    let config = MatcherConfig { lateness_ns: LATENESS, ..MatcherConfig::new(context) };
    let mut matcher = Matcher::new(config).expect("valid configuration");
    let mut out = Vec::new();
    let mut ledger = streams.ledger.iter().cloned().peekable();
    let mut bank = streams.bank.iter().cloned().peekable();
    let mut choices = order.iter().copied().cycle();
    loop {
        let take_ledger = match (ledger.peek(), bank.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(_), Some(_)) => choices.next().unwrap_or(true),
        };
        let pushed = if take_ledger {
            ledger.next().map(|movement| matcher.push_ledger(movement, &mut out))
        } else {
            bank.next().map(|movement| matcher.push_bank(movement, &mut out))
        };
        pushed.expect("an item").expect("streams in time order fit the window");
    }
    let mut counts = matcher.finish(&mut out);
    let mut findings = Vec::new();
    for outcome in out {
        let found = match outcome {
            Outcome::Finding(finding) => vec![finding],
            Outcome::Question(question) => {
                let answer = question.answer(streams.payouts.get(&question.payout_id()));
                counts.in_flight += answer.in_flight;
                answer.findings
            }
        };
        for finding in found {
            // Every finding must convert to the ledger's command as it stands.
            let new = finding.to_new_discrepancy(0, "proptest").expect("convertible");
            assert_eq!(new.id, finding.discrepancy_id());
            findings.push((finding.class, finding.key, finding.account_ids));
        }
    }
    findings.sort();
    Run {
        findings,
        matched: counts.matched,
        in_flight: counts.in_flight,
        failed_unpaid: counts.failed_unpaid,
    }
}

fn expected(streams: &Streams) -> Run {
    Run {
        findings: streams.findings.clone(),
        matched: streams.matched,
        in_flight: streams.in_flight,
        failed_unpaid: streams.failed_unpaid,
    }
}

/// A skew within ±lateness, the edges often.
fn skew() -> impl Strategy<Value = i64> {
    let lateness = LATENESS as i64;
    prop_oneof![Just(lateness), Just(-lateness), Just(0i64), -lateness..=lateness]
}

fn fact(kinds: &'static [Kind]) -> impl Strategy<Value = Fact> {
    (proptest::sample::select(kinds), 1..1_000_000_000u128, 0..40 * LATENESS, skew(), skew())
        .prop_map(|(kind, amount, at, skew, second_skew)| Fact {
            kind,
            amount,
            at,
            skew,
            second_skew,
        })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPERTY_CASES").ok().and_then(|text| text.parse().ok());
    ProptestConfig { cases: cases.unwrap_or(CASES), ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn consistent_streams_never_produce_a_finding(
        facts in proptest::collection::vec(fact(&Kind::CONSISTENT), 1..60),
        order in proptest::collection::vec(any::<bool>(), 1..200),
    ) {
        let streams = streams::build(&facts);
        prop_assert!(streams.findings.is_empty());
        prop_assert_eq!(run(&streams, &order), expected(&streams));
    }

    #[test]
    fn every_injected_difference_is_found_exactly_once(
        consistent in proptest::collection::vec(fact(&Kind::CONSISTENT), 0..40),
        injected in proptest::collection::vec(fact(&Kind::INJECTED), 1..20),
        order in proptest::collection::vec(any::<bool>(), 1..200),
    ) {
        let facts: Vec<Fact> = consistent.into_iter().chain(injected).collect();
        let streams = streams::build(&facts);
        prop_assert!(!streams.findings.is_empty());
        prop_assert_eq!(run(&streams, &order), expected(&streams));
    }
}

/// One fact of every kind, all at the same instant, in both extreme interleavings (the whole
/// ledger first, the whole bank first): the table of expectations itself, checked once
/// without randomness.
#[test]
fn every_kind_once_in_extreme_interleavings() {
    let all: Vec<Fact> = Kind::CONSISTENT
        .into_iter()
        .chain(Kind::INJECTED)
        .map(|kind| Fact { kind, amount: 100, at: 0, skew: 0, second_skew: 0 })
        .collect();
    let streams = streams::build(&all);
    assert_eq!(streams.findings.len(), Kind::INJECTED.len());
    for order in [[true], [false]] {
        assert_eq!(run(&streams, &order), expected(&streams), "ledger first: {}", order[0]);
    }
    // Every payout the ledger stream carries is also what answers questions.
    assert!(streams.payouts.values().any(|payout| payout.state == PayoutState::Sent));
}
