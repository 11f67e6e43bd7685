//! The member activity log: every paid order and every refund of a member, as short text records
//! appended to `member_activity` in the same transaction that records them. Member insight reads
//! these rows instead of aggregating ten million order rows, and computes each member's figures
//! for any analysis instant here, in Rust. Pure: no I/O.
//!
//! A row's `log` is a head, `|<member id>=` and the row's span in three digits, followed by
//! records with no separator between them:
//! - `+<offset><total_minor>` — an order paid `offset` microseconds into the row's span;
//! - `-<offset><refund delay><amount_minor>` — a refund of `amount_minor` made `refund delay`
//!   microseconds (zigzag-signed) after its order, which was paid `offset` into the span.
//!
//! Numbers are little-endian base 32, one digit per character, the last digit drawn from a
//! second alphabet so that a number ends itself ([`MORE`], [`LAST`]): an order is about 13 bytes
//! where decimal text took 24, and the read walks, copies and parses the bytes of ten million of
//! them. Both alphabets, the `+` and `-` and the head's `|` and `=` are disjoint, so a damaged
//! record is found, not misread. [`fill_sql`] writes the same text in SQL both databases run.
//!
//! The row names its member (ids never hold `|` or `=`), so a range of rows read back as one
//! text by `string_agg(log, '')` needs no per-row concatenation in SQL. Records are only ever
//! appended (SQL `log || new`), so a log never has to be read to be written. A member's records
//! are split over rows by the span of `paid_at` (see [`ACTIVITY_SPAN_MICROS`]) so that one row
//! never grows with a member's whole history.

use super::MemberActivity;
use crate::{Changes, Result, StoreError};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, HashSet};

const DAY_MICROS: i64 = 86_400_000_000;
/// Rows of one member's log cover 365 days of `paid_at` each (counted from the Unix epoch,
/// rounding down). Only a storage split: a row's records are appended to as orders for that span
/// arrive, so the bytes rewritten per order are bounded by a year of that member's orders, not by
/// their whole history.
pub const ACTIVITY_SPAN_MICROS: i64 = 365 * DAY_MICROS;

/// Digits that another digit follows (values 0 to 31).
pub const MORE: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
/// The last digit of a number (values 0 to 31).
pub const LAST: &[u8; 32] = b"WXYZabcdefghijklmnopqrstuvwxyz()";
/// A row's span is written as `span + SPAN_BIAS` in exactly three [`MORE`] digits (most
/// significant first). Every instant jiff holds (years −9999 to 9999) is in a span from about
/// −12,000 to 8,100, so the biased span is always in `0..32768`.
const SPAN_BIAS: i64 = 16_384;
/// What a head adds to the member id: `|`, `=` and the three span digits. The store's upsert
/// drops `length(member_id) + HEAD_EXTRA` characters from the text it appends.
pub const HEAD_EXTRA: usize = 5;

/// Each byte's digit: 0 to 31 for [`MORE`], 32 to 63 for [`LAST`], [`NOT_A_DIGIT`] otherwise.
const DIGIT: [u8; 256] = {
    let mut t = [NOT_A_DIGIT; 256];
    let mut d = 0;
    while d < 32 {
        t[MORE[d] as usize] = d as u8;
        t[LAST[d] as usize] = 32 + d as u8;
        d += 1;
    }
    t
};
const NOT_A_DIGIT: u8 = 0xFF;

/// The span a record with this `paid_at` goes to.
pub fn span_of(paid_at: i64) -> i64 {
    paid_at.div_euclid(ACTIVITY_SPAN_MICROS)
}

/// Appends `x` as little-endian base-32 digits, the last one from [`LAST`].
fn put(out: &mut String, mut x: u64) {
    while x >= 32 {
        out.push(char::from(MORE[(x & 31) as usize]));
        x >>= 5;
    }
    out.push(char::from(LAST[x as usize]));
}

