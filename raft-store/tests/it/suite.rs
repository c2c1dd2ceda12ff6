//! openraft's storage conformance suite, run on both stores.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use tempfile::TempDir;
use tianping_raft_store::{
    MemoryDisk, MemoryLogStore, MemoryStateMachine, RocksConfig, RocksLogStore, RocksStateMachine,
    RocksStore, TypeConfig,
};

use crate::support::machine;

struct MemoryBuilder;

impl StoreBuilder<TypeConfig, MemoryLogStore, MemoryStateMachine> for MemoryBuilder {
    async fn build(
        &self,
    ) -> Result<((), MemoryLogStore, MemoryStateMachine), StorageError<TypeConfig>> {
        let (log_store, state_machine) = MemoryDisk::new().open(machine());
        Ok(((), log_store, state_machine))
    }
}

struct RocksBuilder;

impl StoreBuilder<TypeConfig, RocksLogStore, RocksStateMachine, TempDir> for RocksBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, RocksLogStore, RocksStateMachine), StorageError<TypeConfig>> {
        let directory = TempDir::new().expect("temporary directory");
        let config = RocksConfig {
            block_cache_bytes: 8 << 20,
            write_buffer_bytes: 4 << 20,
            ..RocksConfig::default()
        };
        let (log_store, state_machine) =
            RocksStore::open(directory.path(), machine(), config).expect("RocksDB store opens");
        Ok((directory, log_store, state_machine))
    }
}

#[tokio::test]
async fn memory_store_passes_openraft_storage_suite() {
    Suite::test_all(MemoryBuilder).await.expect("openraft storage suite");
}

#[tokio::test]
async fn rocks_store_passes_openraft_storage_suite() {
    Suite::test_all(RocksBuilder).await.expect("openraft storage suite");
}
