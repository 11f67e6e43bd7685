//! Creating coupon templates, mall rewards and lotteries: from the API, and from the programme
//! file at start. A definition is one row whose insert either creates it or finds it already
//! there; a definition found there must agree with the one sent (`loyalty_core::definitions`).
//! Nothing here goes through the writer: a definition changes no member, and the stock and
//! limits it sets bind where members obtain from it.

use jiff::Timestamp;
use loyalty_core::config_file::{ConfigError, ConfigIssue};
use loyalty_core::coupons::{Channel, Template, TemplateInput};
use loyalty_core::definitions::{check_goods_reward, check_points_template, resent, References, Resend};
use loyalty_core::engagement::task::MAX_TASKS;
use loyalty_core::engagement::{Task, TaskInput};
use loyalty_core::ids::{RewardId, TemplateId};
use loyalty_core::rewards::lottery::SECRET_LEN;
use loyalty_core::rewards::{Lottery, LotteryInput, Reward, RewardInput};
use loyalty_core::{DomainError, Program};
use loyalty_store::{Store, StoreError};

/// Whether the definition was made now or was there already (an API retry, a later start).
#[derive(Debug)]
pub enum Defined<T> {
    Created(T),
    Existing(T),
}

impl<T> Defined<T> {
    pub fn created(&self) -> bool {
        matches!(self, Self::Created(_))
    }
    pub fn into_inner(self) -> T {
        match self {
            Self::Created(t) | Self::Existing(t) => t,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DefineError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<Defined<T>, DefineError>;

/// Stored instants keep microseconds: what is answered now is what a later read shows.
fn stamp(now: Timestamp) -> Timestamp {
    now.round(jiff::Unit::Microsecond).unwrap_or(now)
}

/// Creates a coupon template, or finds the one of that id with the same terms.
pub async fn template(
    store: &dyn Store,
    program: &Program,
    input: &TemplateInput,
    now: Timestamp,
    how: Resend,
) -> Result<Template> {
    let t = input.validate(program, stamp(now))?;
    if store.insert_template(&t).await? {
        return Ok(Defined::Created(t));
    }
    let Some(stored) = store.template(&t.id).await? else {
        // The insert found no row of this id: only the unique code can have refused it.
        return Err(DomainError::CouponCodeTaken(t.terms.code.clone().unwrap_or_default()).into());
    };
    resent(&stored.terms, &t.terms, how)?;
    Ok(Defined::Existing(stored))
}

/// Checks that the coupon templates and mall goods a definition names exist and fit.
async fn check_references(store: &dyn Store, refs: &References) -> std::result::Result<(), DefineError> {
    for (field, id) in &refs.templates {
        let parsed = TemplateId::parse(id).map_err(|e| DomainError::unprocessable(field, e.0))?;
        check_points_template(field, id, store.template(&parsed).await?.as_ref())?;
    }
    for (field, id) in &refs.goods {
        let parsed = RewardId::parse(id).map_err(|e| DomainError::unprocessable(field, e.0))?;
        check_goods_reward(field, id, store.reward(&parsed).await?.as_ref())?;
    }
    Ok(())
}

/// Creates an item of the mall, or finds the one of that id with the same terms.
pub async fn reward(
    store: &dyn Store,
    program: &Program,
    input: &RewardInput,
    now: Timestamp,
    how: Resend,
) -> Result<Reward> {
    let r = input.validate(program, stamp(now))?;
    check_references(store, &input.references()).await?;
    if store.insert_reward(&r).await? {
        return Ok(Defined::Created(r));
    }
    let stored = store.reward(&r.id).await?.ok_or_else(|| DomainError::RewardNotFound(r.id.to_string()))?;
    resent(&stored.terms, &r.terms, how)?;
    Ok(Defined::Existing(stored))
}

/// Creates a lottery with `secret` (random, from the caller), or finds the one of that id with
/// the same terms (whose secret stays the one it was created with).
pub async fn lottery(
    store: &dyn Store,
    program: &Program,
    input: &LotteryInput,
    secret: [u8; SECRET_LEN],
    now: Timestamp,
    how: Resend,
) -> Result<Lottery> {
    let l = input.validate(program, secret, stamp(now))?;
    check_references(store, &input.references()).await?;
    if store.insert_lottery(&l).await? {
        return Ok(Defined::Created(l));
    }
    let stored = store.lottery(&l.id).await?.ok_or_else(|| DomainError::LotteryNotFound(l.id.to_string()))?;
    resent(&stored.terms, &l.terms, how)?;
    Ok(Defined::Existing(stored))
}

/// Creates a task, or finds the one of that id with the same terms. A task sent without
/// `starts_at` starts when it is first created: sent again (a retry, a later start), it is the
/// same task.
pub async fn task(
    store: &dyn Store,
    program: &Program,
    input: &TaskInput,
    now: Timestamp,
    how: Resend,
) -> Result<Task> {
    let mut t = input.validate(program, stamp(now))?;
    if let Some(tpl) = t.coupon() {
        let found = store.template(&tpl).await?;
        let reason = match found {
            None => Some(format!("no coupon template {tpl:?} exists")),
            Some(x) if !x.terms.channels.contains(&Channel::Engagement) => {
                Some(format!("template {tpl:?} is not obtainable through the engagement channel"))
            }
            Some(_) => None,
        };
        if let Some(reason) = reason {
            return Err(DomainError::unprocessable("reward.coupon", reason).into());
        }
    }
    if store.tasks(None, MAX_TASKS as i64).await?.len() >= MAX_TASKS && store.task(&t.id).await?.is_none() {
        return Err(
            DomainError::unprocessable("id", format!("the store holds {MAX_TASKS} tasks, the most it may")).into()
        );
    }
    if store.insert_task(&t).await? {
        return Ok(Defined::Created(t));
    }
    let stored = store.task(&t.id).await?.ok_or_else(|| DomainError::unprocessable("id", "the task vanished"))?;
    if input.starts_at.is_none() {
        t.terms.starts_at = stored.terms.starts_at;
    }
    resent(&stored.terms, &t.terms, how)?;
    Ok(Defined::Existing(stored))
}

/// How many of the programme file's definitions were created at this start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub created: usize,
    pub existing: usize,
}

/// Why the programme's definitions could not all be made.
#[derive(Debug, thiserror::Error)]
pub enum ProgramDefinitionsError {
    /// A definition the database refuses: what it conflicts with, by the file's key.
    #[error("{0}")]
    Invalid(ConfigError),
    #[error(transparent)]
    Store(StoreError),
}

/// Creates the programme file's coupon templates, then its rewards, then its lotteries (each
/// may name one before it), those that exist already left as they are: operations may have
/// renamed, paused or restocked them since, but their terms must be the file's. Stops at the
/// first definition the database refuses, naming its key; those before it stay created (a
/// later start finds them and goes on). `secret` gives each new lottery its secret.
pub async fn apply_program(
    store: &dyn Store,
    program: &Program,
    now: Timestamp,
    mut secret: impl FnMut() -> [u8; SECRET_LEN],
) -> std::result::Result<Applied, ProgramDefinitionsError> {
    let f = &program.file;
    let mut applied = Applied::default();
    let mut count = |d: std::result::Result<bool, DefineError>, key: String| match d {
        Ok(created) => {
            if created {
                applied.created += 1;
            } else {
                applied.existing += 1;
            }
            Ok(())
        }
        Err(DefineError::Store(e)) => Err(ProgramDefinitionsError::Store(e)),
        Err(DefineError::Domain(e)) => {
            let (field, reason) = match &e {
                DomainError::Unprocessable { field, reason } | DomainError::Invalid { field, reason } => {
                    (format!("{key}.{field}"), reason.clone())
                }
                other => (key, other.to_string()),
            };
            Err(ProgramDefinitionsError::Invalid(ConfigError(vec![ConfigIssue { field, reason }])))
        }
    };
    for (i, t) in f.coupon_templates.iter().enumerate() {
        let d = template(store, program, t, now, Resend::Program).await;
        count(d.map(|d| d.created()), format!("coupon_templates[{i}]"))?;
    }
    for (i, r) in f.rewards.iter().enumerate() {
        let d = reward(store, program, r, now, Resend::Program).await;
        count(d.map(|d| d.created()), format!("rewards[{i}]"))?;
    }
    for (i, l) in f.lotteries.iter().enumerate() {
        let d = lottery(store, program, l, secret(), now, Resend::Program).await;
        count(d.map(|d| d.created()), format!("lotteries[{i}]"))?;
    }
    for (i, t) in f.tasks.iter().enumerate() {
        let d = task(store, program, t, now, Resend::Program).await;
        count(d.map(|d| d.created()), format!("tasks[{i}]"))?;
    }
    // Every template the programme issues by itself (plans' packs, check-in milestones)
    // exists, in the file or the database, and is obtainable through its channel; make-up
    // cards' templates exist (members obtain them by any channel).
    let cards = f.checkin.makeup.cards.iter().enumerate();
    let cards = cards.map(|(i, t)| (format!("checkin.makeup.cards[{i}]"), t.as_str(), None));
    let issued = loyalty_core::definitions::channel_references(f).into_iter().map(|(f, t, c)| (f, t, Some(c)));
    for (field, template, channel) in issued.chain(cards) {
        let reason = match loyalty_core::ids::TemplateId::parse(template) {
            Err(e) => Some(e.0),
            Ok(id) => match store.template(&id).await.map_err(ProgramDefinitionsError::Store)? {
                None => Some(format!("no coupon template {template:?} exists")),
                Some(t) => channel
                    .filter(|c| !t.terms.channels.contains(c))
                    .map(|c| format!("template {template:?} is not obtainable through the {} channel", c.as_str())),
            },
        };
        if let Some(reason) = reason {
            return Err(ProgramDefinitionsError::Invalid(ConfigError(vec![ConfigIssue { field, reason }])));
        }
    }
    Ok(applied)
}
