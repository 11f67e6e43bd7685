//! Tasks (`Tasks`): their definitions, a member's progress and completed periods, and
//! `verify`'s checks. Progress and completions are written by a batch through
//! [`crate::Tx::write`] with the order, activity or check-in that moved them; the batch loads
//! the active tasks and its members' progress with [`crate::Tx::load_tasks`] and
//! [`crate::Tx::load_task_states`].

use async_trait::async_trait;
use jiff::Timestamp;
use loyalty_core::engagement::{Task, TaskState, TaskStatus};
use loyalty_core::ids::{CouponId, MemberId, TaskId};
use serde::Serialize;

/// Most completions one read returns.
pub const MAX_COMPLETIONS_READ: i64 = 500;

/// A completed period of a task and what it paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completion {
    #[serde(skip)]
    pub member_id: MemberId,
    pub task: TaskId,
    pub period: String,
    pub completed_at: Timestamp,
    pub points: i64,
    pub growth: i64,
    pub coupon: Option<CouponId>,
    /// Why part of the reward was not given (the coupon's template out of stock, say).
    pub note: Option<String>,
}

#[async_trait]
pub trait Tasks: Send + Sync {
    /// Inserts the task; false when one of its id exists (nothing is changed).
    async fn insert_task(&self, task: &Task) -> crate::Result<bool>;
    async fn task(&self, id: &TaskId) -> crate::Result<Option<Task>>;
    /// Tasks by id after `after`, at most `limit`.
    async fn tasks(&self, after: Option<&TaskId>, limit: i64) -> crate::Result<Vec<Task>>;
    /// Sets a task's name and/or status; the task as it is now (none: no such task).
    async fn patch_task(
        &self,
        id: &TaskId,
        name: Option<&str>,
        status: Option<TaskStatus>,
        now: Timestamp,
    ) -> crate::Result<Option<Task>>;
    /// The member's progress (empty when it has none).
    async fn task_state(&self, member: &MemberId) -> crate::Result<TaskState>;
    /// The member's completed periods, latest first, at most [`MAX_COMPLETIONS_READ`].
    async fn task_completions(&self, member: &MemberId) -> crate::Result<Vec<Completion>>;
    /// Members whose completions' points differ from what the ledger credited them for tasks,
    /// and progress rows that break their own rules: each a sentence, at most `limit`.
    async fn task_problems(&self, limit: i64) -> crate::Result<Vec<String>>;
}
