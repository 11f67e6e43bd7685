//! The orders importer applies a file grouped by member (and, for a large file, split by
//! member into temporary files first). These tests hold it to applying the same file in file
//! order: the same summary, the same rejected rows with the same reasons, and the same ledger,
//! lots and balances for every member, on both databases.

mod common;

use common::TestDb;
use jiff::{SignedDuration, Timestamp};
use loyalty_core::ids::MemberId;
use loyalty_core::Program;
use loyalty_engine::import::{self, Kind, Options, Summary};
use loyalty_store::LedgerQuery;
use std::fmt::Write as _;
use std::path::Path;

const MEMBERS: u64 = 23;

/// A small deterministic generator (an LCG), so that a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// An orders file over two years that holds everything the grouping must keep in order:
/// members interleaved, replays of an earlier row (skipped), an earlier id with another
/// amount for the same member (refused), an earlier id for another member (refused: held back
/// to the tail), rows that do not parse, and the same id twice for another member first.
fn orders_csv(rows: usize, seed: u64) -> String {
    let mut rng = Lcg(seed);
    let start = Timestamp::now() - SignedDuration::from_hours(24 * 760);
    let mut out = String::from("order_id,member_id,paid_at,amount_minor,shipping_minor\n");
    let mut written: Vec<String> = Vec::new();
    for i in 0..rows {
        let paid = start + SignedDuration::from_secs(i as i64 * 760 * 86_400 / rows as i64);
        let paid = paid.to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).timestamp();
        let member = format!("m{:02}", rng.next(MEMBERS));
        let amount = 100 + rng.next(50_000);
        let line = match rng.next(20) {
            // The same row again: a replay.
            0 if !written.is_empty() => written[rng.next(written.len() as u64) as usize].clone(),
            // An earlier id, with this row's member and amount: refused (another member's, or
            // the same member's with other values), or a replay if they happen to match.
            1 if !written.is_empty() => {
                let earlier = &written[rng.next(written.len() as u64) as usize];
                let id = earlier.split(',').next().unwrap();
                format!("{id},{member},{paid},{amount},0")
            }
            2 => format!("bad{i},{member},{paid},-{amount},0"),
            3 => format!("bad{i},{member},yesterday,{amount},0"),
            _ => format!("o{i:05},{member},{paid},{amount},{}", [0, 800, 1200][rng.next(3) as usize]),
        };
        if !line.starts_with("bad") {
            written.push(line.clone());
        }
        writeln!(out, "{line}").unwrap();
    }
    out
}

async fn import(url: &str, file: &Path, opts: Options) -> (Summary, String) {
    let store = loyalty_store::open(url).await.unwrap();
    let sum = import::run(store.as_ref(), &Program::default_program(), Kind::Orders, file, &opts).await.unwrap();
    // Grouped, rows the engine refuses are written in member order: compared by line.
    let mut rows = rejects(&opts.rejects);
    rows.sort_by_key(|(line, _, _)| *line);
    (sum, rows.iter().map(|(line, reason, row)| format!("{line},{reason},{row}")).collect::<Vec<_>>().join("\n"))
}

/// The rejects file read as CSV: (line, reason, row) in the order written.
fn rejects(path: &Path) -> Vec<(u64, String, String)> {
    let mut rdr = csv::Reader::from_path(path).unwrap();
    assert_eq!(rdr.headers().unwrap(), vec!["line", "reason", "row"]);
    let rows = rdr.records().map(|r| r.expect("the rejects file is valid CSV"));
    rows.map(|r| (r[0].parse().unwrap(), r[1].to_owned(), r[2].to_owned())).collect()
}

/// Every member's balances, lots and ledger, without the instants of recording.
async fn state(url: &str) -> Vec<String> {
    let store = loyalty_store::open(url).await.unwrap();
    let mut out = Vec::new();
    for m in 0..MEMBERS {
        let id = MemberId::parse(&format!("m{m:02}")).unwrap();
        let Some(rec) = store.member(&id, Timestamp::UNIX_EPOCH).await.unwrap() else {
            out.push(format!("{id}: absent"));
            continue;
        };
        let lots: Vec<_> = store
            .lots(&id, None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.lot_no, l.source_id, l.granted, l.remaining, l.expired, l.activates_at, l.expires_at, l.status))
            .collect();
        let q = LedgerQuery {
            member_id: id.to_string(),
            before_seq: None,
            kinds: vec![],
            from: None,
            to: None,
            limit: 10_000,
        };
        let entries = store.ledger(&q).await.unwrap();
        out.push(format!(
            "{id}: {:?} seq {} lots {}\n{lots:?}\n{entries:?}",
            rec.account.buckets(),
            rec.account.next_seq(),
            rec.account.next_lot_no()
        ));
    }
    let report = loyalty_engine::jobs::verify_all(store.as_ref(), &Program::default_program(), 4).await.unwrap();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    out
}

fn opts(dir: &Path, name: &str, batch: usize, group_bytes: u64, in_file_order: bool) -> Options {
    Options {
        batch,
        rejects: dir.join(format!("{name}.rejects.csv")),
        progress: false,
        group_bytes,
        in_file_order,
        clock: loyalty_engine::clock::system(),
    }
}

fn counts(s: &Summary) -> (u64, u64, u64, u64) {
    (s.rows, s.accepted, s.skipped, s.rejected)
}

