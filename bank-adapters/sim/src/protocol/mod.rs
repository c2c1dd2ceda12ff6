//! The two protocols' sides of the bank API: requests in, answers out, over the
//! deterministic core ([`crate::bank::Bank`]).

pub mod direct;
pub mod iso20022;

use tianping_bank_adapters::bank_api::NOTIFICATION_PAGE_MAX;

use crate::bank::records::{InstructionRecord, InstructionStatus};
use crate::hosted::query_value;

/// The page size when a notification request names none.
pub const NOTIFICATION_PAGE_DEFAULT: usize = 100;

/// The page size a request asks for, bounded by [`NOTIFICATION_PAGE_MAX`].
fn page_limit(requested: Option<usize>) -> usize {
    requested.unwrap_or(NOTIFICATION_PAGE_DEFAULT).min(NOTIFICATION_PAGE_MAX)
}

/// The `limit` query value, if valid.
fn query_limit(path: &str) -> Result<Option<usize>, String> {
    query_value(path, "limit")
        .map(|text| text.parse::<usize>().map_err(|_| format!("bad limit {text:?}")))
        .transpose()
}

/// The reason of a rejected record, if it is one.
fn rejection(record: &InstructionRecord) -> Option<(&str, &str)> {
    match &record.status {
        InstructionStatus::Rejected { reason_code, additional_info } => {
            Some((reason_code.as_str(), additional_info.as_str()))
        }
        InstructionStatus::Pending { .. } | InstructionStatus::Executed { .. } => None,
    }
}

/// The bank reference of an executed record.
fn executed_reference(record: &InstructionRecord) -> Option<String> {
    match &record.status {
        InstructionStatus::Executed { bank_reference, .. } => Some(bank_reference.clone()),
        InstructionStatus::Pending { .. } | InstructionStatus::Rejected { .. } => None,
    }
}
