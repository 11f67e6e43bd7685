//! Member profiles: what a store tells us about its customer.

use crate::error::DomainError;
use crate::ledger::MemberStatus;
use crate::order::{parse_instant, MAX_TEXT};
use jiff::{civil::Date, Timestamp};
use serde::{Deserialize, Serialize};

/// A `PUT /v1/members/{id}` body: fields sent are set, fields omitted keep their value.
/// Its `Debug` shows which personal fields were sent, never their values.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::member_name))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::phone))]
    pub phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::email))]
    pub email: Option<String>,
    /// `YYYY-MM-DD`.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::birthday))]
    pub birthday: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::channel))]
    pub channel: Option<String>,
    /// RFC 3339 with offset.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub registered_at: Option<String>,
    /// `active` | `frozen` | `closed`.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::member_status_opt))]
    pub status: Option<String>,
    /// The referral code of the member who invited this one (邀请码): counts only when this
    /// request creates the member; sent for a member that exists, the attempt is recorded as
    /// refused (`invitee_existed`) and the other fields still apply.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{8}$"))]
    pub referred_by: Option<String>,
}

/// A member's profile as stored. Its `Debug` never shows the personal fields (name, phone,
/// email, birthday), only whether each is set: profiles end up in logs and error details.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<Date>,
    pub channel: Option<String>,
    pub registered_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the member's personal data was erased (`erase`); an erased member takes no writes.
    pub erased_at: Option<Timestamp>,
    /// When a birthday already set was last changed: it may change once a year
    /// (`engagement::gifts::birthday_change`), so the birthday gift cannot be farmed.
    pub birthday_changed_at: Option<Timestamp>,
}

/// The fields an erasure removes.
pub const PERSONAL_FIELDS: [&str; 4] = ["name", "phone", "email", "birthday"];
/// Most characters of a phone number, an email address and a channel.
pub const MAX_PHONE: usize = 32;
pub const MAX_EMAIL: usize = 254;
pub const MAX_CHANNEL: usize = 64;
/// What a phone number may hold besides digits.
pub const PHONE_PUNCTUATION: &str = "+- ()";
/// Most characters an erasure's reason may have.
pub const MAX_ERASE_REASON: usize = 500;

/// Shows a personal field as set or not, never its value.
struct Redacted(bool);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0 { "Some(<redacted>)" } else { "None" })
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("name", &Redacted(self.name.is_some()))
            .field("phone", &Redacted(self.phone.is_some()))
            .field("email", &Redacted(self.email.is_some()))
            .field("birthday", &Redacted(self.birthday.is_some()))
            .field("channel", &self.channel)
            .field("registered_at", &self.registered_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("erased_at", &self.erased_at)
            .field("birthday_changed_at", &self.birthday_changed_at)
            .finish()
    }
}

impl std::fmt::Debug for MemberInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberInput")
            .field("name", &Redacted(self.name.is_some()))
            .field("phone", &Redacted(self.phone.is_some()))
            .field("email", &Redacted(self.email.is_some()))
            .field("birthday", &Redacted(self.birthday.is_some()))
            .field("channel", &self.channel)
            .field("registered_at", &self.registered_at)
            .field("status", &self.status)
            .field("referred_by", &self.referred_by)
            .finish()
    }
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
            erased_at: None,
            birthday_changed_at: None,
        }
    }

    /// Removes the personal fields (PIPL, GDPR erasure) and marks the profile erased at `now`.
    /// The channel and the dates stay: they say nothing about the person, and the ledger and
    /// orders, kept for accounting, refer to the member by id only.
    pub fn erase(&mut self, now: Timestamp) {
        self.name = None;
        self.phone = None;
        self.email = None;
        self.birthday = None;
        // When the birthday changed says something of it; an erased member changes nothing more.
        self.birthday_changed_at = None;
        self.erased_at = Some(now);
        self.updated_at = now;
    }
}

