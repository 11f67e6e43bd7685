//! The validation of a template's terms: every refusal names its field.

use super::template::*;
use crate::error::DomainError;
use crate::ids::TemplateId;
use crate::order::{check_amount, MAX_AMOUNT_MINOR, MAX_TEXT};
use crate::program::Program;
use crate::tiers::level_index;
use jiff::Timestamp;

pub(crate) fn text(field: &str, v: &str) -> Result<(), DomainError> {
    crate::text::check_text(field, v, 1..=MAX_TEXT)
}

pub(crate) fn amount(field: &str, v: i64) -> Result<(), DomainError> {
    check_amount(field, v)
}

pub(crate) fn positive(field: &str, v: i64, max: i64) -> Result<(), DomainError> {
    crate::limits::check_range(field, v, 1, max)
}

pub(crate) fn check_benefit(b: &Benefit) -> Result<(), DomainError> {
    let f = |n: &str| format!("benefit.{n}");
    match b {
        Benefit::AmountOff { value_minor, threshold_minor, step, max_off_minor } => {
            positive(&f("value_minor"), *value_minor, MAX_AMOUNT_MINOR)?;
            amount(&f("threshold_minor"), *threshold_minor)?;
            if *threshold_minor > 0 && threshold_minor < value_minor {
                return Err(DomainError::unprocessable(
                    f("threshold_minor"),
                    format!("{threshold_minor} is below the discount {value_minor}: the coupon would pay for goods"),
                ));
            }
            if *step && *threshold_minor == 0 {
                return Err(DomainError::unprocessable(f("step"), "a step coupon needs a threshold_minor above 0"));
            }
            if let Some(m) = max_off_minor {
                positive(&f("max_off_minor"), *m, MAX_AMOUNT_MINOR)?;
                if m < value_minor {
                    return Err(DomainError::unprocessable(
                        f("max_off_minor"),
                        format!("{m} is below value_minor {value_minor}"),
                    ));
                }
            }
        }
        Benefit::PercentOff { percent_off, max_off_minor, threshold_minor } => {
            if !(1..=99).contains(percent_off) {
                return Err(DomainError::unprocessable(
                    f("percent_off"),
                    format!("{percent_off} must be between 1 and 99 (percent taken off)"),
                ));
            }
            if let Some(m) = max_off_minor {
                positive(&f("max_off_minor"), *m, MAX_AMOUNT_MINOR)?;
            }
            amount(&f("threshold_minor"), *threshold_minor)?;
        }
        Benefit::FreeShipping { threshold_minor } => amount(&f("threshold_minor"), *threshold_minor)?,
        Benefit::PointsMultiplier { multiplier_percent, threshold_minor } => {
            if !(101..=1000).contains(multiplier_percent) {
                return Err(DomainError::unprocessable(
                    f("multiplier_percent"),
                    format!("{multiplier_percent} must be between 101 and 1000 (150 is ×1.5)"),
                ));
            }
            amount(&f("threshold_minor"), *threshold_minor)?;
        }
        Benefit::Gift { sku, value_minor, threshold_minor } => {
            text(&f("sku"), sku)?;
            amount(&f("value_minor"), *value_minor)?;
            amount(&f("threshold_minor"), *threshold_minor)?;
        }
    }
    Ok(())
}

pub(crate) fn check_goods(field: &str, g: &Goods) -> Result<(), DomainError> {
    for (name, list) in [("categories", &g.categories), ("brands", &g.brands), ("skus", &g.skus)] {
        if list.len() > MAX_SCOPE_ENTRIES {
            return Err(DomainError::unprocessable(
                format!("{field}.{name}"),
                format!("holds {} entries; at most {MAX_SCOPE_ENTRIES}", list.len()),
            ));
        }
        for (i, v) in list.iter().enumerate() {
            text(&format!("{field}.{name}[{i}]"), v)?;
        }
    }
    Ok(())
}

pub(crate) fn check_scope(s: &Scope) -> Result<(), DomainError> {
    check_goods("scope.include", &s.include)?;
    check_goods("scope.exclude", &s.exclude)?;
    let pairs = [
        ("categories", &s.include.categories, &s.exclude.categories),
        ("brands", &s.include.brands, &s.exclude.brands),
        ("skus", &s.include.skus, &s.exclude.skus),
    ];
    for (name, inc, exc) in pairs {
        if let Some(both) = inc.iter().find(|v| exc.contains(v)) {
            return Err(DomainError::unprocessable(
                format!("scope.exclude.{name}"),
                format!("{both:?} is both included and excluded"),
            ));
        }
    }
    Ok(())
}

/// An audience's tier must be one of the programme's, its segments and stages member
/// insight's, each named once.
pub(crate) fn check_audience(program: &Program, a: &Audience) -> Result<(), DomainError> {
    use super::audience::{check_names, SEGMENTS, STAGES};
    if let Some(t) = &a.min_tier {
        if level_index(program, t).is_none() {
            let known: Vec<&str> = program.file.tiers.levels.iter().map(|l| l.code.as_str()).collect();
            return Err(DomainError::unprocessable(
                "audience.min_tier",
                format!("{t:?} is not a tier of the programme ({})", known.join(", ")),
            ));
        }
    }
    check_names("audience.segments", &a.segments, &SEGMENTS, "segment")?;
    check_names("audience.stages", &a.stages, &STAGES, "lifecycle stage")
}

pub(crate) fn check_validity(v: &Validity) -> Result<(), DomainError> {
    match v {
        Validity::Fixed { from, until } => {
            let a = crate::instant::parse_instant("validity.fixed.from", from)?;
            let b = crate::instant::parse_instant("validity.fixed.until", until)?;
            if b <= a {
                return Err(DomainError::unprocessable("validity.fixed.until", format!("{until} is not after {from}")));
            }
        }
        Validity::Relative { days, .. } => positive("validity.relative.days", *days, MAX_VALID_DAYS)?,
    }
    Ok(())
}

pub(crate) fn check_limits(l: &Limits) -> Result<(), DomainError> {
    for (name, v) in
        [("lifetime", l.lifetime), ("per_day", l.per_day), ("per_week", l.per_week), ("per_month", l.per_month)]
    {
        if let Some(v) = v {
            positive(&format!("limits.{name}"), v, MAX_PER_MEMBER)?;
        }
    }
    Ok(())
}

impl TemplateInput {
    /// Validates the terms against `program` (tiers named must exist). Every refusal names
    /// its field.
    pub fn validate(&self, program: &Program, now: Timestamp) -> Result<Template, DomainError> {
        let id = TemplateId::parse(&self.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
        text("name", &self.name)?;
        check_benefit(&self.benefit)?;
        check_scope(&self.scope)?;
        check_audience(program, &self.audience)?;
        check_validity(&self.validity)?;
        if let Some(s) = self.stock {
            crate::limits::check_range("stock", s, 0, MAX_STOCK)?;
        }
        check_limits(&self.limits)?;
        if self.channels.is_empty() {
            return Err(DomainError::unprocessable("channels", "name at least one of claim, issue, code"));
        }
        let mut terms = self.clone();
        if let Some(c) = &self.code {
            terms.code = Some(super::code::normalize("code", c)?);
            if !self.channels.contains(&Channel::Code) {
                return Err(DomainError::unprocessable("channels", "a template with a code needs the code channel"));
            }
        }
        terms.channels.sort_by_key(|c| c.as_str());
        terms.channels.dedup();
        Ok(Template { id, terms, status: TemplateStatus::Active, issued: 0, created_at: now, updated_at: now })
    }
}
