//! Reading the `Cookie` header and writing `Set-Cookie`.

use axum::http::{header, HeaderMap, HeaderValue};

/// The value of cookie `name`, if the request sent it.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// How a cookie may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Never on a request another site started (the console).
    Strict,
    /// On top-level navigations from another site too (the member centre: a store's page links
    /// to it, and the link's request must carry the cookie the redirect sets).
    Lax,
}

/// A cookie to set.
#[derive(Debug, Clone)]
pub struct Cookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub path: &'a str,
    /// Seconds; `None` for a cookie that ends with the browser session, `Some(0)` to delete.
    pub max_age: Option<i64>,
    pub http_only: bool,
    pub same_site: SameSite,
    pub secure: bool,
}

impl Cookie<'_> {
    pub fn header_value(&self) -> String {
        let mut s = format!("{}={}; Path={}", self.name, self.value, self.path);
        if let Some(age) = self.max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        s.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
        });
        if self.secure {
            s.push_str("; Secure");
        }
        s
    }

    /// Appends it to a response's headers.
    pub fn set(&self, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.header_value()) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_and_written_with_their_flags() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; loyalty_console=abc ; loyalty_console_x=2"));
        assert_eq!(get(&h, "loyalty_console"), Some("abc"));
        assert_eq!(get(&h, "loyalty"), None);
        let c = Cookie {
            name: "s",
            value: "v",
            path: "/console",
            max_age: None,
            http_only: true,
            same_site: SameSite::Strict,
            secure: true,
        };
        assert_eq!(c.header_value(), "s=v; Path=/console; HttpOnly; SameSite=Strict; Secure");
        let gone = Cookie { max_age: Some(0), secure: false, same_site: SameSite::Lax, ..c };
        assert_eq!(gone.header_value(), "s=v; Path=/console; Max-Age=0; HttpOnly; SameSite=Lax");
    }
}