/// Reads a number [`put`] wrote from `b` at `*i`: `None` unless it is one to thirteen digits,
/// the last from [`LAST`], that fit in 64 bits.
#[inline]
fn get(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0;
    loop {
        let d = DIGIT[usize::from(*b.get(*i)?)];
        if d == NOT_A_DIGIT || (shift == 60 && d & 31 > 15) {
            return None;
        }
        *i += 1;
        v |= u64::from(d & 31) << shift;
        if d >= 32 {
            return Some(v);
        }
        shift += 5;
        if shift > 60 {
            return None;
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// One parsed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityEvent {
    Order { paid_at: i64, total_minor: i64 },
    Refund { paid_at: i64, refunded_at: i64, amount_minor: i64 },
}

impl ActivityEvent {
    /// Appends this record's text to `out`, which must be a row of the span of its `paid_at`.
    /// Amounts are never negative (the domain's orders and refunds are not).
    pub fn write(&self, out: &mut String) {
        match *self {
            ActivityEvent::Order { paid_at, total_minor } => {
                assert!(total_minor >= 0, "an order total is never negative");
                out.push('+');
                put(out, paid_at.rem_euclid(ACTIVITY_SPAN_MICROS) as u64);
                put(out, total_minor as u64);
            }
            ActivityEvent::Refund { paid_at, refunded_at, amount_minor } => {
                assert!(amount_minor >= 0, "a refund amount is never negative");
                let delay = refunded_at.checked_sub(paid_at).expect("instants jiff holds are less than 2^63 µs apart");
                out.push('-');
                put(out, paid_at.rem_euclid(ACTIVITY_SPAN_MICROS) as u64);
                put(out, zigzag(delay));
                put(out, amount_minor as u64);
            }
        }
    }
}

/// What one row of `member_activity` gets: `log` is the row as it is when new (its head, then
/// the records); a row that exists keeps its head and gets the records after it (the store's
/// upsert drops the first `length(member_id) + 2` characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityAppend {
    pub member_id: String,
    pub span: i64,
    pub log: String,
}

/// The head of a member's row for `span`. Member ids are `[A-Za-z0-9._:-]` (`MemberId`), so
/// they never hold the `|` and `=` that frame a row.
pub fn row_head(member_id: &str, span: i64) -> String {
    assert!(!member_id.is_empty() && !member_id.contains(['|', '=']), "member id {member_id:?} cannot frame a log row");
    let biased = span + SPAN_BIAS;
    assert!((0..32 * 32 * 32).contains(&biased), "span {span} is outside the instants jiff holds");
    let digit = |shift: i64| char::from(MORE[((biased >> shift) & 31) as usize]);
    format!("|{member_id}={}{}{}", digit(10), digit(5), digit(0))
}

/// What a batch of changes appends to the activity log: a record per new order and per new
/// refund, grouped into one append per (member, span), in key order (so that PostgreSQL's
/// `ON CONFLICT` never meets a row twice in one statement and writers lock rows in one order).
///
/// Panics when a refund's order is not among the changed orders: the engine always writes a
/// refunded order's new totals with the refund, so anything else is a bug in the caller.
pub fn activity_appends(c: &Changes) -> Vec<ActivityAppend> {
    let new: HashSet<(&str, &str)> = c.new_order_keys.iter().map(|(o, m)| (m.as_str(), o.as_str())).collect();
    let mut logs: BTreeMap<(&str, i64), String> = BTreeMap::new();
    let mut paid: HashMap<(&str, &str), i64> = HashMap::with_capacity(c.orders.len());
    for o in &c.orders {
        let v = &o.order;
        let paid_at = crate::convert::micros(v.paid_at);
        paid.insert((v.member_id.as_str(), v.id.as_str()), paid_at);
        if new.contains(&(v.member_id.as_str(), v.id.as_str())) {
            let e = ActivityEvent::Order { paid_at, total_minor: v.total_minor().get() };
            e.write(
                logs.entry((v.member_id.as_str(), span_of(paid_at)))
                    .or_insert_with(|| row_head(v.member_id.as_str(), span_of(paid_at))),
            );
        }
    }
    for (m, r) in &c.refunds {
        let paid_at = *paid
            .get(&(m.as_str(), r.order_id.as_str()))
            .unwrap_or_else(|| panic!("refund {} of order {} written without its order", r.refund_id, r.order_id));
        let e = ActivityEvent::Refund {
            paid_at,
            refunded_at: crate::convert::micros(r.refunded_at),
            amount_minor: r.amount_minor.get(),
        };
        e.write(logs.entry((m.as_str(), span_of(paid_at))).or_insert_with(|| row_head(m.as_str(), span_of(paid_at))));
    }
    logs.into_iter().map(|((m, span), log)| ActivityAppend { member_id: m.to_owned(), span, log }).collect()
}

fn corrupt(member: &str, reason: String) -> StoreError {
    StoreError::Corrupt { table: "member_activity", reason: format!("member {member}: {reason}") }
}

/// Parses the records of a row of `span` that start at `b[*i]`, up to the end of `b` or a `|`,
/// handing each to `each`; leaves `*i` at the `|` or the end. A malformed record is a corrupt
/// store, never a guess.
pub(super) fn parse_records(
    member: &str,
    span: i64,
    b: &[u8],
    i: &mut usize,
    mut each: impl FnMut(ActivityEvent),
) -> Result<()> {
    let base = span * ACTIVITY_SPAN_MICROS;
    while *i < b.len() && b[*i] != b'|' {
        let start = *i;
        let bad = |at: usize| {
            let end = (at + 1).min(b.len());
            corrupt(member, format!("bad activity record {:?}", String::from_utf8_lossy(&b[start..end])))
        };
        let kind = b[*i];
        *i += 1;
        let mut paid_at = || {
            get(b, i)
                .and_then(|o| i64::try_from(o).ok())
                .filter(|&o| o < ACTIVITY_SPAN_MICROS)
                .and_then(|o| base.checked_add(o))
                .ok_or_else(|| bad(*i))
        };
        let e = match kind {
            b'+' => {
                let paid_at = paid_at()?;
                let total_minor = get(b, i).and_then(|v| i64::try_from(v).ok()).ok_or_else(|| bad(*i))?;
                ActivityEvent::Order { paid_at, total_minor }
            }
            b'-' => {
                let paid_at = paid_at()?;
                let refunded_at = get(b, i).and_then(|d| paid_at.checked_add(unzigzag(d))).ok_or_else(|| bad(*i))?;
                let amount_minor = get(b, i).and_then(|v| i64::try_from(v).ok()).ok_or_else(|| bad(*i))?;
                ActivityEvent::Refund { paid_at, refunded_at, amount_minor }
            }
            _ => return Err(bad(*i)),
        };
        each(e);
    }
    Ok(())
}

/// Reads the head of the row that starts at `text[*i]` (`|<member id>=` and three span digits)
/// and leaves `*i` at its first record.
fn row_member<'a>(b: &'a [u8], i: &mut usize) -> Result<(&'a str, i64)> {
    let (id, span) = row_head_bytes(b, i)?;
    Ok((member_str(id)?, span))
}

