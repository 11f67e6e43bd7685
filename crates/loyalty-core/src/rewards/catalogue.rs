//! The points mall's catalogue (积分商城): what a member may buy with points, at what price,
//! how many exist, how many one member may take, to whom it is shown and when. Parsed once
//! from what operations send ([`RewardInput`]); the terms of a [`Reward`] never change
//! afterwards (only its name, status and stock do), so a redemption keeps the price it paid.

use crate::coupons::patch::{double_option, rename_or_restate, restock};
use crate::coupons::template::{Audience, Limits, TemplateStatus, MAX_STOCK};
use crate::coupons::validate::{check_limits, positive, text};
use crate::error::DomainError;
use crate::ids::{RewardId, TemplateId};
use crate::order::{check_amount, MAX_AMOUNT_MINOR};
use crate::program::Program;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Most of one reward a single redemption takes.
pub const MAX_QUANTITY: i64 = 100;

/// What a redemption gives the member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardItem {
    /// A coupon of `template` per unit, issued with the redemption (the template must allow the
    /// `points` channel). Fulfilled at once.
    Coupon { template: String },
    /// Goods to ship: the redemption carries a shipping address and moves `pending` →
    /// `shipped` → `delivered`, or is `cancelled` with its points given back.
    Goods { sku: String },
    /// A cash voucher worth `value_minor` per unit that the store honours. Fulfilled at once.
    Voucher { value_minor: i64 },
}

impl RewardItem {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Coupon { .. } => "coupon",
            Self::Goods { .. } => "goods",
            Self::Voucher { .. } => "voucher",
        }
    }
    /// Whether a redemption of it ships, so waits for the store and may be cancelled.
    pub fn ships(&self) -> bool {
        matches!(self, Self::Goods { .. })
    }
}

/// A catalogue item as operations send it (`POST /v1/rewards`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RewardInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reward_item))]
    pub item: RewardItem,
    /// Points per unit.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::price_points))]
    pub price_points: i64,
    /// Cash per unit on top of the points (积分+现金), which the store collects; 0: points only.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::price_cash))]
    pub price_cash_minor: i64,
    /// Units that may be redeemed in all; absent or null: unlimited.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_stock_opt))]
    pub stock: Option<i64>,
    /// Units one member may redeem in all and per local day, week and month.
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub audience: Audience,
    /// Shown and redeemable from this instant (RFC 3339); absent: from creation.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub visible_from: Option<String>,
    /// Until this instant; absent: no end.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub visible_until: Option<String>,
}

/// A catalogue item: its terms, whether it may be redeemed, and how many units are out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reward {
    pub id: RewardId,
    pub terms: RewardInput,
    pub status: TemplateStatus,
    /// Units redeemed and not cancelled; never above the stock.
    pub redeemed: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Reward {
    /// The visibility window, parsed when the reward was validated.
    pub fn window(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        let at = |s: &Option<String>| s.as_deref().and_then(|v| crate::instant::parse_instant("at", v).ok());
        (at(&self.terms.visible_from), at(&self.terms.visible_until))
    }

    /// Whether it is shown at `now`: active and inside its window.
    pub fn visible_at(&self, now: Timestamp) -> Result<(), String> {
        if self.status != TemplateStatus::Active {
            return Err(format!("reward {} is {}", self.id, self.status.as_str()));
        }
        let (from, until) = self.window();
        if from.is_some_and(|f| now < f) {
            return Err(format!("reward {} is offered from {}", self.id, from.expect("checked")));
        }
        if until.is_some_and(|u| now >= u) {
            return Err(format!("reward {} was offered until {}", self.id, until.expect("checked")));
        }
        Ok(())
    }

    /// Units left (`None`: unlimited).
    pub fn left(&self) -> Option<i64> {
        self.terms.stock.map(|s| s - self.redeemed)
    }

    /// The coupon template a unit issues, for a coupon reward.
    pub fn template(&self) -> Option<TemplateId> {
        match &self.terms.item {
            RewardItem::Coupon { template } => TemplateId::parse(template).ok(),
            _ => None,
        }
    }
}

impl RewardInput {
    /// Validates the terms against `program`; every refusal names its field. Whether a coupon
    /// reward's template exists and allows the `points` channel is the caller's to check (it
    /// is stored, not in the terms).
    pub fn validate(&self, program: &Program, now: Timestamp) -> Result<Reward, DomainError> {
        let id = RewardId::parse(&self.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
        text("name", &self.name)?;
        match &self.item {
            RewardItem::Coupon { template } => {
                TemplateId::parse(template).map_err(|e| DomainError::unprocessable("item.template", e.0))?;
            }
            RewardItem::Goods { sku } => text("item.sku", sku)?,
            RewardItem::Voucher { value_minor } => positive("item.value_minor", *value_minor, MAX_AMOUNT_MINOR)?,
        }
        positive("price_points", self.price_points, crate::limits::MAX_POINTS / MAX_QUANTITY)?;
        check_amount("price_cash_minor", self.price_cash_minor)?;
        if self.price_cash_minor > MAX_AMOUNT_MINOR / MAX_QUANTITY {
            return Err(DomainError::unprocessable(
                "price_cash_minor",
                format!("at most {} per unit", MAX_AMOUNT_MINOR / MAX_QUANTITY),
            ));
        }
        if let Some(s) = self.stock {
            crate::limits::check_range("stock", s, 0, MAX_STOCK)?;
        }
        check_limits(&self.limits)?;
        crate::coupons::validate::check_audience(program, &self.audience)?;
        let from =
            self.visible_from.as_deref().map(|v| crate::instant::parse_instant("visible_from", v)).transpose()?;
        let until =
            self.visible_until.as_deref().map(|v| crate::instant::parse_instant("visible_until", v)).transpose()?;
        if let (Some(a), Some(b)) = (from, until) {
            if b <= a {
                return Err(DomainError::unprocessable("visible_until", format!("{b} is not after {a}")));
            }
        }
        Ok(Reward {
            id,
            terms: self.clone(),
            status: TemplateStatus::Active,
            redeemed: 0,
            created_at: now,
            updated_at: now,
        })
    }
}

/// A change operations make to a catalogue item (`PATCH`): name, status and stock only, so
/// redemptions keep the terms they paid for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RewardPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text_opt))]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<TemplateStatus>,
    /// The new stock; `null` is unlimited. Never below what is redeemed.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_stock_opt))]
    pub stock: Option<Option<i64>>,
}

impl RewardPatch {
    /// The reward with the patch applied at `now`; refused when it names nothing, lowers the
    /// stock below what is redeemed, or reopens an ended reward.
    pub fn apply(&self, r: &Reward, now: Timestamp) -> Result<Reward, DomainError> {
        if self.name.is_none() && self.status.is_none() && self.stock.is_none() {
            return Err(DomainError::unprocessable("name", "send at least one of name, status, stock"));
        }
        let mut out = r.clone();
        rename_or_restate("reward", (&self.name, self.status), (&mut out.terms.name, &mut out.status))?;
        if let Some(stock) = self.stock {
            out.terms.stock = restock(stock, r.redeemed, "units already redeemed")?;
        }
        out.updated_at = now;
        Ok(out)
    }
}
