//! The ledger's mirror of one bank account at one cut-off, read consistently with the stream
//! of movements the matcher was fed — pure arithmetic over what the service read.
//!
//! The balance check needs the mirror accounts' posted sums *at the cut-off the in-flight and
//! unbooked lists are taken at*. The account records carry no "as of" time, and the ledger
//! keeps moving while the reconciler reads. So the service reads the two accounts, then reads
//! the stream on (every transfer and final payout since its last read), and asks here at which
//! point of that stream the accounts were read:
//!
//! - Posted sums only grow, one stream item at a time, and every item the stream read before
//!   the accounts were read is in the record, every one after is not (linearizable reads:
//!   the stream's previous read finished before the accounts were read, its next one started
//!   after). So the record equals `anchor + sums(prefix)` for some prefix between the two
//!   reads, where `anchor` is what the accounts held before the stream began.
//! - The anchor is learned, not configured: when the sums do not move across the re-read
//!   (nothing posted to the mirror accounts meanwhile), every candidate prefix has the same
//!   sums, so `anchor = record − sums` exactly. That also re-learns it when something the
//!   stream cannot see moved the accounts (a payout of another bank posted to this bank's
//!   in-transit account): the record is the truth, the anchor absorbs the unseen movement, and
//!   the check compares the true mirror with the bank.
//! - With an anchor, the cut-off is the earliest prefix whose sums match. Prefixes with equal
//!   sums differ only by movements that post nothing (reservations, voids): the earliest
//!   counts the most payouts in flight, so a void read on the edge explains a bank debit one
//!   period longer rather than flag it early — never a false finding.
//! - No prefix matches: the read is not placed (the ledger moved in a way this read cannot
//!   pin down). The service reads again, a bounded number of times, then skips the check with
//!   a log line and a metric.

use tianping_ledger::{Account, Payout, PayoutState, Transfer, TransferFlags};

use crate::balance::PostedSums;

/// The posted sums of the two accounts that mirror a bank account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorSums {
    /// The bank-settlement account.
    pub settlement: PostedSums,
    /// The bank-in-transit account.
    pub in_transit: PostedSums,
}

/// The two mirror accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MirrorAccounts {
    /// The bank-settlement account.
    pub settlement: u128,
    /// The bank-in-transit account.
    pub in_transit: u128,
}

/// Which mirror account a stream item was read from: a transfer between the two is read from
/// both, and each reading counts its own side only, so it is counted once per side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Read from the settlement account's transfers.
    Settlement,
    /// Read from the in-transit account's transfers.
    InTransit,
}

/// A sum past `u128`: impossible for sums the ledger itself keeps in `u128` unless the stream
/// double-counts, so it fails the period rather than wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the mirror accounts' posted sums overflowed")]
pub struct SumsOverflow;

impl MirrorSums {
    /// The sums of the two account records.
    pub fn of(settlement: &Account, in_transit: &Account) -> MirrorSums {
        MirrorSums {
            settlement: PostedSums::of(settlement),
            in_transit: PostedSums::of(in_transit),
        }
    }

    /// `self + other`, exactly.
    pub fn checked_add(self, other: MirrorSums) -> Result<MirrorSums, SumsOverflow> {
        Ok(MirrorSums {
            settlement: add(self.settlement, other.settlement)?,
            in_transit: add(self.in_transit, other.in_transit)?,
        })
    }

    /// `self − other`, when no sum goes below zero.
    pub fn checked_sub(self, other: MirrorSums) -> Option<MirrorSums> {
        Some(MirrorSums {
            settlement: sub(self.settlement, other.settlement)?,
            in_transit: sub(self.in_transit, other.in_transit)?,
        })
    }
}

fn add(left: PostedSums, right: PostedSums) -> Result<PostedSums, SumsOverflow> {
    Ok(PostedSums {
        debits_posted: left.debits_posted.checked_add(right.debits_posted).ok_or(SumsOverflow)?,
        credits_posted: left
            .credits_posted
            .checked_add(right.credits_posted)
            .ok_or(SumsOverflow)?,
    })
}

fn sub(left: PostedSums, right: PostedSums) -> Option<PostedSums> {
    Some(PostedSums {
        debits_posted: left.debits_posted.checked_sub(right.debits_posted)?,
        credits_posted: left.credits_posted.checked_sub(right.credits_posted)?,
    })
}

