//! A member's coupons: issuing one (stock, per-member limits, who may hold it), using it with
//! an order and giving it back when that order is refunded in full. Each change is an
//! append-only [`CouponEntry`]; the coupon row is its latest state.

use super::audience::InsightFacts;
use super::template::{Channel, Template, TemplateStatus, Validity};
use crate::error::DomainError;
use crate::ids::{CouponId, MemberId, OrderId, TemplateId};
use crate::program::Program;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a coupon is in its life. `expired` is not stored: an available coupon past its
/// `valid_until` reads as expired, and a reservation that timed out reads as available (see
/// [`Coupon::status_at`]), so neither needs a job to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    Available,
    /// Reserved at checkout with a points hold, for one order, until `reserved_until`.
    Reserved,
    Used,
    Expired,
}

impl CouponStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Used => "used",
            Self::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Available, Self::Reserved, Self::Used, Self::Expired].into_iter().find(|x| x.as_str() == s)
    }
}

/// A coupon a member holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub member_id: MemberId,
    pub coupon_id: CouponId,
    pub template_id: TemplateId,
    /// `Available`, `Reserved` or `Used` (never `Expired`: that is read from the time).
    pub status: CouponStatus,
    pub source: Channel,
    pub issued_at: Timestamp,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
    /// The order that used it, or that it is reserved for.
    pub order_id: Option<OrderId>,
    pub used_at: Option<Timestamp>,
    /// While reserved: when the reservation lapses (the hold's expiry; once the hold is
    /// captured, the coupon's own end).
    pub reserved_until: Option<Timestamp>,
    /// How many entries the coupon has: its next entry's number.
    pub version: i64,
    /// Changed in this batch: to be written.
    pub dirty: bool,
}

/// One change of a coupon, kept for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponEntry {
    pub member_id: MemberId,
    pub coupon_id: CouponId,
    /// 0 for the issue, then one more per change.
    pub version: i64,
    /// `issued`, `used` or `restored`.
    pub event: String,
    pub order_id: Option<String>,
    pub at: Timestamp,
}

impl Coupon {
    /// Whether a reservation holds it at `now`.
    fn reserved_at(&self, now: Timestamp) -> bool {
        self.status == CouponStatus::Reserved && self.reserved_until.is_some_and(|u| now < u)
    }

    /// The status a reader sees at `now`.
    pub fn status_at(&self, now: Timestamp) -> CouponStatus {
        match self.status {
            CouponStatus::Used => CouponStatus::Used,
            _ if self.reserved_at(now) => CouponStatus::Reserved,
            _ if now >= self.valid_until => CouponStatus::Expired,
            _ => CouponStatus::Available,
        }
    }

    /// The coupon as `order` sees it at `now`: reserved for that order, it is available to it.
    pub fn as_seen_by(&self, order: &OrderId, now: Timestamp) -> Coupon {
        let mut c = self.clone();
        if c.reserved_at(now) && c.order_id.as_ref() == Some(order) {
            c.status = CouponStatus::Available;
        }
        c
    }

    /// Whether it may be used at `at`, and why not.
    pub fn usable_at(&self, at: Timestamp) -> Result<(), String> {
        match self.status {
            CouponStatus::Used => {
                Err(format!("already used by order {}", self.order_id.as_ref().map_or("?", |o| o.as_str())))
            }
            _ if self.reserved_at(at) => Err(format!(
                "reserved for order {} until {}",
                self.order_id.as_ref().map_or("?", |o| o.as_str()),
                self.reserved_until.map_or_else(String::new, |u| u.to_string())
            )),
            _ if at < self.valid_from => Err(format!("not valid before {}", self.valid_from)),
            _ if at >= self.valid_until => Err(format!("expired at {}", self.valid_until)),
            _ => Ok(()),
        }
    }

    fn entry(&mut self, event: &str, at: Timestamp) -> CouponEntry {
        let e = CouponEntry {
            member_id: self.member_id.clone(),
            coupon_id: self.coupon_id.clone(),
            version: self.version,
            event: event.to_owned(),
            order_id: self.order_id.as_ref().map(|o| o.as_str().to_owned()),
            at,
        };
        self.version += 1;
        self.dirty = true;
        e
    }

    /// Marks the coupon used by `order` at `now`. The caller has checked that it is usable by
    /// that order (see [`Coupon::as_seen_by`]).
    pub fn use_for(&mut self, order: &OrderId, now: Timestamp) -> CouponEntry {
        assert_ne!(self.status, CouponStatus::Used, "a coupon is used once");
        self.status = CouponStatus::Used;
        self.order_id = Some(order.clone());
        self.used_at = Some(now);
        self.reserved_until = None;
        self.entry("used", now)
    }

    /// Uses the coupon up as a make-up card (补签卡) at `now`: used, by no order (the check-in
    /// row names it). The caller has checked [`Coupon::usable_at`] and its template.
    pub fn use_as_makeup_card(&mut self, now: Timestamp) -> CouponEntry {
        assert!(self.usable_at(now).is_ok(), "only a usable coupon is used");
        self.status = CouponStatus::Used;
        self.order_id = None;
        self.used_at = Some(now);
        self.reserved_until = None;
        self.entry("used", now)
    }

