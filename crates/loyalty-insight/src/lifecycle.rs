//! Lifecycle stages: where a member stands between a first order and being lost, by days since
//! the last order, optionally sharpened by the BG/NBD probability of being alive.

use serde::{Deserialize, Serialize};

use crate::rfm::{check_members, MemberSummary};
use crate::InsightError;

/// The stage of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    New,
    Active,
    AtRisk,
    Sleeping,
    Lost,
    NeverBought,
}

impl LifecycleStage {
    pub const ALL: [Self; 6] = [Self::New, Self::Active, Self::AtRisk, Self::Sleeping, Self::Lost, Self::NeverBought];

    /// The stable ASCII code, equal to the JSON form.
    pub fn code(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Active => "active",
            Self::AtRisk => "at_risk",
            Self::Sleeping => "sleeping",
            Self::Lost => "lost",
            Self::NeverBought => "never_bought",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::New => "新客",
            Self::Active => "活跃",
            Self::AtRisk => "流失风险",
            Self::Sleeping => "沉睡",
            Self::Lost => "流失",
            Self::NeverBought => "未购买",
        }
    }
}

/// Day thresholds of the stages, inclusive, and the P(alive) floor of an active member.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// First order at most this many days ago: `new`.
    pub new_days: u32,
    /// Last order at most this many days ago: `active`.
    pub active_days: u32,
    /// … at most this many: `at_risk`.
    pub at_risk_days: u32,
    /// … at most this many: `sleeping`; older: `lost`.
    pub sleeping_days: u32,
    /// An `active` member whose P(alive) is below this becomes `at_risk`; `None` turns the rule
    /// off. Recency alone cannot see that a weekly buyer silent for 60 days is slipping, while a
    /// quarterly buyer silent for 60 days is on schedule; P(alive) can.
    pub p_alive_floor: Option<f64>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self { new_days: 30, active_days: 90, at_risk_days: 180, sleeping_days: 365, p_alive_floor: Some(0.3) }
    }
}

impl LifecycleConfig {
    pub fn validate(&self) -> Result<(), InsightError> {
        if !(self.new_days <= self.active_days
            && self.active_days < self.at_risk_days
            && self.at_risk_days < self.sleeping_days)
        {
            return Err(InsightError::config(
                "lifecycle",
                "need new_days <= active_days < at_risk_days < sleeping_days",
            ));
        }
        if let Some(floor) = self.p_alive_floor {
            if !(floor > 0.0 && floor < 1.0) {
                return Err(InsightError::config("p_alive_floor", "must lie strictly between 0 and 1"));
            }
        }
        Ok(())
    }

    /// The stage of a member already validated, with P(alive) already checked to lie in [0, 1].
    fn classify(&self, member: &MemberSummary, p_alive: Option<f64>) -> LifecycleStage {
        let Some(first_order_age) = member.first_order_age_days else {
            return LifecycleStage::NeverBought;
        };
        // Bought before the window but not in it: the window is expected to be at least
        // `sleeping_days` long, so no order in it means lost.
        let Some(recency) = member.recency_days else {
            return LifecycleStage::Lost;
        };
        if first_order_age <= self.new_days {
            return LifecycleStage::New;
        }
        if recency <= self.active_days {
            let slipping = matches!((p_alive, self.p_alive_floor), (Some(p), Some(floor)) if p < floor);
            return if slipping { LifecycleStage::AtRisk } else { LifecycleStage::Active };
        }
        if recency <= self.at_risk_days {
            LifecycleStage::AtRisk
        } else if recency <= self.sleeping_days {
            LifecycleStage::Sleeping
        } else {
            LifecycleStage::Lost
        }
    }
}

/// The stage of one member; `p_alive` from [`crate::bgnbd::p_alive`] when a model is fitted.
pub fn stage(
    member: &MemberSummary,
    p_alive: Option<f64>,
    config: &LifecycleConfig,
) -> Result<LifecycleStage, InsightError> {
    config.validate()?;
    member.validate()?;
    check_probability(&member.member_id, p_alive)?;
    Ok(config.classify(member, p_alive))
}

/// Stages of all members in input order; `p_alive`, when given, has one entry per member.
pub fn stages(
    members: &[MemberSummary],
    p_alive: Option<&[f64]>,
    config: &LifecycleConfig,
) -> Result<Vec<LifecycleStage>, InsightError> {
    config.validate()?;
    check_members(members)?;
    if let Some(p) = p_alive {
        if p.len() != members.len() {
            return Err(InsightError::config(
                "p_alive",
                format!("has {} entries for {} members", p.len(), members.len()),
            ));
        }
    }
    members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = p_alive.map(|p| p[i]);
            check_probability(&m.member_id, p)?;
            Ok(config.classify(m, p))
        })
        .collect()
}

fn check_probability(member_id: &str, p: Option<f64>) -> Result<(), InsightError> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) => {
            Err(InsightError::invalid("member", member_id, format!("P(alive) {p} is not in [0, 1]")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(recency: Option<u32>, first: Option<u32>) -> MemberSummary {
        MemberSummary {
            member_id: "m".into(),
            recency_days: recency,
            frequency: u32::from(recency.is_some()) * 3,
            monetary_minor: 100,
            first_order_age_days: first,
        }
    }

    #[test]
    fn stages_follow_the_day_thresholds_inclusively() {
        let c = LifecycleConfig::default();
        let cases = [
            (None, None, LifecycleStage::NeverBought),
            (None, Some(400), LifecycleStage::Lost),
            (Some(3), Some(30), LifecycleStage::New),
            (Some(3), Some(31), LifecycleStage::Active),
            (Some(90), Some(400), LifecycleStage::Active),
            (Some(91), Some(400), LifecycleStage::AtRisk),
            (Some(180), Some(400), LifecycleStage::AtRisk),
            (Some(181), Some(400), LifecycleStage::Sleeping),
            (Some(365), Some(400), LifecycleStage::Sleeping),
            (Some(366), Some(400), LifecycleStage::Lost),
        ];
        for (recency, first, want) in cases {
            assert_eq!(stage(&member(recency, first), None, &c).unwrap(), want, "{recency:?} {first:?}");
        }
    }

    #[test]
    fn a_low_p_alive_demotes_only_active_members() {
        let c = LifecycleConfig::default();
        assert_eq!(stage(&member(Some(40), Some(200)), Some(0.29), &c).unwrap(), LifecycleStage::AtRisk);
        assert_eq!(stage(&member(Some(40), Some(200)), Some(0.30), &c).unwrap(), LifecycleStage::Active);
        assert_eq!(stage(&member(Some(5), Some(20)), Some(0.01), &c).unwrap(), LifecycleStage::New);
        assert_eq!(stage(&member(Some(200), Some(300)), Some(0.99), &c).unwrap(), LifecycleStage::Sleeping);
        let off = LifecycleConfig { p_alive_floor: None, ..c };
        assert_eq!(stage(&member(Some(40), Some(200)), Some(0.01), &off).unwrap(), LifecycleStage::Active);
    }

    #[test]
    fn bad_configs_and_probabilities_are_refused() {
        let c = LifecycleConfig { at_risk_days: 90, ..LifecycleConfig::default() };
        assert_eq!(stage(&member(None, None), None, &c).unwrap_err().code(), "invalid_config");
        let c = LifecycleConfig::default();
        assert_eq!(stage(&member(Some(1), Some(2)), Some(1.5), &c).unwrap_err().code(), "invalid_input");
        assert!(stages(&[member(None, None)], Some(&[]), &c).is_err());
    }
}
