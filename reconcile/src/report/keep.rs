//! The bounded selection behind every table: of everything offered, keep the `limit` items
//! with the smallest keys and count the rest.
//!
//! Why a heap and not "the first `limit` offered": the SDK's pages, two queries merged, or a
//! retry may offer the same discrepancies in a different order, and the report must not
//! change with it. With a max-heap of the kept items, an item enters only when its key is
//! smaller than the largest kept, so the result depends on the keys alone (ties keep the
//! earlier offer; keys here include the discrepancy id, so a tie is the same record twice).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::ReportError;

/// At most `limit` items, those with the smallest keys, and how many others were offered.
#[derive(Debug)]
pub struct Keep<K: Ord, T> {
    heap: BinaryHeap<Entry<K, T>>,
    limit: usize,
    omitted: u64,
}

#[derive(Debug)]
struct Entry<K, T> {
    key: K,
    item: T,
}

impl<K: Ord, T> PartialEq for Entry<K, T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<K: Ord, T> Eq for Entry<K, T> {}

impl<K: Ord, T> PartialOrd for Entry<K, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord, T> Ord for Entry<K, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl<K: Ord, T> Keep<K, T> {
    /// An empty selection keeping at most `limit` items.
    pub fn new(limit: usize) -> Keep<K, T> {
        Keep { heap: BinaryHeap::new(), limit, omitted: 0 }
    }

    /// Offers the item `make` builds under `key`; `make` runs only when the item is kept, so
    /// a flood of offers past the limit copies nothing.
    pub fn offer(&mut self, key: K, make: impl FnOnce() -> T) -> Result<(), ReportError> {
        let enters = match self.heap.peek() {
            _ if self.heap.len() < self.limit => true,
            Some(largest) => key < largest.key,
            None => false,
        };
        if !enters {
            return self.count_omitted();
        }
        if self.heap.len() >= self.limit {
            self.heap.pop();
            self.count_omitted()?;
        }
        self.heap.push(Entry { key, item: make() });
        Ok(())
    }

    /// How many were offered and not kept (so far).
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    /// The kept items, smallest key first, and how many were not kept.
    pub fn into_sorted(self) -> (Vec<T>, u64) {
        let items = self.heap.into_sorted_vec().into_iter().map(|entry| entry.item).collect();
        (items, self.omitted)
    }

    fn count_omitted(&mut self) -> Result<(), ReportError> {
        self.omitted =
            self.omitted.checked_add(1).ok_or(ReportError::Overflow { what: "rows omitted" })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(limit: usize, keys: &[u32]) -> (Vec<u32>, u64) {
        let mut selection = Keep::new(limit);
        for &key in keys {
            selection.offer(key, || key).expect("no overflow");
        }
        selection.into_sorted()
    }

    #[test]
    fn the_smallest_keys_are_kept_whatever_the_order() {
        assert_eq!(keep(3, &[5, 1, 4, 2, 3]), (vec![1, 2, 3], 2));
        assert_eq!(keep(3, &[3, 2, 1, 4, 5]), (vec![1, 2, 3], 2));
        assert_eq!(keep(3, &[1, 2]), (vec![1, 2], 0));
        assert_eq!(keep(0, &[1, 2]), (vec![], 2));
        assert_eq!(keep(2, &[]), (vec![], 0));
    }

    #[test]
    fn items_past_the_limit_are_never_built() {
        let mut selection = Keep::new(1);
        selection.offer(1, || "kept").expect("no overflow");
        selection.offer(2, || panic!("an item that cannot enter is not built")).expect("counted");
        assert_eq!(selection.into_sorted(), (vec!["kept"], 1));
    }
}
