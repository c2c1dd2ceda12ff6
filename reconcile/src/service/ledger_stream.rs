//! The ledger's side of one bank, as a stream in time order, from what the cluster serves today.
//!
//! Four listings, each with its own cursor (the last item consumed), read one page at a time:
//!
//! - **Succeeded and failed payouts of the bank** (`list_payouts` by state and bank): the
//!   ledger files a final payout under the instant it became final, so each listing is in
//!   that order and grows only at its end. A payout is fed to the matcher once final, at that
//!   instant (`LedgerMovement::of_payout`). A payout's post or void writes no transfer (the
//!   ledger resolves the reservation in place), which is why payouts come from this listing
//!   and not from the in-transit account's transfers. A payout still in flight is not fed: a
//!   bank debit for it becomes a question, answered with its current state.
//! - **The settlement account's transfers** (`account_transfers`, ascending): every
//!   collection and returned payout the worker books is a posted transfer out of it, under its
//!   collection id (`LedgerMovement::of_settlement_transfer`). Other transfers touching it
//!   count towards its posted sums (the balance check) and are not matched.
//! - **The in-transit account's transfers**: payout reservations (which post nothing) and
//!   anything else touching the account; they count towards its posted sums only.
//!
//! **Merging.** One round reads a page of each; a listing that filled its page may hold more,
//! so only items up to the earliest last item of the full listings are consumed (every listing
//! has been read that far), merged by timestamp (each ledger event has its own), and the
//! cursors set there; the rest is read again next round. Memory is one round's pages, never a
//! day. Listings read one after another can still deliver, on the next read, an item a little
//! earlier than one already consumed (committed between the two listings' reads); the service
//! feeds it at the matcher's watermark (`LedgerMovement::delayed_to`).
//!
//! **What was consumed, as of when.** Every consumed item gets a sequence number, and the
//! stream keeps the cumulative posted sums of the two mirror accounts after each, so the
//! balance check can place an account read within the stream (`mirror`). It also remembers,
//! for a bounded time (twice the lateness), which payouts became final and which collections
//! were booked at which sequence number — what the balance check asks of each bank entry —
//! and below which instant everything has been consumed and forgotten (`settled_through`).

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use tianping_ledger::{Payout, PayoutState, Transfer};

use crate::movement::LedgerMovement;
use crate::service::ledger_side::{LedgerSide, PayoutPosition};
use crate::service::mirror::{
    MirrorAccounts, MirrorSums, Side, SumsOverflow, payout_effect, transfer_effect,
};

/// Items read per listing per round: a round holds at most four pages.
pub const PAGE_ITEMS: usize = 1_024;

const _: () = assert!(PAGE_ITEMS <= tianping_ledger::QUERY_LIMIT_MAX);

/// One item consumed from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    /// Its sequence number (1 for the first item ever consumed).
    pub seq: u64,
    /// Its ledger timestamp (ns).
    pub at: u64,
    /// What the matcher is fed, when it is a movement that touches the bank.
    pub movement: Option<LedgerMovement>,
    /// The mirror accounts' posted sums consumed so far, this item included.
    pub sums: MirrorSums,
}

