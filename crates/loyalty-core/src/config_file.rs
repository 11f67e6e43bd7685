//! Reading configuration from TOML so that every refusal names the full key at fault
//! (`tiers.levels[1].discount_percent`) and what it accepts.
//!
//! serde reports a bad value without saying where it was; `serde_path_to_error` tracks the path
//! while deserializing, and `issue_from` turns serde's stock messages into ones a store operator
//! can act on. Enums of the file implement [`Named`], so an unknown value is refused with the list
//! of values, whatever type was written.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Serialize;
use std::fmt;
use std::marker::PhantomData;

/// One reason a configuration file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigIssue {
    /// The full key: `tiers.window`, `tiers.levels[1].entry`.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Every reason the programme file was refused (all of them, not only the first), one a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid programme: {}", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n  "))]
pub struct ConfigError(pub Vec<ConfigIssue>);

/// A configuration enum written as one of a fixed set of names.
pub trait Named: Sized + Copy + 'static {
    /// Every value, in the order errors list them.
    const ALL: &'static [Self];
    /// The name the file uses (and `check-config` prints).
    fn name(self) -> &'static str;
    /// The value a name stands for; an implementation may accept other spellings too.
    fn from_name(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == raw)
    }
}

/// `a, b, c`: the names of every value of `T`.
pub fn names<T: Named>() -> String {
    T::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
}

/// Deserializes a [`Named`] value; usable as `#[serde(deserialize_with = "…")]`.
pub fn named<'de, D: Deserializer<'de>, T: Named>(d: D) -> Result<T, D::Error> {
    struct NameVisitor<T>(PhantomData<T>);
    impl<T: Named> Visitor<'_> for NameVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "one of {}", names::<T>())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            T::from_name(v).ok_or_else(|| E::custom(format!("unknown value {v:?}; expected one of {}", names::<T>())))
        }
    }
    d.deserialize_str(NameVisitor(PhantomData)).map_err(|e| {
        // A required key left out: serde names only the key; the values help as much here.
        let message = e.to_string();
        match message.trim().strip_prefix("missing field ") {
            Some(key) => de::Error::custom(format!("missing field {key}, expected one of {}", names::<T>())),
            None => e,
        }
    })
}

/// Declares an enum written in configuration files as one of its names, with `|` aliases that
/// are read but never listed or written.
macro_rules! named_enum {
    ($(#[$m:meta])* pub enum $name:ident {
        $($(#[$vm:meta])* $variant:ident = $text:literal $(| $alias:literal)*,)+
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $variant,)+ }

        impl $crate::config_file::Named for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn name(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            fn from_name(raw: &str) -> Option<Self> {
                match raw {
                    $($text $(| $alias)* => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::config_file::Named::name(*self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::config_file::named(d)
            }
        }
    };
}
pub(crate) use named_enum;

/// The reason a value outside `lo..=hi` is refused, the same whether serde or validation finds it.
pub fn out_of_range(v: i64, lo: i64, hi: i64) -> Option<String> {
    (!(lo..=hi).contains(&v)).then(|| format!("{v} is out of range; expected an integer between {lo} and {hi}"))
}

/// Deserializes an integer that must lie in `LO..=HI`, for fields whose Rust type is narrower
/// than what a file may hold (a `u32` given `-1` would otherwise be refused with the range of
/// `u32`, not the range the field accepts).
pub fn in_range<'de, D, T, const LO: i64, const HI: i64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let v = <i64 as serde::Deserialize>::deserialize(d)?;
    match (out_of_range(v, LO, HI), T::try_from(v)) {
        (None, Ok(t)) => Ok(t),
        (reason, _) => Err(de::Error::custom(reason.unwrap_or_else(|| format!("{v} does not fit")))),
    }
}

/// As [`in_range`] for each element of an array; errors name the element (`weekdays[2]`).
pub fn each_in_range<'de, D, T, const LO: i64, const HI: i64>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    struct Item<T, const LO: i64, const HI: i64>(T);
    impl<'de, T: TryFrom<i64>, const LO: i64, const HI: i64> serde::Deserialize<'de> for Item<T, LO, HI> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            in_range::<D, T, LO, HI>(d).map(Item)
        }
    }
    let items = <Vec<Item<T, LO, HI>> as serde::Deserialize>::deserialize(d)?;
    Ok(items.into_iter().map(|i| i.0).collect())
}

/// Parses a whole TOML file into `T`.
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError(vec![syntax_issue(text, &e)]))?;
    serde_path_to_error::deserialize(de).map_err(|e| ConfigError(vec![issue_from(&e, "")]))
}

/// Deserializes `T` from a table that sits under `prefix` in the file (`insight`), so that errors
/// name the key from the top of the file.
pub fn from_table<T: DeserializeOwned>(table: &toml::Table, prefix: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| ConfigError(vec![issue_from(&e, prefix)]))
}

/// A TOML syntax error: serde never ran, so the key is the one on the line of the error.
fn syntax_issue(text: &str, e: &toml::de::Error) -> ConfigIssue {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return ConfigIssue { field: "(file)".into(), reason: message.into() };
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let field = key_at(text, span.start);
    let field = if field.is_empty() { "(file)".into() } else { field };
    ConfigIssue { field, reason: format!("{message} (line {line}, column {column})") }
}

