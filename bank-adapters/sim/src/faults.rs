//! Fault injection as data: what a simulated bank does wrong, per request or by probability.
//!
//! A [`Fault`] is one misbehaviour for one payment. It comes either with the request (the
//! [`FAULT_HEADER`] header, parsed by [`parse_fault_header`]) or from an admin directive keyed
//! by end-to-end id (used once, by the next request about that payment). [`FaultConfig`] is a
//! bank's standing behaviour: a probability per fault in parts per million (integers, so a
//! TOML file and a seeded draw agree exactly) and the periods the bank is down. Both are
//! serde types, so a drill writes them in TOML or JSON.
//!
//! Two families, by what a correct worker can do about them:
//! - **Faults a worker survives** — the bank is slow, silent or repetitive, but what it says
//!   is true: `timeout-before-execute`, `timeout-after-execute`, `reject[=CODE]`,
//!   `answer-late=MS`, `pending=MS`, `pending-reject=MS`, `lose-answer`,
//!   `duplicate-notification`, `reorder-notification`, `lose-notification`, `return=MS`,
//!   `bad-signature`, and the pushed callbacks' `duplicate-callback`, `reorder-callback`,
//!   `lose-callback`, `late-callback=MS`.
//! - **Booking faults, which reconciliation must catch** (issue 13) — what the bank *tells*
//!   and what it *books* disagree, or it books a real extra movement; its own books stay
//!   internally consistent (money conserved, every balance its opening plus its journal):
//!   - `execute-report-rejected[=CODE]` (paid but not booked on our side): executed and
//!     booked, answered — then and on every later query — as rejected with the reason code;
//!   - `drop-booking` (booked on our side but not paid): answered executed, with a bank
//!     reference, now and on every later query; nothing is debited, booked or notified;
//!   - `amount-off=N`: executed with the amount changed by `N` signed minor units (journal,
//!     statement and notification carry the executed amount; the status answer, which
//!     carries no amount, says executed; the record keeps the instructed one);
//!   - `execute-twice`: executed twice — two debits with the same end-to-end id and distinct
//!     bank references — and answered once, with the first;
//!   - `return-unnotified=MS`: like `return=MS`, but the return's entries are never notified
//!     (the statement has them).

use serde::{Deserialize, Serialize};
use tianping_bank_adapters::gateway::{ReferenceError, check_code};

/// The request header carrying per-request faults, e.g.
/// `x-bank-sim-fault: timeout-after-execute, return=60000`.
pub const FAULT_HEADER: &str = "x-bank-sim-fault";

/// One in a million: probabilities are integers of parts per million.
pub const PPM_MAX: u32 = 1_000_000;

/// The reason code of a fault-injected rejection when none is given: ISO 20022 `MS03`,
/// "reason not specified, agent generated".
pub const DEFAULT_REJECT_REASON: &str = "MS03";

/// How a long-pending payment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PendingEnd {
    /// It executes (if the funds are still there, else it is rejected `AM04`).
    Execute,
    /// It is rejected with [`DEFAULT_REJECT_REASON`].
    Reject,
}

/// One misbehaviour for one payment (module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Say nothing and do nothing: the request hangs until the caller's deadline.
    TimeoutBeforeExecute,
    /// Execute, then hang: the caller times out not knowing it was paid.
    TimeoutAfterExecute,
    /// Refuse the payment with this ISO reason code.
    Reject {
        /// The reason code (`AC04`, `AM04`, `MS03` …).
        reason_code: String,
    },
    /// Answer after this many milliseconds.
    AnswerLate {
        /// The delay.
        ms: u64,
    },
    /// Stay pending this long, then end as `then`.
    Pending {
        /// How long, in milliseconds.
        ms: u64,
        /// How it ends.
        then: PendingEnd,
    },
    /// Execute, then drop the connection without an answer.
    LoseAnswer,
    /// Deliver the payment's notification entry twice.
    DuplicateNotification,
    /// Deliver the payment's notification entry after the next entry.
    ReorderNotification,
    /// Never deliver the payment's notification entry (the statement still has it).
    LoseNotification,
    /// Return (reverse) the executed payment this many milliseconds later.
    Return {
        /// The delay.
        after_ms: u64,
    },
    /// Sign the answer, then alter its body, so the signature no longer verifies
    /// (direct-connect banks only).
    BadSignature,
    /// Execute and book the payment, but answer it — now and on every later query — as
    /// rejected with this ISO reason code: paid, yet the worker records `failed`.
    ExecuteReportRejected {
        /// The reason code the bank tells (`AC04`, `MS03` …).
        reason_code: String,
    },
    /// Answer the payment executed — now and on every later query — but book nothing: no
    /// debit, no statement entry, no notification. The worker records `succeeded` for money
    /// that never left.
    DropBooking,
    /// Execute with the amount changed by this many minor units; the journal, statement and
    /// notification carry the executed amount, the status answer says executed.
    AmountOff {
        /// The change, signed, never zero. An offset that would leave less than one minor
        /// unit (or overflow) is not applied: the payment executes as instructed.
        minor_units: i64,
    },
    /// Execute the payment twice (two debits, one end-to-end id, distinct bank references)
    /// and answer once, with the first. Applied only when the funds cover both.
    ExecuteTwice,
    /// Return (reverse) the executed payment this many milliseconds later, and never notify
    /// the return's entries (the statement has them).
    ReturnUnnotified {
        /// The delay.
        after_ms: u64,
    },
    /// Push the payment's status callback twice (each delivery sealed afresh).
    DuplicateCallback,
    /// Hold the payment's status callback back until the account's next callback overtakes
    /// it (or [`crate::bank::journal::REORDER_HOLD_MS`] passed).
    ReorderCallback,
    /// Never push the payment's status callback (queries still answer it).
    LoseCallback,
    /// Push the payment's status callback this many milliseconds late.
    LateCallback {
        /// The delay.
        ms: u64,
    },
}

