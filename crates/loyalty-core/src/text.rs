//! Free text that stores and operators send (skus, categories, brands, references, reasons):
//! bounded, and printable. A control character (a NUL, an escape sequence, a line break in a
//! one-line value) is never what was meant, and once stored it breaks the exports, the CSV
//! rejects file and the operators' terminals that show it.

use crate::error::DomainError;
use std::fmt;
use std::ops::RangeInclusive;

/// Why a text was refused, for the error a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TextError(pub String);

/// Checks that `raw` has a number of characters in `len` and no control character.
pub fn check(raw: &str, len: RangeInclusive<usize>) -> Result<(), TextError> {
    let n = raw.chars().count();
    if !len.contains(&n) {
        let (lo, hi) = (len.start(), len.end());
        let size = if *lo == 0 { format!("at most {hi}") } else { format!("{lo} to {hi}") };
        return Err(TextError(format!("must be {size} characters; it is {n}")));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control()) {
        return Err(TextError(format!("contains the control character U+{:04X}; send printable text", u32::from(c))));
    }
    Ok(())
}

/// [`check`], answered as a refusal of `field`.
pub fn check_text(field: &str, raw: &str, len: RangeInclusive<usize>) -> Result<(), DomainError> {
    check(raw, len).map_err(|e| DomainError::unprocessable(field, e.0))
}

/// Most characters in a reason.
pub const MAX_REASON_CHARS: usize = 500;

/// Why an operator did something by hand (an adjustment, a tier assignment): 1 to 500
/// printable characters, not only spaces. It is kept in the ledger and the tier history, so
/// one that says nothing is refused at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        check(raw, 1..=MAX_REASON_CHARS)?;
        if raw.trim().is_empty() {
            return Err(TextError("must say why: it holds only spaces".into()));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Reason> for String {
    fn from(r: Reason) -> String {
        r.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_and_printable() {
        assert!(check("Nike Air 42 · 黑", 1..=128).is_ok());
        assert!(check("", 0..=10).is_ok());
        assert_eq!(check("", 1..=128).unwrap_err().0, "must be 1 to 128 characters; it is 0");
        assert_eq!(check("abc", 0..=2).unwrap_err().0, "must be at most 2 characters; it is 3");
        assert!(check(&"é".repeat(128), 1..=128).is_ok(), "characters, not bytes");
        for bad in ["a\u{0}", "\u{1b}[31m", "two\nlines", "tab\there", "\u{7f}", "\u{85}"] {
            assert!(check(bad, 1..=128).unwrap_err().0.contains("control character"), "{bad:?}");
        }
        assert!(check_text("lines[0].sku", "x\u{0}", 1..=128).unwrap_err().to_string().starts_with("lines[0].sku: "));
    }

    #[test]
    fn a_reason_is_1_to_500_printable_characters_that_say_something() {
        assert_eq!(Reason::parse("goodwill").unwrap().as_str(), "goodwill");
        assert!(Reason::parse(&"r".repeat(500)).is_ok());
        for bad in ["", "   ", "nul\u{0}", "line\nbreak", &"r".repeat(501)] {
            assert!(Reason::parse(bad).is_err(), "{bad:?}");
        }
    }
}