pub(super) fn member_str(id: &[u8]) -> Result<&str> {
    std::str::from_utf8(id).map_err(|_| corrupt("?", "an activity row's member id is not UTF-8".into()))
}

/// [`row_member`] with the id left as bytes, for a caller that has seen it before.
pub(super) fn row_head_bytes<'a>(b: &'a [u8], i: &mut usize) -> Result<(&'a [u8], i64)> {
    let at = *i;
    let eq =
        (b[at] == b'|').then(|| b[at + 1..].iter().position(|&c| c == b'=' || c == b'|').map(|p| at + 1 + p)).flatten();
    let span = |eq: usize| -> Option<i64> {
        let digits = b.get(eq + 1..eq + 4)?;
        digits
            .iter()
            .try_fold(0_i64, |v, &c| (DIGIT[usize::from(c)] < 32).then(|| v * 32 + i64::from(DIGIT[usize::from(c)])))
    };
    let head = eq.filter(|&p| b[p] == b'=' && p > at + 1).and_then(|p| Some((p, span(p)?)));
    let Some((eq, biased)) = head else {
        let near = String::from_utf8_lossy(&b[at..(at + 40).min(b.len())]).into_owned();
        return Err(corrupt(&near, "activity row without its member id and span".into()));
    };
    *i = eq + 4;
    Ok((&b[at + 1..eq], biased - SPAN_BIAS))
}

/// Rows of `member_activity` run together (`|id=records|id=records…`): each row's member id and
/// the range of `events` its records went to, in the order the rows came. A malformed row or
/// record is a corrupt store, never a guess.
pub fn parse_rows<'a>(text: &'a str, events: &mut Vec<ActivityEvent>) -> Result<Vec<(&'a str, usize, usize)>> {
    let b = text.as_bytes();
    let mut rows = Vec::with_capacity(b.len() / 128);
    let mut i = 0;
    while i < b.len() {
        let (id, span) = row_member(b, &mut i)?;
        let first = events.len();
        parse_records(id, span, b, &mut i, |e| events.push(e))?;
        rows.push((id, first, events.len()));
    }
    Ok(rows)
}

/// One member's figures as of `at`, gathered record by record (records come in any order):
/// orders paid at or before `at`; amounts net of the refunds made by `at`; the window starts at
/// `window_start`.
struct Tally {
    at: i64,
    window_start: i64,
    orders: i64,
    net: i64,
    window_orders: i64,
    window_net: i64,
    first: i64,
    last: i64,
    /// The last order paid in the window; `i64::MIN` while there is none.
    window_last: i64,
    /// Whole days back from `at` of each order; reused from member to member.
    days: Vec<i64>,
    /// Whether the days have come latest first so far (records are appended as orders are
    /// paid, so they nearly always have): `distinct` then counts them without a sort.
    in_order: bool,
    distinct: i64,
    /// The oldest order day (days back from `at`) and what its orders paid.
    first_day: i64,
    first_day_paid: i64,
    /// The oldest day with a refunded order and the refunds on that day's orders. A refund's
    /// order is never older than the first order, so once every record is in, this day's
    /// refunds are the first day's when the two days are the same, and the first day has none
    /// otherwise: no list of refunds is kept.
    refund_day: i64,
    refund_day_amount: i64,
}

impl Tally {
    fn new(at: i64, window_start: i64) -> Self {
        let mut t = Tally {
            at,
            window_start,
            orders: 0,
            net: 0,
            window_orders: 0,
            window_net: 0,
            first: 0,
            last: 0,
            window_last: 0,
            days: Vec::new(),
            in_order: true,
            distinct: 0,
            first_day: 0,
            first_day_paid: 0,
            refund_day: 0,
            refund_day_amount: 0,
        };
        t.reset();
        t
    }

    fn reset(&mut self) {
        self.orders = 0;
        self.net = 0;
        self.window_orders = 0;
        self.window_net = 0;
        self.first = i64::MAX;
        self.last = i64::MIN;
        self.window_last = i64::MIN;
        self.days.clear();
        self.in_order = true;
        self.distinct = 0;
        self.first_day = i64::MIN;
        self.first_day_paid = 0;
        self.refund_day = i64::MIN;
        self.refund_day_amount = 0;
    }

    // Orders in and out of the window come mixed: the window's sums are kept without a branch.
    #[inline]
    fn add(&mut self, e: ActivityEvent) {
        match e {
            ActivityEvent::Order { paid_at, total_minor } if paid_at <= self.at => {
                self.orders += 1;
                self.net += total_minor;
                self.first = self.first.min(paid_at);
                self.last = self.last.max(paid_at);
                let day = (self.at - paid_at) / DAY_MICROS;
                match self.days.last() {
                    Some(&prev) if day == prev => {}
                    Some(&prev) if day > prev => self.in_order = false,
                    _ => self.distinct += 1,
                }
                self.days.push(day);
                if day > self.first_day {
                    (self.first_day, self.first_day_paid) = (day, total_minor);
                } else if day == self.first_day {
                    self.first_day_paid += total_minor;
                }
                let inside = paid_at >= self.window_start;
                self.window_orders += i64::from(inside);
                self.window_net += if inside { total_minor } else { 0 };
                self.window_last = self.window_last.max(if inside { paid_at } else { i64::MIN });
            }
            ActivityEvent::Refund { paid_at, refunded_at, amount_minor }
                if paid_at <= self.at && refunded_at <= self.at =>
            {
                self.net -= amount_minor;
                self.window_net -= if paid_at >= self.window_start { amount_minor } else { 0 };
                let day = (self.at - paid_at) / DAY_MICROS;
                if day > self.refund_day {
                    (self.refund_day, self.refund_day_amount) = (day, amount_minor);
                } else if day == self.refund_day {
                    self.refund_day_amount += amount_minor;
                }
            }
            _ => {}
        }
    }

