//! Flag sets for accounts and transfers: plain bit sets with named bits, so the wire format
//! is one integer and unknown bits are detectable (`reserved_flag`).

use serde::{Deserialize, Serialize};

macro_rules! flag_set {
    ($(#[$doc:meta])* $name:ident: $repr:ty { $( $(#[$fdoc:meta])* $flag:ident = $bit:expr, )* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$fdoc])* pub const $flag: $name = $name($bit); )*
            /// Every bit that has a meaning; anything else is `reserved_flag`.
            pub const KNOWN: $name = $name(0 $( | $bit )*);
            /// No flag set.
            pub const NONE: $name = $name(0);

            /// True when every bit of `other` is set.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// True when a bit outside `KNOWN` is set.
            pub const fn has_reserved_bits(self) -> bool {
                self.0 & !Self::KNOWN.0 != 0
            }

            /// The set with the bits of `other` set (`on`) or cleared.
            pub const fn with(self, other: $name, on: bool) -> $name {
                if on { $name(self.0 | other.0) } else { self.without(other) }
            }

            /// The set without the bits of `other`.
            pub const fn without(self, other: $name) -> $name {
                $name(self.0 & !other.0)
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }
        }
    };
}

flag_set! {
    /// Account flags (DESIGN §3).
    AccountFlags: u16 {
        /// This event and the next succeed or fail together.
        LINKED = 1 << 0,
        /// Debits (pending + posted) may exceed posted credits by at most the credit line.
        DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1,
        /// Credits (pending + posted) may never exceed posted debits.
        CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2,
        /// Keep a balance snapshot after every change, for `account_balances` queries.
        HISTORY = 1 << 3,
    }
}

flag_set! {
    /// Transfer flags (DESIGN §3).
    TransferFlags: u16 {
        /// This event and the next succeed or fail together.
        LINKED = 1 << 0,
        /// Reserve the amount (phase one of a two-phase transfer).
        PENDING = 1 << 1,
        /// Post (part of) a pending transfer's reservation.
        POST_PENDING = 1 << 2,
        /// Release a pending transfer's reservation.
        VOID_PENDING = 1 << 3,
        /// Move at most what the debit account can give (amount is the upper bound).
        BALANCING_DEBIT = 1 << 4,
        /// Move at most what the credit account can take (amount is the upper bound).
        BALANCING_CREDIT = 1 << 5,
    }
}
