//! What a member sees of their tier: where they are, how far the next tier is, and whether
//! their tier is safe, at risk or in grace.

use super::config::Level;
use super::rules::{growth_in_window, level_index, window_start};
use crate::account::Account;
use crate::calendar::plus_secs;
use crate::program::Program;
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retention {
    /// The base tier has nothing to keep.
    None,
    Safe {
        threshold: i64,
    },
    AtRisk {
        threshold: i64,
        growth_needed: i64,
        deadline: Timestamp,
    },
    InGrace {
        threshold: i64,
        growth_needed: i64,
        deadline: Timestamp,
    },
}

#[derive(Debug, Clone)]
pub struct TierStatus<'p> {
    pub level: &'p Level,
    pub since: Option<Timestamp>,
    pub term_end: Option<Timestamp>,
    pub window_from: Option<Timestamp>,
    pub growth_in_window: i64,
    pub growth_total: i64,
    /// The next tier growth can reach, and the growth still needed for it.
    pub next: Option<(&'p Level, i64)>,
    pub retention: Retention,
    pub assigned: Option<(String, Option<Timestamp>)>,
}

/// The member's tier as of `now`, with every due review applied (nothing is changed).
pub fn tier_status<'p>(acc: &Account, program: &'p Program, now: Timestamp) -> TierStatus<'p> {
    let mut view = acc.clone();
    view.join_tier(program, now);
    view.review_tier(program, now);
    let cfg = &program.file.tiers;
    let idx = level_index(program, &view.tier.code).unwrap_or(0);
    let level = &cfg.levels[idx];
    let g = growth_in_window(&view, program, now);
    let next = cfg.levels[idx + 1..]
        .iter()
        .find(|l| !l.invitation_only && l.entry > level.entry)
        .map(|l| (l, (l.entry - g).max(0)));
    let t = &view.tier;
    let threshold = level.retention();
    // Growth that will still count when the term ends decides retention.
    let g_end = t.term_end.map(|end| growth_in_window(&view, program, end.max(now))).unwrap_or(g);
    let retention = match (t.term_end, t.grace_until) {
        (None, _) => Retention::None,
        (Some(_), Some(deadline)) => Retention::InGrace { threshold, growth_needed: (threshold - g).max(0), deadline },
        (Some(end), None) if g_end < threshold && now >= plus_secs(end, -cfg.warning_days * 86_400) => {
            Retention::AtRisk {
                threshold,
                growth_needed: threshold - g_end,
                deadline: plus_secs(end, cfg.grace_days * 86_400),
            }
        }
        (Some(_), None) => Retention::Safe { threshold },
    };
    TierStatus {
        level,
        since: t.since,
        term_end: t.term_end,
        window_from: window_start(program, now),
        growth_in_window: g,
        growth_total: view.growth_total,
        next,
        retention,
        assigned: t.assigned_reason.clone().map(|r| (r, t.assigned_until)),
    }
}
