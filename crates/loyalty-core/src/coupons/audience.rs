//! Who may hold a coupon of a template or redeem a mall item: a minimum tier, paid members
//! only, members in given insight segments or lifecycle stages, or anyone (issue 15 §1).
//!
//! Segments and stages come from member insight's latest complete run, which the caller reads
//! (the writer, inside its transaction) and hands in as [`InsightFacts`]: the rule stays pure.

use super::coupon::Holder;
use crate::error::DomainError;
use serde::{Deserialize, Serialize};

/// The value segments (八类客户) and the RFM score-map segments member insight gives, by their
/// codes (`loyalty_insight::segments::{ValueSegment, ScoreSegment}::code`; `no_purchase` is
/// in both). A test of the `loyalty` crate holds this list to insight's.
pub const SEGMENTS: [&str; 20] = [
    "important_value",
    "important_develop",
    "important_keep",
    "important_retain",
    "general_value",
    "general_develop",
    "general_keep",
    "general_retain",
    "no_purchase",
    "champions",
    "loyal",
    "potential_loyalist",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
];

/// The lifecycle stages member insight gives (`loyalty_insight::lifecycle::LifecycleStage::code`).
pub const STAGES: [&str; 6] = ["new", "active", "at_risk", "sleeping", "lost", "never_bought"];

/// Who may hold a coupon of the template (or redeem the mall item). Every condition given must
/// hold; none given: anyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// The lowest tier (by code) that may hold it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field_opt))]
    pub min_tier: Option<String>,
    /// Paid members only: those whose plan's benefits apply at the instant (a trial, a term
    /// running or cancelled, or in grace).
    #[serde(default)]
    pub paid_only: bool,
    /// Members whose value or score segment in the latest complete insight run is one of
    /// these; empty: any. A member without a segment (no run yet, or registered after it) is
    /// not admitted.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::audience_segments))]
    pub segments: Vec<String>,
    /// Members whose lifecycle stage in the latest complete insight run is one of these; empty:
    /// any. A member without a stage is not admitted.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::audience_stages))]
    pub stages: Vec<String>,
}

/// What member insight's latest complete run says about a member: what a segment- or
/// stage-gated audience is decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsightFacts {
    /// No insight run has completed yet.
    NoRun,
    /// The latest complete run has no row for the member (registered after it ran).
    NotInRun { run_id: i64 },
    /// The member's segments and stage in run `run_id`.
    Member { run_id: i64, value_segment: String, score_segment: String, stage: String },
}

/// `segment champions` or `segments champions, loyal`.
fn named(noun: &str, names: &[String]) -> String {
    let s = if names.len() == 1 { "" } else { "s" };
    format!("{noun}{s} {}", names.join(", "))
}

impl Audience {
    /// Whether the audience reads the member's insight facts.
    pub fn needs_insight(&self) -> bool {
        !self.segments.is_empty() || !self.stages.is_empty()
    }

    /// Whether the member `holder` describes may hold it; the refusal says why.
    ///
    /// # Panics
    /// When the audience names segments or stages and `holder.insight` is `None`: the caller
    /// loads the facts of every member such an audience is decided for, so their absence is
    /// a bug, not a member without a segment (that is [`InsightFacts::NoRun`] or `NotInRun`).
    pub fn admits(&self, program: &crate::Program, holder: &Holder<'_>) -> Result<(), String> {
        use crate::tiers::level_index;
        let tier = holder.tier;
        if let Some(min) = &self.min_tier {
            let (have, need) = (level_index(program, tier).unwrap_or(0), level_index(program, min).unwrap_or(0));
            if have < need {
                return Err(format!("for {min} and above; the member is {tier}"));
            }
        }
        if self.needs_insight() {
            let facts = holder.insight.expect("the insight facts of a member a gated audience decides are loaded");
            self.admits_insight(facts)?;
        }
        if self.paid_only && !holder.paid {
            return Err("for paid members only".into());
        }
        Ok(())
    }

    /// Called only when the audience names segments or stages.
    fn admits_insight(&self, facts: &InsightFacts) -> Result<(), String> {
        let (segments, stages) = (named("segment", &self.segments), named("stage", &self.stages));
        let (run, value, score, stage) = match facts {
            InsightFacts::Member { run_id, value_segment, score_segment, stage } => {
                (run_id, value_segment, score_segment, stage)
            }
            InsightFacts::NoRun => return Err(self.unknown(&segments, &stages, "no insight run")),
            InsightFacts::NotInRun { run_id } => {
                return Err(self.unknown(&segments, &stages, &format!("not in insight run {run_id}")))
            }
        };
        if !self.segments.is_empty() && !self.segments.iter().any(|s| s == value || s == score) {
            return Err(format!("for members in {segments}; the member is in {score} and {value} (insight run {run})"));
        }
        if !self.stages.is_empty() && !self.stages.contains(stage) {
            return Err(format!("for members at {stages}; the member is at stage {stage} (insight run {run})"));
        }
        Ok(())
    }

    /// The refusal of a member insight knows nothing of: the first condition it cannot meet.
    fn unknown(&self, segments: &str, stages: &str, why: &str) -> String {
        if self.segments.is_empty() {
            format!("for members at {stages}; the member has no stage yet ({why})")
        } else {
            format!("for members in {segments}; the member has no segment yet ({why})")
        }
    }
}

