//! Referrals (`Referrals`): members' codes, a referrer's invitees, the referrals due, the
//! operations report and `verify`'s checks. Codes and referrals are written by a batch through
//! [`crate::Tx::write`]; the batch loads what it decides on with `Tx::load_referral_codes`,
//! `Tx::load_member_codes`, `Tx::load_referrals` and `Tx::load_referrer_month`.

use async_trait::async_trait;
use jiff::Timestamp;
use loyalty_core::engagement::referral::Referral;
use loyalty_core::ids::MemberId;

/// Most referrals one list returns, and most referrers the report ranks.
pub const MAX_REFERRALS_READ: i64 = 500;
pub const TOP_REFERRERS: i64 = 10;

/// The referral report over `[from, to)`: invitations and refusals by when they were made,
/// conversions by the first order's time, rewards and their cost by when they were paid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralReport {
    pub invitations: i64,
    /// Refused (and cancelled) attempts made in the range, by reason.
    pub refused: Vec<(String, i64)>,
    /// Invitees whose first order was placed in the range.
    pub conversions: i64,
    pub rewarded: i64,
    pub cost_points: i64,
    pub cost_growth: i64,
    pub cost_coupons: i64,
    /// (referrer, invitees rewarded in the range, points paid to both sides), most first.
    pub top_referrers: Vec<(String, i64, i64)>,
}

#[async_trait]
pub trait Referrals: Send + Sync {
    /// The member's referral code, if one was given.
    async fn referral_code(&self, member: &MemberId) -> crate::Result<Option<String>>;
    /// The member's referrals as referrer (newest first, at most [`MAX_REFERRALS_READ`]) and
    /// as invitee (every attempt naming it).
    async fn member_referrals(&self, member: &MemberId) -> crate::Result<(Vec<Referral>, Vec<Referral>)>;
    /// Invitees whose referral is due (qualifying, its window over by `now`), at most `limit`.
    async fn due_referrals(&self, now: Timestamp, limit: i64) -> crate::Result<Vec<MemberId>>;
    async fn referral_report(&self, from: Timestamp, to: Timestamp) -> crate::Result<ReferralReport>;
    /// Rewarded referrals whose points the ledger does not hold for each side, referrers over
    /// `monthly_cap` (0 = none) in a month, and invitees with more than one live referral:
    /// each a sentence, at most `limit`.
    async fn referral_problems(&self, monthly_cap: i64, limit: i64) -> crate::Result<Vec<String>>;
}
