//! Loyalty KPIs per calendar period in the programme's time zone. Every figure is defined in
//! docs/METRICS.md; each comes from one aggregate statement over a table against the list of
//! period windows (see `loyalty_store::analytics`).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use loyalty_core::Program;
use loyalty_store::analytics::{BalanceTotals, EntryFlow, Window};
use loyalty_store::{Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Most periods one request may span.
pub const MAX_PERIODS: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Granularity {
    pub const ALL: [Granularity; 5] = [Self::Day, Self::Week, Self::Month, Self::Quarter, Self::Year];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }

    /// The first day of the period containing `d` (weeks start on Monday).
    pub fn start_of(self, d: Date) -> Date {
        let first = |month: i8| Date::new(d.year(), month, 1).expect("the first of a month exists");
        match self {
            Self::Day => d,
            Self::Week => d.checked_sub(i64::from(d.weekday().to_monday_zero_offset()).days()).unwrap_or(d),
            Self::Month => first(d.month()),
            Self::Quarter => first((d.month() - 1) / 3 * 3 + 1),
            Self::Year => first(1),
        }
    }

    /// The first day of the period `n` periods after the one starting at `start`.
    fn shift(self, start: Date, n: i64) -> Option<Date> {
        let span = match self {
            Self::Day => n.days(),
            Self::Week => n.weeks(),
            Self::Month => n.months(),
            Self::Quarter => (3 * n).months(),
            Self::Year => n.years(),
        };
        start.checked_add(span).ok()
    }

    fn label(self, d: Date) -> String {
        match self {
            Self::Day => d.to_string(),
            Self::Week => {
                let w = d.iso_week_date();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Self::Month => format!("{}-{:02}", d.year(), d.month()),
            Self::Quarter => format!("{}-Q{}", d.year(), (d.month() - 1) / 3 + 1),
            Self::Year => d.year().to_string(),
        }
    }
}

/// One calendar period `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Why a range was refused; `field` names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub field: &'static str,
    pub reason: String,
}

fn midnight(d: Date, tz: &TimeZone) -> Result<Timestamp, RangeError> {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| RangeError { field: "from", reason: format!("{d} has no midnight in the time zone: {e}") })
}

