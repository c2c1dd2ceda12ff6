//! The model's one way of deciding an event: an ordered list of named rules, each a code and
//! a predicate over facts gathered before any rule runs. The first rule whose predicate holds
//! is the answer; when none holds the event applies. The order is data, so a reader checks it
//! against the documented order line by line, and no rule can be skipped by control flow.

use tianping_ledger::ResultCode;

/// What a rule judges, which decides whether its refusal is final for the id (DESIGN §3:
/// a refusal that depends on the state the event met is recorded, so a retry cannot succeed
/// later; a malformed request or an answer about an id already held needs no record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ground {
    /// The request alone is malformed.
    Request,
    /// The id is already held (by the same or another record), or already refused.
    Identity,
    /// The state the event met: accounts, balances, limits, a pending transfer, the clock.
    State,
}

/// One named rule: when `holds`, the event is answered `code`.
pub struct Rule<F> {
    /// The answer (a refusal, or `exists` / `ok` for answers that change nothing).
    pub code: ResultCode,
    /// What the rule judges.
    pub ground: Ground,
    /// Whether the rule decides this event.
    pub holds: fn(&F) -> bool,
}

/// Shorthand for a rule in a table.
pub const fn rule<F>(code: ResultCode, ground: Ground, holds: fn(&F) -> bool) -> Rule<F> {
    Rule { code, ground, holds }
}

/// The first rule of `tables`, in order, that holds for `facts`.
pub fn first<F>(tables: &[&[Rule<F>]], facts: &F) -> Option<(ResultCode, Ground)> {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .find(|rule| (rule.holds)(facts))
        .map(|rule| (rule.code, rule.ground))
}
