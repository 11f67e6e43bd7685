//! The console and the member centre in a real browser: starts the `loyalty` binary on a fresh
//! SQLite database with an admin key, and runs `tests/browser/run.mjs` (playwright-core driving
//! Debian's Chromium headless) against it; any failed step fails this test. Screenshots of the
//! main pages are kept in `target/browser-artifacts/`.
//!
//! It needs Chromium and the test folder's `npm ci`, so it runs only when
//! `LOYALTY_BROWSER_TESTS=1` (as `.ci/run` sets); otherwise it says so and passes.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "browser-admin-key-0123456789abcdef";

/// Stops the server however the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_healthy(base: &str, server: &mut Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = base.trim_start_matches("http://").to_owned();
    while Instant::now() < deadline {
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(e) = server.0.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the server exited ({status}) before it answered: {err}");
        }
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            use std::io::Write;
            let _ = write!(s, "GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut reply = String::new();
            let _ = s.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the server did not answer /healthz within 60 s");
}

#[test]
fn the_console_and_the_member_centre_in_chromium() {
    if std::env::var("LOYALTY_BROWSER_TESTS").as_deref() != Ok("1") {
        // Straight to stderr, past the test harness's capture, so the skip is seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "browser tests skipped: they run with LOYALTY_BROWSER_TESTS=1 (they need /usr/bin/chromium and \
             `npm ci` in crates/loyalty/tests/browser; .ci/run does both)"
        );
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/browser");
    assert!(dir.join("node_modules/playwright-core").is_dir(), "run `npm ci` in {}", dir.display());
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("browser.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args([
            "serve",
            "--database-url",
            &format!("sqlite://{}", db.display()),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("LOYALTY_ADMIN_KEY", ADMIN)
        .env("LOYALTY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the loyalty binary");
    let mut server = Server(child);
    wait_healthy(&base, &mut server);
    let artifacts = std::env::var("LOYALTY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../../target/browser-artifacts"));
    let status = Command::new("nice")
        .args(["-n", "19", "node", "run.mjs"])
        .current_dir(&dir)
        .env("LOYALTY_BASE_URL", &base)
        .env("LOYALTY_ADMIN_KEY", ADMIN)
        .env("LOYALTY_ARTIFACTS", &artifacts)
        .status()
        .expect("run node");
    assert!(status.success(), "a browser step failed (see its output above); screenshots in {}", artifacts.display());
    drop(server);
}
