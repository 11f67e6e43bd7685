//! The paid-membership report's benchmark store: bench-insight's members and orders (written
//! straight into SQLite, `insight_data`), tiers, a full insight run, and paid terms for a
//! quarter of the members (monthly chains, yearly terms, trials before some, a few refunded),
//! the lapses and refunds their history records, and a benefit use for every order a term
//! covered. Then the report is timed, its read alone is timed and checked against the naive
//! read (SQLite's GROUP BY over the orders table, by member and month).

use crate::insight_data::{self, Synthetic};
use crate::memberships::Args;
use jiff::{Timestamp, ToSpan};
use loyalty_core::Program;
use loyalty_report::membership::{self, ReportRange};
use loyalty_store::analytics::MonthGrid;
use loyalty_store::membership_facts::FactsQuery;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

/// The analysis instant of bench-insight's store; the report is taken then.
const AT: &str = "2026-01-01T00:00:00+08:00";
const DAY: i64 = 86_400_000_000;
/// The report's range: joins in this quarter, compared three months either side.
const FROM: (i16, i8, i8) = (2025, 4, 1);
const TO: (i16, i8, i8) = (2025, 6, 30);

struct TermRow {
    member: u32,
    plan: &'static str,
    trial: bool,
    starts_at: i64,
    ends_at: i64,
    ended_at: Option<i64>,
    paid_minor: i64,
    refunded_minor: i64,
    segment: &'static str,
}

fn tier_of(member: u32) -> &'static str {
    match member % 10 {
        0 => "gold",
        1 | 2 => "silver",
        _ => "base",
    }
}

fn plus_months(t: i64, n: i64, tz: &jiff::tz::TimeZone) -> i64 {
    let z = Timestamp::from_microsecond(t).expect("an instant").to_zoned(tz.clone());
    z.checked_add(n.months()).expect("in range").timestamp().as_microsecond()
}

/// A quarter of the members join once between 2024-07 and 2025-11: PLUS for one to eight
/// months (one in twenty after a 14-day trial), or a VIP year; one in thirty is refunded half
/// way through their last term.
fn terms(s: &Synthetic, seed: u64, tz: &jiff::tz::TimeZone) -> Vec<TermRow> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let segments: Vec<&'static str> =
        loyalty_report::config::Scheme::Value.segments().into_iter().map(|(code, _)| code).collect();
    let (lo, hi) = (
        Timestamp::from_str("2024-07-01T00:00:00+08:00").expect("an instant").as_microsecond(),
        Timestamp::from_str("2025-12-01T00:00:00+08:00").expect("an instant").as_microsecond(),
    );
    let mut out = Vec::new();
    for member in 0..s.ids.len() as u32 {
        if !rng.random_bool(0.25) {
            continue;
        }
        let segment = segments[rng.random_range(0..segments.len())];
        let mut start = rng.random_range(lo..hi);
        let first = out.len();
        let row = |plan, trial, starts_at, ends_at, paid_minor| TermRow {
            member,
            plan,
            trial,
            starts_at,
            ends_at,
            ended_at: None,
            paid_minor,
            refunded_minor: 0,
            segment,
        };
        if rng.random_bool(0.7) {
            if rng.random_bool(0.05) {
                out.push(row("plus", true, start - 14 * DAY, start, 0));
            }
            for _ in 0..rng.random_range(1..=8) {
                let end = plus_months(start, 1, tz);
                out.push(row("plus", false, start, end, 9_900));
                start = end;
            }
        } else {
            out.push(row("vip", false, start, plus_months(start, 12, tz), 99_900));
        }
        if rng.random_bool(1.0 / 30.0) {
            let last = out.last_mut().expect("a term was pushed");
            last.ended_at = Some(last.starts_at + (last.ends_at - last.starts_at) / 2);
            last.refunded_minor = last.paid_minor / 2;
        }
        debug_assert!(out.len() > first);
    }
    out
}