    /// The figures gathered so far for `member_id` (`None` when no order was paid by `at`), and
    /// a clean tally for the next member.
    fn take(&mut self, member_id: &str) -> Result<Option<MemberActivity>> {
        let order_days = if self.in_order {
            self.distinct
        } else {
            self.days.sort_unstable();
            self.days.dedup();
            self.days.len() as i64
        };
        debug_assert_eq!(order_days, {
            let mut d = self.days.clone();
            d.sort_unstable();
            d.dedup();
            d.len() as i64
        });
        let orders = self.orders;
        let (first, last, window_last) = (self.first, self.last, self.window_last);
        let (net, window_orders, window_net) = (self.net, self.window_orders, self.window_net);
        let first_day_refunded = if self.refund_day == self.first_day { self.refund_day_amount } else { 0 };
        let first_day_net = self.first_day_paid - first_day_refunded;
        self.reset();
        if orders == 0 {
            return Ok(None);
        }
        let ts = |t: i64| Timestamp::from_microsecond(t).map_err(|e| corrupt(member_id, format!("instant {t}: {e}")));
        Ok(Some(MemberActivity {
            member_id: member_id.into(),
            orders,
            order_days,
            first_paid_at: Some(ts(first)?),
            last_paid_at: Some(ts(last)?),
            net_minor: net,
            first_day_net_minor: first_day_net,
            window_orders,
            window_last_paid_at: (window_last != i64::MIN).then(|| ts(window_last)).transpose()?,
            window_net_minor: window_net,
        }))
    }
}

/// Turns rows of `member_activity`, fed in member order, into every buyer's figures as of `at`,
/// sorted by id byte-wise. This parse is most of the read's own work, so it is one pass that
/// never holds the records: a member is summed up as soon as the next one starts.
pub struct Unpacker {
    tally: Tally,
    /// The member being summed up, if any (`None` before the first row).
    current: Option<String>,
    /// Members registered by the analysis instant, merged into `out` as buyers are summed up;
    /// the first `merged` of them are in `out` already.
    registered: Registered,
    merged: usize,
    out: Vec<MemberActivity>,
}

/// Member ids run together in one buffer (`ends[k]` is where the `k`-th ends), sorted byte-wise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registered {
    ids: String,
    ends: Vec<usize>,
}

impl Registered {
    /// Appends an id, which must sort after the last one: `false` (and nothing appended) if not.
    pub fn push(&mut self, id: &str) -> bool {
        if self.last().is_some_and(|last| last >= id) {
            return false;
        }
        self.ids.push_str(id);
        self.ends.push(self.ids.len());
        true
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn start(&self, k: usize) -> usize {
        if k == 0 {
            0
        } else {
            self.ends[k - 1]
        }
    }

    /// The last id pushed.
    pub fn last(&self) -> Option<&str> {
        self.ends.len().checked_sub(1).and_then(|k| self.get(k))
    }

    /// The `k`-th id, if there are that many.
    fn get(&self, k: usize) -> Option<&str> {
        self.ends.get(k).map(|&end| &self.ids[self.start(k)..end])
    }
}

impl Unpacker {
    pub fn new(at: i64, window_start: i64) -> Self {
        Unpacker::merging(at, window_start, Registered::default())
    }

    /// An unpacker whose output also holds every member of `registered`, a registered member
    /// without orders with an empty activity, all in id order: what [`merge_activity`] makes of
    /// the buyers and the registered members, without first holding the buyers apart.
    ///
    /// [`merge_activity`]: crate::analytics::merge_activity
    pub fn merging(at: i64, window_start: i64, registered: Registered) -> Self {
        let out = Vec::with_capacity(registered.len());
        Unpacker { tally: Tally::new(at, window_start), current: None, registered, merged: 0, out }
    }

    /// Sums up the member `id` whose rows are all fed: registered members before it first (they
    /// have no orders), then the member if it is registered or bought.
    fn close(&mut self, id: &str) -> Result<()> {
        let buyer = self.tally.take(id)?;
        while let Some(r) = self.registered.get(self.merged).filter(|&r| r < id) {
            self.out.push(MemberActivity { member_id: r.into(), ..Default::default() });
            self.merged += 1;
        }
        let registered = self.registered.get(self.merged) == Some(id);
        self.merged += usize::from(registered);
        match buyer {
            Some(b) => self.out.push(b),
            None if registered => self.out.push(MemberActivity { member_id: id.into(), ..Default::default() }),
            None => {}
        }
        Ok(())
    }

    /// Feeds one or more whole rows run together. Returns `Ok(false)`, having taken nothing from
    /// that row on, when a row's member sorts before the member being summed up: the rows are
    /// not in member order, and the caller must read them another way.
    pub fn feed(&mut self, b: &[u8]) -> Result<bool> {
        let mut i = 0;
        while i < b.len() {
            // A member's rows come together, so most ids are the one before: compared as bytes,
            // and checked to be text only when new.
            let (id, span) = row_head_bytes(b, &mut i)?;
            match self.current.as_deref() {
                Some(c) if c.as_bytes() == id => {}
                Some(c) if c.as_bytes() > id => return Ok(false),
                Some(_) => {
                    let id = member_str(id)?;
                    let mut c = self.current.take().expect("a member is being summed up");
                    self.close(&c)?;
                    c.clear();
                    c.push_str(id);
                    self.current = Some(c);
                }
                None => self.current = Some(member_str(id)?.to_owned()),
            }
            let (current, tally) = (self.current.as_deref().expect("set above"), &mut self.tally);
            parse_records(current, span, b, &mut i, |e| tally.add(e))?;
        }
        Ok(true)
    }

