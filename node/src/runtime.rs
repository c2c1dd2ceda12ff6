//! The node's runtime glue, the same in production and in the simulation.
//!
//! - `timeout`: a deadline on a future: tokio's outside the simulation; inside it the one
//!   raft-store's simulation runtime gives openraft, a future of our own over madsim's clock
//!   (madsim's own `timeout` is not `Send`, and gRPC handlers and the Raft transport need
//!   `Send` futures).
//! - `attach_disk` (simulation only): the simulated disk a node at a data directory runs on.
//!   The simulation owns every node's `MemoryDisk`, so a node it kills and restarts through
//!   the same `start` sees exactly the writes that were synced before.

/// `future`, or `Err` once `duration` has passed without it finishing: tokio's.
#[cfg(not(madsim))]
pub use tokio::time::timeout;

/// `future`, or `Err` once `duration` has passed without it finishing: the project's own,
/// `Send` whenever the future is.
#[cfg(madsim)]
pub use tianping_raft_store::runtime::timeout;

#[cfg(madsim)]
pub use sim_disks::{attach_disk, detach_disk};

#[cfg(madsim)]
mod sim_disks {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use tianping_raft_store::MemoryDisk;

    thread_local! {
        /// The disks of this simulation, by data directory. A madsim simulation runs on one
        /// thread, so simulations running side by side (parallel tests) never share one.
        static DISKS: RefCell<BTreeMap<PathBuf, MemoryDisk>> = const { RefCell::new(BTreeMap::new()) };
    }

    /// Makes `disk` the disk of the node whose `data_directory` is `directory`: `start` opens
    /// its stores there. Attaching again replaces the disk (a new simulation run reusing the
    /// same paths starts from the disks it attaches).
    pub fn attach_disk(directory: &Path, disk: MemoryDisk) {
        DISKS.with(|disks| disks.borrow_mut().insert(directory.to_path_buf(), disk));
    }

    /// Forgets the disk at `directory`.
    pub fn detach_disk(directory: &Path) {
        DISKS.with(|disks| disks.borrow_mut().remove(directory));
    }

    /// The disk attached at `directory`.
    pub(crate) fn disk_at(directory: &Path) -> Option<MemoryDisk> {
        DISKS.with(|disks| disks.borrow().get(directory).cloned())
    }
}

#[cfg(madsim)]
pub(crate) use sim_disks::disk_at;