    /// Reserves the coupon for `order` until `until` (a points hold's expiry). The caller has
    /// checked [`Coupon::usable_at`].
    pub fn reserve(&mut self, order: &OrderId, until: Timestamp, now: Timestamp) -> CouponEntry {
        assert!(self.usable_at(now).is_ok(), "only a usable coupon is reserved");
        self.status = CouponStatus::Reserved;
        self.order_id = Some(order.clone());
        self.reserved_until = Some(until.min(self.valid_until));
        self.entry("reserved", now)
    }

    /// Keeps a reservation for its order until the coupon's own end: its hold was captured, and
    /// the order will follow.
    pub fn keep_reserved(&mut self, now: Timestamp) -> Option<CouponEntry> {
        if !self.reserved_at(now) {
            return None;
        }
        self.reserved_until = Some(self.valid_until);
        Some(self.entry("reservation_kept", now))
    }

    /// Ends a reservation that still holds (its hold was released): the coupon is available again.
    pub fn release(&mut self, now: Timestamp) -> Option<CouponEntry> {
        if !self.reserved_at(now) {
            return None;
        }
        let e = self.entry("released", now);
        self.status = CouponStatus::Available;
        self.order_id = None;
        self.reserved_until = None;
        Some(e)
    }

    /// Gives the coupon back after its order was refunded in full, if its template says so
    /// and it is still valid at `now`; the entry when it was given back.
    pub fn restore(&mut self, template: &Template, now: Timestamp) -> Option<CouponEntry> {
        if self.status != CouponStatus::Used || !template.terms.restore_on_refund || now >= self.valid_until {
            return None;
        }
        let e = self.entry("restored", now);
        self.status = CouponStatus::Available;
        self.order_id = None;
        self.used_at = None;
        Some(e)
    }
}

/// Who is obtaining a coupon (or a mall item): the member's tier and status, and what the
/// latest complete insight run says of them when an audience needs it.
pub struct Holder<'a> {
    pub tier: &'a str,
    pub active: bool,
    /// Loaded only for members a segment- or stage-gated audience is decided for (see
    /// [`super::template::Audience::admits`]); `None` otherwise.
    pub insight: Option<&'a InsightFacts>,
    /// Whether a paid plan's benefits apply to the member now (`Audience::paid_only`).
    pub paid: bool,
}

/// Why a coupon was not issued.
fn not_eligible(reason: impl Into<String>) -> DomainError {
    DomainError::CouponNotEligible { reason: reason.into() }
}

/// Issues a coupon of `template` to the member at `now` through `channel`: refused when the
/// template is not active or not obtainable that way, the member may not hold it, its stock is
/// gone, or the member reached a limit. `held` are the member's coupons of this template.
/// On success the template's `issued` count has moved with it.
pub fn issue(
    program: &Program,
    template: &mut Template,
    held: &[Coupon],
    holder: &Holder<'_>,
    (member, coupon_id, channel): (&MemberId, &CouponId, Channel),
    now: Timestamp,
) -> Result<(Coupon, CouponEntry), DomainError> {
    let t = &template.terms;
    if template.status != TemplateStatus::Active {
        return Err(not_eligible(format!("template {} is {}", template.id, template.status.as_str())));
    }
    if !t.channels.contains(&channel) {
        return Err(not_eligible(format!("template {} cannot be obtained by {}", template.id, channel.as_str())));
    }
    if !holder.active {
        return Err(not_eligible("the member is not active"));
    }
    t.audience.admits(program, holder).map_err(not_eligible)?;
    let (valid_from, valid_until) = match &t.validity {
        Validity::Fixed { .. } => {
            let (from, until) = template.fixed_window().expect("validated instants");
            if now >= until {
                return Err(not_eligible(format!("template {} ended its validity at {until}", template.id)));
            }
            (from, until)
        }
        Validity::Relative { days, end_of_day } => {
            let until = crate::calendar::plus_secs(now, days * 86_400);
            let until = if *end_of_day {
                let z = until.to_zoned(program.tz.clone());
                z.date()
                    .tomorrow()
                    .ok()
                    .and_then(|d| d.to_zoned(program.tz.clone()).ok())
                    .map_or(until, |z| z.timestamp())
            } else {
                until
            };
            // From the start of the second it was issued: stores send paid times in whole
            // seconds, and an order paid the second the coupon was claimed may use it.
            (Timestamp::from_second(now.as_second()).unwrap_or(now), until)
        }
    };
    if let Some(stock) = t.stock {
        if template.issued >= stock {
            return Err(DomainError::CouponOutOfStock { template: template.id.to_string(), stock });
        }
    }
    let count_since = |since: Option<Timestamp>| held.iter().filter(|c| since.is_none_or(|s| c.issued_at >= s)).count();
    t.limits.check(
        program,
        now,
        |since| i64::try_from(count_since(since)).unwrap_or(i64::MAX),
        1,
        |limit, period| DomainError::CouponLimitReached { template: template.id.to_string(), limit, period },
    )?;
    let mut coupon = Coupon {
        member_id: member.clone(),
        coupon_id: coupon_id.clone(),
        template_id: template.id.clone(),
        status: CouponStatus::Available,
        source: channel,
        issued_at: now,
        valid_from,
        valid_until,
        order_id: None,
        used_at: None,
        reserved_until: None,
        version: 0,
        dirty: true,
    };
    let entry = coupon.entry("issued", now);
    template.issued += 1;
    assert!(t.stock.is_none_or(|s| template.issued <= s), "stock is never exceeded");
    Ok((coupon, entry))
}
