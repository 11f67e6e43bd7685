//! The README, tried as a new user would: every TOML block of it (and of the docs) is a
//! programme file `loyalty check-config` accepts on its own, and its walkthrough, every `curl`
//! of the shell blocks after "## Walkthrough" as written, runs against a freshly spawned real
//! server with the figures its comments promise.
//!
//! A new README section after the walkthrough is picked up as it is written. What it must do:
//! every `curl` answers 2xx, unless its comment says "Here a 409 some_code" (then that status
//! and problem code); a value taken from an earlier reply is written as a placeholder
//! (`HOLD_ID`) that the comment names and [`FROM_REPLIES`] says where to find; `cargo run --
//! CMD` runs the `loyalty` binary on the server's database; other commands are not run. A
//! figure a comment promises is checked when [`promises`] quotes it.

mod common;
#[path = "readme/curl.rs"]
mod curl;
#[path = "readme/shell.rs"]
mod shell;
#[path = "readme/walk.rs"]
mod walk;

use serde_json::json;
use std::path::Path;
use std::process::Command;

/// `loyalty check-config FILE`: (success, stdout, stderr).
fn check_config(file: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty")).arg("check-config").arg(file).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// The fenced blocks of a Markdown file in `lang`, each with the line its first line is on.
fn fenced_blocks(markdown: &str, lang: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match open.take() {
            None if fence.and_then(|info| info.split_whitespace().next()) == Some(lang) => {
                open = Some((i + 2, String::new()))
            }
            None => {}
            Some(block) if fence.is_some() => blocks.push(block),
            Some((start, mut text)) => {
                text.push_str(line);
                text.push('\n');
                open = Some((start, text));
            }
        }
    }
    assert!(open.is_none(), "a ```{lang} block is never closed");
    blocks
}

fn toml_blocks(markdown: &str) -> Vec<(usize, String)> {
    fenced_blocks(markdown, "toml")
}

#[test]
fn every_toml_block_of_the_readme_and_docs_is_a_valid_programme_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for doc in ["README.md", "docs/METRICS.md", "docs/EVENTS.md"] {
        let markdown = std::fs::read_to_string(root.join(doc)).unwrap();
        for (line, text) in toml_blocks(&markdown) {
            let file = dir.path().join(format!("block-{checked}.toml"));
            std::fs::write(&file, &text).unwrap();
            let (ok, out, err) = check_config(&file);
            assert!(ok, "{doc}, the block from line {line}, is refused:\n{err}\n{text}");
            // What check-config prints, defaults filled in, is itself a valid file.
            let printed = out.split_once(": valid\n").expect("check-config names the file valid").1;
            std::fs::write(&file, printed).unwrap();
            let (ok, _, err) = check_config(&file);
            assert!(ok, "check-config's output for {doc}:{line} is refused:\n{err}\n{printed}");
            checked += 1;
        }
    }
    assert!(checked >= 4, "the README's three blocks and METRICS.md's one: {checked}");
}

#[test]
fn the_readme_spells_the_window_as_check_config_prints_it() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let tiers = toml_blocks(&readme).into_iter().find(|(_, t)| t.contains("[tiers]")).expect("a tiers block").1;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiers.toml");
    std::fs::write(&file, &tiers).unwrap();
    let (ok, out, err) = check_config(&file);
    assert!(ok, "{err}");
    assert!(
        tiers.contains("window = \"rolling_12_months\"") && out.contains("window = \"rolling_12_months\""),
        "{out}"
    );
}

/// The instant the walkthrough's server stands at: after every date the README names as having
/// happened (the order of 2026-11-01, the review of 2026-11-20, the usage report's month), as
/// for a reader trying it when it was written. The README's figures are stated for its fixed
/// dates, so the test must not depend on the day it runs.
const NOW: &str = "2026-12-02T10:00:00+08:00";

/// Placeholders the walkthrough writes for a value an earlier reply gave: the placeholder, the
/// end of the path of the request whose latest reply holds it, and where in that reply. The
/// command that uses one must say where it comes from (its comment names the placeholder).
const FROM_REPLIES: &[(&str, &str, &str)] =
    &[("HOLD_ID", "/points/holds", "/id"), ("REFERRAL_CODE", "/referral", "/code")];

/// Commands of the `loyalty` binary that read the system clock unless told the instant: the
/// test tells them the walkthrough's, as it tells the server (the subcommand and its flag).
const CLOCKED: &[(&str, &str)] = &[("insight", "--at"), ("jobs", "--now")];

