//! Engagement (签到、任务、邀请、生日礼): what brings members back between purchases: the
//! daily check-in with streaks, milestones and make-ups (`checkin` for the settings, `streak`
//! for the rules), tasks (`task` for their terms, `progress` for what events do to them),
//! birthday and member-day gifts (`gifts`) and referral (`referral`: codes, invitations,
//! rewards). Pure: every rule takes the local day and the instant it runs at.

pub mod checkin;
#[cfg(test)]
mod gift_tests;
pub mod gifts;
pub mod progress;
pub mod referral;
mod referral_code;
pub mod streak;
pub mod task;
#[cfg(test)]
mod tests;

pub use checkin::{local_day, CheckinSettings, Makeup, Milestone};
pub use progress::{Completed, Event, TaskMark, TaskState};
pub use streak::{Calendar, Day, DayKind, MakeupPay, Reward};
pub use task::{Goal, GoalKind, Period, Task, TaskInput, TaskReward, TaskStatus};
