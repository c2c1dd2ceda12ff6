//! A bounded fuzz run: deterministic pseudo-random bytes, decoded with `arbitrary` into
//! command batches full of extreme values (zero, `u128::MAX`, amounts near overflow,
//! timestamps near `u64::MAX`, over-long and multi-byte strings, unknown flag bits). Nothing
//! may panic, every invariant holds after every batch, and a batch is refused only where
//! `StateMachine::apply` documents it.
//!
//! Input `n` is generated from seed `n`; a failure names it, and `FUZZ_INPUT=n` reruns only it.
//! `FUZZ_INPUTS=<count>` runs a longer soak.

use arbitrary::{Result, Unstructured};
use tianping_ledger::invariants::{self, StateDump};
use tianping_ledger::{
    AccountFlags, AccountStatus, BATCH_EVENTS_MAX, Batch, BatchError, ClaimPayouts, Command,
    DiscrepancyClass, EVIDENCE_BYTES_MAX, EXPIRIES_PER_BATCH_MAX, LedgerConfig, LedgerStore,
    LedgerStoreMut, Limits, MemoryStore, NewAccount, NewCollection, NewDiscrepancy, NewPayout,
    NewTransfer, PayoutBatchClaim, PayoutOutcome, RecordPayoutOutcome, ResolveDiscrepancy,
    ResultCode, SetAccountLimits, SetAccountStatus, StateMachine, TEXT_BYTES_MAX, TransferFlags,
};

use crate::support::{CODE, LEDGER, T0};

/// Inputs per run: about a second in release.
const INPUTS: u64 = 20_000;
const BATCHES_PER_INPUT_MAX: usize = 6;
const COMMANDS_PER_BATCH_MAX: usize = 24;
const OTHER_LEDGER: u32 = 840;

/// SplitMix64: a tiny, well-mixed generator, so each input depends only on its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn input_bytes(seed: u64) -> Vec<u8> {
    let mut generator = SplitMix64(seed);
    let length = 64 + (generator.next() % 4_096) as usize;
    (0..length).map(|_| generator.next() as u8).collect()
}

fn id(u: &mut Unstructured) -> Result<u128> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => 0,
        1 => u128::MAX,
        2 => u128::MAX - 1,
        3 => 1 << 127,
        4 => u.arbitrary()?,
        _ => u.int_in_range(1u128..=8)?,
    })
}

fn amount(u: &mut Unstructured) -> Result<u128> {
    Ok(match u.int_in_range(0u8..=13)? {
        0 => 0,
        1 => u128::MAX,
        2 => u128::MAX - 1,
        3 => 1 << 127,
        4 => (1 << 127) - 1,
        5 => 1 << 64,
        6 => u.arbitrary()?,
        _ => u.int_in_range(1u128..=1_000)?,
    })
}

fn small_or_extreme_u32(u: &mut Unstructured) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => 0,
        1 => u32::MAX,
        2 => u.arbitrary()?,
        _ => u.int_in_range(1u32..=40)?,
    })
}

fn ledger(u: &mut Unstructured) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => 0,
        1 => u32::MAX,
        2 => OTHER_LEDGER,
        _ => LEDGER,
    })
}

fn code(u: &mut Unstructured) -> Result<u16> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => 0,
        1 => u16::MAX,
        _ => CODE,
    })
}

fn text(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=11)? {
        0 => String::new(),
        1 => "x".repeat(TEXT_BYTES_MAX),
        2 => "x".repeat(TEXT_BYTES_MAX + 1),
        // 129 two-byte characters: 258 bytes, though only 129 characters.
        3 => "é".repeat(129),
        4 => "y".repeat(5_000),
        5 => u.arbitrary()?,
        _ => format!("ref-{}", u.int_in_range(0u8..=3)?),
    })
}

/// Evidence: mostly a text, sometimes at or just past `EVIDENCE_BYTES_MAX`.
fn evidence(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => "e".repeat(EVIDENCE_BYTES_MAX),
        1 => "e".repeat(EVIDENCE_BYTES_MAX + 1),
        _ => text(u)?,
    })
}

