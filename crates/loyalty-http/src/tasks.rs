//! Tasks and challenges (任务): defining them (`/v1/tasks`), and a member's tasks with their
//! progress, deadline, reward and a line to show the member ("再下 1 单得 200 积分"). Thin
//! handlers: progress moves in the writer with the events (`engagement::progress`).

use super::coupons::created_or_ok;
use super::extract::{path_id, Json, Query};
use super::members::limit;
use super::problem::{ApiError, ApiResult, Problem};
use super::views::Page;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use loyalty_core::calendar::rfc3339;
use loyalty_core::coupons::Holder;
use loyalty_core::definitions::Resend;
use loyalty_core::engagement::progress::period_of;
use loyalty_core::engagement::{GoalKind, Task, TaskInput, TaskReward, TaskStatus};
use loyalty_core::ids::{MemberId, TaskId};
use loyalty_core::ledger::MemberStatus;
use loyalty_core::DomainError;
use loyalty_engine::definitions;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn task_id(raw: &str) -> ApiResult<TaskId> {
    path_id("task_id", raw, TaskId::parse)
}

async fn find(s: &AppState, id: &TaskId) -> ApiResult<Task> {
    s.store.task(id).await?.ok_or_else(|| ApiError::not_found("task_not_found", format!("task {id} not found")))
}

/// A task as defined, with its status.
#[derive(Serialize, ToSchema)]
pub struct TaskView {
    pub id: String,
    pub terms: TaskInput,
    /// `active`, `paused` or `ended`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl TaskView {
    fn new(t: &Task, s: &AppState) -> Self {
        Self {
            id: t.id.to_string(),
            terms: t.terms.clone(),
            status: t.status.as_str().to_owned(),
            created_at: rfc3339(t.created_at, &s.program.tz),
            updated_at: rfc3339(t.updated_at, &s.program.tz),
        }
    }
}

/// Creates a task. Sent again with the same terms it answers the task (200); with other
/// terms, 409 naming what differs.
#[utoipa::path(post, path = "/v1/tasks", tag = "engagement", request_body = TaskInput,
    responses((status = 201, body = TaskView), (status = 200, body = TaskView, description = "Already created with these terms"),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_task(
    State(s): State<AppState>,
    Json(input): Json<TaskInput>,
) -> ApiResult<(StatusCode, axum::Json<TaskView>)> {
    let d = definitions::task(s.store.as_ref(), &s.program, &input, s.clock.now(), Resend::Api).await?;
    Ok((created_or_ok(&d), axum::Json(TaskView::new(&d.into_inner(), &s))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskListParams {
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
    /// The last task id of the page before.
    #[param(schema_with = loyalty_core::schema::id_field_opt)]
    pub cursor: Option<String>,
}

/// Tasks by id.
#[utoipa::path(get, path = "/v1/tasks", tag = "engagement", params(TaskListParams),
    responses((status = 200, body = inline(Page<TaskView>)), (status = 422, body = Problem)))]
pub async fn list_tasks(
    State(s): State<AppState>,
    Query(p): Query<TaskListParams>,
) -> ApiResult<axum::Json<Page<TaskView>>> {
    let limit = limit(p.limit)?;
    let after = p.cursor.as_deref().map(task_id).transpose()?;
    let items = s.store.tasks(after.as_ref(), limit).await?;
    let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(|t| t.id.to_string())).flatten();
    Ok(axum::Json(Page { items: items.iter().map(|t| TaskView::new(t, &s)).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "engagement", params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, body = TaskView), (status = 404, body = Problem)))]
pub async fn get_task(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<TaskView>> {
    Ok(axum::Json(TaskView::new(&find(&s, &task_id(&id)?).await?, &s)))
}

/// What a PATCH may change: the name and the status (an ended task stays ended).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::text_opt)]
    pub name: Option<String>,
    /// `active`, `paused` or `ended`.
    #[serde(default)]
    pub status: Option<String>,
}

/// Renames, pauses, resumes or ends a task. Its terms never change: progress was counted by them.
#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "engagement", request_body = TaskPatch, params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, body = TaskView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_task(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(p): Json<TaskPatch>,
) -> ApiResult<axum::Json<TaskView>> {
    let id = task_id(&id)?;
    if let Some(n) = &p.name {
        loyalty_core::text::check_text("name", n, 1..=loyalty_core::order::MAX_TEXT)?;
    }
    let status = match p.status.as_deref() {
        Some(raw) => Some(
            TaskStatus::parse(raw)
                .ok_or_else(|| ApiError::invalid("status", format!("{raw:?} is not one of active, paused, ended")))?,
        ),
        None => None,
    };
    let current = find(&s, &id).await?;
    if current.status == TaskStatus::Ended && status.is_some_and(|st| st != TaskStatus::Ended) {
        return Err(DomainError::unprocessable("status", "the task is ended for good").into());
    }
    let now = s.clock.now();
    let now = now.round(jiff::Unit::Microsecond).unwrap_or(now);
    let t = s.store.patch_task(&id, p.name.as_deref(), status, now).await?;
    Ok(axum::Json(TaskView::new(
        &t.ok_or_else(|| ApiError::not_found("task_not_found", format!("task {id} not found")))?,
        &s,
    )))
}

