//! What operations define once and members then obtain: coupon templates, mall rewards and
//! lotteries. Their terms are immutable once stored (issued coupons, redemptions and draws
//! keep the terms they were made under); only a few fields may be patched later. This module
//! holds the rules both doors follow — the API (`POST /v1/coupon-templates`, `/v1/rewards`,
//! `/v1/lotteries`) and the programme file (`[[coupon_templates]]`, `[[rewards]]`,
//! `[[lotteries]]`, created at start) — when a definition arrives again or names another.

use crate::config_file::ConfigIssue;
use crate::coupons::{Channel, Template, TemplateInput};
use crate::rewards::{LotteryInput, PrizeItem, Reward, RewardInput, RewardItem};
use crate::{DomainError, Program};
use serde::Serialize;

/// Most definitions of each kind a programme file may hold: they are created at every start.
pub const MAX_PROGRAM_DEFINITIONS: usize = 200;

/// Which stored fields a definition sent again may differ in without being a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// A retried API request: everything but the patchable counts must be as stored (a
    /// different name is a new request, not a retry).
    Api,
    /// The programme file at a later start: the name and the counts may have been patched by
    /// operations since the file first created it; the file does not undo that.
    Program,
}

/// The fields of one kind of definition that a PATCH may change.
pub trait Patchable: Serialize {
    const WHAT: &'static str;
    /// Patchable fields other than the name.
    const COUNTS: &'static [&'static str];
    fn id(&self) -> &str;
}

impl Patchable for TemplateInput {
    const WHAT: &'static str = "coupon template";
    const COUNTS: &'static [&'static str] = &["stock"];
    fn id(&self) -> &str {
        &self.id
    }
}

impl Patchable for RewardInput {
    const WHAT: &'static str = "reward";
    const COUNTS: &'static [&'static str] = &["stock"];
    fn id(&self) -> &str {
        &self.id
    }
}

impl Patchable for LotteryInput {
    const WHAT: &'static str = "lottery";
    const COUNTS: &'static [&'static str] = &["budget_minor"];
    fn id(&self) -> &str {
        &self.id
    }
}

/// The top-level fields in which two sets of terms differ.
pub fn differences<T: Serialize>(a: &T, b: &T) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a).unwrap_or_default(), serde_json::to_value(b).unwrap_or_default());
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return vec!["body".into()] };
    let mut keys: Vec<&String> = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))).collect();
    keys.retain(|k| a.get(*k) != b.get(*k));
    keys.into_iter().cloned().collect()
}

/// Whether `sent` may stand for the `stored` definition of the same id: `Ok` when it may, else
/// the conflict naming every field that differs.
pub fn resent<T: Patchable>(stored: &T, sent: &T, how: Resend) -> Result<(), DomainError> {
    let all = differences(stored, sent);
    let may_differ = |f: &str| T::COUNTS.contains(&f) || (how == Resend::Program && f == "name");
    if all.iter().all(|f| may_differ(f)) {
        return Ok(());
    }
    Err(DomainError::Conflict { what: T::WHAT.into(), id: sent.id().to_owned(), differences: all })
}

/// A coupon a reward or a prize hands out must be of a template that allows the `points`
/// channel: the template's own rules then decide stock and limits at the redemption.
pub fn check_points_template(field: &str, id: &str, template: Option<&Template>) -> Result<(), DomainError> {
    let Some(t) = template else {
        return Err(DomainError::unprocessable(field, format!("coupon template {id} does not exist")));
    };
    if !t.terms.channels.contains(&Channel::Points) {
        return Err(DomainError::unprocessable(
            field,
            format!("coupon template {id} cannot be obtained with points (add the points channel)"),
        ));
    }
    Ok(())
}

/// A goods prize must name goods of the mall: its redemption ships.
pub fn check_goods_reward(field: &str, id: &str, reward: Option<&Reward>) -> Result<(), DomainError> {
    if reward.is_some_and(|r| r.terms.item.ships()) {
        return Ok(());
    }
    Err(DomainError::unprocessable(field, format!("{id} is not goods of the mall")))
}