/// A reconciler's report with any ids, texts and up to ten accounts.
fn new_discrepancy(u: &mut Unstructured) -> Result<NewDiscrepancy> {
    let count = u.int_in_range(0usize..=10)?;
    let mut account_ids = Vec::with_capacity(count);
    for _ in 0..count {
        account_ids.push(id(u)?);
    }
    Ok(NewDiscrepancy {
        id: id(u)?,
        bank: small_or_extreme_u32(u)? % 4,
        class: *u.choose(&DiscrepancyClass::ALL)?,
        reference: text(u)?,
        account_ids,
        ledger_amount: optional(u, amount)?,
        bank_amount: optional(u, amount)?,
        ledger_evidence: evidence(u)?,
        bank_evidence: evidence(u)?,
        cutoff: u.arbitrary()?,
        actor: text(u)?,
    })
}

fn account_flags(u: &mut Unstructured) -> Result<AccountFlags> {
    let bits: u16 = u.arbitrary()?;
    Ok(AccountFlags(if u.ratio(1u8, 8)? { bits } else { bits & AccountFlags::KNOWN.0 }))
}

fn transfer_flags(u: &mut Unstructured) -> Result<TransferFlags> {
    let bits: u16 = u.arbitrary()?;
    Ok(TransferFlags(if u.ratio(1u8, 8)? { bits } else { bits & TransferFlags::KNOWN.0 }))
}

fn status(u: &mut Unstructured) -> Result<AccountStatus> {
    Ok(*u.choose(&[
        AccountStatus::Active,
        AccountStatus::OutflowBlocked,
        AccountStatus::Frozen,
        AccountStatus::Closed,
    ])?)
}

fn optional<T>(
    u: &mut Unstructured,
    value: impl FnOnce(&mut Unstructured) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(value(u)?) } else { None })
}

fn limits(u: &mut Unstructured) -> Result<Limits> {
    Ok(Limits {
        per_transfer_amount_max: optional(u, amount)?,
        per_day_amount_max: optional(u, amount)?,
        per_day_count_max: optional(u, small_or_extreme_u32)?,
    })
}

fn command(u: &mut Unstructured) -> Result<Command> {
    Ok(match u.int_in_range(0u8..=11)? {
        10 => Command::RecordDiscrepancy(new_discrepancy(u)?),
        11 => Command::ResolveDiscrepancy(ResolveDiscrepancy {
            id: id(u)?,
            reason: text(u)?,
            actor: text(u)?,
        }),
        0 => Command::CreateAccount(NewAccount {
            id: id(u)?,
            ledger: ledger(u)?,
            code: code(u)?,
            flags: account_flags(u)?,
            credit_line: if u.arbitrary()? { 0 } else { amount(u)? },
            user_data: u.arbitrary()?,
        }),
        1..=3 => Command::CreateTransfer(NewTransfer {
            id: id(u)?,
            debit_account_id: id(u)?,
            credit_account_id: id(u)?,
            amount: amount(u)?,
            pending_id: if u.ratio(1u8, 3)? { id(u)? } else { 0 },
            user_data: u.arbitrary()?,
            timeout: if u.arbitrary()? { small_or_extreme_u32(u)? } else { 0 },
            ledger: ledger(u)?,
            code: code(u)?,
            flags: transfer_flags(u)?,
        }),
        4 => Command::SetAccountStatus(SetAccountStatus {
            account_id: id(u)?,
            status: status(u)?,
            reason: text(u)?,
            actor: text(u)?,
        }),
        5 => Command::SetAccountLimits(SetAccountLimits {
            account_id: id(u)?,
            limits: limits(u)?,
            reason: text(u)?,
            actor: text(u)?,
        }),
        6 => Command::CreatePayout(NewPayout {
            id: id(u)?,
            debit_account_id: id(u)?,
            credit_account_id: id(u)?,
            amount: amount(u)?,
            user_data: u.arbitrary()?,
            ledger: ledger(u)?,
            code: code(u)?,
            flags: transfer_flags(u)?,
            bank: small_or_extreme_u32(u)? % 4,
            beneficiary: text(u)?,
        }),
        7 => {
            let plain = ClaimPayouts {
                worker_id: id(u)?,
                bank: small_or_extreme_u32(u)? % 4,
                max: small_or_extreme_u32(u)?,
                lease_ms: match u.int_in_range(0u8..=5)? {
                    0 => 0,
                    1 => u64::MAX,
                    2 => u.arbitrary()?,
                    _ => u.int_in_range(999u64..=3_600_001)?,
                },
            };
            if u.arbitrary()? {
                Command::ClaimPayoutBatch(PayoutBatchClaim {
                    claim_id: id(u)?,
                    worker_id: plain.worker_id,
                    bank: plain.bank,
                    max: plain.max,
                    lease_ms: plain.lease_ms,
                })
            } else {
                Command::ClaimPayouts(plain)
            }
        }
        8 => Command::RecordPayoutOutcome(RecordPayoutOutcome {
            payout_id: id(u)?,
            worker_id: id(u)?,
            fencing_token: match u.int_in_range(0u8..=5)? {
                0 => u64::MAX,
                1 => u.arbitrary()?,
                _ => u.int_in_range(0u64..=3)?,
            },
            outcome: *u.choose(&[
                PayoutOutcome::Sent,
                PayoutOutcome::Unknown,
                PayoutOutcome::Succeeded,
                PayoutOutcome::Failed,
            ])?,
        }),
        _ => Command::BookCollection(NewCollection {
            id: id(u)?,
            bank: small_or_extreme_u32(u)? % 4,
            bank_reference: text(u)?,
            beneficiary_account_id: id(u)?,
            settlement_account_id: id(u)?,
            suspense_account_id: id(u)?,
            amount: amount(u)?,
            user_data: u.arbitrary()?,
            ledger: ledger(u)?,
            code: code(u)?,
        }),
    })
}