/// One task as a member sees it now.
#[derive(Serialize, ToSchema)]
pub struct MemberTaskView {
    pub task_id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub kind: GoalKind,
    /// The current period (`once`, `window`, `2026-12-04`, `2026-W49`, `2026-12`).
    pub period: String,
    pub progress: i64,
    pub target: i64,
    pub completed: bool,
    pub completed_at: Option<String>,
    /// When the period ends (none: never).
    pub deadline: Option<String>,
    pub reward: TaskReward,
    /// Whether the audience holds the member now; none for segment or stage audiences, which
    /// are decided on insight when an event arrives.
    pub eligible: Option<bool>,
    /// What is left, for the member ("再下 1 单得 200 积分").
    pub hint: String,
}

/// A completed period and what it paid.
#[derive(Serialize, ToSchema)]
pub struct CompletionView {
    pub task_id: String,
    pub period: String,
    pub completed_at: String,
    pub points: i64,
    pub growth: i64,
    pub coupon_id: Option<String>,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberTasksView {
    pub member_id: String,
    /// Active tasks, by id.
    pub tasks: Vec<MemberTaskView>,
    /// Completed periods, latest first (at most 500).
    pub completions: Vec<CompletionView>,
}

/// The member's active tasks with progress in their current period, and what it completed.
#[utoipa::path(get, path = "/v1/members/{id}/tasks", tag = "engagement", params(("id" = MemberId, Path)),
    responses((status = 200, body = MemberTasksView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn member_tasks(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<MemberTasksView>> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let now = s.clock.now();
    let Some(rec) = s.writer.cache.member(s.store.as_ref(), &member, now).await? else {
        return Err(DomainError::MemberNotFound(member.to_string()).into());
    };
    let state = s.store.task_state(&member).await?;
    let holder = Holder {
        tier: &rec.account.tier().code,
        active: rec.account.status() == MemberStatus::Active,
        insight: None,
        paid: rec.plan.as_ref().is_some_and(|c| c.applies_at(now)),
    };
    let mut tasks = Vec::new();
    let mut after: Option<TaskId> = None;
    loop {
        let page = s.store.tasks(after.as_ref(), 200).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for t in page.iter().filter(|t| t.status == TaskStatus::Active && t.terms.ends_at.is_none_or(|e| e > now)) {
            let (period, deadline) = period_of(t, &s.program, now);
            let entry = state.entry(&t.id, &period);
            let target = t.terms.goal.target;
            let progress = entry.map_or(0, |e| e.value.min(target));
            let completed_at = entry.and_then(|e| e.completed_at);
            let a = &t.terms.audience;
            let new_enough = t
                .terms
                .new_members_days
                .is_none_or(|d| loyalty_core::calendar::plus_secs(rec.profile.registered_at, d * 86_400) >= now);
            let eligible = (!a.needs_insight()).then(|| new_enough && a.admits(&s.program, &holder).is_ok());
            let hint = hint(t, target - progress, completed_at.is_some(), eligible, &s.program.file.currency);
            tasks.push(MemberTaskView {
                task_id: t.id.to_string(),
                name: t.terms.name.clone(),
                kind: t.terms.goal.kind,
                period,
                progress,
                target,
                completed: completed_at.is_some(),
                completed_at: completed_at.map(|c| rfc3339(c, &s.program.tz)),
                deadline: deadline.map(|d| rfc3339(d, &s.program.tz)),
                reward: t.terms.reward.clone(),
                eligible,
                hint,
            });
        }
        if page.len() < 200 {
            break;
        }
    }
    let completions = s.store.task_completions(&member).await?;
    Ok(axum::Json(MemberTasksView {
        member_id: member.to_string(),
        tasks,
        completions: completions.into_iter().map(|c| completion_view(c, &s.program.tz)).collect(),
    }))
}

pub(crate) fn completion_view(c: loyalty_store::tasks::Completion, tz: &jiff::tz::TimeZone) -> CompletionView {
    CompletionView {
        task_id: c.task.to_string(),
        period: c.period,
        completed_at: rfc3339(c.completed_at, tz),
        points: c.points,
        growth: c.growth,
        coupon_id: c.coupon.map(|x| x.to_string()),
        note: c.note,
    }
}

/// The line a member reads under a task, in Chinese (the member centre's language).
fn hint(t: &Task, left: i64, completed: bool, eligible: Option<bool>, currency: &str) -> String {
    if completed {
        return "已完成".into();
    }
    if eligible == Some(false) {
        return "暂不满足参与条件".into();
    }
    let r = &t.terms.reward;
    let mut gives = Vec::new();
    if r.points > 0 {
        gives.push(format!("{} 积分", r.points));
    }
    if r.growth > 0 {
        gives.push(format!("{} 成长值", r.growth));
    }
    if r.coupon.is_some() {
        gives.push("优惠券".to_owned());
    }
    let gives = gives.join("、");
    let g = &t.terms.goal;
    match g.kind {
        GoalKind::Orders => format!("再下 {left} 单得 {gives}"),
        GoalKind::Spend => {
            let sign = if currency == "CNY" { "¥".to_owned() } else { format!("{currency} ") };
            format!("再消费 {sign}{}.{:02} 得 {gives}", left / 100, left % 100)
        }
        GoalKind::Activity => format!("再{} {left} 次得 {gives}", g.activity.as_deref().unwrap_or_default()),
        GoalKind::Checkins => format!("再签到 {left} 天得 {gives}"),
        GoalKind::Profile => format!("完善资料得 {gives}"),
        GoalKind::FirstOrder => format!("首单得 {gives}"),
    }
}
