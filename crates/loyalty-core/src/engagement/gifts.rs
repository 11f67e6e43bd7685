//! Birthday gifts and member-day packs (生日礼、会员日礼包): which period a member is due a
//! gift for on a local day, the windows the scheduler looks in, and the birthday change limit
//! that keeps the gift from being farmed. Pure: the local day and the instant come in.
//!
//! A gift is keyed by member, kind and period: the year of the birthday month (`2026`) or the
//! member day's month (`2026-12`). One row per key, whatever the birthday says later.

use crate::config_file::{out_of_range, ConfigIssue};
use crate::ids::{CouponId, MemberId};
use crate::tiers::{Birthday, MemberDay};
use crate::DomainError;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// How many days before the birthday month a `before_month` gift may start.
pub const MAX_DAYS_BEFORE: i64 = 60;
/// Most templates a member-day pack names, and coupons of one template it gives.
pub const MAX_PACK_ITEMS: usize = 16;
pub const MAX_PACK_COUNT: i64 = 10;
/// How long after a change a birthday stays as it is.
pub const BIRTHDAY_LOCK_DAYS: i64 = 365;

crate::config_file::named_enum! {
    /// When the birthday gift is given: from `days_before` days before the 1st of the birthday
    /// month, or on the birthday itself; either way until the birthday month ends.
    #[derive(Default)]
    pub enum GiftWhen {
        #[default]
        BeforeMonth = "before_month",
        OnBirthday = "on_birthday",
    }
}

/// One line of a member-day pack: `count` coupons of `template`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackItem {
    pub template: String,
    #[serde(default = "one")]
    pub count: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiftKind {
    Birthday,
    MemberDay,
}

impl GiftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Birthday => "birthday",
            Self::MemberDay => "member_day",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Birthday, Self::MemberDay].into_iter().find(|k| k.as_str() == s)
    }
}

/// A gift as recorded: the coupons given and, for each template that could not give one, why.
/// A gift that gave nothing (`not_given` only) stands too: it is not tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gift {
    pub member_id: MemberId,
    pub kind: GiftKind,
    pub period: String,
    pub at: Timestamp,
    pub coupons: Vec<CouponId>,
    pub not_given: Vec<String>,
}

impl Gift {
    /// `given` when at least one coupon was issued, `not_given` otherwise.
    pub fn status(&self) -> &'static str {
        if self.coupons.is_empty() {
            "not_given"
        } else {
            "given"
        }
    }
}

/// The first and last local day of the year `year`'s birthday gift window for `birthday`.
pub fn birthday_window(b: &Birthday, birthday: Date, year: i16) -> Option<(Date, Date)> {
    let first = Date::new(year, birthday.month(), 1).ok()?;
    let last = first.last_of_month();
    let start = match b.gift_when {
        GiftWhen::BeforeMonth => first.checked_sub(b.days_before.days()).ok()?,
        // 29 February in a common year: the last day of February.
        GiftWhen::OnBirthday => Date::new(year, birthday.month(), birthday.day().min(last.day())).ok()?,
    };
    Some((start, last))
}

/// The period (birthday year) `today` falls in the gift window of, if any: this year's, or
/// next year's when a `before_month` window of a January birthday starts in December.
pub fn birthday_due(b: &Birthday, birthday: Date, today: Date) -> Option<String> {
    b.gift.as_ref()?;
    [today.year(), today.year().saturating_add(1)].into_iter().find_map(|year| {
        let (start, end) = birthday_window(b, birthday, year)?;
        (start <= today && today <= end).then(|| year.to_string())
    })
}

/// The ranges of birthdays (`MM-DD` of the stored date, inclusive) due on `today`, each with
/// its period: the scheduler's query, one range per birthday month whose window holds today
/// (at most two). Exactly the birthdays [`birthday_due`] admits.
pub fn birthday_ranges(b: &Birthday, today: Date) -> Vec<(String, String, String)> {
    if b.gift.is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut month = today.first_of_month();
    // This month, and the months ahead whose window has begun (at most 60 days before).
    for _ in 0..4 {
        let last = month.last_of_month();
        let md = |d: Date| format!("{:02}-{:02}", d.month(), d.day());
        let range = match b.gift_when {
            GiftWhen::BeforeMonth => {
                let start = month.checked_sub(b.days_before.days()).ok();
                start.filter(|s| *s <= today).map(|_| (md(month), format!("{:02}-31", month.month())))
            }
            // Today's birthdays and the earlier ones of the month; on the month's last day the
            // days it lacks (29 February in a common year) too.
            GiftWhen::OnBirthday if month == today.first_of_month() => {
                let to = if today == last { format!("{:02}-31", month.month()) } else { md(today) };
                Some((md(month), to))
            }
            GiftWhen::OnBirthday => None,
        };
        if let Some((from, to)) = range {
            out.push((from, to, month.year().to_string()));
        }
        match last.tomorrow() {
            Ok(next) => month = next,
            Err(_) => break,
        }
    }
    out
}