/// Why a fault header or configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// An unknown fault name or a missing or bad value in the header.
    #[error("bad fault {text:?}: {detail}")]
    BadFault {
        /// The refused item.
        text: String,
        /// Why.
        detail: String,
    },
    /// A probability over [`PPM_MAX`].
    #[error("{field} = {value} is over {PPM_MAX} parts per million")]
    BadProbability {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// A rejection's reason code that ISO 20022 cannot carry (`ExternalStatusReason1Code`
    /// is 1 to 4 characters): the bank's pain.002 could not be written.
    #[error("reject reason: {0}")]
    BadReasonCode(ReferenceError),
    /// A down window that ends before it starts.
    #[error("down window {from_ms}..{until_ms} ends before it starts")]
    BadWindow {
        /// Start.
        from_ms: u64,
        /// End.
        until_ms: u64,
    },
}

impl Fault {
    /// Checks what the fault carries: a rejection's reason code must be one the bank's
    /// status report can carry ([`check_code`]); an amount offset must change something.
    pub fn check(&self) -> Result<(), FaultError> {
        match self {
            Fault::Reject { reason_code } | Fault::ExecuteReportRejected { reason_code } => {
                check_code("reason code", reason_code).map_err(FaultError::BadReasonCode)
            }
            Fault::AmountOff { minor_units: 0 } => Err(FaultError::BadFault {
                text: "amount-off=0".to_owned(),
                detail: "an offset of zero changes nothing".to_owned(),
            }),
            Fault::AmountOff { .. }
            | Fault::DropBooking
            | Fault::ExecuteTwice
            | Fault::ReturnUnnotified { .. }
            | Fault::TimeoutBeforeExecute
            | Fault::TimeoutAfterExecute
            | Fault::AnswerLate { .. }
            | Fault::Pending { .. }
            | Fault::LoseAnswer
            | Fault::DuplicateNotification
            | Fault::ReorderNotification
            | Fault::LoseNotification
            | Fault::Return { .. }
            | Fault::BadSignature
            | Fault::DuplicateCallback
            | Fault::ReorderCallback
            | Fault::LoseCallback
            | Fault::LateCallback { .. } => Ok(()),
        }
    }
}

