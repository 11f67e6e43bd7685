//! The walkthrough as a reader's shell runs it: each command of the README's shell blocks in
//! turn, `curl` sent to the test's server, `cargo run -- …` run as the `loyalty` binary on its
//! database, anything else skipped (and listed). A placeholder is filled from the earlier reply
//! the rules name, a failure the README states ("Here a 409 coupon_used") is expected, and
//! every promised figure is checked on the reply of the command it is written above.

use crate::{common, curl, shell};
use serde_json::Value;
use std::collections::HashMap;

/// A figure the README's comments promise: `says`, quoted from the comment above a command
/// (wrapped lines joined by a space), and what that command's reply must then hold (JSON
/// pointer, value). Quoting the comment ties the check to the README's wording: a changed
/// figure fails here until the check changes with it.
pub struct Promise {
    pub says: &'static str,
    pub holds: Vec<(&'static str, Value)>,
}

/// What the walkthrough test knows beyond the README's text (see `readme.rs`).
pub struct Rules {
    /// The placeholders: (placeholder, the end of the path of the request whose latest reply
    /// holds it, the JSON pointer in that reply).
    pub from_replies: &'static [(&'static str, &'static str, &'static str)],
    /// `loyalty` subcommands that read the system clock unless given an instant, and the flag.
    pub clocked: &'static [(&'static str, &'static str)],
    pub promises: Vec<Promise>,
}

/// A request the walkthrough sent and its reply.
struct Sent {
    line: usize,
    method: String,
    path: String,
    reply: Value,
}

/// The walkthrough as it goes: the shell's variables, what was sent, what was skipped.
pub struct Walk<'a> {
    app: &'a common::TestApp,
    /// The instant the server's clock stands at, which `$(date …)` and the clocked commands use.
    now: jiff::Timestamp,
    rules: Rules,
    /// How many commands each promise was checked on.
    checked: Vec<usize>,
    vars: HashMap<String, String>,
    sent: Vec<Sent>,
    skipped: Vec<String>,
    /// Where the `loyalty` commands run (`report --out report.html` writes there).
    dir: tempfile::TempDir,
}

impl<'a> Walk<'a> {
    pub fn new(app: &'a common::TestApp, now: jiff::Timestamp, rules: Rules) -> Self {
        let checked = vec![0; rules.promises.len()];
        let (vars, sent, skipped, dir) = (HashMap::new(), Vec::new(), Vec::new(), tempfile::tempdir().unwrap());
        Self { app, now, rules, checked, vars, sent, skipped, dir }
    }

    /// Ends the walk: every promise was checked on exactly one command, and at least `min`
    /// requests were sent (so a reader that found nothing cannot pass).
    pub fn finish(self, min: usize) {
        eprintln!("not run (neither curl nor cargo run): {:#?}", self.skipped);
        for (p, checked) in self.rules.promises.iter().zip(&self.checked) {
            assert_eq!(*checked, 1, "the README's {:?} is above one command", p.says);
        }
        assert!(self.sent.len() >= min, "the walkthrough's requests: {}", self.sent.len());
    }

    pub async fn run(&mut self, cmd: &shell::Command) {
        let words: Vec<String> = cmd.stages[0].iter().map(|w| self.expand(cmd, w)).collect();
        if words.iter().all(|w| assignment(w).is_some()) {
            for w in &words {
                let (name, value) = assignment(w).unwrap();
                self.assign(cmd, name, value);
            }
        } else if words[0] == "curl" {
            for stage in &cmd.stages[1..] {
                // Filters of what curl prints (`| head -3`) change nothing the server sees.
                let name = self.expand(cmd, &stage[0]);
                assert_eq!(name, "head", "README line {}: `| {name}` after curl; only `| head` is known", cmd.line);
            }
            self.curl(cmd, &words[1..]).await;
        } else if let Some(args) = cargo_run(&words) {
            assert_eq!(cmd.stages.len(), 1, "README line {}: a pipe after cargo run", cmd.line);
            self.loyalty(cmd, args).await;
        } else {
            self.skipped.push(format!("line {}: {}", cmd.line, cmd.text));
        }
    }

