//! Engagement (签到、任务、邀请、生日礼): what brings members back between purchases. Today the
//! daily check-in with streaks, milestones and make-ups (`checkin` for the settings, `streak`
//! for the rules) and referral (`referral`: codes, invitations, rewards). Pure: every rule takes the local day and the instant it runs at.

pub mod checkin;
pub mod referral;
mod referral_code;
pub mod streak;
#[cfg(test)]
mod tests;

pub use checkin::{local_day, CheckinSettings, Makeup, Milestone};
pub use streak::{Calendar, Day, DayKind, MakeupPay, Reward};
