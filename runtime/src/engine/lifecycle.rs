//! Agents' lifecycle at decision time: an expired agent, or one overdue for
//! credential rotation or review, is denied. The deadlines themselves are
//! computed in one place, [`ward_ir::lifecycle`].

use ward_ir as ir;

/// Why an agent may not act at `now` (ms since the epoch), if it may not
/// (docs/language.md §4).
pub(super) fn lifecycle(agent: &ir::Agent, now: i64) -> Option<String> {
    agent.overdue_at(now).map(|d| d.denial(&agent.name))
}
