//! Agents' lifecycle deadlines, computed once for everyone who needs them:
//! the engine (an agent past a deadline is denied), `ward lifecycle` (what is
//! overdue or due soon) and the checker's warnings.

use crate::Agent;
use crate::literals::date_text;

pub const DAY_MS: i64 = 86_400_000;

/// What an agent's owner must do by a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Duty {
    /// The agent is retired (`expires DATE`).
    Expiry,
    CredentialRotation,
    Review,
}

impl Duty {
    pub fn name(self) -> &'static str {
        match self {
            Duty::Expiry => "expires",
            Duty::CredentialRotation => "credential rotation",
            Duty::Review => "review",
        }
    }
}

/// One deadline of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub duty: Duty,
    /// The day it falls on (days since 1970-01-01), as people read it.
    pub date: i64,
    /// The first instant (ms since the epoch) at which the agent is denied.
    pub denied_from_ms: i64,
}

impl Deadline {
    /// `expires DATE`: the agent may act until the end of the day before.
    pub fn expiry(expires: i64) -> Deadline {
        Deadline { duty: Duty::Expiry, date: expires, denied_from_ms: expires.saturating_mul(DAY_MS) }
    }

    /// `… every PERIOD last DATE`: due at the instant `last + every`, overdue
    /// once that instant has passed (not from the next day).
    pub fn cadence(duty: Duty, since: i64, period_ms: i64) -> Deadline {
        let due = since.saturating_mul(DAY_MS).saturating_add(period_ms);
        Deadline { duty, date: due.div_euclid(DAY_MS), denied_from_ms: due.saturating_add(1) }
    }

    /// Whether the agent is denied at `now_ms` because of this deadline.
    pub fn overdue_at(&self, now_ms: i64) -> bool {
        now_ms >= self.denied_from_ms
    }

    /// Why `agent` is denied, in the words a decision gives.
    pub fn denial(&self, agent: &str) -> String {
        match self.duty {
            Duty::Expiry => format!("agent `{agent}` expired on {}", date_text(self.date)),
            duty => format!("agent `{agent}`: {} was due on {} and is overdue", duty.name(), date_text(self.date)),
        }
    }
}

impl Agent {
    /// Every deadline the agent declares, expiry first. A cadence without a
    /// `last` date counts from `created`; without either it has no deadline.
    pub fn deadlines(&self) -> Vec<Deadline> {
        let mut out: Vec<Deadline> = self.expires.map(Deadline::expiry).into_iter().collect();
        for (duty, cadence) in [(Duty::CredentialRotation, self.rotation), (Duty::Review, self.review)] {
            if let Some((period, last)) = cadence
                && let Some(since) = last.or(self.created)
            {
                out.push(Deadline::cadence(duty, since, period));
            }
        }
        out
    }

    /// The first deadline the agent is past at `now_ms`, if any: the reason
    /// every request from it is denied.
    pub fn overdue_at(&self, now_ms: i64) -> Option<Deadline> {
        self.deadlines().into_iter().find(|d| d.overdue_at(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(expires: Option<i64>, rotation: Option<(i64, Option<i64>)>) -> Agent {
        Agent {
            name: "bot".into(),
            entity: 0,
            owner: None,
            created: Some(0),
            expires,
            rotation,
            review: None,
            attrs: "{}".into(),
            parents: Vec::new(),
        }
    }

    #[test]
    fn expiry_denies_from_the_first_instant_of_its_day() {
        let a = agent(Some(10), None);
        assert_eq!(a.overdue_at(10 * DAY_MS - 1), None);
        let d = a.overdue_at(10 * DAY_MS).map(|d| d.denial("bot"));
        assert_eq!(d.as_deref(), Some("agent `bot` expired on 1970-01-11"));
    }

    #[test]
    fn a_cadence_is_overdue_once_its_instant_has_passed() {
        // Every 36 hours from day 0: due at 1.5 days, denied just after.
        let a = agent(None, Some((36 * 3_600_000, None)));
        let due = 36 * 3_600_000;
        assert_eq!(a.overdue_at(due), None);
        let d = a.overdue_at(due + 1).expect("overdue");
        assert_eq!((d.duty, d.date), (Duty::CredentialRotation, 1));
        // `ward lifecycle --at 1970-01-03` (start of day 2) and the checker agree.
        assert!(d.overdue_at(2 * DAY_MS));
        assert!(!d.overdue_at(DAY_MS));
    }
}
