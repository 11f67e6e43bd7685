//! The one change a template allows after it is created (`PATCH`): name, status and stock.

use super::template::{Template, TemplateStatus, MAX_STOCK};
use super::validate::text;
use crate::error::DomainError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A change operations make to a template (`PATCH`): only these, so issued coupons keep
/// their terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text_opt))]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<TemplateStatus>,
    /// The new stock; `null` is unlimited. Never below what was issued.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_stock_opt))]
    pub stock: Option<Option<i64>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
    pub fn serialize<S: Serializer>(v: &Option<Option<i64>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }
}

impl TemplatePatch {
    /// The template with the patch applied at `now`; refused when it names nothing, lowers the
    /// stock below what was issued, or reopens an ended template.
    pub fn apply(&self, t: &Template, now: Timestamp) -> Result<Template, DomainError> {
        if self.name.is_none() && self.status.is_none() && self.stock.is_none() {
            return Err(DomainError::unprocessable("name", "send at least one of name, status, stock"));
        }
        let mut out = t.clone();
        rename_or_restate("template", (&self.name, self.status), (&mut out.terms.name, &mut out.status))?;
        if let Some(stock) = self.stock {
            out.terms.stock = restock(stock, t.issued, "coupons already issued")?;
        }
        out.updated_at = now;
        Ok(out)
    }
}

/// The name and status a patch of a template, a reward or a lottery sets: a name is checked
/// text, and an ended one stays ended.
pub(crate) fn rename_or_restate(
    what: &str,
    (name, status): (&Option<String>, Option<TemplateStatus>),
    (out_name, out_status): (&mut String, &mut TemplateStatus),
) -> Result<(), DomainError> {
    if let Some(n) = name {
        text("name", n)?;
        n.clone_into(out_name);
    }
    if let Some(s) = status {
        if *out_status == TemplateStatus::Ended && s != TemplateStatus::Ended {
            return Err(DomainError::unprocessable("status", format!("an ended {what} stays ended")));
        }
        *out_status = s;
    }
    Ok(())
}

/// A new stock (`None`: unlimited), never below the `taken` units (`taken_what` names them).
pub(crate) fn restock(stock: Option<i64>, taken: i64, taken_what: &str) -> Result<Option<i64>, DomainError> {
    if let Some(s) = stock {
        crate::limits::check_range("stock", s, 0, MAX_STOCK)?;
        if s < taken {
            return Err(DomainError::unprocessable("stock", format!("{s} is below the {taken} {taken_what}")));
        }
    }
    Ok(stock)
}
