//! The synthetic store of `bench-insight`: members with mixed-case ids, a heavy-tailed number of
//! orders each (exactly the total asked for), spread over three years with some members
//! lapsing, lognormal order values and a few refunds. Loaded straight into SQLite with batched
//! multi-row inserts (the point of the benchmark is the insight computation, not ingestion), and
//! written to Parquet for DuckDB.

use jiff::Timestamp;
use loyalty_report::export::{Column, ParquetRows};
use parquet::data_type::ByteArray;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder};
use std::path::Path;
use std::str::FromStr;

const DAY: i64 = 86_400_000_000;
/// History the synthetic orders span, in days before the analysis instant.
const SPAN_DAYS: i64 = 1_095;
/// Rows per multi-row INSERT (14 values each stays under SQLite's bind limit).
const ROWS_PER_INSERT: usize = 2_000;
/// Rows per load transaction.
const ROWS_PER_TX: usize = 200_000;

/// Members sorted by id (byte order), and their orders sorted by member then time.
pub struct Synthetic {
    pub ids: Vec<String>,
    pub registered_at: Vec<i64>,
    pub member: Vec<u32>,
    pub paid_at: Vec<i64>,
    pub total_minor: Vec<i64>,
    pub refunded_minor: Vec<i64>,
    /// The analysis instant (microseconds): no refund is made after it.
    pub analysis_at: i64,
}

