//! Paid plans (付费会员) as the programme file declares them, and their validation.

use crate::config_file::{named_enum, out_of_range, ConfigIssue};
use crate::order::MAX_AMOUNT_MINOR;
use crate::tiers::Multiplier;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

named_enum! {
    /// How long one paid term lasts, in calendar months of the programme's zone.
    pub enum PlanTerm {
        Month = "month",
        Quarter = "quarter",
        Year = "year",
    }
}

impl PlanTerm {
    pub fn months(self) -> i64 {
        match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::Year => 12,
        }
    }
}

named_enum! {
    /// What a refund of a running term gives back.
    pub enum PlanRefund {
        /// Nothing: the fee buys the term.
        None = "none",
        /// The unused whole days' share of the fee.
        ProRata = "pro_rata",
        /// The unused days' share less what the member already saved this term, never below 0.
        ProRataMinusSavings = "pro_rata_minus_savings",
    }
}

/// A trial: once per member, `days` long, at `price_minor` (0 = free).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Trial {
    pub days: i64,
    #[serde(default)]
    pub price_minor: i64,
}

/// The plan's price for a category, as a percent of list (90 = 10% off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CategoryDiscount {
    pub category: String,
    pub percent: i64,
}

/// A member-only unit price for one SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberPrice {
    pub sku: String,
    pub price_minor: i64,
}

/// Coupons of one template issued at the start of every month of a paid term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PackItem {
    pub template: String,
    pub count: i64,
}

/// What a plan gives on top of the member's tier. How they stack with the tier's (the
/// better discount per line, the larger multiplier, free shipping if either gives it) is
/// `membership::perks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct PlanBenefits {
    /// Price as a percent of list on every line (95 = 5% off); 100 = none.
    pub discount_percent: i64,
    pub category_discounts: Vec<CategoryDiscount>,
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub points_multiplier: Multiplier,
    /// Shipping waived on every order, whatever its amount.
    pub free_shipping: bool,
    pub free_returns: bool,
    pub priority_service: bool,
    pub member_prices: Vec<MemberPrice>,
    pub coupon_pack: Vec<PackItem>,
}

impl Default for PlanBenefits {
    fn default() -> Self {
        Self {
            discount_percent: 100,
            category_discounts: Vec::new(),
            points_multiplier: Multiplier::ONE,
            free_shipping: false,
            free_returns: false,
            priority_service: false,
            member_prices: Vec::new(),
            coupon_pack: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// A paid plan: a fee buys a term of benefits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub price_minor: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "year"))]
    pub term: PlanTerm,
    #[serde(default)]
    pub trial: Option<Trial>,
    /// Whether a new membership renews by default (the member may cancel or resume).
    #[serde(default = "yes")]
    pub renews: bool,
    #[serde(default = "default_refund")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "pro_rata"))]
    pub refund: PlanRefund,
    #[serde(default)]
    pub benefits: PlanBenefits,
    /// Only members of this tier or above may buy it.
    #[serde(default)]
    pub min_tier: Option<String>,
    /// Only members operations invited may buy it.
    #[serde(default)]
    pub invitation_only: bool,
}

fn default_refund() -> PlanRefund {
    PlanRefund::ProRata
}

/// Settings shared by every plan (`[memberships]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MembershipSettings {
    /// `membership.renewal_due` is recorded this many days before a renewing term ends.
    pub renewal_notice_days: i64,
    /// Days after a renewing term's end during which a late renewal continues it and the
    /// benefits continue; then the membership lapses.
    pub grace_days: i64,
    /// Gross margin of incremental spend, in percent, for the ROI report.
    pub margin_percent: i64,
    /// Months before joining and after it that the report's difference-in-differences compares.
    pub compare_months: i64,
}

impl Default for MembershipSettings {
    fn default() -> Self {
        Self { renewal_notice_days: 3, grace_days: 3, margin_percent: 30, compare_months: 3 }
    }
}

/// The built-in plan: PLUS for a year at ¥198 with a free week's trial; 90% of list (better
/// than the base and silver tiers' price), points ×2, free shipping and returns. A store that
/// sells no plan writes `plans = []`.
pub fn default_plan() -> Plan {
    Plan {
        code: "plus".into(),
        name: "PLUS 会员".into(),
        price_minor: 19_800,
        term: PlanTerm::Year,
        trial: Some(Trial { days: 7, price_minor: 0 }),
        renews: true,
        refund: PlanRefund::ProRataMinusSavings,
        benefits: PlanBenefits {
            discount_percent: 90,
            points_multiplier: Multiplier(2000),
            free_shipping: true,
            free_returns: true,
            ..PlanBenefits::default()
        },
        min_tier: None,
        invitation_only: false,
    }
}

/// Most plans a programme may have.
pub const MAX_PLANS: usize = 50;
/// Most SKUs with a member price, categories and pack items a plan may list.
pub const MAX_PLAN_LIST: usize = 500;
/// Most coupons of one template in a monthly pack.
pub const MAX_PACK_COUNT: i64 = 20;

impl Plan {
    /// The end of a paid term that starts at `start`, in the programme's calendar.
    pub fn term_end(&self, tz: &jiff::tz::TimeZone, start: Timestamp) -> Timestamp {
        months_after(tz, start, self.term.months())
    }

