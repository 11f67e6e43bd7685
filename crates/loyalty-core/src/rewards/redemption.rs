//! A member's redemption in the points mall: the rule that decides it (stock, per-member
//! limits, audience, the visibility window) and the moves of a shipped one. The points are spent
//! through the ledger by the caller, in the same transaction (see `Account::spend`), with the
//! lots they came from kept here so that a cancellation gives them back to those lots.

use super::catalogue::{Reward, RewardItem, MAX_QUANTITY};
use crate::coupons::Holder;
use crate::error::DomainError;
use crate::ids::{CouponId, DrawId, MemberId, RedemptionId, RewardId};
use crate::ledger::Allocation;
use crate::program::Program;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Longest text of an address field.
pub const MAX_ADDRESS_TEXT: usize = 200;

/// Where goods are shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::address_text))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::address_text))]
    pub phone: String,
    /// The address as one text (province, city, district, street).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::address_text))]
    pub line: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::address_text_opt))]
    pub postcode: Option<String>,
}

impl Address {
    pub fn validate(&self) -> Result<(), DomainError> {
        let t = |f: &str, v: &str| crate::text::check_text(&format!("address.{f}"), v, 1..=MAX_ADDRESS_TEXT);
        t("name", &self.name)?;
        t("phone", &self.phone)?;
        t("line", &self.line)?;
        if let Some(p) = &self.postcode {
            t("postcode", p)?;
        }
        Ok(())
    }
}

/// Where a redemption stands. Coupons and vouchers are `fulfilled` at once; goods wait for the
/// store: `pending` → `shipped` → `delivered`, or `cancelled` before delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RedemptionStatus {
    Pending,
    Shipped,
    Delivered,
    Fulfilled,
    Cancelled,
}

impl RedemptionStatus {
    pub const ALL: [Self; 5] = [Self::Pending, Self::Shipped, Self::Delivered, Self::Fulfilled, Self::Cancelled];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A redemption as a member's request asks for it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRequest {
    pub id: RedemptionId,
    pub reward: RewardId,
    pub quantity: i64,
    pub address: Option<Address>,
}

impl RedemptionRequest {
    pub fn new(id: &str, reward: &str, quantity: i64, address: Option<Address>) -> Result<Self, DomainError> {
        let id = RedemptionId::parse(id).map_err(|e| DomainError::unprocessable("id", e.0))?;
        let reward = RewardId::parse(reward).map_err(|e| DomainError::unprocessable("reward", e.0))?;
        crate::limits::check_range("quantity", quantity, 1, MAX_QUANTITY)?;
        if let Some(a) = &address {
            a.validate()?;
        }
        Ok(Self { id, reward, quantity, address })
    }
}

/// A member's redemption as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redemption {
    pub member_id: MemberId,
    pub redemption_id: RedemptionId,
    pub reward_id: RewardId,
    pub quantity: i64,
    /// Points spent in all (0 for a prize won in a lottery), and the cash the store collects.
    pub points: i64,
    pub cash_minor: i64,
    /// What was redeemed, as the reward's terms said when it was.
    pub item: RewardItem,
    pub status: RedemptionStatus,
    pub address: Option<Address>,
    /// The store's shipment reference, once shipped.
    pub tracking: Option<String>,
    /// The lots the points came from, given back to on cancellation.
    pub allocations: Vec<Allocation>,
    /// Coupons issued by it (a coupon reward).
    pub coupons: Vec<CouponId>,
    /// The draw that won it, for a lottery prize.
    pub draw: Option<DrawId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub dirty: bool,
}

impl Redemption {
    /// The request's fields that differ from this redemption (a retry must send the same).
    pub fn differences(&self, r: &RedemptionRequest) -> Vec<String> {
        let mut out = Vec::new();
        if self.reward_id != r.reward {
            out.push("reward".to_owned());
        }
        if self.quantity != r.quantity {
            out.push("quantity".to_owned());
        }
        if self.address != r.address && self.draw.is_none() {
            out.push("address".to_owned());
        }
        out
    }
}

