//! Coupons: templates and their validation (`template`), who may hold them (`audience`), a
//! member's coupons and how they are issued, used and given back (`coupon`), and what coupons
//! do to a cart (`apply`). Pure, like the rest of the core: every rule takes `now` and the
//! state it needs.

pub mod apply;
pub mod audience;
pub mod code;
pub mod coupon;
mod order;
pub(crate) mod patch;
pub mod template;
pub(crate) mod validate;

pub use apply::{apply, best, Applied, CartGoods, CouponResult, MAX_COUPONS_PER_CART};
pub use audience::{Audience, InsightFacts};
pub use coupon::{issue, Coupon, CouponEntry, CouponStatus, Holder};
pub use order::{coupon_extra_points, coupons_on, member_prices, order_coupons};
pub use patch::TemplatePatch;
pub use template::{Benefit, Channel, Template, TemplateInput, TemplateStatus};

#[cfg(test)]
mod tests;
