//! openraft's own conformance suite for storage implementations, run
//! against the on-disk log store and the metadata state machine.

use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageIOError};

use crate::raft::log_store::LogStore;
use crate::raft::snapshot::SnapshotStore;
use crate::raft::state_machine::StateMachine;
use crate::raft::{StorageError, TypeConfig};

struct OnDisk;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for OnDisk {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LogStore::open(dir.path())
            .map_err(|e| StorageError::from(StorageIOError::read_logs(AnyError::new(&e))))?;
        let (sm, _updates) =
            StateMachine::open(SnapshotStore::on_disk(dir.path())).map_err(|e| {
                StorageError::from(StorageIOError::read_state_machine(AnyError::new(&e)))
            })?;
        Ok((dir, store, sm))
    }
}

#[test]
fn the_on_disk_stores_pass_openraft_storage_suite() {
    Suite::test_all(OnDisk).unwrap();
}

struct InMemory;

impl StoreBuilder<TypeConfig, LogStore, StateMachine> for InMemory {
    async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError> {
        let (sm, _updates) = StateMachine::open(SnapshotStore::in_memory()).map_err(|e| {
            StorageError::from(StorageIOError::read_state_machine(AnyError::new(&e)))
        })?;
        Ok(((), LogStore::in_memory(), sm))
    }
}

#[test]
fn the_in_memory_stores_pass_openraft_storage_suite() {
    Suite::test_all(InMemory).unwrap();
}