/// The member day of `today`'s month this year: the configured day, or the month's last day
/// when the month is shorter (a member day on the 31st falls on 30 April).
fn member_day_of(md: &MemberDay, today: Date) -> Option<Date> {
    (md.day_of_month > 0).then(|| {
        let last = today.last_of_month();
        Date::new(today.year(), today.month(), md.day_of_month.min(last.day())).unwrap_or(last)
    })
}

/// The month (`2026-12`) whose member-day pack a member of `tier` is due on `today`: from the
/// member day to the month's end (a day missed is caught up, a month missed is not).
pub fn member_day_due(md: &MemberDay, tier: &str, today: Date) -> Option<String> {
    if md.pack.is_empty() || !(md.tiers.is_empty() || md.tiers.iter().any(|t| t == tier)) {
        return None;
    }
    let day = member_day_of(md, today)?;
    (today >= day).then(|| month_period(today))
}

/// The member-day period of `today` when packs are due to anyone on it.
pub fn member_day_period(md: &MemberDay, today: Date) -> Option<String> {
    let day = member_day_of(md, today)?;
    (!md.pack.is_empty() && today >= day).then(|| month_period(today))
}

fn month_period(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// Whether `period` of `kind` is one a gift row may have: `YYYY` or `YYYY-MM`.
pub fn valid_period(kind: GiftKind, period: &str) -> bool {
    let digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
    match kind {
        GiftKind::Birthday => digits(period),
        GiftKind::MemberDay => period
            .split_once('-')
            .is_some_and(|(y, m)| digits(y) && m.len() == 2 && m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))),
    }
}

/// The birthday change limit: a birthday already set may change once in
/// [`BIRTHDAY_LOCK_DAYS`] days; setting it the first time and sending the same one are free.
/// `Ok(true)` when `new` changes a set birthday (the change's instant is then recorded).
pub fn birthday_change(
    old: Option<Date>,
    changed_at: Option<Timestamp>,
    new: Date,
    now: Timestamp,
) -> Result<bool, DomainError> {
    let Some(old) = old else { return Ok(false) };
    if old == new {
        return Ok(false);
    }
    if let Some(at) = changed_at {
        let next = crate::calendar::plus_secs(at, BIRTHDAY_LOCK_DAYS * 86_400);
        if now < next {
            return Err(DomainError::BirthdayLocked { changed_at: at.to_string(), next_change_at: next.to_string() });
        }
    }
    Ok(true)
}

/// Checks `[birthday]`'s gift keys and `[member_day]`'s pack, every problem by its key.
pub(crate) fn validate(b: &Birthday, md: &MemberDay, issues: &mut Vec<ConfigIssue>) {
    let mut bad = |field: String, reason: String| issues.push(ConfigIssue { field, reason });
    if let Some(t) = &b.gift {
        if crate::ids::TemplateId::parse(t).is_err() {
            bad("birthday.gift".into(), format!("{t:?} is not a template id"));
        }
    }
    if let Some(reason) = out_of_range(b.days_before, 0, MAX_DAYS_BEFORE) {
        bad("birthday.days_before".into(), reason);
    }
    if b.gift_when == GiftWhen::OnBirthday && b.days_before != 0 {
        bad("birthday.days_before".into(), "applies only to gift_when = \"before_month\"; leave it out".into());
    }
    if md.pack.len() > MAX_PACK_ITEMS {
        bad("member_day.pack".into(), format!("holds {} items; at most {MAX_PACK_ITEMS}", md.pack.len()));
    }
    if !md.pack.is_empty() && md.day_of_month == 0 {
        bad("member_day.pack".into(), "needs a member day: day_of_month is 0".into());
    }
    for (i, item) in md.pack.iter().enumerate() {
        if crate::ids::TemplateId::parse(&item.template).is_err() {
            bad(format!("member_day.pack[{i}].template"), format!("{:?} is not a template id", item.template));
        }
        if let Some(reason) = out_of_range(item.count, 1, MAX_PACK_COUNT) {
            bad(format!("member_day.pack[{i}].count"), reason);
        }
    }
}
