//! The tier ladder, growth rules, activities and benefits of the programme file.

use crate::config_file::{each_in_range, in_range, named_enum};
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
            return Err(format!("{v} is out of range; expected a number between 0 and 100 with at most 3 decimals"));
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

named_enum! {
    /// The growth a tier is judged on.
    pub enum Window {
        /// The last twelve months. `rolling12_months` is read too: it is the spelling files
        /// written from earlier `check-config` output carry.
        Rolling12Months = "rolling_12_months" | "rolling12_months",
        CalendarYear = "calendar_year",
        Lifetime = "lifetime",
    }
}

named_enum! {
    pub enum Downgrade {
        OneDown = "one_down",
        ToQualified = "to_qualified",
    }
}

named_enum! {
    pub enum CombineRule {
        /// The largest multiplier applies.
        Max = "max",
        /// Multipliers multiply.
        Product = "product",
    }
}

named_enum! {
    pub enum CapPeriod {
        Day = "day",
        Week = "week",
        Month = "month",
    }
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
    #[serde(default, deserialize_with = "each_in_range::<_, _, 1, 7>")]
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
    #[serde(deserialize_with = "in_range::<_, _, 0, 31>")]
    pub day_of_month: i8,
    /// Extra price percent on member day (95 = a further 5% off); 100 = none.
    pub extra_percent: i64,
    pub points_multiplier: Multiplier,
    /// Tiers that get it; empty = all. The pack goes to the same tiers.
    pub tiers: Vec<String>,
    /// Coupons given to each member of those tiers once a month, from the member day to the
    /// month's end (`crate::engagement::gifts`); empty = none.
    pub pack: Vec<crate::engagement::gifts::PackItem>,
}

impl Default for MemberDay {
    fn default() -> Self {
        Self {
            day_of_month: 18,
            extra_percent: 100,
            points_multiplier: Multiplier(2000),
            tiers: Vec::new(),
            pack: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Birthday {
    pub points_multiplier: Multiplier,
    /// A coupon template given once per birthday year (channel `engagement`); none = no gift.
    pub gift: Option<String>,
    /// From `days_before` days before the 1st of the birthday month, or on the birthday.
    pub gift_when: crate::engagement::gifts::GiftWhen,
    pub days_before: i64,
}

impl Default for Birthday {
    fn default() -> Self {
        Self { points_multiplier: Multiplier(2000), gift: None, gift_when: Default::default(), days_before: 0 }
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

/// `MM-DD` → (month, day).
pub fn parse_month_day(s: &str) -> Option<(i8, i8)> {
    let (m, d) = s.split_once('-')?;
    let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
    jiff::civil::Date::new(2024, m, d).ok().map(|_| (m, d))
}
