//! The pages' templates: minijinja, with the templates embedded in the binary and parsed once.
//! HTML is escaped by default (names end in `.html`); the only markup passed through unescaped
//! is the SVG the report's chart code draws (`|safe`), whose text it escapes itself.

use super::i18n::{self, Lang};
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, Value};
use std::sync::OnceLock;

/// Every template, by the name pages render it with.
const TEMPLATES: &[(&str, &str)] = &[
    ("console/base.html", include_str!("../../templates/console/base.html")),
    ("console/login.html", include_str!("../../templates/console/login.html")),
    ("console/dashboard.html", include_str!("../../templates/console/dashboard.html")),
    ("console/members.html", include_str!("../../templates/console/members.html")),
    ("console/member.html", include_str!("../../templates/console/member.html")),
    ("console/keys.html", include_str!("../../templates/console/keys.html")),
    ("console/message.html", include_str!("../../templates/console/message.html")),
    ("member/base.html", include_str!("../../templates/member/base.html")),
    ("member/home.html", include_str!("../../templates/member/home.html")),
    ("member/message.html", include_str!("../../templates/member/message.html")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("template {name} does not parse: {e:#}"));
        }
        env.add_filter("fill", fill);
        env.add_filter("num", num);
        env.add_filter("money", money);
        env.add_filter("yuan", yuan);
        env.add_filter("when", when);
        env.add_filter("day", day);
        env.add_filter("pct", pct);
        env
    })
}

/// Renders template `name` with `ctx`, plus `t` (the language's strings) and `lang`.
pub fn render(name: &str, lang: Lang, ctx: Value) -> Result<String, Error> {
    let env = environment();
    let t = Value::from_serialize(&i18n::strings(lang).tables);
    let base = minijinja::context! { t => t, lang => lang.as_str(), html_lang => lang.html_lang(),
    other_lang => lang.other().as_str() };
    let ctx = minijinja::value::merge_maps([ctx, base]);
    env.get_template(name)?.render(ctx)
}

/// `"还差 {n} 成长值"|fill(n=320)`: fills `{name}` placeholders.
fn fill(s: String, kwargs: Kwargs) -> Result<String, Error> {
    let mut out = s;
    for key in kwargs.args() {
        let v: Value = kwargs.get(key)?;
        let text = if let Some(n) = v.as_i64() { group(n) } else { v.to_string() };
        out = out.replace(&format!("{{{key}}}"), &text);
    }
    Ok(out)
}

/// Digits in groups of three: 1234567 → 1,234,567.
pub fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

fn int(v: &Value) -> Result<i64, Error> {
    if v.is_none() || v.is_undefined() {
        return Ok(0);
    }
    v.as_i64().ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{v} is not an integer")))
}

fn num(v: Value) -> Result<String, Error> {
    Ok(group(int(&v)?))
}

/// Minor units (fen) as yuan: 123456 → ¥1,234.56.
fn money(v: Value) -> Result<String, Error> {
    let n = int(&v)?;
    let sign = if n < 0 { "-" } else { "" };
    let (units, cents) = (n.unsigned_abs() / 100, n.unsigned_abs() % 100);
    Ok(format!("{sign}¥{}.{cents:02}", group(units as i64)))
}

/// As `money`, without the fen when there are none: 2000 → ¥20, 2050 → ¥20.50 (coupons).
fn yuan(v: Value) -> Result<String, Error> {
    let s = money(v)?;
    Ok(s.strip_suffix(".00").map(str::to_owned).unwrap_or(s))
}

/// An RFC 3339 instant as the page shows it: `2026-12-01 10:00` (its own offset's wall time).
fn when(v: Value) -> String {
    let s = v.as_str().unwrap_or_default();
    match s.parse::<jiff::Timestamp>() {
        Ok(_) if s.len() >= 16 => format!("{} {}", &s[..10], &s[11..16]),
        _ => s.to_owned(),
    }
}

/// The date of an RFC 3339 instant.
fn day(v: Value) -> String {
    let s = v.as_str().unwrap_or_default();
    s.get(..10).unwrap_or(s).to_owned()
}

/// A ratio as a percentage with one decimal; `—` when there is none.
fn pct(v: Value) -> String {
    match f64::try_from(v.clone()) {
        Ok(r) if !v.is_none() => format!("{:.1}%", r * 100.0),
        _ => "—".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_numbers_read_well() {
        let _ = environment();
        assert_eq!(group(0), "0");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(-1_000), "-1,000");
        assert_eq!(money(Value::from(123_456)).unwrap(), "¥1,234.56");
        assert_eq!(money(Value::from(-5)).unwrap(), "-¥0.05");
        assert_eq!(yuan(Value::from(2_000)).unwrap(), "¥20");
        assert_eq!(yuan(Value::from(2_050)).unwrap(), "¥20.50");
        assert_eq!(when(Value::from("2026-12-01T10:00:00+08:00")), "2026-12-01 10:00");
        assert_eq!(pct(Value::from(0.1234)), "12.3%");
        assert_eq!(pct(Value::from(())), "—");
    }
}
