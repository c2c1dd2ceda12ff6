//! Pending-transfer expiry: at the start of every batch, reservations whose timeout passed
//! are released, oldest first, at most `EXPIRIES_PER_BATCH_MAX` per batch (the rest follow in
//! the next batches; until then a post or void of them is refused as expired).

use super::context::Context;
use crate::EXPIRIES_PER_BATCH_MAX;
use crate::store::LedgerStore;
use crate::transfer::PendingStatus;

/// Expires due reservations; returns how many timestamps (one per expiry) it used, starting
/// at `now`.
pub(super) fn expire_due<S: LedgerStore + ?Sized>(context: &mut Context<'_, S>, now: u64) -> u64 {
    let due = context.store.expiries_due(now, EXPIRIES_PER_BATCH_MAX);
    // Not `(now..).zip(&due)`: `zip` draws one value more than there are expiries, and a
    // `RangeFrom` computes the successor of each value it yields, which overflows (and stops
    // every replica) when a full sweep ends at the last timestamp `apply` allows.
    for (offset, key) in due.iter().enumerate() {
        let timestamp = now + offset as u64;
        let Some(transfer) = context.transfer(key.transfer_id) else {
            panic!("expiry index names missing transfer {}", key.transfer_id);
        };
        let Some(mut pending) = context.pending_transfer(key.transfer_id) else {
            panic!("expiry index names transfer {} without pending state", key.transfer_id);
        };
        assert_eq!(
            pending.status,
            PendingStatus::Pending,
            "expiry index holds a resolved transfer"
        );
        assert_eq!(pending.expires_at, key.expires_at, "expiry index disagrees with pending state");

        super::movement::release_reservation(context, &transfer, timestamp);
        pending.status = PendingStatus::Expired;
        pending.resolved_at = timestamp;
        context.put_pending_transfer(pending);
        context.set_expiry(*key, false);
    }
    due.len() as u64
}
