//! The ledger's invariants, checked over a member's whole history by `loyalty verify`.

use crate::amount::Points;
use crate::ledger::*;
use serde::Serialize;

/// Everything stored about one member's points.
#[derive(Debug, Clone)]
pub struct MemberHistory {
    pub member_id: String,
    pub stored: Buckets,
    /// All entries, ascending by `seq`.
    pub entries: Vec<Entry>,
    /// All lots.
    pub lots: Vec<Lot>,
    /// All open holds.
    pub open_holds: Vec<Hold>,
    /// The growth ledger, ascending by `seq`, and the stored lifetime growth.
    pub growth: Vec<crate::tiers::GrowthEntry>,
    pub growth_total: i64,
}

/// One broken invariant, naming the member and, where there is one, the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub member_id: String,
    pub entry_seq: Option<i64>,
    pub problem: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry_seq {
            Some(s) => write!(f, "member {} entry #{s}: {}", self.member_id, self.problem),
            None => write!(f, "member {}: {}", self.member_id, self.problem),
        }
    }
}

/// The change an entry of `kind` moving `points` must make to the balances, or the reason the
/// observed change `d` is impossible for it.
fn check_delta(kind: EntryKind, points: Points, d: Buckets) -> Result<(), String> {
    let p = if points.is_negative() { -points } else { points };
    const Z: Points = Points::ZERO;
    let expect = |want: Buckets| {
        if d == want {
            Ok(())
        } else {
            Err(format!("{kind} of {points} changed balances by {d:?}, expected {want:?}"))
        }
    };
    let z = Buckets::default();
    match kind {
        EntryKind::Earn if points > Z => expect(Buckets { pending: p, ..z }),
        EntryKind::Activate if points > Z => expect(Buckets { pending: -p, active: p, ..z }),
        EntryKind::Hold if points < Z => expect(Buckets { active: -p, held: p, ..z }),
        EntryKind::Capture if points < Z => expect(Buckets { held: -p, ..z }),
        EntryKind::Release if points > Z => expect(Buckets { held: -p, active: p, ..z }),
        EntryKind::Expire if points < Z => expect(Buckets { active: -p, ..z }),
        EntryKind::Adjust if points != Z => expect(Buckets { active: points, ..z }),
        EntryKind::Spend if points < Z => expect(Buckets { active: -p, ..z }),
        EntryKind::Restore if points > Z => expect(Buckets { active: p, ..z }),
        EntryKind::Clawback if points <= Z => {
            let ok = d.held == Z
                && d.pending <= Z
                && d.active <= Z
                && d.debt >= Z
                && d.pending + d.active - d.debt == points;
            if ok {
                Ok(())
            } else {
                Err(format!("clawback of {points} changed balances by {d:?}"))
            }
        }
        EntryKind::DebtSettle if points < Z => {
            let ok =
                d.held == Z && d.pending <= Z && d.active <= Z && d.debt == points && d.pending + d.active == points;
            if ok {
                Ok(())
            } else {
                Err(format!("debt settlement of {points} changed balances by {d:?}"))
            }
        }
        _ => Err(format!("{kind} entry with points {points} has the wrong sign")),
    }
}

fn sub(a: Buckets, b: Buckets) -> Buckets {
    Buckets {
        pending: a.pending - b.pending,
        active: a.active - b.active,
        held: a.held - b.held,
        debt: a.debt - b.debt,
    }
}

/// Checks one member's history; returns every violation found (empty when sound).
pub fn verify_member(h: &MemberHistory) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut bad = |seq: Option<i64>, problem: String| {
        out.push(Violation { member_id: h.member_id.clone(), entry_seq: seq, problem })
    };
    let mut prev = Buckets::default();
    for (i, e) in h.entries.iter().enumerate() {
        let want_seq = i as i64 + 1;
        if e.seq != want_seq {
            bad(Some(e.seq), format!("sequence gap: expected entry #{want_seq}"));
        }
        if !e.after.is_well_formed() {
            bad(Some(e.seq), format!("negative balance after entry: {:?}", e.after));
        }
        if let Err(p) = check_delta(e.kind, e.points, sub(e.after, prev)) {
            bad(Some(e.seq), p);
        }
        if matches!(e.kind, EntryKind::Hold | EntryKind::Spend) && -e.points > prev.available() {
            bad(
                Some(e.seq),
                format!("{} of {} exceeded the {} available when taken", e.kind, -e.points, prev.available()),
            );
        }
        prev = e.after;
    }
    if prev != h.stored {
        bad(None, format!("balances {:?} differ from the sum of entries {prev:?}", h.stored));
    }
    if h.stored.debt.is_positive() && h.stored.active.is_positive() {
        bad(None, format!("owes {} points while holding {} active ones", h.stored.debt, h.stored.active));
    }
    let sum = |s: LotStatus| h.lots.iter().filter(|l| l.status == s).map(|l| l.remaining).sum::<Points>();
    if sum(LotStatus::Pending) != h.stored.pending {
        bad(None, format!("pending {} differs from its lots' {}", h.stored.pending, sum(LotStatus::Pending)));
    }
    if sum(LotStatus::Active) != h.stored.active {
        bad(None, format!("active {} differs from its lots' {}", h.stored.active, sum(LotStatus::Active)));
    }
    for l in &h.lots {
        if l.remaining.is_negative() || l.remaining > l.granted {
            bad(None, format!("lot {} has {} remaining of {} granted", l.lot_no, l.remaining, l.granted));
        }
        if l.status == LotStatus::Expired && !l.remaining.is_zero() {
            bad(None, format!("expired lot {} still has {} remaining", l.lot_no, l.remaining));
        }
    }
    let mut total = 0;
    for (i, g) in h.growth.iter().enumerate() {
        total += g.amount;
        if g.seq != i as i64 + 1 {
            bad(None, format!("growth entry #{} out of sequence (expected #{})", g.seq, i + 1));
        }
        if g.total_after != total {
            bad(None, format!("growth entry #{} says total {} but the entries sum to {total}", g.seq, g.total_after));
        }
    }
    if total != h.growth_total {
        bad(None, format!("lifetime growth {} differs from the sum of growth entries {total}", h.growth_total));
    }
    let held: Points = h.open_holds.iter().map(|x| x.points).sum();
    if held != h.stored.held {
        bad(None, format!("held {} differs from open holds' {held}", h.stored.held));
    }
    for x in &h.open_holds {
        let alloc: Points = x.allocations.iter().map(|a| a.points).sum();
        if alloc != x.points {
            bad(None, format!("hold {} holds {} but its allocations sum to {alloc}", x.hold_id, x.points));
        }
    }
    out
}

