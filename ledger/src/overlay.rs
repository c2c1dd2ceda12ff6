//! The per-batch write overlay: reads see earlier writes of the same batch, writes keep their
//! first-touch order (so the `WriteSet` is deterministic without iterating a hash map), and a
//! linked chain can be rolled back to a savepoint through an undo log that is only recorded
//! while a chain is open.

use std::collections::BTreeMap;
use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Point-keyed records (accounts, transfers, payouts …).
pub(crate) struct RecordOverlay<K, V> {
    slots: FxHashMap<K, usize>,
    /// Keys and values in slot order, apart so the values hand over as the write set's list
    /// without moving them again.
    keys: Vec<K>,
    values: Vec<V>,
    /// `(slot, previous value)`; `None` means the slot was created by the undone write.
    undo: Vec<(usize, Option<V>)>,
}

impl<K: Copy + Eq + Hash, V: Clone> RecordOverlay<K, V> {
    pub(crate) fn new() -> Self {
        RecordOverlay::with_capacity(0)
    }

    /// An overlay sized for `capacity` records, so a batch never grows it.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut slots = FxHashMap::default();
        slots.reserve(capacity);
        RecordOverlay {
            slots,
            keys: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
            undo: Vec::new(),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.slots.get(key).map(|&slot| &self.values[slot])
    }

    pub(crate) fn put(&mut self, key: K, value: V, recording: bool) {
        match self.slots.get(&key) {
            Some(&slot) => {
                let previous = std::mem::replace(&mut self.values[slot], value);
                if recording {
                    self.undo.push((slot, Some(previous)));
                }
            }
            None => {
                let slot = self.values.len();
                self.slots.insert(key, slot);
                self.keys.push(key);
                self.values.push(value);
                if recording {
                    self.undo.push((slot, None));
                }
            }
        }
    }

    pub(crate) fn savepoint(&self) -> usize {
        self.undo.len()
    }

    pub(crate) fn rollback(&mut self, savepoint: usize) {
        while self.undo.len() > savepoint {
            let Some((slot, previous)) = self.undo.pop() else { break };
            match previous {
                Some(value) => self.values[slot] = value,
                None => {
                    // Slots are created in order and undone in reverse, so it is the last one.
                    assert_eq!(slot + 1, self.values.len(), "overlay undo out of order");
                    self.values.pop();
                    if let Some(key) = self.keys.pop() {
                        self.slots.remove(&key);
                    }
                }
            }
        }
    }

    pub(crate) fn clear_undo(&mut self) {
        self.undo.clear();
    }

    pub(crate) fn into_values(self) -> Vec<V> {
        self.values
    }
}

/// Records keyed by a type that is not `Copy` (collections, keyed by bank reference).
pub(crate) struct KeyedOverlay<K, V> {
    entries: BTreeMap<K, V>,
    order: Vec<K>,
}

impl<K: Clone + Ord, V: Clone> KeyedOverlay<K, V> {
    pub(crate) fn new() -> Self {
        KeyedOverlay { entries: BTreeMap::new(), order: Vec::new() }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    /// Inserts a record that did not exist (these tables are insert-only).
    pub(crate) fn insert(&mut self, key: K, value: V) {
        let previous = self.entries.insert(key.clone(), value);
        assert!(previous.is_none(), "insert-only overlay written twice");
        self.order.push(key);
    }

    pub(crate) fn savepoint(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn rollback(&mut self, savepoint: usize) {
        for key in self.order.drain(savepoint..) {
            self.entries.remove(&key);
        }
    }

    pub(crate) fn into_values(mut self) -> Vec<V> {
        let mut values = Vec::with_capacity(self.order.len());
        for key in &self.order {
            if let Some(value) = self.entries.remove(key) {
                values.push(value);
            }
        }
        values
    }
}

/// An ordered set (expiry index, payout index): `true` = present, `false` = deleted.
pub(crate) struct SetOverlay<K> {
    members: BTreeMap<K, bool>,
    order: Vec<K>,
    undo: Vec<(K, Option<bool>)>,
}

impl<K: Copy + Ord> SetOverlay<K> {
    pub(crate) fn new() -> Self {
        SetOverlay { members: BTreeMap::new(), order: Vec::new(), undo: Vec::new() }
    }

    pub(crate) fn set(&mut self, key: K, present: bool, recording: bool) {
        let previous = self.members.insert(key, present);
        if previous.is_none() {
            self.order.push(key);
        }
        if recording {
            self.undo.push((key, previous));
        }
    }

    pub(crate) fn savepoint(&self) -> usize {
        self.undo.len()
    }

    pub(crate) fn rollback(&mut self, savepoint: usize) {
        while self.undo.len() > savepoint {
            let Some((key, previous)) = self.undo.pop() else { break };
            match previous {
                Some(present) => {
                    self.members.insert(key, present);
                }
                None => {
                    self.members.remove(&key);
                    let popped = self.order.pop();
                    assert!(popped == Some(key), "set overlay undo out of order");
                }
            }
        }
    }

    pub(crate) fn clear_undo(&mut self) {
        self.undo.clear();
    }

    /// Merges `stored` (the store's keys in `[first, last]`, ascending, fetched with a limit
    /// of at least `limit + self.len_in(first, last)`) with this overlay, up to `limit` keys.
    pub(crate) fn merge_range(&self, stored: Vec<K>, first: &K, last: &K, limit: usize) -> Vec<K> {
        let mut merged: Vec<K> =
            stored.into_iter().filter(|key| self.members.get(key) != Some(&false)).collect();
        merged.extend(
            self.members.range(*first..=*last).filter(|(_, present)| **present).map(|(k, _)| *k),
        );
        merged.sort_unstable();
        merged.dedup();
        merged.truncate(limit);
        merged
    }

    /// How many overlay entries (present or deleted) fall in `[first, last]`.
    pub(crate) fn len_in(&self, first: &K, last: &K) -> usize {
        self.members.range(*first..=*last).count()
    }

    pub(crate) fn into_changes(self) -> Vec<(K, bool)> {
        let SetOverlay { members, order, .. } = self;
        order
            .into_iter()
            .filter_map(|key| members.get(&key).map(|present| (key, *present)))
            .collect()
    }
}

/// Append-only records (history entries, balance snapshots, audit records).
pub(crate) struct AppendOverlay<T> {
    entries: Vec<T>,
}

impl<T> AppendOverlay<T> {
    pub(crate) fn new() -> Self {
        AppendOverlay { entries: Vec::new() }
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        AppendOverlay { entries: Vec::with_capacity(capacity) }
    }

    pub(crate) fn push(&mut self, entry: T) {
        self.entries.push(entry);
    }

    pub(crate) fn savepoint(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn rollback(&mut self, savepoint: usize) {
        self.entries.truncate(savepoint);
    }

    pub(crate) fn into_vec(self) -> Vec<T> {
        self.entries
    }
}