/// What a definition names elsewhere: (field, id) of coupon templates and of mall goods.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    pub templates: Vec<(String, String)>,
    pub goods: Vec<(String, String)>,
}

impl RewardInput {
    pub fn references(&self) -> References {
        let mut r = References::default();
        if let RewardItem::Coupon { template } = &self.item {
            r.templates.push(("item.template".into(), template.clone()));
        }
        r
    }
}

impl LotteryInput {
    pub fn references(&self) -> References {
        let mut r = References::default();
        for (i, p) in self.prizes.iter().enumerate() {
            match &p.item {
                PrizeItem::Coupon { template } => {
                    r.templates.push((format!("prizes[{i}].item.template"), template.clone()))
                }
                PrizeItem::Goods { reward } => r.goods.push((format!("prizes[{i}].item.reward"), reward.clone())),
                PrizeItem::Points { .. } | PrizeItem::Nothing => {}
            }
        }
        r
    }
}

/// The programme file's definitions, checked as far as the file alone allows: each one's terms
/// (as the API checks them), no id twice, at most [`MAX_PROGRAM_DEFINITIONS`] of a kind, and
/// every reference to a definition of the same file. References to definitions that are not
/// in the file are checked at start, against the database.
pub(crate) fn check_program(program: &Program, issues: &mut Vec<ConfigIssue>) {
    let f = &program.file;
    // The terms' own instants are checked; `now` only stamps the (discarded) result.
    let now = jiff::Timestamp::UNIX_EPOCH;
    let mut bad = |field: String, reason: String| issues.push(ConfigIssue { field, reason });
    let mut kind = |key: &str, ids: Vec<&str>, checks: Vec<Result<(), DomainError>>| {
        if ids.len() > MAX_PROGRAM_DEFINITIONS {
            bad(key.into(), format!("holds {} entries; at most {MAX_PROGRAM_DEFINITIONS}", ids.len()));
        }
        for (i, (id, check)) in ids.iter().zip(checks).enumerate() {
            if let Err(e) = check {
                let (field, reason) = split(&e);
                bad(format!("{key}[{i}].{field}"), reason);
            }
            if let Some(first) = ids[..i].iter().position(|x| x == id) {
                bad(format!("{key}[{i}].id"), format!("{id:?} is also {key}[{first}]"));
            }
        }
    };
    let templates = &f.coupon_templates;
    kind(
        "coupon_templates",
        templates.iter().map(|t| t.id.as_str()).collect(),
        templates.iter().map(|t| t.validate(program, now).map(drop)).collect(),
    );
    let in_file_template = |field: &str, id: &str| match templates.iter().find(|t| t.id == id) {
        Some(t) => t.validate(program, now).map_or(Ok(()), |t| check_points_template(field, id, Some(&t))),
        None => Ok(()),
    };
    kind(
        "rewards",
        f.rewards.iter().map(|r| r.id.as_str()).collect(),
        f.rewards
            .iter()
            .map(|r| {
                r.validate(program, now)?;
                r.references().templates.iter().try_for_each(|(field, id)| in_file_template(field, id))
            })
            .collect(),
    );
    kind(
        "lotteries",
        f.lotteries.iter().map(|l| l.id.as_str()).collect(),
        f.lotteries
            .iter()
            .map(|l| {
                l.validate(program, [0; crate::rewards::lottery::SECRET_LEN], now)?;
                let refs = l.references();
                refs.templates.iter().try_for_each(|(field, id)| in_file_template(field, id))?;
                refs.goods.iter().try_for_each(|(field, id)| match f.rewards.iter().find(|r| r.id == *id) {
                    Some(r) => r.validate(program, now).map_or(Ok(()), |r| check_goods_reward(field, id, Some(&r))),
                    None => Ok(()),
                })
            })
            .collect(),
    );
    kind(
        "tasks",
        f.tasks.iter().map(|t| t.id.as_str()).collect(),
        f.tasks.iter().map(|t| t.validate(program, now).map(drop)).collect(),
    );
    // A plan's pack is issued through the `membership` channel, a check-in milestone's coupon
    // through `engagement`: a template of the file that does not take it would give nothing.
    for (field, template, channel) in channel_references(f) {
        let Some(t) = templates.iter().find(|t| t.id == template) else { continue };
        if !t.channels.contains(&channel) {
            issues.push(ConfigIssue {
                field,
                reason: format!("template {template:?} is not obtainable through the {} channel", channel.as_str()),
            });
        }
    }
}

