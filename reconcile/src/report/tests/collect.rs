//! Collecting: which discrepancies a report lists at the edges of the period, the counters, the
//! open series against a predicate written another way, order independence, and the bounds.

use proptest::prelude::*;
use tianping_ledger::DiscrepancyClass as C;

use super::*;
use crate::report::{
    HELD_ACCOUNTS_MAX, HOLDERS_LISTED_MAX, RECONCILERS_LISTED_MAX, ROWS_MAX, ReportBuilder,
};

const UNTIL: u64 = DAY + 24 * HOUR;

fn ids(discrepancies: &[Discrepancy]) -> Vec<u128> {
    discrepancies.iter().map(|discrepancy| discrepancy.request.id).collect()
}

#[test]
fn the_period_edges_decide_what_is_listed() {
    let at_since = open(1, C::MissingAtBank, DAY, &[]);
    let last_instant = open(2, C::MissingAtBank, UNTIL - 1, &[]);
    let at_until = open(3, C::MissingAtBank, UNTIL, &[]);
    let open_from_before = open(4, C::AmountMismatch, DAY - 1, &[]);
    let resolved_just_before =
        resolved(open(5, C::AmountMismatch, DAY - HOUR, &[]), DAY - 1, "ops", "fixed");
    let resolved_at_since =
        resolved(open(6, C::AmountMismatch, DAY - HOUR, &[]), DAY, "ops", "fixed");
    let input = [
        at_since,
        last_instant,
        at_until,
        open_from_before,
        resolved_just_before,
        resolved_at_since,
    ];
    let report = report(DAY, UNTIL, &input, &[]);
    assert_eq!(
        ids(&report.listed.rows),
        vec![6, 4, 1, 2],
        "oldest recorded first; 3 and 5 outside"
    );
    let figures = report.figures;
    assert_eq!((figures.listed, figures.outside_period), (4, 2));
    assert_eq!((figures.recorded_in_period, figures.open_at_start), (2, 2));
    assert_eq!((figures.resolved_in_period, figures.open_now), (1, 3));
    // Recorded at `since` is the first hour's, at `until - 1` the last hour's.
    assert_eq!(report.recorded_per_bucket[0][C::MissingAtBank as usize], 1);
    assert_eq!(report.recorded_per_bucket[23][C::MissingAtBank as usize], 1);
    assert_eq!(report.recorded_per_bucket.iter().flatten().sum::<u64>(), 2);
    // Two open when the period began; the one resolved at `since` leaves in the first hour,
    // the one recorded at `since` arrives in it.
    assert_eq!(report.open_per_bucket[0], 2);
    assert_eq!(report.open_per_bucket[22], 2);
    assert_eq!(report.open_per_bucket[23], 3);
}

#[test]
fn a_resolution_stamped_before_its_recording_is_never_open() {
    let odd = resolved(open(1, C::DuplicateAtBank, DAY + HOUR, &[]), DAY + 5, "ops", "fixed");
    let report = report(DAY, UNTIL, &[odd], &[]);
    assert_eq!(report.figures.recorded_in_period, 1);
    assert!(report.open_per_bucket.iter().all(|&open| open == 0), "{:?}", report.open_per_bucket);
}

#[test]
fn one_of_each_class_is_counted_in_its_class_and_state() {
    let report = fixed_day();
    let figures = report.figures;
    assert_eq!(figures.listed, 6);
    for class in C::ALL {
        let (open, resolved) = (
            figures.of(class, DiscrepancyState::Open),
            figures.of(class, DiscrepancyState::Resolved),
        );
        let expected = match class {
            C::MissingInLedger | C::DuplicateAtBank => (0, 1),
            _ => (1, 0),
        };
        assert_eq!((open, resolved), expected, "{}", class.name());
    }
    assert_eq!((figures.recorded_in_period, figures.open_at_start, figures.open_now), (5, 1, 4));
    assert_eq!(report.recorded_per_bucket[9][C::MissingAtBank as usize], 1);
    assert_eq!(report.recorded_per_bucket[9][C::MissingInLedger as usize], 1);
    assert_eq!(report.recorded_per_bucket[10][C::AmountMismatch as usize], 1);
    assert_eq!(report.recorded_per_bucket[10][C::DuplicateAtBank as usize], 1);
    assert_eq!(report.recorded_per_bucket[23][C::ReversedAtBank as usize], 1);
    assert_eq!(report.open_per_bucket[8..13], [1, 3, 5, 4, 3]);
    assert_eq!(ids(&report.resolved.rows), vec![id(0x2222_2222, 3), id(0x4444_4444, 5)]);
}