/// A per-member limit one member went past: `obtained` in the `period` that began at `from`
/// (`None` for the lifetime limit), more than `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrun {
    pub period: &'static str,
    pub from: Option<jiff::Timestamp>,
    pub obtained: i64,
    pub limit: i64,
}

/// The limits one member's grants of one item went past: `grants` are when each was obtained
/// and how many units it counts (a coupon 1, a redemption its quantity), in any order. Each
/// grant counts in the local day, ISO week and month (programme zone) it fell in, as
/// [`Limits::check`](crate::coupons::template::Limits::check) counted it when it was granted:
/// a period holding more than its limit means some grant in it was given past the limit.
pub fn limit_overruns(
    limits: &crate::coupons::template::Limits,
    program: &crate::Program,
    grants: &[(jiff::Timestamp, i64)],
) -> Vec<Overrun> {
    let mut out = Vec::new();
    if let Some(limit) = limits.lifetime {
        let obtained = grants.iter().fold(0i64, |n, g| n.saturating_add(g.1));
        if obtained > limit {
            out.push(Overrun { period: "lifetime", from: None, obtained, limit });
        }
    }
    let periods = [limits.per_day, limits.per_week, limits.per_month];
    if periods.iter().all(Option::is_none) {
        return out;
    }
    // Keyed by (period, its start), so the overruns come out in a stable order.
    let mut tally: std::collections::BTreeMap<(usize, jiff::Timestamp), (&'static str, i64)> = Default::default();
    for &(at, units) in grants {
        for (k, (name, from)) in crate::calendar::period_starts(program, at).into_iter().enumerate() {
            if periods[k].is_some() {
                let n = &mut tally.entry((k, from)).or_insert((name, 0)).1;
                *n = n.saturating_add(units);
            }
        }
    }
    for ((k, from), (period, obtained)) in tally {
        let limit = periods[k].expect("tallied only where limited");
        if obtained > limit {
            out.push(Overrun { period, from: Some(from), obtained, limit });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupons::template::Limits;
    use jiff::Timestamp;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn grants_count_in_the_local_day_week_and_month_they_fell_in() {
        // The default programme's zone is Asia/Shanghai (+08:00).
        let p = crate::Program::default_program();
        let day = Limits { per_day: Some(1), ..Limits::default() };
        // 23:30 and 00:30 the next local day: two days, although 16:00Z–17:00Z is one UTC day.
        let apart = [(at("2026-03-09T23:30:00+08:00"), 1), (at("2026-03-10T00:30:00+08:00"), 1)];
        assert_eq!(limit_overruns(&day, &p, &apart), vec![]);
        // 00:30 and 23:30 of one local day, across two UTC days: one day over its limit.
        let one_day = [(at("2026-03-10T00:30:00+08:00"), 1), (at("2026-03-10T23:30:00+08:00"), 1)];
        let from = Some(at("2026-03-10T00:00:00+08:00"));
        assert_eq!(limit_overruns(&day, &p, &one_day), vec![Overrun { period: "day", from, obtained: 2, limit: 1 }]);

        // Sunday and the next Monday are two ISO weeks; Monday to Sunday is one.
        let week = Limits { per_week: Some(2), ..Limits::default() };
        let two_weeks = [(at("2026-03-08T12:00:00+08:00"), 2), (at("2026-03-09T12:00:00+08:00"), 1)];
        assert_eq!(limit_overruns(&week, &p, &two_weeks), vec![]);
        let one_week = [(at("2026-03-09T12:00:00+08:00"), 2), (at("2026-03-15T23:00:00+08:00"), 1)];
        let from = Some(at("2026-03-09T00:00:00+08:00"));
        assert_eq!(limit_overruns(&week, &p, &one_week), vec![Overrun { period: "week", from, obtained: 3, limit: 2 }]);

        // Units, not grants, count; the month and the lifetime are reported together.
        let month = Limits { per_month: Some(3), lifetime: Some(4), ..Limits::default() };
        let grants = [
            (at("2026-03-31T23:59:00+08:00"), 2),
            (at("2026-04-01T00:00:00+08:00"), 2),
            (at("2026-04-20T00:00:00+08:00"), 2),
        ];
        let from = Some(at("2026-04-01T00:00:00+08:00"));
        assert_eq!(
            limit_overruns(&month, &p, &grants),
            vec![
                Overrun { period: "lifetime", from: None, obtained: 6, limit: 4 },
                Overrun { period: "month", from, obtained: 4, limit: 3 },
            ]
        );
        assert_eq!(limit_overruns(&Limits::default(), &p, &grants), vec![]);
    }
}