/// The dotted key written on the line holding byte `at` of the file, under its table header.
fn key_at(text: &str, at: usize) -> String {
    let mut table = String::new();
    let mut key = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
            key.clear();
        } else if let Some((k, _)) = t.split_once('=') {
            key = k.trim().to_owned();
        }
        offset += line.len();
        if offset > at {
            break;
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

/// A custom deserialization error about `key` inside the value being read (serde's path stops at
/// the value, a table checked as a whole): "`key`: reason", which `reword` moves into the path.
/// serde's own messages never start with a backquote.
pub(crate) fn keyed(key: &str, reason: impl fmt::Display) -> String {
    format!("`{key}`: {reason}")
}

/// The issue for a deserialization error at a path, serde's wording made specific.
fn issue_from(e: &serde_path_to_error::Error<toml::de::Error>, prefix: &str) -> ConfigIssue {
    let path = e.path().to_string();
    let mut field = match (prefix.is_empty(), path.as_str()) {
        (_, ".") => prefix.to_owned(),
        (true, _) => path,
        (false, _) => format!("{prefix}.{path}"),
    };
    let (key, reason) = reword(e.inner().message().trim());
    if let Some(key) = key {
        // serde reports a missing key at the table that lacks it, and an unknown one sometimes
        // at the table too (inside a tagged enum): the key belongs to the path.
        if !field.ends_with(&format!(".{key}")) && field != key {
            field = if field.is_empty() { key } else { format!("{field}.{key}") };
        }
    }
    if field.is_empty() {
        field = "(file)".into();
    }
    ConfigIssue { field, reason }
}

/// serde's message → (the key it names, if the path lacks it; the reason as we print it).
fn reword(message: &str) -> (Option<String>, String) {
    if let Some((key, reason)) = message.strip_prefix('`').and_then(|r| r.split_once("`: ")) {
        return (Some(key.to_owned()), reason.to_owned());
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (value, expected) = split_expected(rest);
        return (None, format!("unknown value \"{value}\"; expected {expected}"));
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (key, expected) = split_expected(rest);
        return (Some(key), format!("unknown key; expected {expected}"));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let (key, expected) = split_expected(rest);
        let reason = if expected.is_empty() {
            "required key is missing".to_owned()
        } else {
            format!("required key is missing; expected {expected}")
        };
        return (Some(key), reason);
    }
    if let Some((found, expected)) = message.strip_prefix("invalid type: ").and_then(|r| r.rsplit_once(", expected ")) {
        // toml hands serde integers beyond 64 bits as i128, which no field takes.
        if let (Some(n), Some((lo, hi))) = (wide_integer(found), int_range(expected)) {
            return (None, format!("{n} is out of range; expected an integer between {lo} and {hi}"));
        }
        return (None, format!("found {found}; expected {}", kind(expected)));
    }
    if let Some((found, expected)) = message.strip_prefix("invalid value: ").and_then(|r| r.rsplit_once(", expected "))
    {
        let n = found.strip_prefix("integer ").map(|n| n.trim_matches('`'));
        return match (n, int_range(expected)) {
            (Some(n), Some((lo, hi))) => {
                (None, format!("{n} is out of range; expected an integer between {lo} and {hi}"))
            }
            _ => (None, format!("invalid value {found}; expected {}", kind(expected))),
        };
    }
    if message == "wanted string or table" {
        return (None, "expected a string or a table".into());
    }
    (None, message.to_owned())
}

/// "`x`, expected one of `a`, `b`" → ("x", "one of a, b"); serde also writes "`a` or `b`" and
/// "`a`" for short lists, and "there are no fields".
fn split_expected(rest: &str) -> (String, String) {
    // The quoted name is the file's text and may hold anything; serde's own part follows it.
    let cut = rest.rfind("`, expected ").or_else(|| rest.rfind("`, there are no "));
    let (quoted, tail) = cut.map_or((rest, ""), |i| (&rest[..=i], &rest[i + 3..]));
    let name = quoted.strip_prefix('`').and_then(|q| q.strip_suffix('`')).unwrap_or(quoted).to_owned();
    let tail = tail.strip_prefix("expected ").unwrap_or(tail);
    let list: Vec<&str> = tail
        .trim_start_matches("one of ")
        .split(", ")
        .flat_map(|s| s.split(" or "))
        .map(|s| s.trim_matches('`'))
        .filter(|s| !s.is_empty())
        .collect();
    let expected = match list.as_slice() {
        _ if tail.starts_with("there are no") => "no keys here".to_owned(),
        [] => String::new(),
        [one] => (*one).to_owned(),
        many => format!("one of {}", many.join(", ")),
    };
    (name, expected)
}

/// serde's name for what it expected → the word a file's author knows.
fn kind(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct ") || e.starts_with("internally tagged enum ") => "a table".into(),
        e if e.starts_with("an array of length ") => {
            e.replace("an array of length", "an array of").to_owned() + " items"
        }
        e => e.to_owned(),
    }
}

/// "integer `N` as i128" → N.
fn wide_integer(found: &str) -> Option<&str> {
    let n = found.strip_prefix("integer `")?;
    n.strip_suffix("` as i128").or_else(|| n.strip_suffix("` as u128"))
}

fn int_range(ty: &str) -> Option<(i128, i128)> {
    Some(match ty {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" => (i64::MIN.into(), i64::MAX.into()),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        _ => return None,
    })
}
