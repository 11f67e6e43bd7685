//! The tier ladder, growth rules, activities and benefits of the programme file.

use crate::program::ConfigIssue;
use serde::{Deserialize, Serialize};

/// A decimal multiplier written in the file (`1.2`) and kept as an exact integer in
/// thousandths (`1200`), so that points stay integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Multiplier(pub i64);

impl TryFrom<f64> for Multiplier {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        let milli = (v * 1000.0).round();
        if !(0.0..=100_000.0).contains(&milli) || ((v * 1000.0) - milli).abs() > 1e-6 {
            return Err(format!("multiplier {v} must be between 0 and 100 with at most 3 decimals"));
        }
        Ok(Self(milli as i64))
    }
}
impl From<Multiplier> for f64 {
    fn from(m: Multiplier) -> f64 {
        m.0 as f64 / 1000.0
    }
}
impl Multiplier {
    pub const ONE: Multiplier = Multiplier(1000);
    /// ⌊points × multiplier⌋, exact; `None` when it does not fit in `i64` (a programme's
    /// highest rate and multipliers on the largest order can exceed it).
    pub fn checked_apply(self, points: i64) -> Option<i64> {
        i64::try_from(i128::from(points) * i128::from(self.0) / 1000).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Rolling12Months,
    CalendarYear,
    Lifetime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Downgrade {
    OneDown,
    ToQualified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CombineRule {
    /// The largest multiplier applies.
    Max,
    /// Multipliers multiply.
    Product,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    Day,
    Week,
    Month,
}

/// Growth from orders: ⌊paid units × spend_percent ÷ 100⌋ + per_order, at most max_per_order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrowthRule {
    pub spend_percent: i64,
    pub per_order: i64,
    pub max_per_order: i64,
}

impl Default for GrowthRule {
    fn default() -> Self {
        Self { spend_percent: 60, per_order: 40, max_per_order: 3_000 }
    }
}

/// A member activity that earns growth and optionally points, with a cap per period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    pub growth: i64,
    #[serde(default)]
    pub points: i64,
    /// Most awarded activities of this type per period.
    pub cap: i64,
    pub cap_period: CapPeriod,
}

/// A discount on a category or brand, optionally only on some weekdays or dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialDiscount {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    /// Price as a percent of list (85 = 15% off).
    pub percent: i64,
    /// ISO weekdays 1 (Monday) to 7 (Sunday); empty = every day.
    #[serde(default)]
    pub weekdays: Vec<i8>,
    /// `MM-DD` dates; empty = every date.
    #[serde(default)]
    pub dates: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub code: String,
    pub name: String,
    /// Growth in the window that reaches this tier.
    pub entry: i64,
    /// Growth in the window that keeps it at the end of a term (default: entry).
    #[serde(default)]
    pub retention: Option<i64>,
    /// Reached only by assignment, never by growth.
    #[serde(default)]
    pub invitation_only: bool,
    /// Member price as a percent of list (95 = 5% off).
    #[serde(default = "hundred")]
    pub discount_percent: i64,
    #[serde(default = "one")]
    pub points_multiplier: Multiplier,
    #[serde(default)]
    pub special_discounts: Vec<SpecialDiscount>,
    /// Free shipping always (`0`) or from this goods amount up; absent = none.
    #[serde(default)]
    pub free_shipping_over_minor: Option<i64>,
    #[serde(default)]
    pub free_returns: bool,
    #[serde(default)]
    pub priority_service: bool,
    #[serde(default)]
    pub free_samples_per_month: i64,
}

fn hundred() -> i64 {
    100
}
fn one() -> Multiplier {
    Multiplier::ONE
}