fn next_timestamp(u: &mut Unstructured, previous: u64) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - u.int_in_range(0u64..=20_000)?,
        3 => u64::MAX - u.int_in_range(0u64..=4_000_000_000_000_000_000)?,
        4 => u.arbitrary()?,
        5 => previous.saturating_sub(u.int_in_range(0u64..=1_000_000_000_000)?),
        6 => previous.saturating_add(u.int_in_range(0u64..=200_000)? * 1_000_000_000),
        _ => previous.saturating_add(u.int_in_range(0u64..=60_000_000_000)?),
    })
}

/// Accounts the decoded commands are likely to name: every flag combination, two ledgers.
fn genesis() -> Batch {
    let account = |id: u128, flags: AccountFlags, credit_line: u128, ledger: u32| {
        Command::CreateAccount(NewAccount {
            id,
            ledger,
            code: CODE,
            flags,
            credit_line,
            user_data: 0,
        })
    };
    Batch {
        timestamp: T0,
        commands: vec![
            account(1, AccountFlags::NONE, 0, LEDGER),
            account(2, AccountFlags::NONE, 0, LEDGER),
            account(3, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS, 100, LEDGER),
            account(4, AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS, 0, LEDGER),
            account(5, AccountFlags::HISTORY, 0, LEDGER),
            account(6, AccountFlags::NONE, 0, OTHER_LEDGER),
            account(7, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS, u128::MAX, LEDGER),
        ],
    }
}

/// Decodes one input: a configuration and its batches.
fn decode(bytes: &[u8]) -> Result<(LedgerConfig, Vec<Batch>)> {
    let mut u = Unstructured::new(bytes);
    let utc_offset_seconds = u.int_in_range(-18 * 3_600..=18 * 3_600)?;
    let mut batches = vec![genesis()];
    let mut previous = T0;
    while !u.is_empty() && batches.len() <= BATCHES_PER_INPUT_MAX {
        let timestamp = next_timestamp(&mut u, previous)?;
        previous = timestamp;
        let count = u.int_in_range(0..=COMMANDS_PER_BATCH_MAX)?;
        let mut commands = Vec::with_capacity(count);
        for _ in 0..count {
            commands.push(command(&mut u)?);
        }
        batches.push(Batch { timestamp, commands });
    }
    Ok((LedgerConfig { utc_offset_seconds }, batches))
}

/// What `StateMachine::apply` documents as a whole-batch refusal for `batch` on `store`.
fn documented_refusal(store: &MemoryStore, batch: &Batch) -> Option<BatchError> {
    let count = batch.commands.len();
    if count > BATCH_EVENTS_MAX {
        return Some(BatchError::TooManyEvents { count });
    }
    let base = batch.timestamp.max(store.meta().last_timestamp.saturating_add(1));
    base.checked_add((EXPIRIES_PER_BATCH_MAX + count) as u64)
        .is_none()
        .then_some(BatchError::TimestampOverflow)
}