#[tokio::test]
async fn grouped_and_split_imports_match_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    std::fs::write(&file, orders_csv(1_500, 7)).unwrap();
    let size = std::fs::metadata(&file).unwrap().len();

    let (_a, reference) = TestDb::fresh().await;
    let (ref_sum, ref_rejects) = import(&reference, &file, opts(dir.path(), "file-order", 100, size, true)).await;
    assert!(ref_sum.accepted > 1_000 && ref_sum.skipped > 10 && ref_sum.rejected > 100, "{ref_sum}");
    // Refusals of all three kinds are in the reference: parse errors and both conflicts.
    for needle in ["must not be negative", "paid_at", "already exists"] {
        assert!(ref_rejects.contains(needle), "{needle} in {ref_rejects}");
    }
    let expected = state(&reference).await;

    // Grouped in memory, in transactions that often cut a member's rows in two; then split
    // into five temporary files first.
    for (name, batch, group_bytes) in [("grouped", 40, size), ("split", 70, size / 5)] {
        let (_b, url) = TestDb::fresh().await;
        let (sum, rejects) = import(&url, &file, opts(dir.path(), name, batch, group_bytes, false)).await;
        assert_eq!(counts(&sum), counts(&ref_sum), "{name}: {sum} against {ref_sum}");
        assert_eq!(rejects, ref_rejects, "{name}: the same rows refused for the same reasons");
        let got = state(&url).await;
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g, e, "{name}");
        }

        // A re-run skips every row that was accepted or skipped, and refuses the rest again.
        let (again, rejects_again) = import(&url, &file, opts(dir.path(), name, batch, group_bytes, false)).await;
        assert_eq!(again.accepted, 0, "{name}: {again}");
        assert_eq!(again.skipped, ref_sum.accepted + ref_sum.skipped, "{name}: {again}");
        assert_eq!(rejects_again, ref_rejects, "{name}");
        assert_eq!(state(&url).await, expected, "{name}: a re-run changes nothing");
    }
}

/// A rejected row comes back in the rejects file's `row` column as it is in the file, commas,
/// quotes, white space and a quoted line break included, with the line it starts on (the file
/// has `\r\n` line ends and a blank line), whether
/// it was refused while the file was read or by the engine, in file order, grouped by member
/// and split into parts.
#[tokio::test]
async fn a_rejected_row_comes_back_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let at = "2026-01-05T10:00:00+08:00";
    let rows = [
        format!("o1,m1,{at},100,\"SKU \"\"A\"\", big\",shoes"),
        // The id of the row before with another amount: the engine refuses it.
        format!("o1,m1,{at},999,\"SKU \"\"A\"\", big\",shoes"),
        // Not a date: refused while the file is read.
        "o2, m2 ,  not a date ,100,\"a, b\",shoes".to_owned(),
        // A line break in a sku: refused, and the row takes two lines.
        format!("o3,m3,{at},100,\"two\nlines\",shoes"),
        format!("o4,m4,{at},100,plain,shoes"),
    ];
    let text = format!("order_id,member_id,paid_at,amount_minor,sku,category\r\n{}\r\n", rows.join("\r\n"));
    // A blank line after the third row: the rows after it start a line further on.
    let text = text.replacen("shoes\r\no3,", "shoes\r\n\r\no3,", 1);
    let file = dir.path().join("orders.csv");
    std::fs::write(&file, &text).unwrap();
    let size = text.len() as u64;
    for (name, group_bytes, in_file_order) in
        [("file-order", size, true), ("grouped", size, false), ("split", size / 3, false)]
    {
        let (_db, url) = TestDb::fresh().await;
        let opts = opts(dir.path(), name, 100, group_bytes, in_file_order);
        let store = loyalty_store::open(&url).await.unwrap();
        let sum = import::run(store.as_ref(), &Program::default_program(), Kind::Orders, &file, &opts).await.unwrap();
        assert_eq!((sum.accepted, sum.rejected), (2, 3), "{name}: {sum}");
        let mut got = rejects(&opts.rejects);
        got.sort_by_key(|(line, _, _)| *line);
        let lines: Vec<u64> = got.iter().map(|(line, _, _)| *line).collect();
        assert_eq!(lines, [3, 4, 6], "{name}");
        for ((_, reason, row), (want, why)) in
            got.iter().zip([(&rows[1], "already exists"), (&rows[2], "paid_at"), (&rows[3], "lines[0].sku")])
        {
            assert_eq!(row, want, "{name}: the row as it is in the file");
            assert!(reason.contains(why), "{name}: {why} in {reason}");
        }
    }
}

#[test]
fn batches_end_between_members() {
    // Members a×3, b×2, c×4, d×1: a batch of 4 ends after a, then after b, then c alone, …
    let rows = ['a', 'a', 'a', 'b', 'b', 'c', 'c', 'c', 'c', 'd'];
    assert_eq!(import::group_ends(&rows, 4, |x, y| x == y), vec![3, 5, 9, 10]);
    // A member longer than a batch is cut where the batch is full.
    assert_eq!(import::group_ends(&rows, 2, |x, y| x == y), vec![2, 3, 5, 7, 9, 10]);
    assert_eq!(import::group_ends(&rows, 100, |x, y| x == y), vec![10]);
    assert_eq!(import::group_ends(&rows[..0], 3, |x, y| x == y), Vec::<usize>::new());
}
