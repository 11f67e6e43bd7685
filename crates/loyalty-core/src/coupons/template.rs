//! Coupon templates: what a coupon is worth, on which goods, to whom, for how long, and how
//! many may exist. A template is parsed once from what operations send ([`TemplateInput`]);
//! once a [`Template`] exists its terms are valid, and they never change afterwards (only its
//! name, status and stock do), so a coupon issued under it keeps the terms it was issued with.

pub use super::audience::Audience;
use crate::ids::TemplateId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Most entries in one scope list (categories, brands or SKUs).
pub const MAX_SCOPE_ENTRIES: usize = 1_000;
/// Longest relative validity, in days.
pub const MAX_VALID_DAYS: i64 = 3_660;
/// Largest stock a template may have (`None` is unlimited).
pub const MAX_STOCK: i64 = 1_000_000_000;
/// Largest per-member limit.
pub const MAX_PER_MEMBER: i64 = 1_000_000;

/// What a coupon takes off, or gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Benefit {
    /// 满减: `value_minor` off once the eligible goods reach `threshold_minor` (0: no
    /// threshold); with `step`, `value_minor` off for every full `threshold_minor` (每满减),
    /// at most `max_off_minor` when given.
    AmountOff {
        value_minor: i64,
        #[serde(default)]
        threshold_minor: i64,
        #[serde(default)]
        step: bool,
        #[serde(default)]
        max_off_minor: Option<i64>,
    },
    /// 折扣: `percent_off` percent off the eligible goods (1–99), at most `max_off_minor`,
    /// once they reach `threshold_minor`.
    PercentOff {
        percent_off: i64,
        #[serde(default)]
        max_off_minor: Option<i64>,
        #[serde(default)]
        threshold_minor: i64,
    },
    /// Shipping waived once the eligible goods reach `threshold_minor`.
    FreeShipping {
        #[serde(default)]
        threshold_minor: i64,
    },
    /// The order's points from the eligible goods multiplied by `multiplier_percent` ÷ 100
    /// (101–1000): the extra is added to what the order earns.
    PointsMultiplier {
        multiplier_percent: i64,
        #[serde(default)]
        threshold_minor: i64,
    },
    /// A gift SKU at price 0 once the eligible goods reach `threshold_minor`; `value_minor`
    /// is what the gift is worth, for reports.
    Gift {
        sku: String,
        value_minor: i64,
        #[serde(default)]
        threshold_minor: i64,
    },
}

impl Benefit {
    /// The kind's name, as the API and the stacking rule ("one of each kind") use it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AmountOff { .. } => "amount_off",
            Self::PercentOff { .. } => "percent_off",
            Self::FreeShipping { .. } => "free_shipping",
            Self::PointsMultiplier { .. } => "points_multiplier",
            Self::Gift { .. } => "gift",
        }
    }

    /// Eligible goods the coupon needs before it applies (0: none).
    pub fn threshold_minor(&self) -> i64 {
        match self {
            Self::AmountOff { threshold_minor, .. }
            | Self::PercentOff { threshold_minor, .. }
            | Self::FreeShipping { threshold_minor }
            | Self::PointsMultiplier { threshold_minor, .. }
            | Self::Gift { threshold_minor, .. } => *threshold_minor,
        }
    }

    /// What the coupon takes off `eligible` minor units of goods (never more than them).
    pub fn discount_on(&self, eligible: i64) -> i64 {
        self.discount(eligible, eligible)
    }

    /// What the coupon takes off when its eligible goods are `eligible` at member price (which
    /// decides the threshold and the steps) and `left` of them remains after the coupons
    /// before it (which a percentage is taken of, and which caps any discount).
    pub fn discount(&self, eligible: i64, left: i64) -> i64 {
        if eligible < self.threshold_minor() {
            return 0;
        }
        let off = match self {
            Self::AmountOff { value_minor, threshold_minor, step, max_off_minor } => {
                let times = if *step && *threshold_minor > 0 { eligible / threshold_minor } else { 1 };
                let off = value_minor.saturating_mul(times);
                max_off_minor.map_or(off, |m| off.min(m))
            }
            Self::PercentOff { percent_off, max_off_minor, .. } => {
                let off = i64::try_from(i128::from(left) * i128::from(*percent_off) / 100).expect("bounded");
                max_off_minor.map_or(off, |m| off.min(m))
            }
            _ => 0,
        };
        off.clamp(0, left.min(eligible))
    }
}

/// Which goods a coupon counts: lines matching any `include` list (all lines when every list
/// is empty), less lines matching any `exclude` list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub include: Goods,
    #[serde(default)]
    pub exclude: Goods,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Goods {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::scope_list))]
    pub categories: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::scope_list))]
    pub brands: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::scope_list))]
    pub skus: Vec<String>,
}

impl Goods {
    fn is_empty(&self) -> bool {
        self.categories.is_empty() && self.brands.is_empty() && self.skus.is_empty()
    }
    fn matches(&self, sku: &str, category: Option<&str>, brand: Option<&str>) -> bool {
        self.skus.iter().any(|s| s == sku)
            || category.is_some_and(|c| self.categories.iter().any(|x| x == c))
            || brand.is_some_and(|b| self.brands.iter().any(|x| x == b))
    }
}

