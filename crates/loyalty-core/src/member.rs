//! Member profiles: what a store tells us about its customer.

use crate::error::DomainError;
use crate::ledger::MemberStatus;
use crate::order::{parse_instant, MAX_TEXT};
use jiff::{civil::Date, Timestamp};
use serde::{Deserialize, Serialize};

/// A `PUT /v1/members/{id}` body: fields sent are set, fields omitted keep their value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    pub channel: Option<String>,
    /// RFC 3339 with offset.
    pub registered_at: Option<String>,
    /// `active` | `frozen` | `closed`.
    pub status: Option<String>,
}

/// A member's profile as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<Date>,
    pub channel: Option<String>,
    pub registered_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Profile {
    pub fn new(registered_at: Timestamp, now: Timestamp) -> Self {
        Self {
            name: None,
            phone: None,
            email: None,
            birthday: None,
            channel: None,
            registered_at,
            created_at: now,
            updated_at: now,
        }
    }
}

fn text(field: &str, v: &Option<String>, max: usize) -> Result<Option<String>, DomainError> {
    match v {
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => Err(DomainError::unprocessable(
            field,
            format!("must be at most {max} characters without control characters"),
        )),
        other => Ok(other.clone()),
    }
}

impl MemberInput {
    /// Applies this input to `profile` (and returns the new status, if one was sent).
    pub fn apply(&self, profile: &mut Profile, now: Timestamp) -> Result<Option<MemberStatus>, DomainError> {
        let name = text("name", &self.name, MAX_TEXT)?;
        let phone = text("phone", &self.phone, 32)?;
        if let Some(p) = &phone {
            if !p.chars().all(|c| c.is_ascii_digit() || "+- ()".contains(c)) {
                return Err(DomainError::unprocessable("phone", "may hold only digits, spaces and + - ( )"));
            }
        }
        let email = text("email", &self.email, 254)?;
        if let Some(e) = &email {
            if !e.contains('@') || e.starts_with('@') || e.ends_with('@') {
                return Err(DomainError::unprocessable("email", format!("{e:?} is not an email address")));
            }
        }
        let birthday =
            match &self.birthday {
                Some(b) => Some(b.parse::<Date>().map_err(|_| {
                    DomainError::unprocessable("birthday", format!("{b:?} is not a date like 1990-05-18"))
                })?),
                None => None,
            };
        let channel = text("channel", &self.channel, 64)?;
        let registered_at = match &self.registered_at {
            Some(r) => Some(parse_instant("registered_at", r)?),
            None => None,
        };
        let status = match &self.status {
            Some(s) => Some(MemberStatus::parse(s).ok_or_else(|| {
                DomainError::unprocessable("status", format!("{s:?} is not one of active, frozen, closed"))
            })?),
            None => None,
        };
        if name.is_some() {
            profile.name = name;
        }
        if phone.is_some() {
            profile.phone = phone;
        }
        if email.is_some() {
            profile.email = email;
        }
        if birthday.is_some() {
            profile.birthday = birthday;
        }
        if channel.is_some() {
            profile.channel = channel;
        }
        if let Some(r) = registered_at {
            profile.registered_at = r;
        }
        profile.updated_at = now;
        Ok(status)
    }
}
