//! Benchmark: how many single-phase transfers per second one thread applies to the in-memory
//! store, counting the full cost of a batch (`StateMachine::apply` + `LedgerStoreMut::commit`).
//!
//! Setup: 100 000 accounts without flags on one ledger; batches of `BATCH_EVENTS_MAX`
//! (8 190) single-phase transfers between two different accounts drawn by a deterministic
//! PRNG (splitmix64), amounts 1..=1000, unique ids. Every batch is generated before the
//! clock starts. A few warm-up batches run first; then batches are timed one by one until
//! two seconds of measurement (at most `MEASURED_BATCHES_MAX` batches).
//!
//! Prints, on standard output, exactly:
//! `bench: ledger_apply_transfers_per_s <N>`, `bench: ledger_apply_batch_p50_us <X>` and
//! `bench: ledger_apply_batch_p99_us <X>`; notes go to standard error.
//! Run it with `cargo xtask bench ledger`.

use std::time::{Duration, Instant};

use tianping_ledger::{
    BATCH_EVENTS_MAX, Batch, Command, LedgerConfig, LedgerStoreMut, MemoryStore, NewAccount,
    NewTransfer, ResultCode, StateMachine,
};

const ACCOUNT_COUNT: u64 = 100_000;
const TRANSFERS_PER_BATCH: usize = BATCH_EVENTS_MAX;
const WARMUP_BATCHES: usize = 5;
/// Bounds the run on a slow machine, and the memory of the pre-generated batches (about
/// 530 MB: 160-byte commands).
const MEASURED_BATCHES_MAX: usize = 400;
const MEASUREMENT_TARGET: Duration = Duration::from_secs(2);
const AMOUNT_MAX: u64 = 1_000;
const LEDGER: u32 = 1;
const CODE: u16 = 1;
const SEED: u64 = 0x7469_616e_7069_6e67; // "tianping"
/// Transfer ids start here, so they never look like account ids in a debugger.
const TRANSFER_ID_FIRST: u128 = 1 << 64;
/// 2025-11-24T16:00:00Z: any fixed time works; a fixed one keeps runs identical.
const TIMESTAMP_FIRST: u64 = 1_764_000_000_000_000_000;
/// Leader time between batches: one millisecond, well above a batch's 8 190 nanoseconds.
const BATCH_INTERVAL_NS: u64 = 1_000_000;

const _: () = assert!(ACCOUNT_COUNT >= 2, "a transfer needs two different accounts");
const _: () = assert!(TRANSFERS_PER_BATCH as u64 <= BATCH_INTERVAL_NS);

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast and deterministic on every platform.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (the modulo bias is below 2^-40 for our bounds).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn main() {
    let machine = match StateMachine::new(LedgerConfig::default()) {
        Ok(machine) => machine,
        Err(error) => panic!("default configuration refused: {error}"),
    };
    let mut store = MemoryStore::new();
    let mut timestamp = TIMESTAMP_FIRST;
    create_accounts(&machine, &mut store, &mut timestamp);

    let batch_count = WARMUP_BATCHES + MEASURED_BATCHES_MAX;
    eprintln!(
        "note: {ACCOUNT_COUNT} accounts; generating {batch_count} batches of \
         {TRANSFERS_PER_BATCH} transfers ({} MB)",
        batch_count * TRANSFERS_PER_BATCH * std::mem::size_of::<Command>() / 1_000_000
    );
    let mut generator =
        Generator { random: SplitMix64 { state: SEED }, next_id: TRANSFER_ID_FIRST };
    let mut batches: Vec<Batch> = (0..batch_count)
        .map(|_| {
            timestamp += BATCH_INTERVAL_NS;
            generator.batch(timestamp)
        })
        .collect();
    let measured = batches.split_off(WARMUP_BATCHES);

    for batch in &batches {
        apply_and_commit(&machine, &mut store, batch);
    }
    let durations = measure(&machine, &mut store, &measured);
    report(&durations);
}

