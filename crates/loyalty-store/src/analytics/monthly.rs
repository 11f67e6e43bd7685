//! Net spend by calendar month from the activity log: what the paid-membership report's
//! difference in differences compares. Pure: the months come in as the instants they start at,
//! computed by the caller in the programme's zone, so nothing here knows a time zone.
//!
//! A month's net spend is what the orders paid in it took (shipping included, as the log's
//! totals are) less what was refunded of those orders by the instant of the read: a refund
//! counts in its order's month, as insight counts a refund against its order.

use super::activity::{member_str, parse_records, row_head_bytes, ActivityEvent};
use crate::{Result, StoreError};

/// A calendar month as `year × 12 + month0`, as `loyalty_insight::membership::Month` counts them.
pub type Month = i32;

/// Net spend in minor units by month, ascending, months without any left out.
pub type MonthlySpend = Vec<(Month, i64)>;

/// Most months one read may cover: a limit on the tally each member gets.
pub const MAX_GRID_MONTHS: usize = 1_200;

/// Consecutive months: month `first + k` is `[starts[k], starts[k + 1])`, in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthGrid {
    first: Month,
    starts: Vec<i64>,
}

impl MonthGrid {
    /// `starts` holds every month's start and, last, the end of the last month. Panics unless
    /// they ascend strictly and are at most [`MAX_GRID_MONTHS`] months: the caller made them
    /// from a calendar, so anything else is its bug.
    pub fn new(first: Month, starts: Vec<i64>) -> Self {
        assert!(!starts.is_empty() && starts.len() <= MAX_GRID_MONTHS + 1, "{} month bounds", starts.len());
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "month starts ascend");
        MonthGrid { first, starts }
    }

    /// No month at all (nothing is read into it).
    pub fn empty() -> Self {
        MonthGrid { first: 0, starts: vec![0] }
    }

    pub fn months(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn first(&self) -> Month {
        self.first
    }

    /// The index of the month holding `t`, trying `hint` first: a member's records come in
    /// time order, so the month of the record before is nearly always right.
    #[inline]
    fn cell(&self, t: i64, hint: usize) -> Option<usize> {
        let s = &self.starts;
        if hint + 1 < s.len() && s[hint] <= t && t < s[hint + 1] {
            return Some(hint);
        }
        if t < s[0] || t >= s[s.len() - 1] {
            return None;
        }
        Some(s.partition_point(|&start| start <= t) - 1)
    }
}

/// One member's months being summed; reused from member to member.
struct MonthTally<'g> {
    grid: &'g MonthGrid,
    at: i64,
    cells: Vec<i64>,
    seen: Vec<bool>,
    /// Cells this member touched, so that only those are read and reset.
    touched: Vec<usize>,
    hint: usize,
}

impl<'g> MonthTally<'g> {
    fn new(grid: &'g MonthGrid, at: i64) -> Self {
        let n = grid.months();
        MonthTally { grid, at, cells: vec![0; n], seen: vec![false; n], touched: Vec::new(), hint: 0 }
    }

    #[inline]
    fn put(&mut self, paid_at: i64, amount: i64) {
        let Some(k) = self.grid.cell(paid_at, self.hint) else { return };
        self.hint = k;
        if !self.seen[k] {
            self.seen[k] = true;
            self.touched.push(k);
        }
        self.cells[k] += amount;
    }

    #[inline]
    fn add(&mut self, e: ActivityEvent) {
        match e {
            ActivityEvent::Order { paid_at, total_minor } if paid_at <= self.at => self.put(paid_at, total_minor),
            ActivityEvent::Refund { paid_at, refunded_at, amount_minor }
                if paid_at <= self.at && refunded_at <= self.at =>
            {
                self.put(paid_at, -amount_minor)
            }
            _ => {}
        }
    }

    /// The member's months, ascending, without the months that net to nothing; and a clean
    /// tally for the next member.
    fn take(&mut self) -> MonthlySpend {
        self.touched.sort_unstable();
        let mut out = Vec::with_capacity(self.touched.len());
        for &k in &self.touched {
            if self.cells[k] != 0 {
                out.push((self.grid.first + k as Month, self.cells[k]));
            }
            self.cells[k] = 0;
            self.seen[k] = false;
        }
        self.touched.clear();
        out
    }
}

/// Turns `member_activity` rows fed in member order into each member's monthly spend as of
/// `at`, in id order; the monthly counterpart of [`super::Unpacker`], one pass that sums a
/// member up as soon as the next one starts.
pub struct MonthlyUnpacker<'g> {
    tally: MonthTally<'g>,
    current: Option<String>,
    out: Vec<(String, MonthlySpend)>,
}

impl<'g> MonthlyUnpacker<'g> {
    pub fn new(grid: &'g MonthGrid, at: i64) -> Self {
        MonthlyUnpacker { tally: MonthTally::new(grid, at), current: None, out: Vec::new() }
    }

    /// Feeds whole rows run together. `Ok(false)`, having taken nothing from that row on, when
    /// a row's member sorts before the one being summed up: the rows are not in member order.
    pub fn feed(&mut self, b: &[u8]) -> Result<bool> {
        let mut i = 0;
        while i < b.len() {
            let (id, span) = row_head_bytes(b, &mut i)?;
            match self.current.as_deref() {
                Some(c) if c.as_bytes() == id => {}
                Some(c) if c.as_bytes() > id => return Ok(false),
                _ => {
                    let id = member_str(id)?.to_owned();
                    if let Some(done) = self.current.replace(id) {
                        let spend = self.tally.take();
                        self.out.push((done, spend));
                    }
                }
            }
            let (current, tally) = (self.current.as_deref().expect("set above"), &mut self.tally);
            parse_records(current, span, b, &mut i, |e| tally.add(e))?;
        }
        Ok(true)
    }