/// Parses the [`FAULT_HEADER`] value: comma-separated `name` or `name=value` items —
/// `timeout-before-execute`, `timeout-after-execute`, `reject[=CODE]`, `answer-late=MS`,
/// `pending=MS`, `pending-reject=MS`, `lose-answer`, `duplicate-notification`,
/// `reorder-notification`, `lose-notification`, `return=MS`, `bad-signature`,
/// `duplicate-callback`, `reorder-callback`, `lose-callback`, `late-callback=MS`, and the
/// booking faults `execute-report-rejected[=CODE]`, `drop-booking`, `amount-off=N` (signed
/// minor units, not zero), `execute-twice`, `return-unnotified=MS` (module doc). The same
/// text serves an admin directive: `admin::client::send_directive` takes what this returns.
pub fn parse_fault_header(value: &str) -> Result<Vec<Fault>, FaultError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (name, argument) = match item.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim())),
                None => (item, None),
            };
            let bad = |detail: &str| FaultError::BadFault {
                text: item.to_owned(),
                detail: detail.to_owned(),
            };
            let milliseconds = || -> Result<u64, FaultError> {
                argument
                    .ok_or_else(|| bad("needs =MILLISECONDS"))?
                    .parse()
                    .map_err(|_| bad("the value must be whole milliseconds"))
            };
            let no_argument = |fault: Fault| match argument {
                None => Ok(fault),
                Some(_) => Err(bad("takes no value")),
            };
            match name {
                "timeout-before-execute" => no_argument(Fault::TimeoutBeforeExecute),
                "timeout-after-execute" => no_argument(Fault::TimeoutAfterExecute),
                "reject" => {
                    let fault = Fault::Reject {
                        reason_code: argument.unwrap_or(DEFAULT_REJECT_REASON).to_owned(),
                    };
                    fault.check().map(|()| fault)
                }
                "answer-late" => Ok(Fault::AnswerLate { ms: milliseconds()? }),
                "pending" => Ok(Fault::Pending { ms: milliseconds()?, then: PendingEnd::Execute }),
                "pending-reject" => {
                    Ok(Fault::Pending { ms: milliseconds()?, then: PendingEnd::Reject })
                }
                "lose-answer" => no_argument(Fault::LoseAnswer),
                "duplicate-notification" => no_argument(Fault::DuplicateNotification),
                "reorder-notification" => no_argument(Fault::ReorderNotification),
                "lose-notification" => no_argument(Fault::LoseNotification),
                "return" => Ok(Fault::Return { after_ms: milliseconds()? }),
                "bad-signature" => no_argument(Fault::BadSignature),
                "execute-report-rejected" => {
                    let fault = Fault::ExecuteReportRejected {
                        reason_code: argument.unwrap_or(DEFAULT_REJECT_REASON).to_owned(),
                    };
                    fault.check().map(|()| fault)
                }
                "drop-booking" => no_argument(Fault::DropBooking),
                "amount-off" => {
                    let minor_units = argument
                        .ok_or_else(|| bad("needs =MINOR_UNITS (signed, e.g. 1 or -1)"))?
                        .parse()
                        .map_err(|_| bad("the value must be whole minor units, signed"))?;
                    let fault = Fault::AmountOff { minor_units };
                    fault.check().map(|()| fault)
                }
                "execute-twice" => no_argument(Fault::ExecuteTwice),
                "return-unnotified" => Ok(Fault::ReturnUnnotified { after_ms: milliseconds()? }),
                "duplicate-callback" => no_argument(Fault::DuplicateCallback),
                "reorder-callback" => no_argument(Fault::ReorderCallback),
                "lose-callback" => no_argument(Fault::LoseCallback),
                "late-callback" => Ok(Fault::LateCallback { ms: milliseconds()? }),
                _ => Err(bad("unknown fault")),
            }
        })
        .collect()
}

/// A period during which the bank answers every protocol request `503`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownWindow {
    /// Start, Unix ms (inclusive).
    pub from_ms: u64,
    /// End, Unix ms (exclusive).
    pub until_ms: u64,
}