/// Multi-row inserts of `rows` in transactions of 200,000, `per` rows a statement.
async fn insert<'a, T>(
    conn: &mut sqlx::SqliteConnection,
    head: &str,
    rows: &'a [T],
    per: usize,
    mut push: impl FnMut(&mut sqlx::query_builder::Separated<'_, 'a, sqlx::Sqlite, &'static str>, &'a T),
) -> anyhow::Result<()> {
    for tx_rows in rows.chunks(200_000) {
        let mut tx = conn.begin().await?;
        for chunk in tx_rows.chunks(per) {
            let mut qb: QueryBuilder<'a, sqlx::Sqlite> = QueryBuilder::new(head);
            qb.push_values(chunk, |mut b, r| push(&mut b, r));
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Tiers, terms, lapse and refund entries and benefit uses, straight into the file.
async fn load_memberships(path: &std::path::Path, s: &Synthetic, terms: &[TermRow], at: i64) -> anyhow::Result<()> {
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off);
    let mut conn = opts.connect().await?;
    // Members were inserted in id order, so rowid − 1 is the member's index (`tier_of`).
    sqlx::query(
        "UPDATE members SET tier = CASE (rowid - 1) % 10 WHEN 0 THEN 'gold' WHEN 1 THEN 'silver' WHEN 2 THEN 'silver' \
         ELSE 'base' END",
    )
    .execute(&mut conn)
    .await?;
    let head = "INSERT INTO membership_terms (member_id, term_id, plan, trial, paid_minor, payment_ref, paid_at, \
                starts_at, ends_at, credit_minor, refunded_minor, refund_id, credited_minor, ended_at, packs_issued, \
                tier, segment, created_at) ";
    let numbered: Vec<(usize, &TermRow)> = terms.iter().enumerate().collect();
    insert(&mut conn, head, &numbered, 1_500, |b, (k, t)| {
        let id = s.ids[t.member as usize].as_str();
        b.push_bind(id).push_bind(format!("t{k:x}")).push_bind(t.plan).push_bind(i64::from(t.trial));
        b.push_bind(t.paid_minor).push_bind(format!("ref{k:x}")).push_bind(t.starts_at).push_bind(t.starts_at);
        b.push_bind(t.ends_at).push("0").push_bind(t.refunded_minor);
        b.push_bind(t.ended_at.map(|_| format!("r{k:x}"))).push("0").push_bind(t.ended_at).push("0");
        b.push_bind(tier_of(t.member)).push_bind(t.segment).push_bind(t.starts_at);
    })
    .await?;
    // The last term of each member ends the chain: a refund, or a lapse after 3 days' grace.
    let mut events: Vec<(u32, i64, &'static str, &'static str)> = Vec::new();
    for group in terms.chunk_by(|a, b| a.member == b.member) {
        let last = group.last().expect("a group has a term");
        let (when, kind) = match last.ended_at {
            Some(e) => (e, "refunded"),
            None => (last.ends_at + 3 * DAY, "lapsed"),
        };
        if when <= at {
            events.push((last.member, when, kind, last.plan));
        }
    }
    let head = "INSERT INTO membership_events (member_id, seq, at, kind, plan, term_id, amount_minor, detail, \
                recorded_at) ";
    insert(&mut conn, head, &events, 3_000, |b, e| {
        b.push_bind(s.ids[e.0 as usize].as_str()).push("1").push_bind(e.1).push_bind(e.2).push_bind(e.3);
        b.push("NULL, 0, ''").push_bind(e.1);
    })
    .await?;
    // One use for every order a live term covered: the plan's discount, a tenth of the order.
    let mut by_member: Vec<Vec<&TermRow>> = vec![Vec::new(); s.ids.len()];
    terms.iter().for_each(|t| by_member[t.member as usize].push(t));
    let uses: Vec<(usize, &'static str)> = (0..s.paid_at.len())
        .filter_map(|i| {
            let paid_at = s.paid_at[i];
            by_member[s.member[i] as usize]
                .iter()
                .find(|t| t.starts_at <= paid_at && paid_at < t.ended_at.unwrap_or(t.ends_at).min(t.ends_at))
                .map(|t| (i, t.plan))
        })
        .collect();
    let head = "INSERT INTO benefit_uses (member_id, source_kind, source_id, benefit, tier, used_at, value_minor, \
                extra_points, recorded_at, plan) ";
    insert(&mut conn, head, &uses, 2_500, |b, &(i, plan)| {
        let m = s.member[i];
        b.push_bind(s.ids[m as usize].as_str()).push("'order'").push_bind(format!("o{i:x}"));
        b.push_bind(format!("plan_discount:{plan}")).push_bind(tier_of(m)).push_bind(s.paid_at[i]);
        b.push_bind(s.total_minor[i] / 10).push("0").push_bind(s.paid_at[i]).push_bind(plan);
    })
    .await?;
    println!("loaded {} terms, {} lapse and refund entries, {} benefit uses", terms.len(), events.len(), uses.len());
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// The report over the store, its read alone, and the naive read.
pub async fn report(args: &Args, program: &Program) -> anyhow::Result<()> {
    let at: Timestamp = AT.parse()?;
    let tz = &program.tz;
    std::fs::create_dir_all(&args.dir)?;
    let db = args.dir.join("report.db");
    let reuse = args.reuse && db.exists();
    if !reuse {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    let store = loyalty_store::open(&format!("sqlite://{}", db.display())).await?;
    if reuse {
        println!("report store: reusing {}", db.display());
    } else {
        let started = Instant::now();
        let data = insight_data::generate(args.report_members, args.report_orders, at, args.seed);
        insight_data::load_sqlite(&db, &data).await?;
        load_memberships(&db, &data, &terms(&data, args.seed, tz), at.as_microsecond()).await?;
        let config = loyalty_report::config::InsightConfig::default();
        loyalty_report::compute::run(store.as_ref(), &config, at).await?;
        println!("generate, load and an insight run: {:.1} s", secs(started));
    }
    let range =
        ReportRange::new(program, jiff::civil::date(FROM.0, FROM.1, FROM.2), jiff::civil::date(TO.0, TO.1, TO.2), None)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
    for round in 0..=args.again {
        let started = Instant::now();
        let r = membership::compute(store.as_ref(), program, &range, at).await?;
        let s = secs(started);
        let t = &r.total;
        println!(
            "report {round}: {s:.2} s — paid {} joined {} renewed {} lapsed {}; joiners used {} of {}, controls {}, \
             strata {}; incremental {} minor; fees {} cost {}; ROI {:?}",
            t.members.paid,
            t.members.joined,
            t.members.renewed,
            t.members.lapsed,
            t.incremental.joiners_used,
            t.incremental.joiners_in_window,
            t.incremental.controls_used,
            t.incremental.strata_used,
            t.incremental.incremental_spend_minor,
            t.fees_minor,
            t.benefit_cost_minor,
            t.roi.as_ref().and_then(|x| x.roi)
        );
    }
    read_alone_and_naive(store.as_ref(), tz, at, &db).await
}

/// Times the fast read by itself and SQLite's GROUP BY of the orders by member and month over
/// the same months, and checks that both sum to the same spend.
async fn read_alone_and_naive(
    store: &dyn loyalty_store::Store,
    tz: &jiff::tz::TimeZone,
    at: Timestamp,
    db: &std::path::Path,
) -> anyhow::Result<()> {
    // The report's months: three before April 2025 to August 2025 (three from June).
    let (lo, hi) = (2025 * 12, 2025 * 12 + 7);
    let start = |m: i32| -> anyhow::Result<i64> {
        let d = jiff::civil::date((m / 12) as i16, (m % 12 + 1) as i8, 1);
        Ok(d.to_zoned(tz.clone())?.timestamp().as_microsecond())
    };
    let starts = (lo..=hi + 1).map(start).collect::<anyhow::Result<Vec<i64>>>()?;
    let (first, end) = (starts[0], starts[starts.len() - 1]);
    let grid = Arc::new(MonthGrid::new(lo, starts));
    let run = store.latest_insight_run().await?.map(|r| (r.slot, r.run_id));
    let started = Instant::now();
    let (mut members, mut terms, mut cells, mut spend) = (0_u64, 0_u64, 0_u64, 0_i128);
    let read = |r: loyalty_store::analytics::ActivityRange| {
        let q = FactsQuery { after: r.after, through: r.through, at, grid: grid.clone(), run };
        async move { store.member_facts(&q).await }
    };
    loyalty_report::compute::for_each_range(store, at, 20_000, read, |range| {
        for m in range {
            members += 1;
            terms += m.terms.len() as u64;
            cells += m.spend.len() as u64;
            spend += m.spend.iter().map(|&(_, v)| i128::from(v)).sum::<i128>();
        }
        Ok::<_, loyalty_store::StoreError>(())
    })
    .await?;
    println!(
        "the read alone (members, segments, terms, monthly spend from the activity log): {:.2} s — {members} \
         members, {terms} terms, {cells} member-months",
        secs(started)
    );
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
    let started = Instant::now();
    // Asia/Shanghai has no daylight saving: the month is the UTC month of paid_at + 8 h.
    let (n, sum): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(net) AS BIGINT) FROM (SELECT member_id, strftime('%Y-%m', paid_at / 1000000 + 28800, \
         'unixepoch') AS month, SUM(total_minor - refunded_minor) AS net FROM orders WHERE paid_at >= $1 AND \
         paid_at < $2 GROUP BY member_id, month HAVING SUM(total_minor - refunded_minor) <> 0)",
    )
    .bind(first)
    .bind(end)
    .fetch_one(&pool)
    .await?;
    println!(
        "naive: GROUP BY member and month over the orders table, nothing returned but the sums: {:.2} s — {n} \
         member-months",
        secs(started)
    );
    anyhow::ensure!(
        (n as u64, i128::from(sum)) == (cells, spend),
        "the activity log's months ({cells}, {spend}) differ from the orders table's ({n}, {sum})"
    );
    println!("member-months and spend agree with the orders table: {cells} cells, {spend} minor");
    Ok(())
}