#[test]
fn held_accounts_carry_their_status_and_their_open_holders() {
    let report = fixed_day();
    let held: Vec<(u128, Option<AccountStatus>, u64)> = report
        .held_accounts
        .rows
        .iter()
        .map(|account| (account.id, account.status, account.holders_total))
        .collect();
    // 1004 was held only by a resolved discrepancy: not held.
    assert_eq!(
        held,
        vec![
            (1001, Some(AccountStatus::OutflowBlocked), 2),
            (1002, Some(AccountStatus::Frozen), 1),
            (1003, None, 1),
        ]
    );
    assert_eq!(report.held_accounts.rows[0].holders, vec![id(0x0a0a_0a0a, 1), id(0x1111_1111, 2)]);
    assert_eq!((report.held_accounts_total, report.outflow_blocked_accounts), (3, 1));
}

#[test]
fn the_builder_names_the_accounts_to_look_up() {
    let mut builder = ReportBuilder::new(header(DAY, UNTIL)).expect("builder");
    for discrepancy in [
        open(1, C::MissingAtBank, DAY, &[7, 3]),
        resolved(open(2, C::MissingAtBank, DAY, &[9]), DAY + 1, "ops", "ok"),
        open(3, C::MissingAtBank, DAY, &[3]),
    ] {
        builder.add(&discrepancy).expect("added");
    }
    assert_eq!(builder.held_account_ids().collect::<Vec<_>>(), vec![3, 7]);
}

#[test]
fn reconcilers_are_the_callers_and_the_actors_sorted_and_bounded() {
    let mut found = open(1, C::MissingAtBank, DAY, &[]);
    found.request.actor = "recon-b".to_owned();
    let mut header = header(DAY, UNTIL);
    header.reconcilers = vec!["recon-c".to_owned(), String::new()];
    let report = Report::build(header.clone(), [&found, &open(2, C::MissingAtBank, DAY, &[])], &[])
        .expect("report");
    assert_eq!(report.header.reconcilers, vec!["recon-a", "recon-b", "recon-c"]);
    assert!(!report.reconcilers_truncated);
    let many: Vec<Discrepancy> = (0..RECONCILERS_LISTED_MAX as u128 + 5)
        .rev()
        .map(|index| {
            let mut found = open(index + 1, C::MissingAtBank, DAY, &[]);
            found.request.actor = format!("r{index:03}");
            found
        })
        .collect();
    let report = Report::build(header, &many, &[]).expect("report");
    assert_eq!(report.header.reconcilers.len(), RECONCILERS_LISTED_MAX);
    assert_eq!(
        report.header.reconcilers.first().map(String::as_str),
        Some("r000"),
        "the first in sort order"
    );
    assert!(report.reconcilers_truncated);
}

#[test]
fn a_flood_keeps_the_oldest_rows_and_exact_counts() {
    let extra = 1_500;
    let flood: Vec<Discrepancy> = (0..(ROWS_MAX + extra) as u64)
        .rev()
        .map(|index| {
            open(
                u128::from(index) + 1,
                C::AmountMismatch,
                DAY + index * SECOND,
                &[u128::from(index % 5_000) + 1],
            )
        })
        .collect();
    let report = report(DAY, UNTIL, &flood, &[]);
    assert_eq!(report.figures.listed, (ROWS_MAX + extra) as u64);
    assert_eq!(report.listed.rows.len(), ROWS_MAX);
    assert_eq!(report.listed.omitted, extra as u64);
    assert_eq!(report.listed.rows.first().map(|row| row.timestamp), Some(DAY));
    assert_eq!(
        report.listed.rows.last().map(|row| row.timestamp),
        Some(DAY + (ROWS_MAX as u64 - 1) * SECOND)
    );
    assert_eq!((report.open.rows.len(), report.open.omitted), (ROWS_MAX, extra as u64));
    assert_eq!(report.held_accounts_total, (ROWS_MAX + extra) as u64);
    assert_eq!(
        (report.held_accounts.rows.len(), report.held_accounts.omitted),
        (ROWS_MAX, extra as u64)
    );
    assert_eq!(report.held_accounts.rows.last().map(|account| account.id), Some(ROWS_MAX as u128));
}

#[test]
fn an_account_lists_its_oldest_holders_and_counts_all() {
    let holders: Vec<Discrepancy> = (0..20u64)
        .rev()
        .map(|index| open(u128::from(index) + 1, C::AmountMismatch, DAY + index, &[42]))
        .collect();
    let report = report(DAY, UNTIL, &holders, &[]);
    let account = &report.held_accounts.rows[0];
    assert_eq!(account.holders_total, 20);
    assert_eq!(account.holders, (1..=HOLDERS_LISTED_MAX as u128).collect::<Vec<_>>());
}

