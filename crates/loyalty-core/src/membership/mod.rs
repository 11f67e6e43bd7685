//! Paid membership (付费会员): plans in the programme file, a member's terms (trials,
//! renewals, conversions, upgrades), cancellation and refunds by the plan's policy, the
//! benefits a plan adds at checkout and on orders, and what the scheduler records as terms
//! run out. Pure: every rule takes `now` and the state it needs.

pub mod checks;
pub mod perks;
pub mod plan;
pub mod refund;
pub mod rules;
pub mod schedule;
pub mod state;
#[cfg(test)]
mod tests;

pub use plan::{MembershipSettings, Plan, PlanBenefits, PlanRefund, PlanTerm};
pub use rules::{Payment, RefundFigures, RefundRequest};
pub use state::{Cover, Event, EventKind, Membership, Status, Term};