/// What one round consumed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// The items, in time order.
    pub items: Vec<Consumed>,
    /// Every listing was read to its end: the stream is caught up with the ledger as it stood
    /// when the round read it.
    pub finished: bool,
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum RoundError<E: std::error::Error + 'static> {
    /// A read failed: nothing was consumed.
    #[error("ledger: {0}")]
    Ledger(#[source] E),
    /// The posted sums overflowed: nothing more can be trusted of this stream.
    #[error(transparent)]
    Sums(#[from] SumsOverflow),
}

/// One page of each listing.
#[derive(Clone, Debug, Default)]
pub struct Pages {
    /// Succeeded payouts of the bank, in the order they became final.
    pub succeeded: Vec<Payout>,
    /// Failed payouts of the bank, in the order they became final.
    pub failed: Vec<Payout>,
    /// The settlement account's transfers, oldest first.
    pub settlement: Vec<Transfer>,
    /// The in-transit account's transfers, oldest first.
    pub in_transit: Vec<Transfer>,
}

/// One item read, before merging.
enum Item {
    Payout(Payout),
    Transfer(Side, Transfer),
}

impl Item {
    /// The merge order: time, then listing, then id (a transfer between the two mirror
    /// accounts is read from both, at one time).
    fn order(&self) -> (u64, u8, u128) {
        match self {
            Item::Payout(payout) => (payout.updated_at, 0, payout.id),
            Item::Transfer(Side::Settlement, transfer) => (transfer.timestamp, 1, transfer.id),
            Item::Transfer(Side::InTransit, transfer) => (transfer.timestamp, 2, transfer.id),
        }
    }
}

/// Ids remembered with the instant they were consumed at, forgotten after the retention.
#[derive(Debug)]
struct Remembered<V> {
    values: FxHashMap<u128, V>,
    order: VecDeque<(u64, u128)>,
    /// The latest instant forgotten (0: none yet).
    forgotten_through: u64,
}

impl<V> Remembered<V> {
    fn new() -> Remembered<V> {
        Remembered { values: FxHashMap::default(), order: VecDeque::new(), forgotten_through: 0 }
    }

    fn insert(&mut self, id: u128, at: u64, value: V) {
        self.values.insert(id, value);
        self.order.push_back((at, id));
    }

    /// Forgets what was consumed before `oldest`.
    fn forget_before(&mut self, oldest: u64) {
        while let Some(&(at, id)) = self.order.front() {
            if at >= oldest {
                break;
            }
            self.order.pop_front();
            self.values.remove(&id);
            self.forgotten_through = self.forgotten_through.max(at);
        }
    }
}

/// The ledger stream of one bank.
#[derive(Debug)]
pub struct LedgerStream {
    bank: u32,
    accounts: MirrorAccounts,
    reversal_code: u16,
    start_ns: u64,
    retention_ns: u64,
    succeeded_after: PayoutPosition,
    failed_after: PayoutPosition,
    settlement_after: u64,
    in_transit_after: u64,
    seq: u64,
    sums: MirrorSums,
    newest_at: u64,
    /// Payouts that became final: their state and sequence number.
    finals: Remembered<(PayoutState, u64)>,
    /// Collections (and returns) booked: their sequence number.
    bookings: Remembered<u64>,
}

/// Where a payout's finalization or a collection's booking stands, as the stream knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Consumed at or before the cut-off.
    Before,
    /// Consumed after the cut-off.
    After,
    /// Not remembered: consumed long ago and forgotten, or not yet.
    Unknown,
}

impl LedgerStream {
    /// A stream of `bank`'s movements from `start_ns` on (the start of the first statement
    /// day the bank stream reads), remembering finals and bookings for `retention_ns`.
    pub fn new(
        bank: u32,
        accounts: MirrorAccounts,
        reversal_code: u16,
        start_ns: u64,
        retention_ns: u64,
    ) -> LedgerStream {
        let before = start_ns.saturating_sub(1);
        LedgerStream {
            bank,
            accounts,
            reversal_code,
            start_ns,
            retention_ns,
            succeeded_after: PayoutPosition::before(start_ns),
            failed_after: PayoutPosition::before(start_ns),
            settlement_after: before,
            in_transit_after: before,
            seq: 0,
            sums: MirrorSums::default(),
            newest_at: 0,
            finals: Remembered::new(),
            bookings: Remembered::new(),
        }
    }