/// A bank's standing misbehaviour: probabilities in parts per million, drawn from the
/// simulator's seeded generator per new payment (or per answer / entry), and down windows.
/// Every field defaults to "never".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// A new payment hangs without being executed.
    pub timeout_before_execute_ppm: u32,
    /// A new payment executes, then the answer hangs.
    pub timeout_after_execute_ppm: u32,
    /// A new payment is rejected with `reject_reason_code`.
    pub reject_ppm: u32,
    /// The reason code of those rejections, and of the rejections
    /// `execute_report_rejected_ppm` tells (default [`DEFAULT_REJECT_REASON`]).
    pub reject_reason_code: Option<String>,
    /// An answer comes `answer_late_ms` late.
    pub answer_late_ppm: u32,
    /// See `answer_late_ppm`.
    pub answer_late_ms: u64,
    /// A new payment stays pending for `pending_ms`.
    pub pending_ppm: u32,
    /// See `pending_ppm`.
    pub pending_ms: u64,
    /// Of the pending payments, this share ends rejected instead of executed.
    pub pending_reject_ppm: u32,
    /// A new payment executes, then the connection drops without an answer.
    pub lose_answer_ppm: u32,
    /// A notification entry is delivered twice.
    pub duplicate_notification_ppm: u32,
    /// A notification entry is delivered after the next one.
    pub reorder_notification_ppm: u32,
    /// A notification entry is never delivered.
    pub lose_notification_ppm: u32,
    /// An executed payment is returned `return_after_ms` later.
    pub return_ppm: u32,
    /// See `return_ppm`.
    pub return_after_ms: u64,
    /// A direct-connect answer, or a pushed callback, carries a signature that does not
    /// verify.
    pub bad_signature_ppm: u32,
    /// A new payment is executed but answered rejected with `reject_reason_code`
    /// ([`Fault::ExecuteReportRejected`]).
    pub execute_report_rejected_ppm: u32,
    /// A new payment is answered executed and never booked ([`Fault::DropBooking`]).
    pub drop_booking_ppm: u32,
    /// A new payment executes `amount_off_minor_units` off ([`Fault::AmountOff`]).
    pub amount_off_ppm: u32,
    /// See `amount_off_ppm`: signed, and not zero when `amount_off_ppm` is.
    pub amount_off_minor_units: i64,
    /// A new payment executes twice ([`Fault::ExecuteTwice`]).
    pub execute_twice_ppm: u32,
    /// An executed payment is returned `return_after_ms` later and the return is never
    /// notified ([`Fault::ReturnUnnotified`]); drawn only for payments `return_ppm` did not
    /// already return.
    pub return_unnotified_ppm: u32,
    /// A pushed callback is delivered twice (each delivery sealed afresh). Callbacks' faults
    /// are drawn only for accounts with a callback URL, so a bank without one draws as before.
    pub duplicate_callback_ppm: u32,
    /// A pushed callback is held back until the account's next one overtakes it.
    pub reorder_callback_ppm: u32,
    /// A callback is never pushed (polling still finds what it said).
    pub lose_callback_ppm: u32,
    /// A pushed callback goes out `late_callback_ms` late.
    pub late_callback_ppm: u32,
    /// See `late_callback_ppm`.
    pub late_callback_ms: u64,
    /// Periods when the bank is down.
    pub down: Vec<DownWindow>,
}

impl FaultConfig {
    /// Checks every probability, the rejection reason code, the amount offset and every
    /// window.
    pub fn validate(&self) -> Result<(), FaultError> {
        for (field, value) in [
            ("timeout_before_execute_ppm", self.timeout_before_execute_ppm),
            ("timeout_after_execute_ppm", self.timeout_after_execute_ppm),
            ("reject_ppm", self.reject_ppm),
            ("answer_late_ppm", self.answer_late_ppm),
            ("pending_ppm", self.pending_ppm),
            ("pending_reject_ppm", self.pending_reject_ppm),
            ("lose_answer_ppm", self.lose_answer_ppm),
            ("duplicate_notification_ppm", self.duplicate_notification_ppm),
            ("reorder_notification_ppm", self.reorder_notification_ppm),
            ("lose_notification_ppm", self.lose_notification_ppm),
            ("return_ppm", self.return_ppm),
            ("bad_signature_ppm", self.bad_signature_ppm),
            ("execute_report_rejected_ppm", self.execute_report_rejected_ppm),
            ("drop_booking_ppm", self.drop_booking_ppm),
            ("amount_off_ppm", self.amount_off_ppm),
            ("execute_twice_ppm", self.execute_twice_ppm),
            ("return_unnotified_ppm", self.return_unnotified_ppm),
            ("duplicate_callback_ppm", self.duplicate_callback_ppm),
            ("reorder_callback_ppm", self.reorder_callback_ppm),
            ("lose_callback_ppm", self.lose_callback_ppm),
            ("late_callback_ppm", self.late_callback_ppm),
        ] {
            if value > PPM_MAX {
                return Err(FaultError::BadProbability { field, value });
            }
        }
        if self.amount_off_ppm > 0 && self.amount_off_minor_units == 0 {
            return Err(FaultError::BadFault {
                text: "amount_off_minor_units = 0".to_owned(),
                detail: "amount_off_ppm needs a non-zero offset".to_owned(),
            });
        }
        if let Some(code) = &self.reject_reason_code {
            check_code("reason code", code).map_err(FaultError::BadReasonCode)?;
        }
        for window in &self.down {
            if window.until_ms < window.from_ms {
                return Err(FaultError::BadWindow {
                    from_ms: window.from_ms,
                    until_ms: window.until_ms,
                });
            }
        }
        Ok(())
    }

