//! Birthday gifts and member-day packs (`Gifts`): the scheduler's read of who is due, a
//! member's gift rows, and `verify`'s check of every row's coupons. Rows are written by a
//! batch through [`crate::Tx::write`] with the coupons they give; the batch loads the keys it
//! decides on with [`crate::Tx::load_gifts`].

use async_trait::async_trait;
use loyalty_core::engagement::gifts::Gift;
use loyalty_core::ids::MemberId;

/// Most rows one read of a member's gifts returns.
pub const MAX_GIFTS_READ: i64 = 100;

/// Who the scheduler looks for: members due a gift of one period and not yet given one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiftDue {
    /// Active members whose birthday's `MM-DD` lies in `[from, to]`, without a birthday gift
    /// row for `period`.
    Birthday { from: String, to: String, period: String },
    /// Active members of `tiers` (empty: every tier) without a member-day row for `period`.
    MemberDay { tiers: Vec<String>, period: String },
}

#[async_trait]
pub trait Gifts: Send + Sync {
    /// Up to `limit` members due `due`, in id order after `after`: one statement per page.
    async fn due_gifts(&self, due: &GiftDue, after: Option<&MemberId>, limit: i64) -> crate::Result<Vec<MemberId>>;
    /// The member's gift rows, newest period first, after the `(kind, period)` cursor's row
    /// (`period` then `kind`, descending), at most `limit` (bounded by [`MAX_GIFTS_READ`]).
    async fn member_gifts(
        &self,
        member: &MemberId,
        before: Option<(&str, &str)>,
        limit: i64,
    ) -> crate::Result<Vec<Gift>>;
    /// Gift rows whose coupons do not exist as coupons of their member, whose status does not
    /// say what they gave, or whose period is malformed: each a sentence, at most `limit`.
    async fn gift_problems(&self, limit: i64) -> crate::Result<Vec<String>>;
}
