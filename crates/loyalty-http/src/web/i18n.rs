//! The pages' languages: Chinese by default, English on request. Every string a page shows is
//! in one file per language (`templates/i18n/zh.toml`, `en.toml`), embedded in the binary; a
//! template reads them as `t.key`, and `{name}` placeholders are filled by the `fill` filter.

use axum::http::{header, HeaderMap};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The cookie that keeps a language chosen with `?lang=`.
pub const LANG_COOKIE: &str = "loyalty_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// The `lang` attribute of the page.
    pub fn html_lang(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh-hans" => Some(Self::Zh),
            "en" | "en-us" | "en-gb" => Some(Self::En),
            _ => None,
        }
    }

    /// The other language (the switch in the page's corner).
    pub fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }
}

/// The language of a request: `?lang=` first, then the cookie a previous `?lang=` set, then the
/// first of Chinese or English in `Accept-Language` by its weights; Chinese when none says.
pub fn negotiate(query_lang: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(l) = query_lang.and_then(Lang::parse) {
        return l;
    }
    if let Some(l) = super::cookies::get(headers, LANG_COOKIE).and_then(Lang::parse) {
        return l;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    from_accept_language(accept).unwrap_or(Lang::Zh)
}

/// The preferred of Chinese and English in an `Accept-Language` value, if it names either.
fn from_accept_language(raw: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for item in raw.split(',').take(32) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

/// A language's strings: as the file has them, one table per page (`t.login.title` in a
/// template), and flat by `section.key` (what [`tr`] looks up).
pub struct Strings {
    pub tables: toml::Table,
    pub flat: BTreeMap<String, String>,
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>, lang: &str) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out, lang),
            other => panic!("templates/i18n/{lang}.toml: {key} is {other}, not a string"),
        }
    }
}

fn parse(lang: &str, text: &str) -> Strings {
    let tables: toml::Table =
        toml::from_str(text).unwrap_or_else(|e| panic!("templates/i18n/{lang}.toml does not parse: {e}"));
    let mut flat = BTreeMap::new();
    flatten("", &tables, &mut flat, lang);
    Strings { tables, flat }
}

/// Every string of the language.
pub fn strings(lang: Lang) -> &'static Strings {
    static ZH: OnceLock<Strings> = OnceLock::new();
    static EN: OnceLock<Strings> = OnceLock::new();
    match lang {
        Lang::Zh => ZH.get_or_init(|| parse("zh", include_str!("../../templates/i18n/zh.toml"))),
        Lang::En => EN.get_or_init(|| parse("en", include_str!("../../templates/i18n/en.toml"))),
    }
}

/// One string, with `{name}` placeholders filled from `args`. A key missing from the file is
/// shown as itself, so a page never fails for want of a string (a test holds the files equal).
pub fn tr(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let mut s = strings(lang).flat.get(key).cloned().unwrap_or_else(|| key.to_owned());
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// Both languages have exactly the same keys, and every placeholder of a string in one is
    /// in the other.
    #[test]
    fn both_languages_have_every_string() {
        let (zh, en) = (&strings(Lang::Zh).flat, &strings(Lang::En).flat);
        let zk: Vec<&String> = zh.keys().collect();
        let ek: Vec<&String> = en.keys().collect();
        assert_eq!(zk, ek, "zh.toml and en.toml must have the same keys");
        let holes = |s: &str| {
            let mut v: Vec<String> =
                s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned())).collect();
            v.sort();
            v
        };
        for (k, z) in zh {
            assert_eq!(holes(z), holes(&en[k]), "placeholders of {k}");
        }
    }

    #[test]
    fn the_language_comes_from_the_query_the_cookie_then_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(None, &h), Lang::Zh, "Chinese by default");
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("fr-FR, en-US;q=0.8, zh-CN;q=0.5"));
        assert_eq!(negotiate(None, &h), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("zh-CN,zh;q=0.9,en;q=0.8"));
        assert_eq!(negotiate(None, &h), Lang::Zh);
        h.insert(header::COOKIE, HeaderValue::from_static("loyalty_lang=en"));
        assert_eq!(negotiate(None, &h), Lang::En, "a language chosen before");
        assert_eq!(negotiate(Some("zh"), &h), Lang::Zh, "the query wins");
        assert_eq!(negotiate(Some("xx"), &HeaderMap::new()), Lang::Zh);
        assert_eq!(tr(Lang::En, "no.such.key", &[]), "no.such.key");
    }
}