    /// The end of a trial that starts at `start`.
    pub fn trial_end(&self, tz: &jiff::tz::TimeZone, start: Timestamp) -> Option<Timestamp> {
        let days = self.trial.as_ref()?.days;
        Some(start.to_zoned(tz.clone()).checked_add(days.days()).map(|z| z.timestamp()).unwrap_or(Timestamp::MAX))
    }
}

/// `start` plus `months` calendar months in `tz` (the 31st of January plus one month is the
/// last of February).
pub fn months_after(tz: &jiff::tz::TimeZone, start: Timestamp, months: i64) -> Timestamp {
    start.to_zoned(tz.clone()).checked_add(months.months()).map(|z| z.timestamp()).unwrap_or(Timestamp::MAX)
}

/// Checks the plans and settings, every problem by its key (`plans[0].price_minor`).
pub(crate) fn validate(
    plans: &[Plan],
    settings: &MembershipSettings,
    tiers: &[crate::tiers::Level],
    issues: &mut Vec<ConfigIssue>,
) {
    let mut bad = |field: String, reason: String| issues.push(ConfigIssue { field, reason });
    for (name, v, lo, hi) in [
        ("renewal_notice_days", settings.renewal_notice_days, 0, 90),
        ("grace_days", settings.grace_days, 0, 90),
        ("margin_percent", settings.margin_percent, 0, 100),
        ("compare_months", settings.compare_months, 1, 24),
    ] {
        if let Some(reason) = out_of_range(v, lo, hi) {
            bad(format!("memberships.{name}"), reason);
        }
    }
    if plans.len() > MAX_PLANS {
        bad("plans".into(), format!("holds {} plans; at most {MAX_PLANS}", plans.len()));
    }
    let text = |v: &str| match crate::text::check_text("", v, 1..=crate::order::MAX_TEXT) {
        Err(crate::DomainError::Unprocessable { reason, .. }) => Some(reason),
        _ => None,
    };
    for (i, p) in plans.iter().enumerate() {
        let f = |n: &str| format!("plans[{i}].{n}");
        if crate::ids::MemberId::parse(&p.code).is_err() || p.code.len() > 32 {
            bad(f("code"), format!("{:?} must be 1 to 32 of [A-Za-z0-9._:-]", p.code));
        }
        if let Some(first) = plans[..i].iter().position(|o| o.code == p.code) {
            bad(f("code"), format!("{:?} is also plans[{first}]", p.code));
        }
        if let Some(e) = text(&p.name) {
            bad(f("name"), e);
        }
        let b = &p.benefits;
        let mut ranges = vec![
            ("price_minor".to_owned(), p.price_minor, 0, MAX_AMOUNT_MINOR),
            ("benefits.discount_percent".to_owned(), b.discount_percent, 1, 100),
        ];
        if let Some(t) = &p.trial {
            ranges.push(("trial.days".into(), t.days, 1, 366));
            ranges.push(("trial.price_minor".into(), t.price_minor, 0, p.price_minor.max(0)));
        }
        for (j, c) in b.category_discounts.iter().enumerate() {
            ranges.push((format!("benefits.category_discounts[{j}].percent"), c.percent, 1, 100));
            if let Some(e) = text(&c.category) {
                bad(f(&format!("benefits.category_discounts[{j}].category")), e);
            }
        }
        for (j, m) in b.member_prices.iter().enumerate() {
            ranges.push((format!("benefits.member_prices[{j}].price_minor"), m.price_minor, 0, MAX_AMOUNT_MINOR));
            if let Some(e) = text(&m.sku) {
                bad(f(&format!("benefits.member_prices[{j}].sku")), e);
            }
            if b.member_prices[..j].iter().any(|o| o.sku == m.sku) {
                bad(f(&format!("benefits.member_prices[{j}].sku")), format!("{:?} is listed twice", m.sku));
            }
        }
        for (j, item) in b.coupon_pack.iter().enumerate() {
            ranges.push((format!("benefits.coupon_pack[{j}].count"), item.count, 1, MAX_PACK_COUNT));
            if crate::ids::TemplateId::parse(&item.template).is_err() {
                bad(
                    f(&format!("benefits.coupon_pack[{j}].template")),
                    format!("{:?} is not a template id", item.template),
                );
            }
        }
        for (name, list) in [
            ("category_discounts", b.category_discounts.len()),
            ("member_prices", b.member_prices.len()),
            ("coupon_pack", b.coupon_pack.len()),
        ] {
            if list > MAX_PLAN_LIST {
                bad(f(&format!("benefits.{name}")), format!("holds {list} entries; at most {MAX_PLAN_LIST}"));
            }
        }
        for (name, v, lo, hi) in ranges {
            if let Some(reason) = out_of_range(v, lo, hi) {
                bad(f(&name), reason);
            }
        }
        if let Some(t) = &p.min_tier {
            if !tiers.iter().any(|l| &l.code == t) {
                let codes: Vec<&str> = tiers.iter().map(|l| l.code.as_str()).collect();
                bad(f("min_tier"), format!("unknown tier {t:?}; expected one of {}", codes.join(", ")));
            }
        }
    }
}