    fn expand(&self, cmd: &shell::Command, word: &shell::Word) -> String {
        let var = |name: &str| match self.vars.get(name) {
            Some(v) => v.clone(),
            None => panic!("README line {}: ${name} is never set in the walkthrough", cmd.line),
        };
        shell::expand(word, var, |script| self.substitute(cmd, script))
    }

    /// `$(…)`: only `date -u [-d yesterday] +FORMAT`, answered at the walkthrough's instant.
    fn substitute(&self, cmd: &shell::Command, script: &str) -> String {
        let words: Vec<&str> = script.split_whitespace().collect();
        match words.as_slice() {
            ["date", "-u", format] if format.starts_with('+') => {
                self.now.to_zoned(jiff::tz::TimeZone::UTC).strftime(&format[1..]).to_string()
            }
            ["date", "-u", "-d", "yesterday", format] if format.starts_with('+') => {
                let yesterday = self.now.checked_sub(jiff::SignedDuration::from_hours(24)).expect("in range");
                yesterday.to_zoned(jiff::tz::TimeZone::UTC).strftime(&format[1..]).to_string()
            }
            _ => panic!("README line {}: $({script}) is not a substitution the test knows", cmd.line),
        }
    }

    fn assign(&mut self, cmd: &shell::Command, name: &str, value: String) {
        let value = if name == "U" {
            // The README's server listens where `serve` listens by default; the test's on port 0.
            assert_eq!(value, "http://127.0.0.1:8080", "README line {}: U is not serve's default address", cmd.line);
            self.app.base.clone()
        } else {
            value
        };
        self.vars.insert(name.to_owned(), value);
    }