/// Each name of `list` (the field `field`) must be one of `known` and named once; the list is
/// bounded by how many there are.
pub(crate) fn check_names(field: &str, list: &[String], known: &[&str], what: &str) -> Result<(), DomainError> {
    if list.len() > known.len() {
        return Err(DomainError::unprocessable(
            field,
            format!("holds {} names; at most {} (each {what} once)", list.len(), known.len()),
        ));
    }
    for (i, v) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if !known.contains(&v.as_str()) {
            let shown: String = v.chars().take(crate::ids::MAX_ID_LEN).collect();
            return Err(DomainError::unprocessable(
                at,
                format!("{shown:?} is not a {what} of member insight ({})", known.join(", ")),
            ));
        }
        if list[..i].contains(v) {
            return Err(DomainError::unprocessable(at, format!("{v:?} is named twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Program;

    fn gated(segments: &[&str], stages: &[&str]) -> Audience {
        Audience {
            segments: segments.iter().map(|s| s.to_string()).collect(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            ..Audience::default()
        }
    }

    fn member(value: &str, score: &str, stage: &str) -> InsightFacts {
        InsightFacts::Member {
            run_id: 3,
            value_segment: value.into(),
            score_segment: score.into(),
            stage: stage.into(),
        }
    }

    fn decide(a: &Audience, tier: &str, facts: Option<&InsightFacts>) -> Result<(), String> {
        a.admits(&Program::default_program(), &Holder { tier, active: true, insight: facts, paid: false })
    }

    #[test]
    fn a_segment_gated_audience_admits_a_member_by_either_segment_and_says_why_not_otherwise() {
        let a = gated(&["champions", "important_value"], &[]);
        assert_eq!(decide(&a, "member", Some(&member("general_keep", "champions", "active"))), Ok(()), "by score");
        assert_eq!(decide(&a, "member", Some(&member("important_value", "lost", "lost"))), Ok(()), "by value");
        assert_eq!(
            decide(&a, "member", Some(&member("general_retain", "at_risk", "at_risk"))).unwrap_err(),
            "for members in segments champions, important_value; the member is in at_risk and general_retain \
             (insight run 3)"
        );
        let one = gated(&["champions"], &[]);
        assert_eq!(
            decide(&one, "member", Some(&InsightFacts::NoRun)).unwrap_err(),
            "for members in segment champions; the member has no segment yet (no insight run)"
        );
        assert_eq!(
            decide(&one, "member", Some(&InsightFacts::NotInRun { run_id: 7 })).unwrap_err(),
            "for members in segment champions; the member has no segment yet (not in insight run 7)"
        );
    }

    #[test]
    fn a_stage_gated_audience_admits_only_members_at_those_stages() {
        let a = gated(&[], &["at_risk", "sleeping"]);
        assert_eq!(decide(&a, "member", Some(&member("general_keep", "at_risk", "sleeping"))), Ok(()));
        assert_eq!(
            decide(&a, "member", Some(&member("general_keep", "loyal", "active"))).unwrap_err(),
            "for members at stages at_risk, sleeping; the member is at stage active (insight run 3)"
        );
        assert_eq!(
            decide(&a, "member", Some(&InsightFacts::NoRun)).unwrap_err(),
            "for members at stages at_risk, sleeping; the member has no stage yet (no insight run)"
        );
        // Both conditions must hold.
        let both = gated(&["loyal"], &["active"]);
        assert_eq!(decide(&both, "member", Some(&member("general_keep", "loyal", "active"))), Ok(()));
        assert!(decide(&both, "member", Some(&member("general_keep", "loyal", "at_risk"))).is_err());
        assert!(decide(&both, "member", Some(&member("general_keep", "champions", "active"))).is_err());
    }

    #[test]
    fn the_tier_is_decided_first_and_an_ungated_audience_needs_no_insight() {
        let p = Program::default_program();
        let top = p.file.tiers.levels.last().expect("a tier").code.clone();
        let low = p.file.tiers.levels[0].code.clone();
        let a = Audience { min_tier: Some(top.clone()), ..gated(&["champions"], &[]) };
        let refused = decide(&a, &low, Some(&member("important_value", "champions", "active"))).unwrap_err();
        assert_eq!(refused, format!("for {top} and above; the member is {low}"));
        assert_eq!(decide(&Audience::default(), &low, None), Ok(()), "anyone, with no facts loaded");
    }

    #[test]
    #[should_panic(expected = "insight facts")]
    fn a_gated_audience_without_the_facts_loaded_is_a_bug() {
        let _ = decide(&gated(&["champions"], &[]), "member", None);
    }

    #[test]
    fn unknown_repeated_or_too_many_names_are_refused_naming_the_entry() {
        let p = Program::default_program();
        let field = |a: Audience| match crate::coupons::validate::check_audience(&p, &a) {
            Err(DomainError::Unprocessable { field, reason }) => (field, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            crate::coupons::validate::check_audience(&p, &gated(&["champions", "no_purchase"], &["new"])),
            Ok(())
        );
        let (f, m) = field(gated(&["champion"], &[]));
        assert_eq!(f, "audience.segments[0]");
        assert!(m.starts_with("\"champion\" is not a segment of member insight (important_value, "), "{m}");
        assert_eq!(field(gated(&["loyal", "lost", "loyal"], &[])).0, "audience.segments[2]");
        assert_eq!(field(gated(&[], &["active", "dormant"])).0, "audience.stages[1]");
        let many: Vec<&str> = SEGMENTS.iter().chain(["lost"].iter()).copied().collect();
        assert_eq!(field(gated(&many, &[])).0, "audience.segments");
    }
}