    /// Reads one page of each listing and consumes what can be (module doc).
    pub async fn round<L: LedgerSide>(
        &mut self,
        ledger: &L,
    ) -> Result<Round, RoundError<L::Error>> {
        let pages = Pages {
            succeeded: ledger
                .final_payouts_after(
                    PayoutState::Succeeded,
                    self.bank,
                    self.succeeded_after,
                    PAGE_ITEMS,
                )
                .await
                .map_err(RoundError::Ledger)?,
            failed: ledger
                .final_payouts_after(PayoutState::Failed, self.bank, self.failed_after, PAGE_ITEMS)
                .await
                .map_err(RoundError::Ledger)?,
            settlement: ledger
                .transfers_after(self.accounts.settlement, self.settlement_after, PAGE_ITEMS)
                .await
                .map_err(RoundError::Ledger)?,
            in_transit: ledger
                .transfers_after(self.accounts.in_transit, self.in_transit_after, PAGE_ITEMS)
                .await
                .map_err(RoundError::Ledger)?,
        };
        Ok(self.absorb(pages, PAGE_ITEMS)?)
    }

    /// Consumes one page of each listing, pages of `page_items` (pure: the round's logic).
    pub fn absorb(&mut self, pages: Pages, page_items: usize) -> Result<Round, SumsOverflow> {
        let Pages { succeeded, failed, settlement, in_transit } = pages;
        // Every listing has been read up to `horizon`: the earliest last item of a full page
        // (one that may have more), or everything when no page is full.
        let full_last = [
            (succeeded.len() >= page_items).then(|| succeeded.last().map(|p| p.updated_at)),
            (failed.len() >= page_items).then(|| failed.last().map(|p| p.updated_at)),
            (settlement.len() >= page_items).then(|| settlement.last().map(|t| t.timestamp)),
            (in_transit.len() >= page_items).then(|| in_transit.last().map(|t| t.timestamp)),
        ];
        let horizon = full_last.into_iter().flatten().flatten().min();
        let within = |at: u64| horizon.is_none_or(|horizon| at <= horizon);

        let mut items: Vec<Item> = Vec::new();
        for (payouts, after) in
            [(succeeded, &mut self.succeeded_after), (failed, &mut self.failed_after)]
        {
            if let Some(last) = payouts.iter().rfind(|payout| within(payout.updated_at)) {
                *after = (*after).max(PayoutPosition::after(last));
            }
            if let Some(horizon) = horizon {
                *after = (*after).max(PayoutPosition { updated_at: horizon, payout_id: u128::MAX });
            }
            items.extend(payouts.into_iter().filter(|p| within(p.updated_at)).map(Item::Payout));
        }
        for (transfers, side, after) in [
            (settlement, Side::Settlement, &mut self.settlement_after),
            (in_transit, Side::InTransit, &mut self.in_transit_after),
        ] {
            if let Some(last) = transfers.iter().rfind(|transfer| within(transfer.timestamp)) {
                *after = (*after).max(last.timestamp);
            }
            if let Some(horizon) = horizon {
                *after = (*after).max(horizon);
            }
            items.extend(
                transfers
                    .into_iter()
                    .filter(|t| within(t.timestamp))
                    .map(|transfer| Item::Transfer(side, transfer)),
            );
        }
        items.sort_by_key(Item::order);

        let mut round =
            Round { items: Vec::with_capacity(items.len()), finished: horizon.is_none() };
        for item in items {
            round.items.push(self.consume(item)?);
        }
        let oldest = self.newest_at.saturating_sub(self.retention_ns);
        self.finals.forget_before(oldest);
        self.bookings.forget_before(oldest);
        Ok(round)
    }

