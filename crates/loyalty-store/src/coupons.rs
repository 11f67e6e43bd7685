//! Coupon templates and members' coupons (`Coupons`). Issuing, using and restoring coupons
//! are changes of a batch, written through [`crate::Tx::write`] with the order or command that
//! caused them; templates are created and patched here, outside the writer, with statements
//! that keep stock at or above what was issued whatever runs beside them.

use async_trait::async_trait;
use loyalty_core::coupons::{Coupon, CouponEntry, CouponStatus, Template};
use loyalty_core::ids::{CouponId, MemberId, TemplateId};

/// What `verify` finds wrong in the coupon tables, each a sentence naming the row.
pub type CouponChecks = Vec<String>;

/// Most coupons one member's list reads.
pub const MAX_MEMBER_COUPONS: i64 = 1_000;

/// What became of one template's coupons, and what they cost and brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CouponReport {
    pub issued: i64,
    /// Of those issued, how many the members claimed (the rest operations or campaigns issued).
    pub claimed: i64,
    /// Used by an order now (a coupon given back and used again counts once).
    pub used: i64,
    pub available: i64,
    pub expired: i64,
    /// Reserved at checkout now, for an order not yet placed.
    pub reserved: i64,
    /// Uses in all, and how many of them a full refund gave back.
    pub uses: i64,
    pub restored: i64,
    /// Orders that used a coupon of the template, what the coupons took off them and the
    /// shipping they waived (at placement), their goods paid, and a multiplier's extra points.
    pub orders: i64,
    pub discount_minor: i64,
    pub goods_minor: i64,
    pub extra_points: i64,
}

#[async_trait]
pub trait Coupons: Send + Sync {
    /// What became of the template's coupons as of `now`.
    async fn coupon_report(&self, template: &TemplateId, now: jiff::Timestamp) -> crate::Result<CouponReport>;
    /// The template whose public code is `code` (canonical, see `coupons::code::normalize`).
    async fn template_by_code(&self, code: &str) -> crate::Result<Option<Template>>;
    /// Stores one-time codes of a batch; how many were new (a code that exists is skipped).
    async fn insert_codes(
        &self,
        template: &TemplateId,
        batch: &str,
        codes: &[String],
        now: jiff::Timestamp,
    ) -> crate::Result<u64>;
    /// A batch's codes after `after`, in code order, at most `limit`.
    async fn codes(
        &self,
        template: &TemplateId,
        batch: &str,
        after: &str,
        limit: i64,
    ) -> crate::Result<Vec<loyalty_core::coupons::code::OneTimeCode>>;
    /// Stores a new template; false (nothing stored) when one has its id or its public code.
    async fn insert_template(&self, t: &Template) -> crate::Result<bool>;
    async fn template(&self, id: &TemplateId) -> crate::Result<Option<Template>>;
    /// The templates with these ids (those that exist), by id: one statement for up to 5,000.
    async fn templates_by_id(&self, ids: &[TemplateId]) -> crate::Result<Vec<Template>>;
    /// Templates by id, after `after`, at most `limit`.
    async fn templates(&self, after: Option<&str>, limit: i64) -> crate::Result<Vec<Template>>;
    /// Writes the template's name, status and stock (its terms otherwise stay); false when
    /// the stock it sets is below what is issued by now (then nothing changed).
    async fn update_template(&self, t: &Template) -> crate::Result<bool>;
    /// The member's coupons, soonest to expire first, at most `limit`; only those of
    /// `status` as read at `now` when given.
    async fn member_coupons(
        &self,
        member: &MemberId,
        status: Option<CouponStatus>,
        now: jiff::Timestamp,
        limit: i64,
    ) -> crate::Result<Vec<Coupon>>;
    /// The member's coupons with these ids (those that exist).
    async fn coupons_by_id(&self, member: &MemberId, ids: &[CouponId]) -> crate::Result<Vec<Coupon>>;
    async fn coupon_entries(&self, member: &MemberId, coupon: &CouponId) -> crate::Result<Vec<CouponEntry>>;
    /// The coupon invariants over the whole store: no template issued more than its stock
    /// or other than the coupons that exist of it, no coupon used without its order or by an
    /// order that does not name it, every coupon's entries numbered 0..version, every redeemed one-time code a coupon of its template,
    /// and no member holding more coupons of a template than its lifetime limit, or issued in
    /// one local day, ISO week or month (`program`'s zone) than its limit for that period.
    async fn check_coupons(&self, program: &loyalty_core::Program) -> crate::Result<CouponChecks>;
}