    /// Every member fed, once each, in id order (byte-wise).
    pub fn finish(mut self) -> Vec<(String, MonthlySpend)> {
        if let Some(done) = self.current.take() {
            let spend = self.tally.take();
            self.out.push((done, spend));
        }
        self.out
    }
}

/// One range of rows run together, in any order, turned into each member's monthly spend as of
/// `at`, sorted by id byte-wise: the rows are parsed in one pass when they come in member order,
/// else every record is parsed first and the rows gathered by member.
pub fn unpack_months(packed: &str, grid: &MonthGrid, at: i64) -> Result<Vec<(String, MonthlySpend)>> {
    let mut unpacker = MonthlyUnpacker::new(grid, at);
    if unpacker.feed(packed.as_bytes())? {
        return Ok(unpacker.finish());
    }
    let mut events = Vec::with_capacity(packed.len() / 12 + 1);
    let mut rows = super::parse_rows(packed, &mut events)?;
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut tally = MonthTally::new(grid, at);
    let mut out = Vec::with_capacity(rows.len());
    for group in rows.chunk_by(|a, b| a.0 == b.0) {
        for (_, from, to) in group {
            events[*from..*to].iter().for_each(|e| tally.add(*e));
        }
        out.push((group[0].0.to_owned(), tally.take()));
    }
    Ok(out)
}

/// A store whose rows came out of key order under `ORDER BY` is not trusted further.
pub(crate) fn out_of_order() -> StoreError {
    StoreError::Corrupt { table: "member_activity", reason: "rows came out of key order under ORDER BY".into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{row_head, span_of};

    const D: i64 = 86_400_000_000;

    fn row(id: &str, events: &[ActivityEvent]) -> String {
        let paid = |e: &ActivityEvent| match *e {
            ActivityEvent::Order { paid_at, .. } | ActivityEvent::Refund { paid_at, .. } => paid_at,
        };
        let mut s = row_head(id, events.first().map_or(0, |e| span_of(paid(e))));
        events.iter().for_each(|e| e.write(&mut s));
        s
    }

    /// Three months of 30 days each from day 0, numbered 100, 101, 102.
    fn grid() -> MonthGrid {
        MonthGrid::new(100, vec![0, 30 * D, 60 * D, 90 * D])
    }

    #[test]
    fn refunds_count_in_their_orders_month_and_only_by_the_instant() {
        let at = 80 * D;
        let events = [
            ActivityEvent::Order { paid_at: 5 * D, total_minor: 1_000 },
            ActivityEvent::Order { paid_at: 29 * D, total_minor: 500 },
            // Refunded in month 101, counted against its order in month 100.
            ActivityEvent::Refund { paid_at: 5 * D, refunded_at: 40 * D, amount_minor: 300 },
            ActivityEvent::Order { paid_at: 30 * D, total_minor: 70 },
            ActivityEvent::Refund { paid_at: 30 * D, refunded_at: 31 * D, amount_minor: 70 },
            // Refunded after the instant: not yet.
            ActivityEvent::Order { paid_at: 61 * D, total_minor: 200 },
            ActivityEvent::Refund { paid_at: 61 * D, refunded_at: 81 * D, amount_minor: 200 },
            // Paid after the instant, or outside the grid: not read.
            ActivityEvent::Order { paid_at: 85 * D, total_minor: 9 },
            ActivityEvent::Order { paid_at: -1, total_minor: 9 },
        ];
        let log = row("m", &events[..8]) + &row("m", &events[8..]);
        let got = unpack_months(&log, &grid(), at).unwrap();
        // Month 101 nets to nothing and is left out.
        assert_eq!(got, [("m".to_owned(), vec![(100, 1_200), (102, 200)])]);
    }

    #[test]
    fn members_come_out_in_id_order_whatever_order_their_rows_came_in() {
        let order = |paid_at, total_minor| ActivityEvent::Order { paid_at, total_minor };
        let rows = [row("b", &[order(D, 5)]), row("a", &[order(D, 1)]), row("b", &[order(70 * D, 6)]), row("c", &[])];
        let expected = vec![
            ("a".to_owned(), vec![(100, 1)]),
            ("b".to_owned(), vec![(100, 5), (102, 6)]),
            ("c".to_owned(), vec![]),
        ];
        assert_eq!(unpack_months(&rows.concat(), &grid(), 90 * D).unwrap(), expected);
        let in_order = [rows[1].clone(), rows[0].clone(), rows[2].clone(), rows[3].clone()].concat();
        let g = grid();
        let mut unpacker = MonthlyUnpacker::new(&g, 90 * D);
        assert!(unpacker.feed(in_order.as_bytes()).unwrap());
        assert_eq!(unpacker.finish(), expected);
        let mut unpacker = MonthlyUnpacker::new(&g, 90 * D);
        assert!(!unpacker.feed(rows.concat().as_bytes()).unwrap(), "a row before the current member");
        assert!(unpack_months("|a=FVV+W", &grid(), 0).is_err(), "a bad record is corrupt, never guessed");
    }

    #[test]
    fn a_month_is_found_by_its_bounds_with_or_without_the_hint() {
        let g = grid();
        for hint in 0..4 {
            assert_eq!(g.cell(0, hint), Some(0));
            assert_eq!(g.cell(30 * D - 1, hint), Some(0));
            assert_eq!(g.cell(30 * D, hint), Some(1));
            assert_eq!(g.cell(90 * D - 1, hint), Some(2));
            assert_eq!((g.cell(90 * D, hint), g.cell(-1, hint)), (None, None));
        }
        assert_eq!(MonthGrid::empty().months(), 0);
        assert_eq!(MonthGrid::empty().cell(0, 0), None);
    }
}