/// What a transfer read from `side`'s history posted to that account: its amount on the side
/// it is on, unless it only reserved (`pending`) or released (`void_pending`). A post of a
/// pending transfer carries the accounts and the amount posted, so it counts like any other.
pub fn transfer_effect(transfer: &Transfer, side: Side, accounts: MirrorAccounts) -> MirrorSums {
    let posts = !transfer.flags.contains(TransferFlags::PENDING)
        && !transfer.flags.contains(TransferFlags::VOID_PENDING);
    if !posts {
        return MirrorSums::default();
    }
    let account = match side {
        Side::Settlement => accounts.settlement,
        Side::InTransit => accounts.in_transit,
    };
    let sums = PostedSums {
        debits_posted: if transfer.debit_account_id == account { transfer.amount } else { 0 },
        credits_posted: if transfer.credit_account_id == account { transfer.amount } else { 0 },
    };
    match side {
        Side::Settlement => MirrorSums { settlement: sums, ..MirrorSums::default() },
        Side::InTransit => MirrorSums { in_transit: sums, ..MirrorSums::default() },
    }
}

/// What a final payout posted to the mirror accounts: a succeeded payout posts its reservation
/// (no transfer record of its own: the ledger resolves the reservation in place), crediting
/// the in-transit account it reserved into; a failed one posts nothing.
pub fn payout_effect(payout: &Payout, accounts: MirrorAccounts) -> MirrorSums {
    if payout.state != PayoutState::Succeeded {
        return MirrorSums::default();
    }
    let mut sums = MirrorSums::default();
    for (account, sums) in
        [(accounts.settlement, &mut sums.settlement), (accounts.in_transit, &mut sums.in_transit)]
    {
        if payout.debit_account_id == account {
            sums.debits_posted = payout.amount;
        }
        if payout.credit_account_id == account {
            sums.credits_posted = payout.amount;
        }
    }
    sums
}

/// Where the account records were read within the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Located {
    /// At `candidates[index]`; `anchor` is what the accounts held before the stream began
    /// (`relearned`: it differs from the anchor passed in, or there was none).
    At {
        /// The candidate.
        index: usize,
        /// The anchor.
        anchor: MirrorSums,
        /// Whether the anchor was learned now.
        relearned: bool,
    },
    /// No candidate explains the record.
    NotFound,
}

