//! Errors of the domain rules. Each has a stable machine code the HTTP layer exposes.

/// A rule refused a command. Storage errors never appear here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("member {0} not found")]
    MemberNotFound(String),
    #[error("member {member} is {status}: it cannot earn or spend points")]
    MemberInactive { member: String, status: String },
    #[error("member {member} was erased at {erased_at}: its personal data is gone and it takes no more writes")]
    MemberErased { member: String, erased_at: String },
    #[error("{requested} points requested but only {available} are available")]
    InsufficientPoints { requested: i64, available: i64 },
    #[error("order {order} already exists with a different body; differs in: {}", differences.join(", "))]
    OrderConflict { order: String, differences: Vec<String> },
    #[error("refund {refund} of order {order} already exists with a different body; differs in: {}", differences.join(", "))]
    RefundConflict { order: String, refund: String, differences: Vec<String> },
    #[error("order {0} not found")]
    OrderNotFound(String),
    #[error("hold {0} not found")]
    HoldNotFound(String),
    #[error("hold {hold} is {status}: {reason}")]
    HoldState { hold: String, status: String, reason: String },
    #[error("{field}: {reason}")]
    Unprocessable { field: String, reason: String },
    #[error("{what} {id} already exists with a different body; differs in: {}", differences.join(", "))]
    Conflict { what: String, id: String, differences: Vec<String> },
    #[error("coupon template {0} not found")]
    TemplateNotFound(String),
    #[error("coupon {0} not found")]
    CouponNotFound(String),
    #[error("coupon code {0} not found")]
    CouponCodeNotFound(String),
    #[error("coupon code {0} was redeemed already")]
    CouponCodeUsed(String),
    #[error("another coupon template has the code {0}")]
    CouponCodeTaken(String),
    #[error("coupon template {template} is out of stock: all {stock} coupons are issued")]
    CouponOutOfStock { template: String, stock: i64 },
    #[error("the member holds {limit} coupons of template {template} per {period}, the limit")]
    CouponLimitReached { template: String, limit: i64, period: &'static str },
    #[error("the member may not hold this coupon: {reason}")]
    CouponNotEligible { reason: String },
    #[error("coupon {coupon} is already used by order {order}")]
    CouponUsed { coupon: String, order: String },
    #[error("coupon {coupon} does not apply to this order: {reason}")]
    CouponNotApplicable { coupon: String, why_not: String, reason: String },
    #[error("reward {0} not found")]
    RewardNotFound(String),
    #[error("reward {reward} is out of stock: {left} left, {wanted} wanted")]
    RewardOutOfStock { reward: String, left: i64, wanted: i64 },
    #[error("the member redeemed {limit} of reward {reward} per {period}, the limit")]
    RewardLimitReached { reward: String, limit: i64, period: &'static str },
    #[error("the member may not redeem this reward: {reason}")]
    RewardNotEligible { reason: String },
    #[error("redemption {0} not found")]
    RedemptionNotFound(String),
    #[error("redemption {redemption} is {status}: {reason}")]
    RedemptionState { redemption: String, status: String, reason: String },
    #[error("lottery {0} not found")]
    LotteryNotFound(String),
    #[error("lottery {lottery} is not open: {reason}")]
    LotteryNotOpen { lottery: String, reason: String },
    /// A membership rule refused the request; `code` says which (`trial_used`, `period_paid`,
    /// `membership_running`, `membership_not_running`, `plan_not_eligible`, `membership_not_found`).
    #[error("{reason}")]
    Membership { code: &'static str, reason: String },
    /// A check-in or make-up refused: `already_checked_in`, `makeup_limit_reached`, `checkin_off`, `makeup_off`.
    #[error("{reason}")]
    Checkin { code: &'static str, reason: String },
    /// A birthday already changed within the last year (the gift's guard against farming).
    #[error("the birthday was changed at {changed_at} and may change again from {next_change_at}")]
    BirthdayLocked { changed_at: String, next_change_at: String },
    #[error("the member drew {limit} times in lottery {lottery} today, the limit")]
    DrawLimitReached { lottery: String, limit: i64 },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), reason: reason.into() }
    }
    pub fn unprocessable(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Unprocessable { field: field.into(), reason: reason.into() }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } | Self::Unprocessable { .. } => "validation_failed",
            Self::MemberNotFound(_) => "member_not_found",
            Self::MemberInactive { .. } => "member_inactive",
            Self::MemberErased { .. } => "member_erased",
            Self::InsufficientPoints { .. } => "insufficient_points",
            Self::OrderConflict { .. } => "order_conflict",
            Self::RefundConflict { .. } => "refund_conflict",
            Self::OrderNotFound(_) => "order_not_found",
            Self::HoldNotFound(_) => "hold_not_found",
            Self::HoldState { .. } => "hold_not_open",
            Self::Conflict { .. } => "conflict",
            Self::TemplateNotFound(_) => "coupon_template_not_found",
            Self::CouponNotFound(_) => "coupon_not_found",
            Self::CouponCodeNotFound(_) => "coupon_code_not_found",
            Self::CouponCodeUsed(_) => "coupon_code_used",
            Self::CouponCodeTaken(_) => "coupon_code_taken",
            Self::CouponOutOfStock { .. } => "coupon_out_of_stock",
            Self::CouponLimitReached { .. } => "coupon_limit_reached",
            Self::CouponNotEligible { .. } => "coupon_not_eligible",
            Self::CouponUsed { .. } => "coupon_used",
            Self::CouponNotApplicable { .. } => "coupon_not_applicable",
            Self::RewardNotFound(_) => "reward_not_found",
            Self::RewardOutOfStock { .. } => "reward_out_of_stock",
            Self::RewardLimitReached { .. } => "reward_limit_reached",
            Self::RewardNotEligible { .. } => "reward_not_eligible",
            Self::RedemptionNotFound(_) => "redemption_not_found",
            Self::RedemptionState { .. } => "redemption_state",
            Self::LotteryNotFound(_) => "lottery_not_found",
            Self::LotteryNotOpen { .. } => "lottery_not_open",
            Self::DrawLimitReached { .. } => "draw_limit_reached",
            Self::Membership { code, .. } => code,
            Self::Checkin { code, .. } => code,
            Self::BirthdayLocked { .. } => "birthday_locked",
        }
    }
}