fn member_ids(n: usize, rng: &mut StdRng) -> Vec<String> {
    const PREFIXES: [&str; 6] = ["m", "M", "u.", "U-", "vip:", "c_"];
    let mut ids: Vec<String> = (0..n)
        .map(|i| {
            let p = PREFIXES[rng.random_range(0..PREFIXES.len())];
            // The index keeps ids unique; the random part gives ties plenty of byte-order work.
            format!("{p}{:x}.{i:x}", rng.random_range(0..4096_u32))
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Orders per member: heavy-tailed shares of exactly `orders`, one member in eight never buys.
fn order_counts(members: usize, orders: usize, rng: &mut StdRng) -> Vec<usize> {
    let weights: Vec<f64> = (0..members)
        .map(|_| if rng.random::<f64>() < 0.125 { 0.0 } else { (-(1.0 - rng.random::<f64>()).ln()).powf(1.6) })
        .collect();
    let sum: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut counts: Vec<usize> = weights.iter().map(|w| (w / sum * orders as f64).floor() as usize).collect();
    let mut left = orders - counts.iter().sum::<usize>().min(orders);
    while left > 0 {
        let i = rng.random_range(0..members);
        if weights[i] > 0.0 {
            counts[i] += 1;
            left -= 1;
        }
    }
    counts
}

fn lognormal_minor(rng: &mut StdRng) -> i64 {
    let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    ((9.4 + 0.8 * z).exp() as i64).clamp(100, 5_000_000)
}

/// Generates `members` members and exactly `orders` orders as of `at`.
pub fn generate(members: usize, orders: usize, at: Timestamp, seed: u64) -> Synthetic {
    let mut rng = StdRng::seed_from_u64(seed);
    let at = at.as_microsecond();
    let ids = member_ids(members, &mut rng);
    let counts = order_counts(members, orders, &mut rng);
    let mut s = Synthetic {
        registered_at: Vec::with_capacity(members),
        member: Vec::with_capacity(orders),
        paid_at: Vec::with_capacity(orders),
        total_minor: Vec::with_capacity(orders),
        refunded_minor: Vec::with_capacity(orders),
        analysis_at: at,
        ids,
    };
    let mut times = Vec::new();
    for (m, &count) in counts.iter().enumerate() {
        let first = rng.random_range(0..SPAN_DAYS * DAY);
        // Half the members stop buying at some point; the others are still buying today.
        let last = if rng.random::<bool>() { rng.random_range(0..=first) } else { 0 };
        s.registered_at.push(at - first - rng.random_range(0..30 * DAY));
        times.clear();
        if count > 0 {
            times.push(first);
            times.extend((1..count).map(|_| rng.random_range(last..=first)));
        }
        times.sort_unstable_by(|a, b| b.cmp(a));
        for &ago in &times {
            let total = lognormal_minor(&mut rng);
            let refund = match rng.random_range(0..100) {
                0..=3 => total,
                4..=6 => total / 2,
                _ => 0,
            };
            s.member.push(m as u32);
            s.paid_at.push(at - ago);
            s.total_minor.push(total);
            s.refunded_minor.push(refund);
        }
    }
    s
}

impl Synthetic {
    /// When order `i`'s refund (if any) was made.
    fn refunded_at(&self, i: usize) -> i64 {
        (self.paid_at[i] + 2 * DAY).min(self.analysis_at)
    }

    /// Every member's activity log as (member index, span, log) rows, in key order.
    fn activity_logs(&self) -> Vec<(u32, i64, String)> {
        use loyalty_store::analytics::{row_head, span_of, ActivityEvent};
        let mut rows: std::collections::BTreeMap<(u32, i64), String> = std::collections::BTreeMap::new();
        for i in 0..self.paid_at.len() {
            let paid_at = self.paid_at[i];
            let m = self.member[i];
            let log =
                rows.entry((m, span_of(paid_at))).or_insert_with(|| row_head(&self.ids[m as usize], span_of(paid_at)));
            ActivityEvent::Order { paid_at, total_minor: self.total_minor[i] }.write(log);
            if self.refunded_minor[i] > 0 {
                let refunded_at = self.refunded_at(i);
                ActivityEvent::Refund { paid_at, refunded_at, amount_minor: self.refunded_minor[i] }.write(log);
            }
        }
        rows.into_iter().map(|((m, span), log)| (m, span, log)).collect()
    }
}

/// Writes members, orders, refunds and activity logs straight into the SQLite file the store
/// already migrated.
pub async fn load_sqlite(path: &Path, s: &Synthetic) -> anyhow::Result<()> {
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-524288");
    let mut conn = opts.connect().await?;
    let head = "INSERT INTO members (member_id, registered_at, status, pending, active, held, debt, next_seq, \
                next_lot_no, created_at, updated_at) ";
    let idx: Vec<usize> = (0..s.ids.len()).collect();
    for tx_rows in idx.chunks(ROWS_PER_TX) {
        let mut tx = conn.begin().await?;
        for chunk in tx_rows.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(head);
            qb.push_values(chunk, |mut b, &i| {
                let t = s.registered_at[i];
                b.push_bind(s.ids[i].as_str())
                    .push_bind(t)
                    .push("'active', 0, 0, 0, 0, 1, 1")
                    .push_bind(t)
                    .push_bind(t);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let head = "INSERT INTO orders (member_id, order_id, paid_at, currency, eligible_minor, shipping_minor, \
                total_minor, earned_points, clawed_back_points, refunded_minor, lines, created_at) ";
    let idx: Vec<usize> = (0..s.paid_at.len()).collect();
    for tx_rows in idx.chunks(ROWS_PER_TX) {
        let mut tx = conn.begin().await?;
        for chunk in tx_rows.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(head);
            qb.push_values(chunk, |mut b, &i| {
                let total = s.total_minor[i];
                b.push_bind(s.ids[s.member[i] as usize].as_str()).push_bind(format!("o{i:x}")).push_bind(s.paid_at[i]);
                b.push("'CNY'").push_bind(total).push("0").push_bind(total).push_bind(total / 100).push("0");
                b.push_bind(s.refunded_minor[i]).push("'[]'").push_bind(s.paid_at[i]);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    // Each refund as the store records it (made two days after the payment, or at the analysis
    // instant if that is sooner), and every member's activity log built with the store's own
    // encoder: the rows the engine would have written with these orders and refunds.
    let refunded: Vec<usize> = (0..s.paid_at.len()).filter(|&i| s.refunded_minor[i] > 0).collect();
    let head = "INSERT INTO refunds (member_id, order_id, refund_id, amount_minor, lines, by_lines, clawback_points, \
                forgiven_points, refunded_at, created_at) ";
    for tx_rows in refunded.chunks(ROWS_PER_TX) {
        let mut tx = conn.begin().await?;
        for chunk in tx_rows.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(head);
            qb.push_values(chunk, |mut b, &i| {
                let t = s.refunded_at(i);
                b.push_bind(s.ids[s.member[i] as usize].as_str()).push_bind(format!("o{i:x}")).push("'r1'");
                b.push_bind(s.refunded_minor[i]).push("'[]', 0, 0, 0").push_bind(t).push_bind(t);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let logs = s.activity_logs();
    let head = "INSERT INTO member_activity (member_id, span, log) ";
    for tx_rows in logs.chunks(ROWS_PER_TX) {
        let mut tx = conn.begin().await?;
        for chunk in tx_rows.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(head);
            qb.push_values(chunk, |mut b, a| {
                b.push_bind(s.ids[a.0 as usize].as_str()).push_bind(a.1).push_bind(a.2.as_str());
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    // Copy the loaded pages into the database file and empty the log, as a store that has been
    // running would be: otherwise every read of the benchmark looks pages up in a 1 GB WAL.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// The orders as Parquet: member_id, paid_at, total_minor, refunded_minor, in row groups of 1M.
pub fn write_parquet(path: &Path, s: &Synthetic) -> anyhow::Result<()> {
    const SCHEMA: &str = "message orders { required binary member_id (STRING); required int64 paid_at; \
                          required int64 total_minor; required int64 refunded_minor; }";
    let mut w = ParquetRows::new(std::fs::File::create(path)?, SCHEMA)?;
    let ids: Vec<ByteArray> = s.ids.iter().map(|id| ByteArray::from(id.as_bytes().to_vec())).collect();
    for start in (0..s.paid_at.len()).step_by(1_000_000) {
        let end = (start + 1_000_000).min(s.paid_at.len());
        let member = s.member[start..end].iter().map(|&m| ids[m as usize].clone()).collect();
        w.row_group(vec![
            Column::Text(member),
            Column::Int(s.paid_at[start..end].to_vec()),
            Column::Int(s.total_minor[start..end].to_vec()),
            Column::Int(s.refunded_minor[start..end].to_vec()),
        ])?;
    }
    w.close()
}