/// The coupon templates the programme issues by itself, by key, with the channel it issues
/// them through: plans' monthly packs, check-in milestones and referral rewards.
pub fn channel_references(f: &crate::program::ProgramFile) -> Vec<(String, &str, Channel)> {
    let mut refs = Vec::new();
    for (i, p) in f.plans.iter().enumerate() {
        for (j, item) in p.benefits.coupon_pack.iter().enumerate() {
            refs.push((
                format!("plans[{i}].benefits.coupon_pack[{j}].template"),
                item.template.as_str(),
                Channel::Membership,
            ));
        }
    }
    for (i, m) in f.checkin.milestones.iter().enumerate() {
        if let Some(t) = &m.coupon {
            refs.push((format!("checkin.milestones[{i}].coupon"), t.as_str(), Channel::Engagement));
        }
    }
    for (i, task) in f.tasks.iter().enumerate() {
        if let Some(t) = &task.reward.coupon {
            refs.push((format!("tasks[{i}].reward.coupon"), t.as_str(), Channel::Engagement));
        }
    }
    if let Some(t) = &f.birthday.gift {
        refs.push(("birthday.gift".to_owned(), t.as_str(), Channel::Engagement));
    }
    for (i, item) in f.member_day.pack.iter().enumerate() {
        refs.push((format!("member_day.pack[{i}].template"), item.template.as_str(), Channel::Engagement));
    }
    for (name, side) in [("referrer", &f.referral.referrer), ("invitee", &f.referral.invitee)] {
        if let Some(t) = &side.coupon {
            refs.push((format!("referral.{name}.coupon"), t.as_str(), Channel::Engagement));
        }
    }
    refs
}

/// A refusal's field and reason (a refusal that names no field is about the whole entry).
fn split(e: &DomainError) -> (String, String) {
    match e {
        DomainError::Invalid { field, reason } | DomainError::Unprocessable { field, reason } => {
            (field.clone(), reason.clone())
        }
        other => ("id".into(), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(toml: &str) -> TemplateInput {
        toml::from_str(toml).unwrap()
    }

    const TEN_OFF: &str = r#"
        id = "ten-off"
        name = "¥10 off ¥100"
        benefit = { kind = "amount_off", value_minor = 1000, threshold_minor = 10000 }
        validity = { relative = { days = 30 } }
        stock = 100
    "#;

    #[test]
    fn a_resent_definition_may_differ_only_in_what_a_patch_changes() {
        let stored = template(TEN_OFF);
        let mut sent = stored.clone();
        sent.stock = Some(5);
        assert_eq!(resent(&stored, &sent, Resend::Api), Ok(()));
        sent.name = "renamed".into();
        let Err(DomainError::Conflict { differences, .. }) = resent(&stored, &sent, Resend::Api) else {
            panic!("a new name is a new API request")
        };
        assert_eq!(differences, vec!["name".to_owned(), "stock".to_owned()]);
        assert_eq!(resent(&stored, &sent, Resend::Program), Ok(()), "operations may have renamed it");
        sent.stackable = true;
        let Err(DomainError::Conflict { differences, .. }) = resent(&stored, &sent, Resend::Program) else {
            panic!("terms bind")
        };
        assert!(differences.contains(&"stackable".to_owned()));
    }

    #[test]
    fn differences_name_fields_present_on_one_side_only() {
        let a = serde_json::json!({"x": 1, "y": 2});
        let b = serde_json::json!({"x": 1, "z": 3});
        assert_eq!(differences(&a, &b), vec!["y".to_owned(), "z".to_owned()]);
    }
}