#[test]
fn past_the_held_account_bound_the_smallest_ids_are_followed_whatever_the_order() {
    let accounts_per = tianping_ledger::DISCREPANCY_ACCOUNTS_MAX;
    let total = HELD_ACCOUNTS_MAX + 3 * accounts_per;
    let discrepancies: Vec<Discrepancy> = (0..total / accounts_per)
        .map(|index| {
            let first = (index * accounts_per) as u128 + 1;
            let accounts: Vec<u128> = (first..first + accounts_per as u128).collect();
            open(index as u128 + 1, C::BalanceMismatch, DAY, &accounts)
        })
        .collect();
    let forward = report(DAY, UNTIL, &discrepancies, &[blocked(1), blocked(total as u128)]);
    let reversed: Vec<Discrepancy> = discrepancies.iter().rev().cloned().collect();
    let backward = report(DAY, UNTIL, &reversed, &[blocked(1), blocked(total as u128)]);
    assert_eq!(forward, backward);
    assert_eq!(forward.held_accounts_total, HELD_ACCOUNTS_MAX as u64);
    assert_eq!(forward.holds_untracked, (3 * accounts_per) as u64);
    assert_eq!(forward.outflow_blocked_accounts, 1, "account {total} is past the bound");
}

/// Open at instant `at`, straight from the definition: recorded by then, not resolved by then.
fn open_at(discrepancies: &[Discrepancy], at: u64) -> u64 {
    discrepancies
        .iter()
        .filter(|d| d.timestamp <= at && (d.state == DiscrepancyState::Open || d.resolved_at > at))
        .count() as u64
}

fn arbitrary_discrepancies(since: u64, span: u64) -> impl Strategy<Value = Vec<Discrepancy>> {
    let one = (0..6usize, 0..span * 3, proptest::option::of(0..span * 2), 0u128..u128::MAX);
    proptest::collection::vec(one, 0..60).prop_map(move |items| {
        items
            .into_iter()
            .map(|(class, offset, resolved_after, id)| {
                // From one span before the period to one after it.
                let at = since - span + offset;
                let found = open(id, C::ALL[class], at, &[u128::from(class as u8) + 1]);
                match resolved_after {
                    Some(after) => resolved(found, at + after, "ops", "ok"),
                    None => found,
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_open_series_is_the_count_open_at_each_bucket_end(
        span in prop_oneof![Just(90 * MINUTE), Just(30 * HOUR + 7), Just(40 * 24 * HOUR)],
        offset in 0..HOUR,
        discrepancies in arbitrary_discrepancies(DAY, 40 * 24 * HOUR),
    ) {
        let since = DAY + offset;
        let until = since + span;
        let report = report(since, until, &discrepancies, &[]);
        prop_assert_eq!(report.figures.open_at_start, open_at(&discrepancies, since - 1));
        for (index, &open) in report.open_per_bucket.iter().enumerate() {
            let end = report.buckets.bucket_start(index + 1).unwrap_or(u64::MAX).min(until);
            prop_assert_eq!(open, open_at(&discrepancies, end - 1), "bucket {}", index);
        }
        let now = discrepancies.iter().filter(|d| d.timestamp < until && d.is_open()).count() as u64;
        prop_assert_eq!(report.figures.open_now, now);
        for (index, counts) in report.recorded_per_bucket.iter().enumerate() {
            let start = report.buckets.bucket_start(index).unwrap_or(0).max(since);
            let end = report.buckets.bucket_start(index + 1).unwrap_or(u64::MAX).min(until);
            for class in C::ALL {
                let expected = discrepancies
                    .iter()
                    .filter(|d| d.request.class == class && start <= d.timestamp && d.timestamp < end)
                    .count() as u64;
                prop_assert_eq!(counts[class as usize], expected);
            }
        }
        let resolved_in = discrepancies
            .iter()
            .filter(|d| !d.is_open() && since <= d.resolved_at && d.resolved_at < until)
            .count() as u64;
        prop_assert_eq!(report.figures.resolved_in_period, resolved_in);
    }

    #[test]
    fn the_input_order_does_not_change_the_report(
        discrepancies in arbitrary_discrepancies(DAY, 24 * HOUR),
        rotate in 0usize..60,
    ) {
        let forward = report(DAY, UNTIL, &discrepancies, &[blocked(1), blocked(3)]);
        let mut shuffled: Vec<Discrepancy> = discrepancies.iter().rev().cloned().collect();
        let len = shuffled.len().max(1);
        shuffled.rotate_left(rotate % len);
        let other = report(DAY, UNTIL, &shuffled, &[blocked(1), blocked(3)]);
        prop_assert_eq!(forward, other);
    }
}