/// Creates accounts `1..=ACCOUNT_COUNT` (no flags, one ledger) in full batches.
fn create_accounts(machine: &StateMachine, store: &mut MemoryStore, timestamp: &mut u64) {
    let ids: Vec<u64> = (1..=ACCOUNT_COUNT).collect();
    for chunk in ids.chunks(BATCH_EVENTS_MAX) {
        *timestamp += BATCH_INTERVAL_NS;
        let commands = chunk
            .iter()
            .map(|&id| {
                Command::CreateAccount(NewAccount {
                    id: u128::from(id),
                    ledger: LEDGER,
                    code: CODE,
                    ..NewAccount::default()
                })
            })
            .collect();
        apply_and_commit(machine, store, &Batch { timestamp: *timestamp, commands });
    }
    assert_eq!(store.account_count() as u64, ACCOUNT_COUNT);
}

/// Draws the transfers of the benchmark.
struct Generator {
    random: SplitMix64,
    next_id: u128,
}

impl Generator {
    fn batch(&mut self, timestamp: u64) -> Batch {
        let commands =
            (0..TRANSFERS_PER_BATCH).map(|_| Command::CreateTransfer(self.transfer())).collect();
        Batch { timestamp, commands }
    }

    fn transfer(&mut self) -> NewTransfer {
        let debit = self.random.below(ACCOUNT_COUNT);
        // Any account but the debit one: skip 1..ACCOUNT_COUNT positions ahead, wrapping.
        let credit = (debit + 1 + self.random.below(ACCOUNT_COUNT - 1)) % ACCOUNT_COUNT;
        let id = self.next_id;
        self.next_id += 1;
        NewTransfer {
            id,
            debit_account_id: u128::from(debit + 1),
            credit_account_id: u128::from(credit + 1),
            amount: u128::from(1 + self.random.below(AMOUNT_MAX)),
            ledger: LEDGER,
            code: CODE,
            ..NewTransfer::default()
        }
    }
}

/// Applies and commits `batch`, asserting every event succeeded (a benchmark of refusals
/// would measure the wrong thing).
fn apply_and_commit(machine: &StateMachine, store: &mut MemoryStore, batch: &Batch) {
    let (results, writes) = match machine.apply(store, batch) {
        Ok(output) => output,
        Err(error) => panic!("batch refused: {error}"),
    };
    store.commit(&writes);
    check_results(&results);
}

fn check_results(results: &[tianping_ledger::EventResult]) {
    if let Some((index, result)) =
        results.iter().enumerate().find(|(_, result)| result.code != ResultCode::Ok)
    {
        panic!("event {index} failed: {:?}", result.code);
    }
}

/// Times `apply` + `commit` of each batch until `MEASUREMENT_TARGET` has been measured or the
/// batches run out. Result checks and drops happen outside the timed region.
fn measure(machine: &StateMachine, store: &mut MemoryStore, batches: &[Batch]) -> Vec<Duration> {
    let mut durations = Vec::with_capacity(batches.len());
    let mut total = Duration::ZERO;
    for batch in batches {
        let start = Instant::now();
        let output = machine.apply(store, batch);
        let (results, writes) = match output {
            Ok(output) => output,
            Err(error) => panic!("batch refused: {error}"),
        };
        store.commit(&writes);
        let elapsed = start.elapsed();
        check_results(&results);
        durations.push(elapsed);
        total += elapsed;
        if total >= MEASUREMENT_TARGET {
            break;
        }
    }
    durations
}

fn report(durations: &[Duration]) {
    assert!(!durations.is_empty(), "no batch measured");
    let total: Duration = durations.iter().sum();
    let transfers = (durations.len() * TRANSFERS_PER_BATCH) as f64;
    let per_second = transfers / total.as_secs_f64();
    let mut sorted = durations.to_vec();
    sorted.sort_unstable();
    eprintln!(
        "note: measured {} batches ({transfers} transfers) in {:.3} s after {WARMUP_BATCHES} \
         warm-up batches",
        durations.len(),
        total.as_secs_f64()
    );
    println!("bench: ledger_apply_transfers_per_s {}", per_second.round() as u64);
    println!("bench: ledger_apply_batch_p50_us {}", percentile(&sorted, 50).as_micros());
    println!("bench: ledger_apply_batch_p99_us {}", percentile(&sorted, 99).as_micros());
}

/// The nearest-rank `percent`-th percentile of `sorted` (non-empty, ascending).
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}