/// An erasure's reason, checked: 1 to `MAX_ERASE_REASON` characters, not only spaces, no
/// control characters.
pub fn erase_reason(raw: &str) -> Result<String, DomainError> {
    let n = raw.chars().count();
    if raw.trim().is_empty() || n > MAX_ERASE_REASON || raw.chars().any(char::is_control) {
        return Err(DomainError::unprocessable(
            "reason",
            format!("is required: 1 to {MAX_ERASE_REASON} characters without control characters (got {n})"),
        ));
    }
    Ok(raw.to_owned())
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
        let phone = text("phone", &self.phone, MAX_PHONE)?;
        if let Some(p) = &phone {
            if !p.chars().all(|c| c.is_ascii_digit() || PHONE_PUNCTUATION.contains(c)) {
                return Err(DomainError::unprocessable("phone", "may hold only digits, spaces and + - ( )"));
            }
        }
        let email = text("email", &self.email, MAX_EMAIL)?;
        if let Some(e) = &email {
            if !e.contains('@') || e.starts_with('@') || e.ends_with('@') {
                // The address itself is not repeated: error details end up in logs.
                return Err(DomainError::unprocessable("email", "is not an email address: text, an @, text"));
            }
        }
        let birthday =
            match &self.birthday {
                Some(b) => Some(b.parse::<Date>().map_err(|_| {
                    DomainError::unprocessable("birthday", format!("{b:?} is not a date like 1990-05-18"))
                })?),
                None => None,
            };
        let channel = text("channel", &self.channel, MAX_CHANNEL)?;
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
        // Decided before anything of the input is applied: a refusal changes nothing.
        let changed = match birthday {
            Some(b) => {
                crate::engagement::gifts::birthday_change(profile.birthday, profile.birthday_changed_at, b, now)?
            }
            None => false,
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
        if let Some(b) = birthday {
            if changed {
                profile.birthday_changed_at = Some(now);
            }
            profile.birthday = Some(b);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Profiles and inputs reach logs and error details through `Debug`: never with a phone
    /// number, an email address, a name or a birthday.
    #[test]
    fn debug_never_shows_personal_data() {
        let now = Timestamp::UNIX_EPOCH;
        let input = MemberInput {
            name: Some("Zhang Wei".into()),
            phone: Some("13800138000".into()),
            email: Some("wei@example.com".into()),
            birthday: Some("1990-05-18".into()),
            channel: Some("app".into()),
            ..Default::default()
        };
        let mut profile = Profile::new(now, now);
        input.apply(&mut profile, now).unwrap();
        for shown in [format!("{profile:?}"), format!("{input:?}"), format!("{profile:#?}")] {
            for secret in ["Zhang", "13800138000", "wei@example.com", "1990", "05-18"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("<redacted>") && shown.contains("app"), "{shown}");
        }
        let err = MemberInput { email: Some("wei.example.com".into()), ..Default::default() }
            .apply(&mut profile, now)
            .unwrap_err();
        assert!(!err.to_string().contains("wei.example.com"), "{err}");
    }

    /// Erasure removes the four personal fields and nothing else.
    #[test]
    fn erase_removes_the_personal_fields_only() {
        let (t0, t1) = (Timestamp::UNIX_EPOCH, Timestamp::from_second(60).unwrap());
        let mut p = Profile::new(t0, t0);
        let input = MemberInput {
            name: Some("A".into()),
            phone: Some("1".into()),
            email: Some("a@b".into()),
            birthday: Some("1990-01-01".into()),
            channel: Some("app".into()),
            ..Default::default()
        };
        input.apply(&mut p, t0).unwrap();
        p.erase(t1);
        assert_eq!((&p.name, &p.phone, &p.email, p.birthday), (&None, &None, &None, None));
        assert_eq!((p.channel.as_deref(), p.erased_at, p.updated_at, p.registered_at), (Some("app"), Some(t1), t1, t0));
        assert!(erase_reason(" ").is_err() && erase_reason(&"x".repeat(501)).is_err());
        assert_eq!(erase_reason("member asked").unwrap(), "member asked");
    }
}