    fn consume(&mut self, item: Item) -> Result<Consumed, SumsOverflow> {
        self.seq += 1;
        let (at, effect, movement) = match item {
            Item::Payout(payout) => {
                self.finals.insert(payout.id, payout.updated_at, (payout.state, self.seq));
                let effect = payout_effect(&payout, self.accounts);
                (payout.updated_at, effect, Some(LedgerMovement::of_payout(&payout)))
            }
            Item::Transfer(side, transfer) => {
                let effect = transfer_effect(&transfer, side, self.accounts);
                // Money booked in from the bank: a posted transfer out of settlement.
                let booking = side == Side::Settlement
                    && transfer.debit_account_id == self.accounts.settlement
                    && effect.settlement.debits_posted > 0;
                let movement = booking.then(|| {
                    self.bookings.insert(transfer.id, transfer.timestamp, self.seq);
                    LedgerMovement::of_settlement_transfer(&transfer, self.reversal_code)
                });
                (transfer.timestamp, effect, movement)
            }
        };
        self.sums = self.sums.checked_add(effect)?;
        self.newest_at = self.newest_at.max(at);
        Ok(Consumed { seq: self.seq, at, movement, sums: self.sums })
    }

    /// The sequence number of the last item consumed (0: none yet).
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// The posted sums consumed so far.
    pub const fn sums(&self) -> MirrorSums {
        self.sums
    }

    /// Below (and at) this instant, every payout that became final and every collection
    /// booked has been consumed, and may have been forgotten: before the stream's start, or
    /// forgotten after the retention.
    pub fn settled_through(&self) -> u64 {
        self.start_ns
            .saturating_sub(1)
            .max(self.finals.forgotten_through)
            .max(self.bookings.forgotten_through)
    }

    /// Whether `payout_id` had become final by the item `cut` (a sequence number).
    pub fn payout_final(&self, payout_id: u128, cut: u64) -> Known {
        match self.finals.values.get(&payout_id) {
            Some((_, seq)) if *seq <= cut => Known::Before,
            Some(_) => Known::After,
            None => Known::Unknown,
        }
    }

    /// Whether the collection `collection_id` had been booked by the item `cut`.
    pub fn booked(&self, collection_id: u128, cut: u64) -> Known {
        match self.bookings.values.get(&collection_id) {
            Some(seq) if *seq <= cut => Known::Before,
            Some(_) => Known::After,
            None => Known::Unknown,
        }
    }

    /// Whether the stream has consumed `payout`'s becoming final (remembered, or final before
    /// what is forgotten): a payout final in a fresher read but not yet consumed has its
    /// movement still to come.
    pub fn consumed_final(&self, payout: &Payout) -> bool {
        payout.state.is_final()
            && (self.finals.values.contains_key(&payout.id)
                || payout.updated_at <= self.settled_through())
    }
}

#[cfg(test)]
mod tests {
    use tianping_ledger::TransferFlags;

    use super::*;
    use crate::balance::PostedSums;

    const ACCOUNTS: MirrorAccounts = MirrorAccounts { settlement: 11, in_transit: 12 };
    const START: u64 = 1_000;

    fn stream() -> LedgerStream {
        LedgerStream::new(3, ACCOUNTS, 5, START, 10_000)
    }

    fn payout(id: u128, state: PayoutState, at: u64) -> Payout {
        Payout {
            id,
            debit_account_id: 500,
            credit_account_id: ACCOUNTS.in_transit,
            amount: 100,
            user_data: 0,
            ledger: 1,
            code: 1,
            bank: 3,
            beneficiary: "B".into(),
            state,
            fencing_token: 1,
            worker_id: 1,
            lease_until: 0,
            created_at: at - 1,
            updated_at: at,
        }
    }

    fn collection(id: u128, at: u64) -> Transfer {
        Transfer {
            id,
            debit_account_id: ACCOUNTS.settlement,
            credit_account_id: 600,
            amount: 40,
            amount_requested: 40,
            pending_id: 0,
            user_data: 0,
            timeout: 0,
            ledger: 1,
            code: 4,
            flags: TransferFlags::NONE,
            timestamp: at,
        }
    }

    fn reservation(id: u128, at: u64) -> Transfer {
        Transfer {
            debit_account_id: 500,
            credit_account_id: ACCOUNTS.in_transit,
            flags: TransferFlags::PENDING,
            ..collection(id, at)
        }
    }

