//! The ledger's invariants, checked over a member's whole history by `loyalty verify`.

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
fn check_delta(kind: EntryKind, points: i64, d: Buckets) -> Result<(), String> {
    let p = points.abs();
    let expect = |want: Buckets| {
        if d == want {
            Ok(())
        } else {
            Err(format!("{kind} of {points} changed balances by {d:?}, expected {want:?}"))
        }
    };
    let z = Buckets::default();
    match kind {
        EntryKind::Earn if points > 0 => expect(Buckets { pending: p, ..z }),
        EntryKind::Activate if points > 0 => expect(Buckets { pending: -p, active: p, ..z }),
        EntryKind::Hold if points < 0 => expect(Buckets { active: -p, held: p, ..z }),
        EntryKind::Capture if points < 0 => expect(Buckets { held: -p, ..z }),
        EntryKind::Release if points > 0 => expect(Buckets { held: -p, active: p, ..z }),
        EntryKind::Expire if points < 0 => expect(Buckets { active: -p, ..z }),
        EntryKind::Adjust if points != 0 => expect(Buckets { active: points, ..z }),
        EntryKind::Spend if points < 0 => expect(Buckets { active: -p, ..z }),
        EntryKind::Restore if points > 0 => expect(Buckets { active: p, ..z }),
        EntryKind::Clawback if points <= 0 => {
            let ok = d.held == 0
                && d.pending <= 0
                && d.active <= 0
                && d.debt >= 0
                && d.pending + d.active - d.debt == points;
            if ok {
                Ok(())
            } else {
                Err(format!("clawback of {points} changed balances by {d:?}"))
            }
        }
        EntryKind::DebtSettle if points < 0 => {
            let ok =
                d.held == 0 && d.pending <= 0 && d.active <= 0 && d.debt == points && d.pending + d.active == points;
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
    if h.stored.debt > 0 && h.stored.active > 0 {
        bad(None, format!("owes {} points while holding {} active ones", h.stored.debt, h.stored.active));
    }
    let sum = |s: LotStatus| h.lots.iter().filter(|l| l.status == s).map(|l| l.remaining).sum::<i64>();
    if sum(LotStatus::Pending) != h.stored.pending {
        bad(None, format!("pending {} differs from its lots' {}", h.stored.pending, sum(LotStatus::Pending)));
    }
    if sum(LotStatus::Active) != h.stored.active {
        bad(None, format!("active {} differs from its lots' {}", h.stored.active, sum(LotStatus::Active)));
    }
    for l in &h.lots {
        if l.remaining < 0 || l.remaining > l.granted {
            bad(None, format!("lot {} has {} remaining of {} granted", l.lot_no, l.remaining, l.granted));
        }
        if l.status == LotStatus::Expired && l.remaining != 0 {
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
    let held: i64 = h.open_holds.iter().map(|x| x.points).sum();
    if held != h.stored.held {
        bad(None, format!("held {} differs from open holds' {held}", h.stored.held));
    }
    for x in &h.open_holds {
        let alloc: i64 = x.allocations.iter().map(|a| a.points).sum();
        if alloc != x.points {
            bad(None, format!("hold {} holds {} but its allocations sum to {alloc}", x.hold_id, x.points));
        }
    }
    out
}