impl Scope {
    /// Whether a line of `sku` (in `category`, of `brand`) counts towards the coupon; when not,
    /// which list keeps it out.
    pub fn admits(&self, sku: &str, category: Option<&str>, brand: Option<&str>) -> Result<(), &'static str> {
        if !self.include.is_empty() && !self.include.matches(sku, category, brand) {
            return Err("not in the coupon's goods");
        }
        if self.exclude.matches(sku, category, brand) {
            return Err("excluded from the coupon");
        }
        Ok(())
    }
}

/// How long an issued coupon may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Validity {
    /// From `from` until `until` (RFC 3339), whenever it is issued; none is issued after `until`.
    Fixed { from: String, until: String },
    /// `days` days from issue; with `end_of_day`, to the end of that last day in the
    /// programme's time zone.
    Relative {
        days: i64,
        #[serde(default)]
        end_of_day: bool,
    },
}

/// How many coupons of the template one member may obtain: in all, and per local calendar day,
/// ISO week and month (programme time zone). `None`: no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_limit_opt))]
    pub lifetime: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_limit_opt))]
    pub per_day: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_limit_opt))]
    pub per_week: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_limit_opt))]
    pub per_month: Option<i64>,
}

impl Limits {
    /// Refuses `more` when it would take what the member obtained in a limited period past
    /// the limit: `obtained(since)` counts what the member obtained from `since` on (`None`:
    /// ever), and `hit(limit, period)` is the refusal.
    pub fn check(
        &self,
        program: &crate::Program,
        now: Timestamp,
        obtained: impl Fn(Option<Timestamp>) -> i64,
        more: i64,
        hit: impl Fn(i64, &'static str) -> crate::DomainError,
    ) -> Result<(), crate::DomainError> {
        let [(_, day), (_, week), (_, month)] = crate::calendar::period_starts(program, now);
        let periods = [
            (self.lifetime, "lifetime", None),
            (self.per_day, "day", Some(day)),
            (self.per_week, "week", Some(week)),
            (self.per_month, "month", Some(month)),
        ];
        for (limit, period, since) in periods {
            if let Some(limit) = limit {
                if obtained(since).saturating_add(more) > limit {
                    return Err(hit(limit, period));
                }
            }
        }
        Ok(())
    }
}

/// How a coupon of the template may be obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The member asks for it (领券中心).
    Claim,
    /// Operations or a campaign grant it.
    Issue,
    /// The member types a code: the template's public code, or one of its one-time codes.
    Code,
    /// Bought with points in the mall, or won in a points lottery.
    Points,
    /// A paid plan's monthly coupon pack.
    Membership,
    /// Engagement rewards: check-in milestones (later tasks, referrals, birthday gifts).
    Engagement,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Issue => "issue",
            Self::Code => "code",
            Self::Points => "points",
            Self::Membership => "membership",
            Self::Engagement => "engagement",
        }
    }
}

/// Whether new coupons of the template may be obtained. Issued coupons keep their terms
/// whatever the template's status becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Active,
    /// No coupon is issued until it is active again.
    Paused,
    /// For good: no coupon is issued again.
    Ended,
}

impl TemplateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Ended => "ended",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Paused, Self::Ended].into_iter().find(|x| x.as_str() == s)
    }
}

fn default_true() -> bool {
    true
}
fn default_channels() -> Vec<Channel> {
    vec![Channel::Claim, Channel::Issue]
}

/// A template as operations send it (`POST /v1/coupon-templates`). Parse with
/// [`TemplateInput::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_benefit))]
    pub benefit: Benefit,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub audience: Audience,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_validity))]
    pub validity: Validity,
    /// How many coupons may ever be issued; absent: unlimited.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_stock_opt))]
    pub stock: Option<i64>,
    #[serde(default)]
    pub limits: Limits,
    /// Default: claim and issue.
    #[serde(default = "default_channels")]
    pub channels: Vec<Channel>,
    /// A public code members type to obtain one (case does not matter); needs the `code` channel.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_code_opt))]
    pub code: Option<String>,
    /// Whether it may be used with other coupons that are stackable too (never two of a kind).
    #[serde(default)]
    pub stackable: bool,
    /// Whether points may still be redeemed on an order that uses it. Default true.
    #[serde(default = "default_true")]
    pub allow_points: bool,
    /// Whether a fully refunded order gives a still-valid coupon back. Default true.
    #[serde(default = "default_true")]
    pub restore_on_refund: bool,
}

/// A valid template: its terms ([`TemplateInput`] as validated), its status and stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: TemplateId,
    pub terms: TemplateInput,
    pub status: TemplateStatus,
    /// Coupons issued so far (never above `terms.stock`).
    pub issued: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Template {
    /// The fixed validity's bounds, when the template has one (validated instants).
    pub fn fixed_window(&self) -> Option<(Timestamp, Timestamp)> {
        match &self.terms.validity {
            Validity::Fixed { from, until } => Some((from.parse().ok()?, until.parse().ok()?)),
            Validity::Relative { .. } => None,
        }
    }
}