/// Decides a redemption of `reward` at `now`: refused when it is not offered now, the member
/// may not have it, the stock is short or the member reached a limit. `mine` are the member's
/// redemptions of this reward. On success the reward's `redeemed` count has moved; the caller
/// spends `points` (the returned redemption's) in the same transaction and records the lots.
pub fn redeem(
    program: &Program,
    reward: &mut Reward,
    mine: &[Redemption],
    holder: &Holder<'_>,
    (member, req): (&MemberId, &RedemptionRequest),
    now: Timestamp,
) -> Result<Redemption, DomainError> {
    let not_eligible = |reason: String| DomainError::RewardNotEligible { reason };
    reward.visible_at(now).map_err(not_eligible)?;
    if !holder.active {
        return Err(not_eligible("the member is not active".into()));
    }
    reward.terms.audience.admits(program, holder).map_err(not_eligible)?;
    let ships = reward.terms.item.ships();
    match (&req.address, ships) {
        (None, true) => return Err(DomainError::unprocessable("address", "goods need a shipping address")),
        (Some(_), false) => {
            return Err(DomainError::unprocessable("address", "only goods are shipped: send no address"))
        }
        _ => {}
    }
    let counted = |since: Option<Timestamp>| -> i64 {
        mine.iter()
            .filter(|r| r.status != RedemptionStatus::Cancelled && since.is_none_or(|s| r.created_at >= s))
            .map(|r| r.quantity)
            .sum()
    };
    let id = reward.id.to_string();
    reward.terms.limits.check(program, now, counted, req.quantity, |limit, period| {
        DomainError::RewardLimitReached { reward: id.clone(), limit, period }
    })?;
    take_stock(reward, req.quantity)?;
    Ok(Redemption {
        member_id: member.clone(),
        redemption_id: req.id.clone(),
        reward_id: reward.id.clone(),
        quantity: req.quantity,
        points: reward.terms.price_points * req.quantity,
        cash_minor: reward.terms.price_cash_minor * req.quantity,
        item: reward.terms.item.clone(),
        status: if ships { RedemptionStatus::Pending } else { RedemptionStatus::Fulfilled },
        address: req.address.clone(),
        tracking: None,
        allocations: Vec::new(),
        coupons: Vec::new(),
        draw: None,
        created_at: now,
        updated_at: now,
        dirty: true,
    })
}

/// Takes `quantity` units of the reward's stock, or refuses naming what is left.
pub fn take_stock(reward: &mut Reward, quantity: i64) -> Result<(), DomainError> {
    if let Some(left) = reward.left() {
        if left < quantity {
            return Err(DomainError::RewardOutOfStock { reward: reward.id.to_string(), left, wanted: quantity });
        }
    }
    reward.redeemed += quantity;
    assert!(reward.terms.stock.is_none_or(|s| reward.redeemed <= s), "stock is never exceeded");
    Ok(())
}

/// A move of a shipped redemption that the store reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    Ship {
        tracking: Option<String>,
    },
    Deliver,
    Cancel,
    /// A pending redemption's address set or corrected (a lottery prize is won without one).
    Address(Address),
}

impl Move {
    /// The move a store asks for with `status` (`shipped`, `delivered`, `cancelled`) and an
    /// optional tracking reference, which only a shipment carries. Refusals name the field.
    pub fn requested(status: &str, tracking: Option<String>) -> Result<Self, DomainError> {
        match (RedemptionStatus::parse(status), tracking) {
            (Some(RedemptionStatus::Shipped), tracking) => Ok(Self::Ship { tracking }),
            (Some(RedemptionStatus::Delivered), None) => Ok(Self::Deliver),
            (Some(RedemptionStatus::Cancelled), None) => Ok(Self::Cancel),
            (Some(RedemptionStatus::Delivered | RedemptionStatus::Cancelled), Some(_)) => {
                // Well-formed but contradictory: a 422, not a 400.
                Err(DomainError::unprocessable("tracking", "only a shipment carries a tracking reference"))
            }
            _ => Err(DomainError::invalid("status", format!("{status:?} is not one of shipped, delivered, cancelled"))),
        }
    }
}

/// Whether the move changed anything: a move to the state the redemption is already in is
/// a retry and changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Changed,
    Already,
}

impl Redemption {
    /// Applies `m` at `now`. A cancellation is only the status here: the caller gives the
    /// points back to their lots and the units back to the stock in the same transaction.
    pub fn apply(&mut self, m: &Move, now: Timestamp) -> Result<Moved, DomainError> {
        use RedemptionStatus::*;
        let refuse = |reason: &str| DomainError::RedemptionState {
            redemption: self.redemption_id.to_string(),
            status: self.status.as_str().to_owned(),
            reason: reason.to_owned(),
        };
        let next = match (m, self.status) {
            (Move::Ship { .. }, Shipped) | (Move::Deliver, Delivered) | (Move::Cancel, Cancelled) => {
                return Ok(Moved::Already)
            }
            (_, Fulfilled) => return Err(refuse("it was fulfilled when redeemed; nothing ships")),
            (Move::Address(a), Pending) => {
                a.validate()?;
                if self.address.as_ref() == Some(a) {
                    return Ok(Moved::Already);
                }
                self.address = Some(a.clone());
                Pending
            }
            (Move::Address(_), _) => return Err(refuse("the address can change only before it ships")),
            (Move::Ship { tracking }, Pending) => {
                if self.address.is_none() {
                    return Err(refuse("it has no shipping address yet"));
                }
                if let Some(t) = tracking {
                    crate::text::check_text("tracking", t, 1..=MAX_ADDRESS_TEXT)?;
                }
                self.tracking = tracking.clone();
                Shipped
            }
            (Move::Deliver, Shipped) => Delivered,
            (Move::Deliver, _) => return Err(refuse("only a shipped redemption is delivered")),
            (Move::Cancel, Pending | Shipped) => Cancelled,
            (Move::Cancel, _) | (Move::Ship { .. }, _) => return Err(refuse("it can no longer move that way")),
        };
        self.status = next;
        self.updated_at = now;
        self.dirty = true;
        Ok(Moved::Changed)
    }
}