    /// True while `now_ms` falls in a down window.
    pub fn is_down(&self, now_ms: u64) -> bool {
        self.down.iter().any(|window| window.from_ms <= now_ms && now_ms < window.until_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_items_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_fault_header(
                "timeout-after-execute, answer-late=250,reject=AC04,pending-reject=9"
            )
            .expect("parses"),
            vec![
                Fault::TimeoutAfterExecute,
                Fault::AnswerLate { ms: 250 },
                Fault::Reject { reason_code: "AC04".into() },
                Fault::Pending { ms: 9, then: PendingEnd::Reject },
            ]
        );
        assert_eq!(
            parse_fault_header("reject").expect("parses"),
            vec![Fault::Reject { reason_code: DEFAULT_REJECT_REASON.into() }]
        );
        assert_eq!(
            parse_fault_header(
                "duplicate-callback, reorder-callback,lose-callback, late-callback=750"
            )
            .expect("parses"),
            vec![
                Fault::DuplicateCallback,
                Fault::ReorderCallback,
                Fault::LoseCallback,
                Fault::LateCallback { ms: 750 },
            ]
        );
        for bad in [
            "explode",
            "answer-late",
            "answer-late=soon",
            "lose-answer=1",
            "reject=AM045",
            "late-callback",
            "lose-callback=1",
        ] {
            assert!(parse_fault_header(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn booking_faults_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_fault_header(
                "execute-report-rejected=AC04, execute-report-rejected, drop-booking, \
                 amount-off=1, amount-off=-250, execute-twice, return-unnotified=60000"
            )
            .expect("parses"),
            vec![
                Fault::ExecuteReportRejected { reason_code: "AC04".into() },
                Fault::ExecuteReportRejected { reason_code: DEFAULT_REJECT_REASON.into() },
                Fault::DropBooking,
                Fault::AmountOff { minor_units: 1 },
                Fault::AmountOff { minor_units: -250 },
                Fault::ExecuteTwice,
                Fault::ReturnUnnotified { after_ms: 60_000 },
            ]
        );
        for bad in [
            "execute-report-rejected=INSUFFICIENT",
            "drop-booking=1",
            "amount-off",
            "amount-off=0",
            "amount-off=1.5",
            "amount-off=99999999999999999999",
            "execute-twice=2",
            "return-unnotified",
            "return-unnotified=-1",
        ] {
            assert!(parse_fault_header(bad).is_err(), "{bad}");
        }
        // As JSON, the form of an admin directive.
        let json = serde_json::to_string(&Fault::AmountOff { minor_units: -1 }).expect("json");
        assert_eq!(json, r#"{"kind":"amount-off","minor_units":-1}"#);
        assert_eq!(
            serde_json::from_str::<Fault>(r#"{"kind":"drop-booking"}"#).expect("parses"),
            Fault::DropBooking
        );
    }

    #[test]
    fn configs_read_from_toml_and_are_checked() {
        let config: FaultConfig =
            toml::from_str("reject_ppm = 1000\ndown = [{ from_ms = 5, until_ms = 10 }]\n")
                .expect("parses");
        assert_eq!(config.reject_ppm, 1000);
        assert!(config.validate().is_ok());
        assert!(config.is_down(5) && config.is_down(9) && !config.is_down(10));
        let too_likely = FaultConfig { return_ppm: PPM_MAX + 1, ..FaultConfig::default() };
        assert!(too_likely.validate().is_err());
        let backwards = FaultConfig {
            down: vec![DownWindow { from_ms: 10, until_ms: 5 }],
            ..FaultConfig::default()
        };
        assert!(backwards.validate().is_err());
        assert!(toml::from_str::<FaultConfig>("rejekt_ppm = 1").is_err());
        let long_reason = FaultConfig {
            reject_reason_code: Some("INSUFFICIENT".into()),
            ..FaultConfig::default()
        };
        assert!(matches!(long_reason.validate(), Err(FaultError::BadReasonCode(_))));
        let booking: FaultConfig = toml::from_str(
            "execute_report_rejected_ppm = 1\ndrop_booking_ppm = 2\namount_off_ppm = 3\n\
             amount_off_minor_units = -1\nexecute_twice_ppm = 4\nreturn_unnotified_ppm = 5\n",
        )
        .expect("parses");
        assert!(booking.validate().is_ok());
        assert_eq!(booking.amount_off_minor_units, -1);
        let no_offset = FaultConfig { amount_off_ppm: 1, ..FaultConfig::default() };
        assert!(matches!(no_offset.validate(), Err(FaultError::BadFault { .. })));
        let too_likely = FaultConfig { drop_booking_ppm: PPM_MAX + 1, ..FaultConfig::default() };
        assert!(matches!(too_likely.validate(), Err(FaultError::BadProbability { .. })));
    }
}
