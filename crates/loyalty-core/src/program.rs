//! The programme file: what a store configures, validated on load with errors naming the field.

use crate::amount::{Money, Points};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::config_file::named_enum;
use crate::config_file::out_of_range;
pub use crate::config_file::{ConfigError, ConfigIssue};

named_enum! {
    /// What happens when a refund claws back points the member already spent.
    pub enum RefundPolicy {
        /// The balance may go negative; the next earnings settle the debt first.
        Debt = "debt",
        /// Stop at zero and record what was forgiven.
        Clamp = "clamp",
    }
}

named_enum! {
    pub enum Period {
        Month = "month",
        Quarter = "quarter",
        Year = "year",
    }
}

mod expiry;
pub use expiry::{MAX_PERIODS, MAX_ROLLING_DAYS};

/// When points of a lot stop being usable. Written as `policy = "…"` with that policy's keys;
/// deserialized by hand (module `expiry`) so each error names its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum ExpiryPolicy {
    Never,
    /// `days` days after activation.
    Rolling {
        days: u32,
    },
    /// The end of the calendar period `periods` periods after the activation's period.
    EndOfPeriod {
        period: Period,
        periods: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Earning {
    /// Points per one currency unit paid (¥1), shipping excluded, rounded down.
    pub points_per_unit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Redemption {
    /// Points worth one currency unit (100 points = ¥1).
    pub points_per_unit: i64,
    /// Largest share of an order payable with points, in percent.
    pub max_share_percent: i64,
    /// Fewest points one redemption may use.
    pub min_points: i64,
}

/// The programme as written in TOML. Every field has the documented default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProgramFile {
    pub timezone: String,
    pub currency: String,
    pub pending_days: i64,
    pub refund_policy: RefundPolicy,
    pub earning: Earning,
    pub expiry: ExpiryPolicy,
    pub redemption: Redemption,
    pub growth: crate::tiers::GrowthRule,
    pub activities: Vec<crate::tiers::Activity>,
    pub tiers: crate::tiers::Tiers,
    pub member_day: crate::tiers::MemberDay,
    pub birthday: crate::tiers::Birthday,
    pub early_access: Vec<crate::tiers::EarlyAccess>,
    /// Member insight (RFM window and method, segment scheme, lifecycle thresholds, CLV). The
    /// pure core does not interpret it: the insight module of the `loyalty` crate parses and
    /// validates this table when the programme is loaded (docs/METRICS.md, "Configuration").
    pub insight: toml::Table,
    /// Coupon templates, mall rewards and lotteries the engine creates at start when they do
    /// not exist yet, with the terms the API takes (`crate::definitions`).
    pub coupon_templates: Vec<crate::coupons::TemplateInput>,
    pub rewards: Vec<crate::rewards::RewardInput>,
    pub lotteries: Vec<crate::rewards::LotteryInput>,
    /// Paid plans (`crate::membership`) and the settings they share.
    pub plans: Vec<crate::membership::Plan>,
    pub memberships: crate::membership::MembershipSettings,
    /// The daily check-in (`crate::engagement`).
    pub checkin: crate::engagement::CheckinSettings,
    /// Tasks (`crate::engagement::task`) the engine creates at start when they do not exist yet.
    pub tasks: Vec<crate::engagement::TaskInput>,
    /// Referral (`crate::engagement::referral`).
    pub referral: crate::engagement::referral::ReferralSettings,
    /// The event log (`crate::events`): the window of the daily `points.expiring` notice.
    pub events: crate::events::EventSettings,
}

impl Default for Earning {
    fn default() -> Self {
        Self { points_per_unit: 1 }
    }
}
impl Default for Redemption {
    fn default() -> Self {
        Self { points_per_unit: 100, max_share_percent: 50, min_points: 100 }
    }
}
impl Default for ProgramFile {
    fn default() -> Self {
        Self {
            timezone: "Asia/Shanghai".into(),
            currency: "CNY".into(),
            pending_days: 7,
            refund_policy: RefundPolicy::Debt,
            earning: Earning::default(),
            expiry: ExpiryPolicy::EndOfPeriod { period: Period::Month, periods: 24 },
            redemption: Redemption::default(),
            growth: Default::default(),
            activities: crate::tiers::default_activities(),
            tiers: Default::default(),
            member_day: Default::default(),
            birthday: Default::default(),
            early_access: Vec::new(),
            insight: toml::Table::new(),
            coupon_templates: Vec::new(),
            rewards: Vec::new(),
            lotteries: Vec::new(),
            plans: vec![crate::membership::plan::default_plan()],
            memberships: Default::default(),
            checkin: Default::default(),
            tasks: Vec::new(),
            referral: Default::default(),
            events: Default::default(),
        }
    }
}

/// A validated programme. Only [`Program::from_file`] makes one.
#[derive(Debug, Clone)]
pub struct Program {
    pub file: ProgramFile,
    pub tz: TimeZone,
    /// Minor units per currency unit (100 for CNY, 1 for JPY).
    pub minor_per_unit: i64,
}

/// ISO 4217 codes we accept, with their minor-unit exponent.
const CURRENCIES: &[(&str, u32)] = &[
    ("CNY", 2),
    ("HKD", 2),
    ("TWD", 2),
    ("MOP", 2),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("SGD", 2),
    ("MYR", 2),
    ("THB", 2),
    ("AUD", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("IDR", 2),
    ("INR", 2),
    ("VND", 0),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
];

/// Upper bounds that keep every multiplication inside i64/i128 and every loop bounded.
pub const MAX_PENDING_DAYS: i64 = 3650;
pub const MAX_RATE: i64 = 100_000;

impl Program {
    pub fn default_program() -> Self {
        Self::from_file(ProgramFile::default()).expect("the built-in default programme is valid")
    }

    /// Parses and validates a programme file; every error names its full key.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_file(crate::config_file::from_toml(text)?)
    }

    /// Validates a programme, collecting every problem with its full key.
    pub fn from_file(file: ProgramFile) -> Result<Self, ConfigError> {
        let mut issues = Vec::new();
        let mut bad = |field: &str, reason: String| issues.push(ConfigIssue { field: field.into(), reason });
        let tz = TimeZone::get(&file.timezone).ok();
        if tz.is_none() {
            bad("timezone", format!("{:?} is not an IANA time zone name (such as Asia/Shanghai)", file.timezone));
        }
        let exp = CURRENCIES.iter().find(|(c, _)| *c == file.currency).map(|(_, e)| *e);
        if exp.is_none() {
            let codes: Vec<&str> = CURRENCIES.iter().map(|(c, _)| *c).collect();
            bad("currency", format!("unknown value {:?}; expected one of {}", file.currency, codes.join(", ")));
        }
        let (r, g) = (&file.redemption, &file.growth);
        let mut ranges = vec![
            ("pending_days", file.pending_days, 0, MAX_PENDING_DAYS),
            ("earning.points_per_unit", file.earning.points_per_unit, 0, MAX_RATE),
            ("redemption.points_per_unit", r.points_per_unit, 1, MAX_RATE),
            ("redemption.max_share_percent", r.max_share_percent, 0, 100),
            ("redemption.min_points", r.min_points, 1, 1_000_000_000),
            ("growth.spend_percent", g.spend_percent, 0, 10_000),
            ("growth.per_order", g.per_order, 0, 1_000_000),
            ("growth.max_per_order", g.max_per_order, 0, 1_000_000_000),
        ];
        match file.expiry {
            ExpiryPolicy::Rolling { days } => ranges.push(("expiry.days", days.into(), 1, MAX_ROLLING_DAYS)),
            ExpiryPolicy::EndOfPeriod { periods, .. } => {
                ranges.push(("expiry.periods", periods.into(), 0, MAX_PERIODS))
            }
            ExpiryPolicy::Never => {}
        }
        for (key, v, lo, hi) in ranges {
            if let Some(reason) = out_of_range(v, lo, hi) {
                bad(key, reason);
            }
        }
        crate::tiers::checks::validate(
            &file.tiers,
            &file.activities,
            &file.member_day,
            &file.early_access,
            &mut issues,
        );
        crate::membership::plan::validate(&file.plans, &file.memberships, &file.tiers.levels, &mut issues);
        crate::engagement::checkin::validate(&file.checkin, &mut issues);
        crate::engagement::gifts::validate(&file.birthday, &file.member_day, &mut issues);
        crate::engagement::referral::validate(&file.referral, &mut issues);
        crate::events::validate_settings(&file.events, &mut issues);
        let (Some(tz), Some(exp)) = (tz, exp) else { return Err(ConfigError(issues)) };
        let program = Self { file, tz, minor_per_unit: 10_i64.pow(exp) };
        // Definitions are checked against the rest of the programme (the tiers they name).
        crate::definitions::check_program(&program, &mut issues);
        if issues.is_empty() {
            Ok(program)
        } else {
            Err(ConfigError(issues))
        }
    }

    // The three functions below are the only bridges between money and points: `Points` and
    // `Money` have no operator between them, so every conversion goes through a rate here.

    /// Points earned for `eligible` paid: floor(amount × rate), exact in integers.
    #[inline]
    pub fn points_for(&self, eligible: Money) -> Points {
        assert!(!eligible.is_negative(), "eligible amount is never negative");
        let p = i128::from(eligible.get()) * i128::from(self.file.earning.points_per_unit)
            / i128::from(self.minor_per_unit);
        Points::new(i64::try_from(p).expect("bounded amounts keep points inside i64"))
    }

    /// Money value of `points`, rounded down to the minor unit.
    #[inline]
    pub fn points_value_minor(&self, points: Points) -> Money {
        let v = i128::from(points.get()) * i128::from(self.minor_per_unit)
            / i128::from(self.file.redemption.points_per_unit);
        Money::new(i64::try_from(v).expect("bounded points keep values inside i64"))
    }

    /// The most points redeemable on an order of `order_amount` under the share cap.
    #[inline]
    pub fn max_redeemable(&self, order_amount: Money) -> Points {
        let r = &self.file.redemption;
        let cap_minor = i128::from(order_amount.get()) * i128::from(r.max_share_percent) / 100;
        let pts = cap_minor * i128::from(r.points_per_unit) / i128::from(self.minor_per_unit);
        Points::new(i64::try_from(pts).expect("bounded amounts keep points inside i64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_default_is_the_documented_programme() {
        let p = Program::default_program();
        assert_eq!(p.file.timezone, "Asia/Shanghai");
        assert_eq!(p.minor_per_unit, 100);
        assert_eq!(p.points_for(Money::new(12_399)), Points::new(123));
        assert_eq!(p.points_value_minor(Points::new(100)), Money::new(100));
        assert_eq!(p.max_redeemable(Money::new(47_000)), Points::new(23_500));
    }

    #[test]
    fn an_empty_file_means_the_defaults() {
        let p = Program::from_toml("").unwrap();
        assert_eq!(p.file, ProgramFile::default());
    }

    #[test]
    fn invalid_files_name_every_bad_field() {
        let err =
            Program::from_toml("timezone = \"Mars/Base\"\ncurrency = \"XXX\"\n[redemption]\nmax_share_percent = 150\n")
                .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["timezone", "currency", "redemption.max_share_percent"]);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Program::from_toml("pending_dayz = 3\n").unwrap_err();
        assert_eq!(err.0[0].field, "pending_dayz");
    }

    #[test]
    fn expiry_policies_parse() {
        let p = Program::from_toml("[expiry]\npolicy = \"rolling\"\ndays = 365\n").unwrap();
        assert_eq!(p.file.expiry, ExpiryPolicy::Rolling { days: 365 });
        let p = Program::from_toml("[expiry]\npolicy = \"never\"\n").unwrap();
        assert_eq!(p.file.expiry, ExpiryPolicy::Never);
    }
}