/// Applies every batch of input `seed`; `Err` describes the first broken expectation.
fn run_input(seed: u64) -> std::result::Result<usize, String> {
    let bytes = input_bytes(seed);
    let Ok((config, batches)) = decode(&bytes) else {
        return Ok(0);
    };
    let machine = StateMachine::new(config).map_err(|error| error.to_string())?;
    let mut store = MemoryStore::new();
    let mut applied = 0;
    for (number, batch) in batches.iter().enumerate() {
        let refusal = documented_refusal(&store, batch);
        let last_before = store.meta().last_timestamp;
        match (machine.apply(&store, batch), refusal) {
            (Err(error), Some(expected)) if error == expected => continue,
            (Ok((results, writes)), None) => {
                if results.len() != batch.commands.len() {
                    return Err(format!("batch {number}: {} results", results.len()));
                }
                // Every event but `exists` (which reports the original's time) gets its own
                // timestamp, after everything before it.
                let mut previous = last_before;
                for result in results.iter().filter(|r| r.code != ResultCode::Exists) {
                    if result.timestamp <= previous {
                        return Err(format!("batch {number}: event timestamps do not increase"));
                    }
                    previous = result.timestamp;
                }
                if writes.meta.last_timestamp < previous {
                    return Err(format!("batch {number}: meta is behind its events"));
                }
                if writes.meta.last_timestamp < last_before {
                    return Err(format!("batch {number}: time went backwards"));
                }
                store.commit(&writes);
                applied += 1;
            }
            (outcome, expected) => {
                let outcome = outcome.map(|(results, _)| results.len());
                return Err(format!(
                    "batch {number}: apply gave {outcome:?}, expected {expected:?}"
                ));
            }
        }
        let violations = invariants::check_all(&StateDump::load(&store));
        if !violations.is_empty() {
            return Err(format!("batch {number} {batch:?}: {violations:?}"));
        }
    }
    Ok(applied)
}

#[test]
fn arbitrary_batches_never_panic_or_break_invariants() {
    let seeds: Vec<u64> = match std::env::var("FUZZ_INPUT").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => {
            let inputs = std::env::var("FUZZ_INPUTS").ok().and_then(|s| s.parse().ok());
            (0..inputs.unwrap_or(INPUTS)).collect()
        }
    };
    let inputs = seeds.len();
    let mut applied = 0;
    for seed in seeds {
        match std::panic::catch_unwind(|| run_input(seed)) {
            Ok(Ok(batches)) => applied += batches,
            Ok(Err(error)) => panic!("fuzz input {seed} (FUZZ_INPUT={seed}): {error}"),
            Err(_) => panic!("fuzz input {seed} panicked (rerun with FUZZ_INPUT={seed})"),
        }
    }
    eprintln!("fuzz: {inputs} inputs, {applied} batches applied");
    assert!(applied > inputs, "the decoder produced too few applicable batches");
}

#[test]
fn batch_size_is_bounded() {
    let machine = StateMachine::new(LedgerConfig::default()).expect("valid configuration");
    let store = MemoryStore::new();
    let refused = Command::CreateAccount(NewAccount::default());
    let full = Batch { timestamp: T0, commands: vec![refused.clone(); BATCH_EVENTS_MAX] };
    let (results, _) = machine.apply(&store, &full).expect("a full batch is accepted");
    assert_eq!(results.len(), BATCH_EVENTS_MAX);
    let over = Batch { timestamp: T0, commands: vec![refused; BATCH_EVENTS_MAX + 1] };
    assert_eq!(
        machine.apply(&store, &over).map(|(results, _)| results.len()),
        Err(BatchError::TooManyEvents { count: BATCH_EVENTS_MAX + 1 })
    );
}

#[test]
fn timestamps_stop_short_of_overflow() {
    let machine = StateMachine::new(LedgerConfig::default()).expect("valid configuration");
    let mut store = MemoryStore::new();
    let one = vec![Command::CreateAccount(NewAccount {
        id: 1,
        ledger: LEDGER,
        code: CODE,
        ..NewAccount::default()
    })];
    // The last batch that fits: its base plus the expiry and event headroom is u64::MAX.
    let last_fitting = u64::MAX - (EXPIRIES_PER_BATCH_MAX + 1) as u64;
    let too_late = Batch { timestamp: last_fitting + 1, commands: one.clone() };
    assert_eq!(
        machine.apply(&store, &too_late).map(|(results, _)| results.len()),
        Err(BatchError::TimestampOverflow)
    );
    let fitting = Batch { timestamp: last_fitting, commands: one.clone() };
    let (results, writes) = machine.apply(&store, &fitting).expect("fits");
    assert_eq!(results[0].timestamp, last_fitting);
    store.commit(&writes);
    // From now on every batch is refused whole, whatever its own timestamp says.
    let early = Batch { timestamp: T0, commands: one };
    assert_eq!(
        machine.apply(&store, &early).map(|(results, _)| results.len()),
        Err(BatchError::TimestampOverflow)
    );
}
