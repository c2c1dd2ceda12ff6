//! Integration tests of `tianping-raft-store`, one binary grouped by area (STYLE: one test
//! binary per crate).

mod crash_memory;
mod crash_rocks;
mod feed;
mod formats;
mod identity;
mod ledger_store;
mod snapshot;
mod storage_faults;
mod suite;
mod support;