    /// Every buyer fed and every registered member, once each, in id order.
    pub fn finish(mut self) -> Result<Vec<MemberActivity>> {
        if let Some(c) = self.current.take() {
            self.close(&c)?;
        }
        while let Some(r) = self.registered.get(self.merged) {
            self.out.push(MemberActivity { member_id: r.into(), ..Default::default() });
            self.merged += 1;
        }
        Ok(self.out)
    }
}

/// One range of `member_activity` rows run together, turned into every buyer's figures as of
/// `at`, sorted by id byte-wise. Rows come from the key walk in member order, so a member's rows
/// are adjacent and one [`Unpacker`] pass does; the SQL does not promise that order, and should a
/// row come before the one ahead of it, the range is parsed again by [`unpack_gathered`].
pub fn unpack_logs(packed: &str, at: i64, window_start: i64) -> Result<Vec<MemberActivity>> {
    let mut unpacker = Unpacker::new(at, window_start);
    if unpacker.feed(packed.as_bytes())? {
        unpacker.finish()
    } else {
        unpack_gathered(packed, at, window_start)
    }
}

/// As [`unpack_logs`], for rows in any order: every record is parsed first and a member's rows
/// are gathered by sorting.
pub fn unpack_gathered(packed: &str, at: i64, window_start: i64) -> Result<Vec<MemberActivity>> {
    // Most order records are 12 to 14 bytes.
    let mut events: Vec<ActivityEvent> = Vec::with_capacity(packed.len() / 12 + 1);
    let mut rows = parse_rows(packed, &mut events)?;
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut tally = Tally::new(at, window_start);
    let mut out = Vec::with_capacity(rows.len());
    for group in rows.chunk_by(|a, b| a.0 == b.0) {
        for (_, from, to) in group {
            events[*from..*to].iter().for_each(|e| tally.add(*e));
        }
        out.extend(tally.take(group[0].0)?);
    }
    Ok(out)
}

/// SQL for the number in column `x` (a BIGINT, `0 <= x < 32^digits`) written as [`put`] writes
/// it: one `CASE` per digit, so that both databases run it.
fn put_sql(x: &str, digits: u32) -> String {
    let (more, last) = (std::str::from_utf8(MORE).expect("ASCII"), std::str::from_utf8(LAST).expect("ASCII"));
    (0..digits)
        .map(|i| {
            let p = 32_i64.pow(i);
            let digit = |alphabet: &str| format!("substr('{alphabet}', CAST({x} / {p} % 32 + 1 AS INTEGER), 1)");
            match i {
                0 if digits == 1 => digit(last),
                0 => format!("CASE WHEN {x} < 32 THEN {} ELSE {} END", digit(last), digit(more)),
                _ if i + 1 == digits => format!("CASE WHEN {x} < {p} THEN '' ELSE {} END", digit(last)),
                _ => format!(
                    "CASE WHEN {x} < {p} THEN '' WHEN {x} < {} THEN {} ELSE {} END",
                    p * 32,
                    digit(last),
                    digit(more)
                ),
            }
        })
        .collect::<Vec<_>>()
        .join("\n        || ")
}

/// The statement that fills `member_activity` from the orders and refunds tables, writing the
/// same text as [`activity_appends`] (the contract tests compare the two byte for byte).
/// Migration 0007 holds exactly this text; `loyalty rebuild-activity` runs it.
pub fn fill_sql() -> String {
    let s = ACTIVITY_SPAN_MICROS;
    let span = |t: &str| format!("CASE WHEN {t} >= 0 THEN {t} / {s} ELSE ({t} + 1) / {s} - 1 END");
    let more = std::str::from_utf8(MORE).expect("ASCII");
    let head = (0..3)
        .map(|i| format!("substr('{more}', CAST((span + {SPAN_BIAS}) / {} % 32 + 1 AS INTEGER), 1)", 32_i64.pow(2 - i)))
        .collect::<Vec<_>>()
        .join(" || ");
    format!(
        "INSERT INTO member_activity (member_id, span, log)
SELECT member_id, span, '|' || member_id || '=' || {head} || string_agg(rec, '') FROM (
    SELECT member_id, span, '+'
        || {order_offset}
        || {order_total} AS rec
    FROM (
        SELECT member_id, span, paid_at - span * {s} AS offset_micros, total_minor AS amount FROM (
            SELECT member_id, {order_span} AS span, paid_at, total_minor FROM orders
        ) AS paid
    ) AS orders_in_spans
    UNION ALL
    SELECT member_id, span, '-'
        || {refund_offset}
        || {refund_delay}
        || {refund_amount} AS rec
    FROM (
        SELECT member_id, span, paid_at - span * {s} AS offset_micros,
               CASE WHEN delay >= 0 THEN 2 * delay ELSE -2 * delay - 1 END AS delay_zigzag, amount FROM (
            SELECT r.member_id AS member_id, {refund_span} AS span, o.paid_at AS paid_at,
                   r.refunded_at - o.paid_at AS delay, r.amount_minor AS amount
            FROM refunds r JOIN orders o ON o.member_id = r.member_id AND o.order_id = r.order_id
        ) AS refunded
    ) AS refunds_in_spans
) AS records
GROUP BY member_id, span",
        order_offset = put_sql("offset_micros", 9),
        order_total = put_sql("amount", 13),
        order_span = span("paid_at"),
        refund_offset = put_sql("offset_micros", 9),
        refund_delay = put_sql("delay_zigzag", 13),
        refund_amount = put_sql("amount", 13),
        refund_span = span("o.paid_at"),
    )
}

/// What the orders and refunds tables say about one member, to check the log against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedActivity {
    pub member_id: String,
    pub orders: i64,
    pub total_minor: i64,
    pub refunded_minor: i64,
    pub refunds: i64,
    pub first_paid_at: Option<i64>,
    pub last_paid_at: Option<i64>,
}