    async fn curl(&mut self, cmd: &shell::Command, args: &[String]) {
        let at = format!("README line {}: {}", cmd.line, cmd.text);
        let mut req = curl::parse(args).unwrap_or_else(|e| panic!("{at}\ncurl: {e}"));
        req.url = self.fill(cmd, &req.url);
        req.body = req.body.map(|b| self.fill(cmd, &b));
        let path = req.url.strip_prefix(&self.app.base).unwrap_or_else(|| panic!("{at}\nnot sent to $U")).to_owned();
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut http = self.app.client.request(method, &req.url);
        for (name, value) in &req.headers {
            http = http.header(name, value);
        }
        if let Some(body) = &req.body {
            http = http.body(body.clone());
        }
        let resp = http.send().await.unwrap_or_else(|e| panic!("{at}\n{e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let reply = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let shown: String = reply.to_string().chars().take(2_000).collect();
        eprintln!("line {} {} {path} -> {status}\n{shown}", cmd.line, req.method);
        match stated_failure(&cmd.said()) {
            Some((code, problem)) => {
                assert_eq!(status.as_u16(), code, "{at}\nthe README says this one is a {code}: {reply}");
                assert_eq!(reply["code"], problem, "{at}\n{reply}");
            }
            None => assert!(status.is_success(), "{at}\n-> {status}\n{reply:#}"),
        }
        let said = cmd.said();
        for (promise, checked) in self.rules.promises.iter().zip(&mut self.checked) {
            if said.contains(promise.says) {
                *checked += 1;
                for (pointer, want) in &promise.holds {
                    let got = reply.pointer(pointer).unwrap_or(&Value::Null);
                    assert_eq!(
                        got, want,
                        "{at}\nthe README says {:?}, so {pointer} is {want}: {reply:#}",
                        promise.says
                    );
                }
            }
        }
        self.sent.push(Sent { line: cmd.line, method: req.method, path, reply });
    }

    /// `text` with every placeholder filled from the reply [`Rules::from_replies`] names.
    fn fill(&self, cmd: &shell::Command, text: &str) -> String {
        let mut out = text.to_owned();
        for token in placeholders(text) {
            let at = format!("README line {}: {token}", cmd.line);
            let (_, path_end, pointer) = (self.rules.from_replies.iter())
                .find(|(name, _, _)| *name == token)
                .unwrap_or_else(|| panic!("{at} is a placeholder the test does not know: add it to FROM_REPLIES"));
            assert!(cmd.said().contains(token), "{at}: the README does not say where {token} comes from");
            let from = self
                .sent
                .iter()
                .rev()
                .find(|s| s.path.split('?').next().unwrap().ends_with(path_end) && s.reply.pointer(pointer).is_some())
                .unwrap_or_else(|| panic!("{at}: no earlier reply to …{path_end} has {pointer}"));
            let value = match &from.reply[&pointer[1..]] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            eprintln!("{at} = {value} (the reply to line {}'s {} {})", from.line, from.method, from.path);
            out = out.replace(token, &value);
        }
        out
    }

    /// `cargo run [--release] -- ARGS`: the `loyalty` binary on the walkthrough's database.
    async fn loyalty(&mut self, cmd: &shell::Command, mut args: Vec<String>) {
        let at = format!("README line {}: {}", cmd.line, cmd.text);
        assert_ne!(args.first().map(String::as_str), Some("serve"), "{at}: the test's server stands in for serve");
        if let Some((_, flag)) =
            self.rules.clocked.iter().find(|(sub, _)| args.first().map(String::as_str) == Some(*sub))
        {
            if !args.iter().any(|a| a == flag) {
                args.extend([flag.to_string(), self.now.to_string()]);
            }
        }
        let (url, dir) = (self.app.url.clone(), self.dir.path().to_owned());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
                .args(&args)
                .current_dir(dir)
                .env("LOYALTY_DATABASE_URL", url)
                .env("LOYALTY_LOG", "warn")
                .env_remove("LOYALTY_PROGRAM")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("line {} loyalty: {}\n{stdout}", cmd.line, out.status);
        assert!(out.status.success(), "{at}\n{stdout}\n{stderr}");
    }
}

/// `NAME=value` as the shell assigns it.
fn assignment(word: &str) -> Option<(&str, String)> {
    let (name, value) = word.split_once('=')?;
    let ident = name.starts_with(|c: char| c == '_' || c.is_ascii_alphabetic())
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
    ident.then(|| (name, value.to_owned()))
}

/// The arguments `cargo run [--release] -- ARGS` passes to the binary.
fn cargo_run(words: &[String]) -> Option<Vec<String>> {
    let rest = words.strip_prefix(&["cargo".to_owned(), "run".to_owned()])?;
    let dashes = rest.iter().position(|w| w == "--")?;
    assert!(rest[..dashes].iter().all(|w| w == "--release"), "cargo run with {:?}", &rest[..dashes]);
    Some(rest[dashes + 1..].to_vec())
}

/// The placeholders in `text`: upper-case words of at least two parts joined by `_` (`HOLD_ID`),
/// which no id, sku or code of the walkthrough is written as.
fn placeholders(text: &str) -> Vec<&str> {
    let mut found: Vec<&str> = text
        .split(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .filter(|t| {
            t.contains('_')
                && t.split('_')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
                && t.starts_with(|c: char| c.is_ascii_uppercase())
        })
        .collect();
    found.dedup();
    found
}

/// A failure the README says this command meets: "Here a 409 coupon_used" → (409, "coupon_used").
fn stated_failure(said: &str) -> Option<(u16, String)> {
    let (_, after) = said.split_once("Here a ")?;
    let mut words = after.split(|c: char| c.is_whitespace() || c == ':' || c == ',' || c == ')');
    let status = words.next()?.parse().ok()?;
    let code = words.next()?.to_owned();
    Some((status, code))
}
