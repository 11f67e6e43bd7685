//! A line's price: the tier's member price, category and special discounts, and what each
//! benefit took off, shared by checkout and the order.

use crate::program::Program;
use crate::tiers::{self, level_index, Level};
use crate::usage;
use jiff::{civil::Date, Timestamp};

fn special_applies(d: &tiers::SpecialDiscount, category: Option<&str>, brand: Option<&str>, date: Date) -> bool {
    let matches = d.category.as_deref().is_some_and(|c| category == Some(c))
        || d.brand.as_deref().is_some_and(|b| brand == Some(b));
    let weekday = d.weekdays.is_empty() || d.weekdays.contains(&date.weekday().to_monday_one_offset());
    let day =
        d.dates.is_empty() || d.dates.iter().any(|s| tiers::parse_month_day(s) == Some((date.month(), date.day())));
    matches && weekday && day
}

/// How one line was priced: the tier's discount that won (member price or a category/brand
/// discount), the paid plan's when it is lower still, then the member-day extra. Checkout
/// shows it; an order records what it was worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePrice {
    pub list: i64,
    /// The benefit code of the tier discount that applied: `member_discount`,
    /// `category_discount:{category}` or `brand_discount:{brand}`.
    pub tier_code: String,
    pub tier_percent: i64,
    pub after_tier: i64,
    /// The plan's benefit that took the line below the tier's price (`plan_discount:{plan}`,
    /// `plan_price:{plan}`), or empty.
    pub plan_code: String,
    pub after_plan: i64,
    /// The member-day extra percent, when it applied.
    pub member_day_percent: Option<i64>,
    /// The member price of the line.
    pub price: i64,
}

impl LinePrice {
    /// The codes of the benefits that took something off this line's list price.
    pub(super) fn codes(&self) -> Vec<String> {
        let mut codes = Vec::new();
        if self.tier_percent < 100 {
            codes.push(self.tier_code.clone());
        }
        if self.after_plan < self.after_tier {
            codes.push(self.plan_code.clone());
        }
        if self.member_day_percent.is_some() {
            codes.push(usage::MEMBER_DAY_DISCOUNT.to_owned());
        }
        codes
    }

    /// What each benefit took off this line, the tier's discount first, then the plan's extra,
    /// then member day's, so that together they never exceed `given` (what the line was
    /// actually discounted).
    pub fn uses(&self, given: i64) -> [(&str, i64); 3] {
        let tier = (self.list - self.after_tier).min(given).max(0);
        let plan = (self.after_tier - self.after_plan).min(given - tier).max(0);
        let day = (self.after_plan - self.price).min(given - tier - plan).max(0);
        [(self.tier_code.as_str(), tier), (self.plan_code.as_str(), plan), (usage::MEMBER_DAY_DISCOUNT, day)]
    }
}

/// What prices a member's lines at an instant: the tier, the paid plan whose benefits apply,
/// whether it is member day, and the local date.
pub struct Pricing<'a> {
    pub level: &'a Level,
    pub plan: Option<&'a crate::membership::Plan>,
    pub member_day: bool,
    pub date: Date,
}

impl<'a> Pricing<'a> {
    pub fn at(program: &'a Program, tier: &str, plan: Option<&'a crate::membership::Plan>, at: Timestamp) -> Self {
        let level = &program.file.tiers.levels[level_index(program, tier).unwrap_or(0)];
        let member_day = tiers::is_member_day(program, &level.code, at);
        Self { level, plan, member_day, date: at.to_zoned(program.tz.clone()).date() }
    }
}

/// One line's goods: SKU, category, brand and quantity (the price is the caller's `list`).
pub type Goods<'a> = (&'a str, Option<&'a str>, Option<&'a str>, i64);

/// Price of one line: the best of the member price and matching special discounts, the
/// plan's price when lower, then the member-day extra. Each step rounds down to the fen.
pub fn price_line(
    program: &Program,
    p: &Pricing<'_>,
    (sku, category, brand, quantity): Goods<'_>,
    list: i64,
) -> LinePrice {
    let (level, member_day, date) = (p.level, p.member_day, p.date);
    let mut best = (level.discount_percent, usage::MEMBER_DISCOUNT.to_owned());
    for d in level.special_discounts.iter().filter(|d| special_applies(d, category, brand, date)) {
        if d.percent < best.0 {
            best = (d.percent, usage::special_discount_code(d));
        }
    }
    let after_tier = list * best.0 / 100;
    let (after_plan, plan_code) =
        match p.plan.and_then(|plan| crate::membership::perks::line_price(plan, (sku, category), quantity, list)) {
            Some((price, code)) if price < after_tier => (price, code),
            _ => (after_tier, String::new()),
        };
    let extra = program.file.member_day.extra_percent;
    let day = member_day && extra < 100;
    LinePrice {
        list,
        tier_code: best.1,
        tier_percent: best.0,
        after_tier,
        plan_code,
        after_plan,
        member_day_percent: day.then_some(extra),
        price: if day { after_plan * extra / 100 } else { after_plan },
    }
}

/// Adds `value` to the benefit `code` in `out`, keeping first-seen order.
pub(crate) fn add_use(out: &mut Vec<(String, i64)>, code: &str, value: i64) {
    if value <= 0 {
        return;
    }
    match out.iter_mut().find(|(c, _)| c == code) {
        Some((_, v)) => *v += value,
        None => out.push((code.to_owned(), value)),
    }
}