/// The periods covering `from..=to`, preceded by the one before `from` (for churn).
pub fn periods(from: Date, to: Date, g: Granularity, tz: &TimeZone) -> Result<Vec<Period>, RangeError> {
    if to < from {
        return Err(RangeError { field: "to", reason: format!("{to} is before from ({from})") });
    }
    let first = g.start_of(from);
    let out_of_range = || RangeError { field: "from", reason: "the range is outside the supported calendar".into() };
    let mut start = g.shift(first, -1).ok_or_else(out_of_range)?;
    let mut out = Vec::new();
    while start <= to {
        if out.len() > MAX_PERIODS {
            let reason = format!(
                "the range spans more than {MAX_PERIODS} {}s; ask for less or a coarser granularity",
                g.as_str()
            );
            return Err(RangeError { field: "to", reason });
        }
        let next = g.shift(start, 1).ok_or_else(out_of_range)?;
        out.push(Period { label: g.label(start), start: midnight(start, tz)?, end: midnight(next, tz)? });
        start = next;
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct PointsKpi {
    pub issued: i64,
    pub activated: i64,
    pub redeemed: i64,
    pub expired: i64,
    pub clawed_back: i64,
    pub adjusted_out: i64,
    /// At the end of the period: pending + active + held − debt over all members.
    pub outstanding: i64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct KpiPeriod {
    pub period: String,
    pub start: String,
    pub end: String,
    pub members_total: i64,
    pub new_members: i64,
    /// Members registered by the end of the period, by their current tier.
    pub members_by_tier: BTreeMap<String, i64>,
    pub active_30d: i64,
    pub active_90d: i64,
    pub buyers: i64,
    pub orders: i64,
    pub repeat_buyers: i64,
    pub repurchase_rate: Option<f64>,
    pub purchase_frequency: Option<f64>,
    pub paid_minor: i64,
    pub average_order_value_minor: Option<i64>,
    pub churned: i64,
    pub churn_rate: Option<f64>,
    pub points: PointsKpi,
    pub liability_minor: i64,
    pub breakage_rate: Option<f64>,
    pub refunds: i64,
    pub refunded_minor: i64,
    /// Paid membership (docs/METRICS.md, "Paid membership"): members with a paid term giving
    /// benefits in the period, members whose first paid term started in it, fees of the terms
    /// that started in it net of their refunds, and the value of the benefits plans gave in it.
    pub paid_members: i64,
    pub new_paid_members: i64,
    pub membership_fees_minor: i64,
    pub plan_benefit_cost_minor: i64,
}

/// Points outstanding by the ledger against the members' stored balances: they must be equal.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct LedgerCheck {
    pub ledger_outstanding: i64,
    pub balances_outstanding: i64,
    pub pending: i64,
    pub active: i64,
    pub held: i64,
    pub debt: i64,
    pub members: i64,
    pub consistent: bool,
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Window list for one statement: the periods (index 0 is the one before `from`).
fn windows(ps: &[Period]) -> Vec<Window> {
    ps.iter().map(|p| Window { start: p.start, end: p.end }).collect()
}

/// KPIs for `ps` (as from [`periods`]; the first one only feeds churn) as of `now`.
pub async fn compute(
    store: &dyn Store,
    program: &Program,
    ps: &[Period],
    now: Timestamp,
) -> Result<(Vec<KpiPeriod>, LedgerCheck), StoreError> {
    let k = ps.len();
    let base = windows(ps);
    // Orders: the periods, then the 30- and 90-day windows ending at each period's end (or now).
    let mut order_ws = base.clone();
    for days in [30, 90] {
        for p in ps {
            let end = p.end.min(now);
            order_ws.push(Window { start: end - SignedDuration::from_hours(24 * days), end });
        }
    }
    let mut orders = vec![Default::default(); 3 * k];
    for w in store.order_windows(&order_ws).await? {
        let i = w.k;
        orders[i] = w;
    }
    let mut churned = vec![0; k];
    for (i, n) in store.lapsed_buyers(&base).await? {
        churned[i] = n;
    }
    // Entries and registrations: everything before the first period, the periods, everything after.
    let mut open = vec![Window { start: Timestamp::MIN, end: ps[0].start }];
    open.extend(base.iter().copied());
    open.push(Window { start: ps[k - 1].end, end: Timestamp::MAX });
    let flows = store.entry_flows(&open).await?;
    let registrations = store.registrations(&open).await?;
    let refunds = store.refund_windows(&base).await?;
    let tz = &program.tz;
    let mut out: Vec<KpiPeriod> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let o = &orders[i];
            let prev_buyers = if i == 0 { 0 } else { orders[i - 1].buyers };
            KpiPeriod {
                period: p.label.clone(),
                start: loyalty_core::calendar::rfc3339(p.start, tz),
                end: loyalty_core::calendar::rfc3339(p.end, tz),
                active_30d: orders[k + i].buyers,
                active_90d: orders[2 * k + i].buyers,
                buyers: o.buyers,
                orders: o.orders,
                repeat_buyers: o.repeat_buyers,
                repurchase_rate: ratio(o.repeat_buyers, o.buyers),
                purchase_frequency: ratio(o.orders, o.buyers),
                paid_minor: o.paid_minor,
                average_order_value_minor: (o.orders > 0).then(|| o.paid_minor / o.orders),
                churned: churned[i],
                churn_rate: ratio(churned[i], prev_buyers),
                ..Default::default()
            }
        })
        .collect();
    for r in refunds {
        out[r.k].refunds = r.refunds;
        out[r.k].refunded_minor = r.amount_minor;
    }
    for m in store.membership_windows(&base).await? {
        let o = &mut out[m.k];
        (o.paid_members, o.new_paid_members) = (m.paid_members, m.new_paid_members);
        (o.membership_fees_minor, o.plan_benefit_cost_minor) = (m.fees_minor, m.plan_benefit_cost_minor);
    }
    let ledger = add_points(&mut out, &flows, program);
    add_members(&mut out, &registrations);
    let totals = store.balance_totals().await?;
    out.remove(0);
    Ok((out, ledger_check(ledger, totals)))
}

/// Fills points flows, outstanding, liability and breakage; returns the ledger's outstanding now.
fn add_points(out: &mut [KpiPeriod], flows: &[EntryFlow], program: &Program) -> i64 {
    let mut per: Vec<PointsKpi> = vec![PointsKpi::default(); out.len() + 2];
    for f in flows {
        let p = &mut per[f.k];
        match f.kind.as_str() {
            "earn" => p.issued += f.credited,
            "activate" => p.activated += f.credited,
            // Points redeemed at checkout (a captured hold), in the mall and in the lottery; a
            // cancelled redemption's points come back (restore) and are no longer redeemed.
            "capture" | "spend" => p.redeemed += f.debited,
            "restore" => p.redeemed -= f.credited,
            "expire" => p.expired += f.debited,
            "clawback" => p.clawed_back += f.debited,
            "adjust" => {
                // A positive adjustment is a grant that is usable at once.
                p.issued += f.credited;
                p.activated += f.credited;
                p.adjusted_out += f.debited;
            }
            _ => {}
        }
    }
    let (mut outstanding, mut activated, mut expired) = (0_i64, 0_i64, 0_i64);
    for (i, p) in per.iter_mut().enumerate() {
        outstanding += p.issued - p.redeemed - p.expired - p.clawed_back - p.adjusted_out;
        activated += p.activated;
        expired += p.expired;
        p.outstanding = outstanding;
        if let Some(o) = i.checked_sub(1).and_then(|j| out.get_mut(j)) {
            o.points = p.clone();
            o.liability_minor = program.points_value_minor(loyalty_core::Points::new(outstanding.max(0))).get();
            o.breakage_rate = ratio(expired, activated);
        }
    }
    outstanding
}

fn add_members(out: &mut [KpiPeriod], registrations: &[loyalty_store::analytics::Registrations]) {
    let mut by_tier: BTreeMap<String, i64> = BTreeMap::new();
    for k in 0..=out.len() {
        let mut new = 0;
        for r in registrations.iter().filter(|r| r.k == k) {
            *by_tier.entry(r.tier.clone()).or_default() += r.members;
            new += r.members;
        }
        if let Some(o) = k.checked_sub(1).and_then(|j| out.get_mut(j)) {
            o.new_members = new;
            o.members_by_tier = by_tier.clone();
            o.members_total = by_tier.values().sum();
        }
    }
}

fn ledger_check(ledger_outstanding: i64, t: BalanceTotals) -> LedgerCheck {
    let balances_outstanding = t.pending + t.active + t.held - t.debt;
    LedgerCheck {
        ledger_outstanding,
        balances_outstanding,
        pending: t.pending,
        active: t.active,
        held: t.held,
        debt: t.debt,
        members: t.members,
        consistent: ledger_outstanding == balances_outstanding,
    }
}

/// The default first day: the start of the period eleven periods before the one holding `to`.
pub fn default_from(to: Date, g: Granularity) -> Date {
    g.shift(g.start_of(to), -11).unwrap_or(to)
}
