//! Benchmark of the RocksDB store on this machine's disk, through openraft's storage traits.
//!
//! `raft_store_append_entries_per_s`: log entries made durable per second. The leader appends
//! what it has batched since its last flush: `ENTRIES_PER_APPEND` entries per `append` call,
//! each entry one group-committed ledger batch of `APPEND_TRANSFERS_PER_ENTRY` transfers.
//! Every call is fsynced before its flush is reported; the clock stops when it is reported.
//!
//! `raft_store_apply_transfers_per_s`: single-phase transfers applied per second through
//! `RaftStateMachine::apply`, in entries of `BATCH_EVENTS_MAX` (8 190) transfers between
//! 100 000 accounts drawn by a deterministic PRNG — the ledger's own benchmark, but with every
//! read and write going through RocksDB (one `WriteBatch` per entry, as in production).
//! A note on standard error gives the CPU time the apply thread and the whole process
//! (RocksDB's background flushes and compactions included) spent meanwhile: on a shared
//! machine, an apply thread with less CPU time than wall time was waiting for a core.
//!
//! Prints exactly `bench: raft_store_append_entries_per_s <N>`,
//! `bench: raft_store_apply_transfers_per_s <N>` and the apply batch p50 / p99 on standard
//! output; notes go to standard error.

use std::time::{Duration, Instant};

use futures_util::stream;
use openraft::RaftTypeConfig;
use openraft::storage::{IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use tianping_ledger::{
    BATCH_EVENTS_MAX, Batch, Command, LedgerConfig, LedgerStore, NewAccount, NewTransfer,
    StateMachine,
};
use tianping_raft_store::{
    Entry, EntryPayload, LogId, RocksConfig, RocksLogStore, RocksStateMachine, RocksStore,
    TypeConfig,
};

const ACCOUNT_COUNT: u64 = 100_000;
const APPLY_TRANSFERS_PER_ENTRY: usize = BATCH_EVENTS_MAX;
const APPLY_WARMUP_ENTRIES: usize = 3;
/// Bounds the run and the memory of the pre-generated batches (~2 MB each).
const APPLY_MEASURED_ENTRIES_MAX: usize = 120;
const APPEND_TRANSFERS_PER_ENTRY: usize = 64;
const ENTRIES_PER_APPEND: usize = 16;
const APPEND_CALLS_MAX: usize = 2_000;
const MEASUREMENT_TARGET: Duration = Duration::from_secs(3);
const SEED: u64 = 0x7469_616e_7069_6e67; // "tianping"
const TRANSFER_ID_FIRST: u128 = 1 << 64;
const TIMESTAMP_FIRST: u64 = 1_764_000_000_000_000_000;
const ENTRY_INTERVAL_NS: u64 = 1_000_000;

const _: () = assert!(ACCOUNT_COUNT >= 2, "a transfer needs two different accounts");

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast and deterministic.
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

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Draws transfers and numbers entries.
struct Generator {
    random: SplitMix64,
    next_transfer_id: u128,
    next_index: u64,
}

impl Generator {
    fn entry(&mut self, commands: Vec<Command>) -> Entry {
        let index = self.next_index;
        self.next_index += 1;
        let log_id =
            LogId::new(<TypeConfig as RaftTypeConfig>::LeaderId::new_committed(1, 0), index);
        let timestamp = TIMESTAMP_FIRST + index * ENTRY_INTERVAL_NS;
        Entry { log_id, payload: EntryPayload::Normal(Batch { timestamp, commands }) }
    }

    fn transfers(&mut self, count: usize) -> Vec<Command> {
        (0..count)
            .map(|_| {
                let debit = self.random.below(ACCOUNT_COUNT);
                let credit = (debit + 1 + self.random.below(ACCOUNT_COUNT - 1)) % ACCOUNT_COUNT;
                let id = self.next_transfer_id;
                self.next_transfer_id += 1;
                Command::CreateTransfer(NewTransfer {
                    id,
                    debit_account_id: u128::from(debit + 1),
                    credit_account_id: u128::from(credit + 1),
                    amount: u128::from(1 + self.random.below(1_000)),
                    ledger: 1,
                    code: 1,
                    ..NewTransfer::default()
                })
            })
            .collect()
    }
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => panic!("tokio runtime: {error}"),
    };
    runtime.block_on(run());
}

async fn run() {
    let append_directory = temporary_directory();
    let (mut log_store, _) = open(&append_directory);
    let append_per_second = bench_append(&mut log_store).await;
    println!("bench: raft_store_append_entries_per_s {append_per_second:.0}");

    let apply_directory = temporary_directory();
    let (_, mut state_machine) = open(&apply_directory);
    let (per_second, p50, p99) = bench_apply(&mut state_machine).await;
    println!("bench: raft_store_apply_transfers_per_s {per_second:.0}");
    println!("bench: raft_store_apply_batch_p50_us {p50:.0}");
    println!("bench: raft_store_apply_batch_p99_us {p99:.0}");
}

fn temporary_directory() -> tempfile::TempDir {
    match tempfile::TempDir::new() {
        Ok(directory) => directory,
        Err(error) => panic!("temporary directory: {error}"),
    }
}

fn open(directory: &tempfile::TempDir) -> (RocksLogStore, RocksStateMachine) {
    let machine = match StateMachine::new(LedgerConfig::default()) {
        Ok(machine) => machine,
        Err(error) => panic!("ledger configuration: {error}"),
    };
    match RocksStore::open(directory.path(), machine, RocksConfig::default()) {
        Ok(stores) => stores,
        Err(error) => panic!("opening RocksDB: {error}"),
    }
}

