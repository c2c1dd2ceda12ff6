//! The report's tests: one file per step (period and buckets, collecting, each renderer),
//! sharing the fixtures below and a small XML tree ([`xml`]) to read the HTML page back.

mod collect;
mod html;
mod json;
mod period;
mod table;
mod xml;

use tianping_ledger::{
    AccountStatus, Discrepancy, DiscrepancyClass, DiscrepancyState, NewDiscrepancy,
};

use super::{AccountState, Period, Report, ReportHeader};

/// 2025-11-24T00:00:00Z, in ns.
pub const DAY: u64 = 1_763_942_400_000_000_000;
pub const SECOND: u64 = 1_000_000_000;
pub const MINUTE: u64 = 60 * SECOND;
pub const HOUR: u64 = 60 * MINUTE;

/// An id whose first 8 hex digits are `prefix`, so short ids in expected text are readable.
pub fn id(prefix: u32, low: u64) -> u128 {
    (u128::from(prefix) << 96) | u128::from(low)
}

/// An open discrepancy of `class` recorded at `at`, holding `accounts`.
pub fn open(id: u128, class: DiscrepancyClass, at: u64, accounts: &[u128]) -> Discrepancy {
    let (ledger_amount, bank_amount) = match class {
        DiscrepancyClass::BalanceMismatch => (Some(1_000_200), Some(1_000_150)),
        DiscrepancyClass::MissingAtBank => (Some(10_000), None),
        DiscrepancyClass::MissingInLedger => (None, Some(25_050)),
        DiscrepancyClass::AmountMismatch => (Some(100), Some(101)),
        DiscrepancyClass::DuplicateAtBank => (Some(7_000), Some(7_000)),
        DiscrepancyClass::ReversedAtBank => (Some(3_000), Some(3_000)),
    };
    Discrepancy {
        request: NewDiscrepancy {
            id,
            bank: 9,
            class,
            reference: format!("E2E-{}", id & 0xffff),
            account_ids: accounts.to_vec(),
            ledger_amount,
            bank_amount,
            ledger_evidence: format!("payout {} succeeded", id & 0xffff),
            bank_evidence: format!("REF{} DBIT booked", id & 0xffff),
            cutoff: at,
            actor: "recon-a".to_owned(),
        },
        blocked_account_ids: accounts.to_vec(),
        state: DiscrepancyState::Open,
        timestamp: at,
        resolved_at: 0,
        resolution: String::new(),
        resolved_by: String::new(),
    }
}

/// `discrepancy` resolved at `at` by `by` for `reason`.
pub fn resolved(mut discrepancy: Discrepancy, at: u64, by: &str, reason: &str) -> Discrepancy {
    discrepancy.state = DiscrepancyState::Resolved;
    discrepancy.resolved_at = at;
    discrepancy.resolved_by = by.to_owned();
    discrepancy.resolution = reason.to_owned();
    discrepancy
}

pub fn header(since: u64, until: u64) -> ReportHeader {
    ReportHeader {
        period: Period::new(since, until).expect("a period"),
        generated_at: until,
        cluster: "dc-test".to_owned(),
        reconcilers: Vec::new(),
    }
}

pub fn report(
    since: u64,
    until: u64,
    discrepancies: &[Discrepancy],
    accounts: &[AccountState],
) -> Report {
    Report::build(header(since, until), discrepancies, accounts).expect("a report")
}

pub fn blocked(id: u128) -> AccountState {
    AccountState { id, status: AccountStatus::OutflowBlocked }
}

/// A small fixed day: one of each class in the morning, two of them resolved, one recorded the
/// day before and still open; accounts 1001 (held twice, blocked), 1002 (held, frozen by an
/// operator), 1003 (held, not looked up).
pub fn fixed_day() -> Report {
    let discrepancies = vec![
        open(id(0x0a0a_0a0a, 1), DiscrepancyClass::BalanceMismatch, DAY - 2 * HOUR, &[1001]),
        open(id(0x1111_1111, 2), DiscrepancyClass::MissingAtBank, DAY + 9 * HOUR, &[1001]),
        resolved(
            open(
                id(0x2222_2222, 3),
                DiscrepancyClass::MissingInLedger,
                DAY + 9 * HOUR + 30 * MINUTE,
                &[],
            ),
            DAY + 11 * HOUR,
            "ops-li",
            "late booking confirmed by bank",
        ),
        open(id(0x3333_3333, 4), DiscrepancyClass::AmountMismatch, DAY + 10 * HOUR, &[1002]),
        resolved(
            open(
                id(0x4444_4444, 5),
                DiscrepancyClass::DuplicateAtBank,
                DAY + 10 * HOUR + 5 * SECOND,
                &[1004],
            ),
            DAY + 12 * HOUR,
            "ops-wang",
            "bank recalled the copy",
        ),
        open(
            id(0x5555_5555, 6),
            DiscrepancyClass::ReversedAtBank,
            DAY + 23 * HOUR + 59 * MINUTE,
            &[1003],
        ),
    ];
    let accounts = [blocked(1001), AccountState { id: 1002, status: AccountStatus::Frozen }];
    report(DAY, DAY + 24 * HOUR, &discrepancies, &accounts)
}