/// Checks a member's log (their rows run together) against their recorded orders and refunds:
/// the same number of orders and refunds, the same totals, the same first and last payment, and
/// every refund on an order the log holds. Returns what differs, if anything.
pub fn audit_log(recorded: &RecordedActivity, log: &str) -> Option<String> {
    let mut events = Vec::new();
    let rows = match parse_rows(log, &mut events) {
        Ok(rows) => rows,
        Err(e) => return Some(e.to_string()),
    };
    if let Some((other, _, _)) = rows.iter().find(|(id, _, _)| *id != recorded.member_id) {
        return Some(format!("an activity row of this member names member {other:?}"));
    }
    let mut seen = RecordedActivity { member_id: recorded.member_id.clone(), ..Default::default() };
    let mut paid: HashSet<i64> = HashSet::new();
    for e in &events {
        if let ActivityEvent::Order { paid_at, total_minor } = *e {
            seen.orders += 1;
            seen.total_minor += total_minor;
            seen.first_paid_at = Some(seen.first_paid_at.map_or(paid_at, |f| f.min(paid_at)));
            seen.last_paid_at = Some(seen.last_paid_at.map_or(paid_at, |l| l.max(paid_at)));
            paid.insert(paid_at);
        }
    }
    for e in &events {
        if let ActivityEvent::Refund { paid_at, amount_minor, .. } = *e {
            seen.refunds += 1;
            seen.refunded_minor += amount_minor;
            if !paid.contains(&paid_at) {
                return Some(format!("activity log has a refund on an order paid at {paid_at} that it does not hold"));
            }
        }
    }
    (seen != *recorded).then(|| {
        format!(
            "activity log does not match the orders: log has {} orders totalling {} minor, {} refunds of {} minor, paid {:?}..{:?}; \
             the orders table has {} orders totalling {} minor, {} refunds of {} minor, paid {:?}..{:?}",
            seen.orders,
            seen.total_minor,
            seen.refunds,
            seen.refunded_minor,
            seen.first_paid_at,
            seen.last_paid_at,
            recorded.orders,
            recorded.total_minor,
            recorded.refunds,
            recorded.refunded_minor,
            recorded.first_paid_at,
            recorded.last_paid_at
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = DAY_MICROS;

    /// A row of `id`'s log holding `events`, which share a span.
    fn row(id: &str, events: &[ActivityEvent]) -> String {
        let paid = |e: &ActivityEvent| match *e {
            ActivityEvent::Order { paid_at, .. } | ActivityEvent::Refund { paid_at, .. } => paid_at,
        };
        let span = events.first().map_or(0, |e| span_of(paid(e)));
        assert!(events.iter().all(|e| span_of(paid(e)) == span), "a test row holds one span");
        let mut s = row_head(id, span);
        events.iter().for_each(|e| e.write(&mut s));
        s
    }

    /// A member's figures as of `at` (microseconds) with the window starting at `window_start`:
    /// orders paid at or before `at`; amounts net of the refunds made by `at`. `None` when no order
    /// was paid by `at`.
    fn summarise(
        member_id: &str,
        events: &[ActivityEvent],
        at: i64,
        window_start: i64,
    ) -> Result<Option<MemberActivity>> {
        let mut tally = Tally::new(at, window_start);
        events.iter().for_each(|e| tally.add(*e));
        tally.take(member_id)
    }

    fn num(x: u64) -> String {
        let mut s = String::new();
        put(&mut s, x);
        s
    }

    #[test]
    fn records_round_trip_and_a_bad_row_is_corrupt_not_guessed() {
        let events = vec![
            ActivityEvent::Order { paid_at: -5, total_minor: i64::MAX },
            ActivityEvent::Refund { paid_at: -5, refunded_at: 7, amount_minor: 3 },
        ];
        assert_eq!(row_head("ab", 7).len(), 2 + HEAD_EXTRA);
        let text = row("m:1", &events);
        // The format, pinned: the span −1 (biased 16383 = `FVV`), offset 2^45-ish, the largest total.
        assert_eq!(text, "|m:1=FVV+RVN716QLyVVVVVVVVVVVVd-RVN716QLyuZ");
        let (min, max) = (Timestamp::MIN.as_microsecond(), Timestamp::MAX.as_microsecond());
        let extremes = [
            row("a", &[ActivityEvent::Order { paid_at: min, total_minor: 0 }]),
            row("a", &[ActivityEvent::Refund { paid_at: max, refunded_at: min, amount_minor: 0 }]),
            row("a", &[ActivityEvent::Refund { paid_at: min, refunded_at: max, amount_minor: 1 }]),
        ];
        let all = [text.clone(), extremes.concat()].concat();
        let mut back = Vec::new();
        assert_eq!(parse_rows(&all, &mut back).unwrap(), [("m:1", 0, 2), ("a", 2, 3), ("a", 3, 4), ("a", 4, 5)]);
        assert_eq!(&back[..2], &events[..]);
        assert_eq!(back[3], ActivityEvent::Refund { paid_at: max, refunded_at: min, amount_minor: 0 });
        for x in [0, 1, 31, 32, 1023, 1024, u64::from(u32::MAX), i64::MAX as u64, u64::MAX] {
            assert_eq!(get(num(x).as_bytes(), &mut 0), Some(x));
        }
        let h = "|m=FVV";
        let bad = [
            format!("{h}+W"),
            format!("{h}+WWx"),
            format!("{h}*WW"),
            format!("{h}-WW"),
            format!("{h}+0"),
            format!("{h}+WW;"),
            format!("{h}+W{}W", "0".repeat(13)),
            format!("{h}+{}W", num(ACTIVITY_SPAN_MICROS as u64)),
            format!("{h}+W{}", num(1 << 63)),
            format!("{h}+WW|"),
            "m=FVV+WW".into(),
            "|=FVV+WW".into(),
            "|mFVV+WW".into(),
            "|m=FV".into(),
            "|m=FVW+WW".into(),
            "|m=+WW".into(),
            "|m=o1,2;".into(),
        ];
        for bad in bad {
            assert!(parse_rows(&bad, &mut Vec::new()).is_err(), "{bad:?} should be corrupt");
        }
        assert!(parse_rows("", &mut back).unwrap().is_empty());
    }

    #[test]
    fn the_fill_statement_is_migration_0007s() {
        let migration = include_str!("../../migrations/0007_member_activity_dense.sql");
        assert!(migration.contains(&format!("{};", fill_sql())), "migration 0007 must hold fill_sql() exactly");
        // One digit of a three-digit number, as the SQL writes it.
        assert!(put_sql("x", 3).starts_with("CASE WHEN x < 32 THEN substr('WXYZ"));
    }

    #[test]
    fn figures_count_orders_by_at_and_refunds_made_by_at() {
        let at = 1_000 * D;
        let ws = at - 365 * D;
        let events = vec![
            ActivityEvent::Order { paid_at: ws - 10 * D, total_minor: 500 },
            ActivityEvent::Order { paid_at: at - 3 * D - 1, total_minor: 200 },
            ActivityEvent::Order { paid_at: at - 3 * D + 5, total_minor: 100 },
            ActivityEvent::Order { paid_at: at + 1, total_minor: 7_000 },
            ActivityEvent::Refund { paid_at: at - 3 * D - 1, refunded_at: at, amount_minor: 50 },
            ActivityEvent::Refund { paid_at: ws - 10 * D, refunded_at: at - D, amount_minor: 20 },
            ActivityEvent::Refund { paid_at: at - 3 * D + 5, refunded_at: at + 1, amount_minor: 100 },
        ];
        let a = summarise("m", &events, at, ws).unwrap().unwrap();
        assert_eq!((a.orders, a.order_days, a.net_minor), (3, 3, 800 - 70));
        assert_eq!(a.first_day_net_minor, 500 - 20, "the first day's order less its refund made by `at`");
        assert_eq!((a.window_orders, a.window_net_minor), (2, 250));
        assert_eq!(a.first_paid_at.unwrap().as_microsecond(), ws - 10 * D);
        assert_eq!(a.last_paid_at.unwrap().as_microsecond(), at - 3 * D + 5);
        assert_eq!(a.window_last_paid_at, a.last_paid_at);
        // Two orders on the same whole day back from `at` are one order day.
        let same_day = [
            ActivityEvent::Order { paid_at: at - D - 1, total_minor: 1 },
            ActivityEvent::Order { paid_at: at - 2 * D + 1, total_minor: 1 },
        ];
        assert_eq!(summarise("m", &same_day, at, ws).unwrap().unwrap().order_days, 1);
        // Out of time order, the same day apart: still one order day (and three days in all).
        let shuffled = [
            ActivityEvent::Order { paid_at: at - D - 1, total_minor: 1 },
            ActivityEvent::Order { paid_at: at - 5 * D, total_minor: 1 },
            ActivityEvent::Order { paid_at: at - 9 * D, total_minor: 1 },
            ActivityEvent::Order { paid_at: at - 2 * D + 1, total_minor: 1 },
        ];
        assert_eq!(summarise("m", &shuffled, at, ws).unwrap().unwrap().order_days, 3);
        // The first day's orders summed, its refunds deducted, whatever order the records come in
        // (the fill statement does not order them): refunds before their orders, one on a later
        // day, one made after `at`.
        let first = at - 9 * D - 7;
        let records = [
            ActivityEvent::Refund { paid_at: first, refunded_at: at - D, amount_minor: 30 },
            ActivityEvent::Order { paid_at: at - D - 1, total_minor: 1_000 },
            ActivityEvent::Refund { paid_at: at - D - 1, refunded_at: at, amount_minor: 400 },
            ActivityEvent::Order { paid_at: first, total_minor: 100 },
            ActivityEvent::Refund { paid_at: at - 9 * D - 1, refunded_at: at + 1, amount_minor: 5 },
            ActivityEvent::Order { paid_at: at - 9 * D - 1, total_minor: 50 },
        ];
        let a = summarise("m", &records, at, ws).unwrap().unwrap();
        assert_eq!((a.order_days, a.net_minor, a.first_day_net_minor), (2, 1_150 - 430, 150 - 30));
        let reversed: Vec<_> = records.iter().rev().copied().collect();
        assert_eq!(summarise("m", &reversed, at, ws).unwrap().unwrap(), a);
        // No refund on the first day: its orders in full.
        let a = summarise("m", &records[1..4], at, ws).unwrap().unwrap();
        assert_eq!((a.net_minor, a.first_day_net_minor), (1_100 - 400, 100));
        // Only a future order: not a buyer yet.
        assert!(summarise("m", &events[3..4], at, ws).unwrap().is_none());
    }

    #[test]
    fn packed_rows_gather_a_members_spans_in_any_order() {
        let at = 1_000 * D;
        let packed = [
            row("b", &[ActivityEvent::Order { paid_at: 10, total_minor: 5 }]),
            row("a:1", &[ActivityEvent::Order { paid_at: 20, total_minor: 1 }]),
            row("b", &[ActivityEvent::Order { paid_at: 500 * D, total_minor: 6 }]),
            row("c", &[ActivityEvent::Order { paid_at: at + 1, total_minor: 6 }]),
        ]
        .concat();
        let rows = unpack_logs(&packed, at, 0).unwrap();
        let got: Vec<(&str, i64, i64)> = rows.iter().map(|r| (&*r.member_id, r.orders, r.net_minor)).collect();
        assert_eq!(got, [("a:1", 1, 1), ("b", 2, 11)]);
        // The same rows in key order take the one-pass path, with the same figures.
        let in_order = [
            row("a:1", &[ActivityEvent::Order { paid_at: 20, total_minor: 1 }]),
            row("b", &[ActivityEvent::Order { paid_at: 500 * D, total_minor: 6 }]),
            row("b", &[ActivityEvent::Order { paid_at: 10, total_minor: 5 }]),
            row("c", &[ActivityEvent::Order { paid_at: at + 1, total_minor: 6 }]),
        ]
        .concat();
        assert_eq!(unpack_logs(&in_order, at, 0).unwrap(), rows);
        assert_eq!(unpack_gathered(&in_order, at, 0).unwrap(), rows);
        assert!(
            unpack_logs(&(in_order + "|b=o1,x;"), at, 0).is_err(),
            "a bad record after the fall-back is still corrupt"
        );
        assert!(unpack_logs("no-head", at, 0).is_err());
        assert!(unpack_logs("", at, 0).unwrap().is_empty());
    }

    #[test]
    fn registered_members_merge_into_the_buyers_as_merge_activity_merges_them() {
        let at = 1_000 * D;
        let order = |paid_at| ActivityEvent::Order { paid_at, total_minor: 7 };
        // "b" bought; "d" only after `at`; "f" bought but is not among the registered (it
        // registered after `at`); "h" only after `at` and not registered.
        let rows =
            [row("b", &[order(10)]), row("d", &[order(at + 1)]), row("f", &[order(20)]), row("h", &[order(at + 5)])];
        let ids = ["a", "b", "c", "d", "e", "g"];
        let mut registered = Registered::default();
        ids.iter().for_each(|id| assert!(registered.push(id)));
        assert!(!registered.push("f"), "ids must come in order");
        assert_eq!(registered.len(), ids.len(), "an id out of order is not taken");
        let mut unpacker = Unpacker::merging(at, 0, registered);
        rows.iter().for_each(|r| assert!(unpacker.feed(r.as_bytes()).unwrap()));
        let merged = unpacker.finish().unwrap();
        let got: Vec<(&str, i64)> = merged.iter().map(|a| (&*a.member_id, a.orders)).collect();
        assert_eq!(got, [("a", 0), ("b", 1), ("c", 0), ("d", 0), ("e", 0), ("f", 1), ("g", 0)]);
        let buyers = unpack_logs(&rows.concat(), at, 0).unwrap();
        assert_eq!(crate::analytics::merge_activity(buyers, ids.to_vec()), merged, "the same as merging after");
        // No rows at all: every registered member, empty.
        let mut registered = Registered::default();
        ["x", "y"].iter().for_each(|id| assert!(registered.push(id)));
        let got = Unpacker::merging(at, 0, registered).finish().unwrap();
        assert_eq!(got.iter().map(|a| &*a.member_id).collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn the_audit_names_what_differs() {
        let events = [
            ActivityEvent::Order { paid_at: 10, total_minor: 500 },
            ActivityEvent::Refund { paid_at: 10, refunded_at: 11, amount_minor: 100 },
        ];
        let recorded = RecordedActivity {
            member_id: "m".into(),
            orders: 1,
            total_minor: 500,
            refunded_minor: 100,
            refunds: 1,
            first_paid_at: Some(10),
            last_paid_at: Some(10),
        };
        assert_eq!(audit_log(&recorded, &row("m", &events)), None);
        // Split over two rows: the same log.
        assert_eq!(audit_log(&recorded, &(row("m", &events[1..]) + &row("m", &events[..1]))), None);
        let lost_refund = audit_log(&recorded, &row("m", &events[..1])).unwrap();
        assert!(lost_refund.contains("0 refunds of 0 minor"), "{lost_refund}");
        let stray = row("m", &[events[0], ActivityEvent::Refund { paid_at: 9, refunded_at: 11, amount_minor: 100 }]);
        assert!(audit_log(&recorded, &stray).unwrap().contains("does not hold"));
        assert!(audit_log(&recorded, "|m=FVV+W;").unwrap().contains("bad activity record"));
        assert!(audit_log(&recorded, &row("n", &events)).unwrap().contains("names member \"n\""));
        let none = RecordedActivity { member_id: "n".into(), ..Default::default() };
        assert_eq!(audit_log(&none, ""), None);
    }
}