/// Where the record `read` lies among `candidates`: the stream's cumulative sums before the
/// re-read (`candidates[0]`) and after each item it brought, in order (module doc).
pub fn locate(anchor: Option<MirrorSums>, read: MirrorSums, candidates: &[MirrorSums]) -> Located {
    let Some(first) = candidates.first() else {
        return Located::NotFound;
    };
    if candidates.iter().all(|sums| sums == first) {
        return match read.checked_sub(*first) {
            Some(learned) => {
                Located::At { index: 0, anchor: learned, relearned: anchor != Some(learned) }
            }
            None => Located::NotFound,
        };
    }
    let Some(anchor) = anchor else {
        return Located::NotFound;
    };
    candidates
        .iter()
        .position(|sums| anchor.checked_add(*sums).is_ok_and(|total| total == read))
        .map_or(Located::NotFound, |index| Located::At { index, anchor, relearned: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNTS: MirrorAccounts = MirrorAccounts { settlement: 11, in_transit: 12 };

    fn in_transit_credits(amount: u128) -> MirrorSums {
        MirrorSums {
            in_transit: PostedSums { debits_posted: 0, credits_posted: amount },
            ..MirrorSums::default()
        }
    }

    fn transfer(debit: u128, credit: u128, amount: u128, flags: TransferFlags) -> Transfer {
        Transfer {
            id: 1,
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            amount_requested: amount,
            pending_id: 0,
            user_data: 0,
            timeout: 0,
            ledger: 1,
            code: 1,
            flags,
            timestamp: 1,
        }
    }

    #[test]
    fn only_what_posts_counts_and_each_side_once() {
        let plain = transfer(11, 99, 5, TransferFlags::NONE);
        assert_eq!(
            transfer_effect(&plain, Side::Settlement, ACCOUNTS).settlement,
            PostedSums { debits_posted: 5, credits_posted: 0 }
        );
        // Read from the other account's history, it counts nothing on settlement.
        assert_eq!(transfer_effect(&plain, Side::InTransit, ACCOUNTS), MirrorSums::default());
        for flags in [TransferFlags::PENDING, TransferFlags::VOID_PENDING] {
            let held = transfer(11, 99, 5, flags);
            assert_eq!(transfer_effect(&held, Side::Settlement, ACCOUNTS), MirrorSums::default());
        }
        let posted = transfer(99, 12, 7, TransferFlags::POST_PENDING);
        assert_eq!(transfer_effect(&posted, Side::InTransit, ACCOUNTS), in_transit_credits(7));
        // Between the two mirror accounts: each reading counts its own side.
        let between = transfer(11, 12, 3, TransferFlags::NONE);
        let both = transfer_effect(&between, Side::Settlement, ACCOUNTS)
            .checked_add(transfer_effect(&between, Side::InTransit, ACCOUNTS))
            .expect("small");
        assert_eq!(both.settlement.debits_posted, 3);
        assert_eq!(both.in_transit.credits_posted, 3);
    }

    #[test]
    fn a_succeeded_payout_posts_to_its_in_transit_account() {
        let payout = |state, credit_account_id| Payout {
            id: 4,
            debit_account_id: 99,
            credit_account_id,
            amount: 250,
            user_data: 0,
            ledger: 1,
            code: 1,
            bank: 1,
            beneficiary: "B".into(),
            state,
            fencing_token: 1,
            worker_id: 1,
            lease_until: 0,
            created_at: 1,
            updated_at: 2,
        };
        assert_eq!(
            payout_effect(&payout(PayoutState::Succeeded, 12), ACCOUNTS),
            in_transit_credits(250)
        );
        assert_eq!(
            payout_effect(&payout(PayoutState::Failed, 12), ACCOUNTS),
            MirrorSums::default()
        );
        // Misrouted to another bank's in-transit account: nothing on ours.
        assert_eq!(
            payout_effect(&payout(PayoutState::Succeeded, 77), ACCOUNTS),
            MirrorSums::default()
        );
    }

    #[test]
    fn the_anchor_is_learned_only_when_the_sums_stand_still() {
        let before = in_transit_credits(100);
        // Nothing posted across the re-read: the record minus the sums is the anchor.
        let read = in_transit_credits(1_100);
        assert_eq!(
            locate(None, read, &[before, before]),
            Located::At { index: 0, anchor: in_transit_credits(1_000), relearned: true }
        );
        // The same anchor again is not news.
        assert_eq!(
            locate(Some(in_transit_credits(1_000)), read, &[before]),
            Located::At { index: 0, anchor: in_transit_credits(1_000), relearned: false }
        );
        // The sums moved and there is no anchor: the read cannot be placed.
        assert_eq!(locate(None, read, &[before, in_transit_credits(150)]), Located::NotFound);
        // A record below the stream's own sums is no state the stream explains.
        assert_eq!(locate(None, in_transit_credits(50), &[before]), Located::NotFound);
    }

    #[test]
    fn with_an_anchor_the_earliest_matching_prefix_is_the_cut_off() {
        let anchor = in_transit_credits(1_000);
        let candidates = [
            in_transit_credits(100),
            in_transit_credits(150),
            in_transit_credits(150),
            in_transit_credits(190),
        ];
        // Read after the second item: the first prefix with those sums (index 1, not 2).
        assert_eq!(
            locate(Some(anchor), in_transit_credits(1_150), &candidates),
            Located::At { index: 1, anchor, relearned: false }
        );
        assert_eq!(
            locate(Some(anchor), in_transit_credits(1_190), &candidates),
            Located::At { index: 3, anchor, relearned: false }
        );
        // Moved by something the stream cannot see, while the stream moved too: not placed.
        assert_eq!(locate(Some(anchor), in_transit_credits(1_160), &candidates), Located::NotFound);
        // Moved by something unseen while the stream stood still: relearned, the record wins.
        assert_eq!(
            locate(Some(anchor), in_transit_credits(1_160), &[in_transit_credits(150)]),
            Located::At { index: 0, anchor: in_transit_credits(1_010), relearned: true }
        );
    }
}