impl Level {
    pub fn retention(&self) -> i64 {
        self.retention.unwrap_or(self.entry)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemberDay {
    /// Day of the month, in the programme's time zone; 0 = no member day.
    pub day_of_month: i8,
    /// Extra price percent on member day (95 = a further 5% off); 100 = none.
    pub extra_percent: i64,
    pub points_multiplier: Multiplier,
    /// Tiers that get it; empty = all.
    pub tiers: Vec<String>,
}

impl Default for MemberDay {
    fn default() -> Self {
        Self { day_of_month: 18, extra_percent: 100, points_multiplier: Multiplier(2000), tiers: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Birthday {
    pub points_multiplier: Multiplier,
}

impl Default for Birthday {
    fn default() -> Self {
        Self { points_multiplier: Multiplier(2000) }
    }
}

/// A SKU sold first (or only) to some tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyAccess {
    pub sku: String,
    pub min_tier: String,
    /// When everyone may buy it (RFC 3339); absent = member-exclusive for good.
    #[serde(default)]
    pub open_to_all_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tiers {
    pub window: Window,
    pub term_months: i64,
    pub warning_days: i64,
    pub grace_days: i64,
    pub downgrade: Downgrade,
    pub multipliers: CombineRule,
    pub levels: Vec<Level>,
}

fn level(code: &str, name: &str, entry: i64, discount: i64, mult: i64) -> Level {
    Level {
        code: code.into(),
        name: name.into(),
        entry,
        retention: None,
        invitation_only: false,
        discount_percent: discount,
        points_multiplier: Multiplier(mult),
        special_discounts: Vec::new(),
        free_shipping_over_minor: None,
        free_returns: false,
        priority_service: false,
        free_samples_per_month: 0,
    }
}

impl Default for Tiers {
    fn default() -> Self {
        let base = level("base", "普通会员", 0, 95, 1000);
        let silver = Level { free_shipping_over_minor: Some(9_900), ..level("silver", "银卡", 1_000, 90, 1200) };
        let gold = Level {
            free_shipping_over_minor: Some(0),
            free_returns: true,
            free_samples_per_month: 1,
            ..level("gold", "金卡", 5_000, 85, 1500)
        };
        let diamond = Level {
            free_shipping_over_minor: Some(0),
            free_returns: true,
            priority_service: true,
            free_samples_per_month: 3,
            ..level("diamond", "钻石", 15_000, 80, 2000)
        };
        Self {
            window: Window::Rolling12Months,
            term_months: 12,
            warning_days: 30,
            grace_days: 15,
            downgrade: Downgrade::OneDown,
            multipliers: CombineRule::Max,
            levels: vec![base, silver, gold, diamond],
        }
    }
}

pub fn default_activities() -> Vec<Activity> {
    let a =
        |kind: &str, growth, points, cap, cap_period| Activity { kind: kind.into(), growth, points, cap, cap_period };
    vec![
        a("review", 20, 10, 5, CapPeriod::Day),
        a("share", 5, 0, 3, CapPeriod::Day),
        a("community_post", 10, 5, 10, CapPeriod::Week),
    ]
}

/// Checks the tiers section; pushes every problem with the field it is in.
pub fn validate(
    t: &Tiers,
    activities: &[Activity],
    member_day: &MemberDay,
    early: &[EarlyAccess],
    issues: &mut Vec<ConfigIssue>,
) {
    let mut bad = |field: String, reason: String| issues.push(ConfigIssue { field, reason });
    if t.levels.is_empty() || t.levels.len() > 20 {
        bad("tiers.levels".into(), "must hold 1 to 20 tiers".into());
    }
    for (name, v, max) in
        [("term_months", t.term_months, 120), ("warning_days", t.warning_days, 365), ("grace_days", t.grace_days, 365)]
    {
        if !(0..=max).contains(&v) || (name == "term_months" && v == 0) {
            bad(format!("tiers.{name}"), format!("must be between {} and {max}", i64::from(name == "term_months")));
        }
    }
    let mut prev_entry: Option<i64> = None;
    for (i, l) in t.levels.iter().enumerate() {
        let f = |n: &str| format!("tiers.levels[{i}].{n}");
        if crate::ids::MemberId::parse(&l.code).is_err() || l.code.len() > 32 {
            bad(f("code"), format!("{:?} must be 1 to 32 of [A-Za-z0-9._:-]", l.code));
        }
        if t.levels[..i].iter().any(|o| o.code == l.code) {
            bad(f("code"), format!("{:?} is used by an earlier tier", l.code));
        }
        if !(0..=1_000_000_000).contains(&l.entry) {
            bad(f("entry"), "must be between 0 and 1000000000".into());
        }
        if !l.invitation_only {
            if prev_entry.is_none() && l.entry != 0 {
                bad(f("entry"), "the first tier reached by growth must start at 0".into());
            }
            if let Some(p) = prev_entry.filter(|p| l.entry <= *p) {
                bad(f("entry"), format!("{} overlaps the tier below (entry {p}); thresholds must increase", l.entry));
            }
            prev_entry = Some(l.entry);
        }
        if let Some(r) = l.retention {
            if r > l.entry || r < 0 {
                bad(f("retention"), format!("{r} must be between 0 and the entry threshold {}", l.entry));
            }
        }
        if !(1..=100).contains(&l.discount_percent) {
            bad(f("discount_percent"), "must be between 1 and 100".into());
        }
        for (j, d) in l.special_discounts.iter().enumerate() {
            let g = |n: &str| format!("tiers.levels[{i}].special_discounts[{j}].{n}");
            if !(1..=100).contains(&d.percent) {
                bad(g("percent"), "must be between 1 and 100".into());
            }
            if d.category.is_none() && d.brand.is_none() {
                bad(g("category"), "name a category or a brand".into());
            }
            if d.weekdays.iter().any(|w| !(1..=7).contains(w)) {
                bad(g("weekdays"), "weekdays are 1 (Monday) to 7 (Sunday)".into());
            }
            if d.dates.iter().any(|s| parse_month_day(s).is_none()) {
                bad(g("dates"), "dates are MM-DD".into());
            }
        }
        if !(0..=1000).contains(&l.free_samples_per_month) {
            bad(f("free_samples_per_month"), "must be between 0 and 1000".into());
        }
    }
    if prev_entry.is_none() && !t.levels.is_empty() {
        bad("tiers.levels".into(), "at least one tier must be reachable by growth".into());
    }
    let known = |code: &str| t.levels.iter().any(|l| l.code == code);
    for (i, code) in member_day.tiers.iter().enumerate() {
        if !known(code) {
            bad(format!("member_day.tiers[{i}]"), format!("{code:?} is not a tier code"));
        }
    }
    if !(0..=31).contains(&member_day.day_of_month) {
        bad("member_day.day_of_month".into(), "must be between 0 (none) and 31".into());
    }
    if !(1..=100).contains(&member_day.extra_percent) {
        bad("member_day.extra_percent".into(), "must be between 1 and 100".into());
    }
    for (i, e) in early.iter().enumerate() {
        if !known(&e.min_tier) {
            bad(format!("early_access[{i}].min_tier"), format!("{:?} is not a tier code", e.min_tier));
        }
        if let Some(at) = &e.open_to_all_at {
            if at.parse::<jiff::Timestamp>().is_err() {
                bad(format!("early_access[{i}].open_to_all_at"), format!("{at:?} is not an RFC 3339 timestamp"));
            }
        }
    }
    for (i, a) in activities.iter().enumerate() {
        if crate::ids::MemberId::parse(&a.kind).is_err() || activities[..i].iter().any(|o| o.kind == a.kind) {
            bad(format!("activities[{i}].type"), format!("{:?} must be a unique name of [A-Za-z0-9._:-]", a.kind));
        }
        if !(0..=1_000_000).contains(&a.growth) || !(0..=1_000_000).contains(&a.points) {
            bad(format!("activities[{i}].growth"), "growth and points must be between 0 and 1000000".into());
        }
        if !(1..=10_000).contains(&a.cap) {
            bad(format!("activities[{i}].cap"), "must be between 1 and 10000".into());
        }
    }
}

/// `MM-DD` → (month, day).
pub fn parse_month_day(s: &str) -> Option<(i8, i8)> {
    let (m, d) = s.split_once('-')?;
    let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
    jiff::civil::Date::new(2024, m, d).ok().map(|_| (m, d))
}
