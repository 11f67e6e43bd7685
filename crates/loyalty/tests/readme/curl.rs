//! A `curl` command line, read as curl reads it, for the options the README uses. An option
//! it does not know is refused, so that a new README line is either understood or fails.

/// The HTTP request a `curl` command sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The request `curl ARGS` sends (`args` without `curl`, quotes removed, variables expanded).
pub fn parse(args: &[String]) -> Result<Request, String> {
    let (mut method, mut url, mut headers, mut body) = (None, None, Vec::new(), None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().cloned().ok_or_else(|| format!("{name} without its value"));
        match arg.as_str() {
            "-s" | "--silent" | "-S" | "--show-error" | "-sS" | "-f" | "--fail" | "-sf" | "-fsS" => {}
            "-X" | "--request" => method = Some(value(arg)?),
            "-H" | "--header" => {
                let h = value(arg)?;
                let (name, v) = h.split_once(':').ok_or_else(|| format!("header {h:?} has no `:`"))?;
                headers.push((name.trim().to_owned(), v.trim().to_owned()));
            }
            "-d" | "--data" | "--data-raw" => {
                let d = value(arg)?;
                if d.starts_with('@') && arg != "--data-raw" {
                    return Err(format!("{arg} {d}: a body read from a file"));
                }
                if body.replace(d).is_some() {
                    return Err("more than one body (curl would join them with `&`)".into());
                }
            }
            a if a.starts_with('-') => return Err(format!("the option {a}")),
            a => {
                if url.replace(a.to_owned()).is_some() {
                    return Err("more than one URL".into());
                }
            }
        }
    }
    let url = url.ok_or("no URL")?;
    // As curl: a body makes a POST unless -X says otherwise, and one sent without a
    // Content-Type goes as a form.
    let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.to_owned());
    if body.is_some() && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
        headers.push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
    }
    Ok(Request { method, url, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_body_makes_a_post_and_x_names_the_method() {
        let r = parse(&args(&["-s", "-X", "PUT", "http://h/a", "-H", "A: b c", "-H", "Content-Type: x", "-d", "{}"]));
        let r = r.unwrap();
        assert_eq!((r.method.as_str(), r.url.as_str(), r.body.as_deref()), ("PUT", "http://h/a", Some("{}")));
        assert_eq!(r.headers, [("A".into(), "b c".into()), ("Content-Type".into(), "x".into())]);
        let r = parse(&args(&["http://h/a", "-d", "{}"])).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.headers, [("Content-Type".into(), "application/x-www-form-urlencoded".into())]);
        assert_eq!(parse(&args(&["-s", "http://h/a"])).unwrap().method, "GET");
        assert!(parse(&args(&["-o", "f", "http://h/a"])).unwrap_err().contains("-o"));
    }
}