async fn bench_append(log_store: &mut RocksLogStore) -> f64 {
    let mut generator = Generator {
        random: SplitMix64 { state: SEED },
        next_transfer_id: TRANSFER_ID_FIRST,
        next_index: 1,
    };
    let template: Vec<Command> = generator.transfers(APPEND_TRANSFERS_PER_ENTRY);
    eprintln!(
        "note: append: {ENTRIES_PER_APPEND} entries of {APPEND_TRANSFERS_PER_ENTRY} transfers per \
         fsynced append call"
    );
    let mut total = Duration::ZERO;
    let mut entries_appended = 0usize;
    for call in 0..APPEND_CALLS_MAX {
        let entries: Vec<Entry> =
            (0..ENTRIES_PER_APPEND).map(|_| generator.entry(template.clone())).collect();
        let (sender, receiver) = TypeConfig::oneshot();
        let start = Instant::now();
        if let Err(error) = log_store.append(entries, IOFlushed::signal(sender)).await {
            panic!("append failed: {error}");
        }
        match receiver.await {
            Ok(Ok(())) => {}
            other => panic!("append not flushed: {other:?}"),
        }
        let elapsed = start.elapsed();
        // The first calls create files; leave them out.
        if call >= 3 {
            total += elapsed;
            entries_appended += ENTRIES_PER_APPEND;
        }
        if total >= MEASUREMENT_TARGET {
            break;
        }
    }
    eprintln!("note: append: {entries_appended} entries in {:.3} s", total.as_secs_f64());
    entries_appended as f64 / total.as_secs_f64()
}

async fn apply(state_machine: &mut RocksStateMachine, entry: Entry) {
    let items = stream::iter([Ok((entry, None))]);
    if let Err(error) = state_machine.apply(items).await {
        panic!("apply failed: {error}");
    }
}

async fn bench_apply(state_machine: &mut RocksStateMachine) -> (f64, f64, f64) {
    let mut generator = Generator {
        random: SplitMix64 { state: SEED },
        next_transfer_id: TRANSFER_ID_FIRST,
        next_index: 1,
    };
    let ids: Vec<u64> = (1..=ACCOUNT_COUNT).collect();
    for chunk in ids.chunks(BATCH_EVENTS_MAX) {
        let commands = chunk
            .iter()
            .map(|&id| {
                Command::CreateAccount(NewAccount {
                    id: u128::from(id),
                    ledger: 1,
                    code: 1,
                    ..NewAccount::default()
                })
            })
            .collect();
        let entry = generator.entry(commands);
        apply(state_machine, entry).await;
    }
    let entry_count = APPLY_WARMUP_ENTRIES + APPLY_MEASURED_ENTRIES_MAX;
    eprintln!(
        "note: apply: {ACCOUNT_COUNT} accounts; generating {entry_count} entries of {APPLY_TRANSFERS_PER_ENTRY} transfers"
    );
    let mut entries: Vec<Entry> = (0..entry_count)
        .map(|_| {
            let commands = generator.transfers(APPLY_TRANSFERS_PER_ENTRY);
            generator.entry(commands)
        })
        .collect();
    let measured = entries.split_off(APPLY_WARMUP_ENTRIES);
    for entry in entries {
        apply(state_machine, entry).await;
    }
    let mut durations = Vec::new();
    let mut total = Duration::ZERO;
    let cpu_before = cpu_seconds();
    let mut last_transfer_ids = Vec::new();
    for entry in measured {
        if let EntryPayload::Normal(batch) = &entry.payload
            && let Some(Command::CreateTransfer(last)) = batch.commands.last()
        {
            last_transfer_ids.push(last.id);
        }
        let start = Instant::now();
        apply(state_machine, entry).await;
        let elapsed = start.elapsed();
        durations.push(elapsed);
        total += elapsed;
        if total >= MEASUREMENT_TARGET {
            break;
        }
    }
    if let (Some((thread_before, process_before)), Some((thread_after, process_after))) =
        (cpu_before, cpu_seconds())
    {
        eprintln!(
            "note: apply: CPU meanwhile: apply thread {:.2} s, whole process {:.2} s",
            thread_after - thread_before,
            process_after - process_before
        );
    }
    // A benchmark of refusals would measure the wrong thing: every batch must have landed.
    state_machine
        .with_ledger(|ledger| {
            for id in last_transfer_ids.iter().take(durations.len()) {
                assert!(ledger.transfer(*id).is_some(), "transfer {id} was not applied");
            }
        })
        .expect("the ledger reads");
    let transfers = (durations.len() * APPLY_TRANSFERS_PER_ENTRY) as f64;
    eprintln!(
        "note: apply: {transfers} transfers in {} entries, {:.3} s",
        durations.len(),
        total.as_secs_f64()
    );
    durations.sort_unstable();
    let percentile = |p: f64| {
        let index = ((durations.len() as f64 - 1.0) * p).round() as usize;
        durations[index].as_secs_f64() * 1e6
    };
    (transfers / total.as_secs_f64(), percentile(0.50), percentile(0.99))
}

/// CPU time (user + system, in seconds) of the calling thread and of the whole process, from
/// `/proc` (Linux only; `None` elsewhere). Linux reports it in ticks of 1/100 s (`USER_HZ`).
fn cpu_seconds() -> Option<(f64, f64)> {
    let ticks = |path: &str| -> Option<f64> {
        let stat = std::fs::read_to_string(path).ok()?;
        // Fields after the command name (which may hold spaces) in parentheses; utime and
        // stime are the 14th and 15th fields of the line, the 12th and 13th after it.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let user: f64 = fields.get(11)?.parse().ok()?;
        let system: f64 = fields.get(12)?.parse().ok()?;
        Some((user + system) / 100.0)
    };
    Some((ticks("/proc/thread-self/stat")?, ticks("/proc/self/stat")?))
}