    #[test]
    fn a_round_merges_the_listings_in_time_order() {
        let mut stream = stream();
        let pages = Pages {
            succeeded: vec![payout(1, PayoutState::Succeeded, 1_030)],
            failed: vec![payout(2, PayoutState::Failed, 1_010)],
            settlement: vec![collection(7, 1_020)],
            in_transit: vec![reservation(1, 1_005)],
        };
        let round = stream.absorb(pages, 4).expect("small sums");
        assert!(round.finished);
        let times: Vec<u64> = round.items.iter().map(|item| item.at).collect();
        assert_eq!(times, [1_005, 1_010, 1_020, 1_030]);
        let seqs: Vec<u64> = round.items.iter().map(|item| item.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        // The reservation is not a movement; the failed payout, the collection and the
        // succeeded payout are.
        let fed: Vec<bool> = round.items.iter().map(|item| item.movement.is_some()).collect();
        assert_eq!(fed, [false, true, true, true]);
        // Posted sums: the collection out of settlement, the succeeded payout into in-transit.
        assert_eq!(
            stream.sums(),
            MirrorSums {
                settlement: PostedSums { debits_posted: 40, credits_posted: 0 },
                in_transit: PostedSums { debits_posted: 0, credits_posted: 100 },
            }
        );
        assert_eq!(stream.payout_final(1, 3), Known::After);
        assert_eq!(stream.payout_final(1, 4), Known::Before);
        assert_eq!(stream.booked(7, 3), Known::Before);
        assert_eq!(stream.booked(8, 4), Known::Unknown);
        // The next round starts after each listing's last item.
        assert_eq!(stream.settlement_after, 1_020);
        assert_eq!(stream.succeeded_after, PayoutPosition { updated_at: 1_030, payout_id: 1 });
    }

    #[test]
    fn a_full_page_holds_back_what_lies_beyond_it() {
        let mut stream = stream();
        // The settlement page is full at 1_020: a later item on another listing waits, and
        // that listing is read again from 1_020 on.
        let pages = Pages {
            succeeded: vec![
                payout(1, PayoutState::Succeeded, 1_015),
                payout(2, PayoutState::Succeeded, 1_050),
            ],
            settlement: vec![collection(7, 1_010), collection(8, 1_020)],
            ..Pages::default()
        };
        let round = stream.absorb(pages, 2).expect("small sums");
        assert!(!round.finished);
        let times: Vec<u64> = round.items.iter().map(|item| item.at).collect();
        assert_eq!(times, [1_010, 1_015, 1_020]);
        assert_eq!(
            stream.succeeded_after,
            PayoutPosition { updated_at: 1_020, payout_id: u128::MAX }
        );
        assert_eq!(stream.in_transit_after, 1_020);
        assert_eq!(stream.payout_final(2, u64::MAX), Known::Unknown);
    }

    #[test]
    fn what_is_forgotten_is_settled_before_it() {
        let mut stream = stream();
        assert_eq!(stream.settled_through(), START - 1);
        let first = Pages { settlement: vec![collection(7, 2_000)], ..Pages::default() };
        stream.absorb(first, 4).expect("small sums");
        let later = Pages { settlement: vec![collection(8, 20_000)], ..Pages::default() };
        stream.absorb(later, 4).expect("small sums");
        // Booking 7 is older than the retention behind the newest item: forgotten, and
        // everything up to it counts as consumed.
        assert_eq!(stream.booked(7, u64::MAX), Known::Unknown);
        assert_eq!(stream.settled_through(), 2_000);
        assert!(stream.consumed_final(&payout(9, PayoutState::Succeeded, 1_500)));
        assert!(!stream.consumed_final(&payout(9, PayoutState::Succeeded, 2_500)));
        assert!(!stream.consumed_final(&payout(9, PayoutState::Sent, 1_500)));
    }
}