fn promises() -> Vec<walk::Promise> {
    use walk::Promise;
    let p = |says, holds| Promise { says, holds };
    vec![
        p(
            "→ 1,234 points, pending until 7 days after paid_at",
            vec![("/earned_points", json!(1234)), ("/points_activate_at", json!("2026-11-08T20:00:00+08:00"))],
        ),
        // "With this fixed date they are usable already", read back on the next command.
        p("Balances: available, pending", vec![("/balances/available", json!(1234)), ("/balances/pending", json!(0))]),
        p(
            "hold 500 points (¥5) against a ¥60 order",
            vec![("/points", json!(500)), ("/value_minor", json!(500)), ("/order_amount_minor", json!(6000))],
        ),
        p("HOLD_ID from the reply", vec![("/status", json!("captured")), ("/points", json!(500))]),
        p(
            "Refund half the goods of the first order: half its points are clawed back",
            vec![("/refunded_minor", json!(61728)), ("/clawed_back_points", json!(617))],
        ),
        p(
            "alice has 127 points: 100 of them (¥1) go to this cart",
            vec![
                ("/redemption/max_points", json!(127)),
                ("/redemption/points", json!(100)),
                ("/redemption/value_minor", json!(100)),
            ],
        ),
        p(
            "1,000 in stock, one per member, valid 7 days from issue",
            vec![
                ("/terms/stock", json!(1000)),
                ("/stock_left", json!(1000)),
                ("/terms/limits/lifetime", json!(1)),
                ("/terms/validity/relative/days", json!(7)),
            ],
        ),
        // Claimed at the walkthrough's instant, valid to the end of the seventh day after.
        p(
            "The member claims one",
            vec![("/status", json!("available")), ("/valid_until", json!("2026-12-10T00:00:00+08:00"))],
        ),
        // What the order below is told to send: ¥228 member price less the ¥20 coupon.
        p(
            "Checkout says per coupon whether it applies",
            vec![
                ("/coupons/0/applied", json!(true)),
                ("/coupons/0/discount_minor", json!(2000)),
                ("/lines/0/member_price_minor", json!(22800)),
                ("/lines/0/paid_minor", json!(20800)),
            ],
        ),
        p(
            "(¥228 member price less ¥20 = 20800): the coupon is used",
            vec![("/lines/0/paid_minor", json!(20800)), ("/coupons", json!(["bob-spring-1"]))],
        ),
        p(
            "Redeem one: 500 points spent",
            vec![("/points", json!(500)), ("/status", json!("pending")), ("/balances/available", json!(1500))],
        ),
        p(
            "the answer has the streak, the",
            vec![("/streak", json!(1)), ("/reward/points", json!(5)), ("/next_milestone/streak_day", json!(3))],
        ),
        p(
            "twice a month: it mends the streak",
            vec![("/reward/cost_points", json!(20)), ("/day/kind", json!("makeup"))],
        ),
        p("Re-derive a draw from its record", vec![("/matches", json!(true)), ("/draw/free", json!(true))]),
        p(
            "Removes name, phone, email and birthday and closes the member",
            vec![("/removed", json!(["name", "phone", "email", "birthday"])), ("/status", json!("closed"))],
        ),
    ]
}

/// The ```sh blocks after `heading`, each with the line its first command is on.
fn sh_blocks_after(markdown: &str, heading: &str) -> Vec<(usize, String)> {
    let start = markdown.lines().position(|l| l.trim_end() == heading).unwrap_or_else(|| panic!("no {heading}"));
    fenced_blocks(markdown, "sh").into_iter().filter(|(line, _)| *line > start + 1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_runs_against_a_real_server_and_its_figures_hold() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    // The key the README starts its server with, which its walkthrough then sends.
    let (_, rest) = readme.split_once("LOYALTY_ADMIN_KEY=").expect("the README starts serve with an admin key");
    let key = rest.split_whitespace().next().unwrap();
    let now: jiff::Timestamp = NOW.parse().unwrap();
    // The built-in default programme, as `serve` without --program.
    let app = common::spawn_app_keyed("", loyalty_engine::ManualClock::at(now), key).await;
    let rules = walk::Rules { from_replies: FROM_REPLIES, clocked: CLOCKED, promises: promises() };
    let mut walk = walk::Walk::new(&app, now, rules);
    for (line, block) in sh_blocks_after(&readme, "## Walkthrough") {
        for cmd in shell::parse(&block, line) {
            walk.run(&cmd).await;
        }
    }
    walk.finish(30);
    // What the walkthrough wrote leaves every ledger invariant whole (the README says erasure
    // keeps `loyalty verify` clean).
    app.assert_verified().await;
}
