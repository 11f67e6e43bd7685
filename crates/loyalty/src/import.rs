//! CSV imports of members, orders and refunds. Rows are parsed on a reader thread and
//! applied in large batches through the same engine code as HTTP requests (one transaction
//! per batch). Re-running an import skips what is already there; rejected rows are written
//! with their line number and reason, and the import carries on.

use crate::engine::{apply_batch, Command, Outcome};
use jiff::Timestamp;
use loyalty_core::ids::{MemberId, OrderId};
use loyalty_core::member::MemberInput;
use loyalty_core::order::{LineInput, OrderInput, RefundInput};
use loyalty_core::Program;
use loyalty_store::{Store, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Rows applied per transaction. Large, because an import's cost per order is mostly index
/// pages dirtied and written to the log, and a bigger transaction dirties each page for more
/// orders: 1,000,000 orders imported at 18,780 orders/s with 16,384 a transaction, 22,082 with
/// 32,768, 28,122 with 65,536 and 28,821 with 131,072 (peak memory 868 MB, 984 MB, 1.26 GB,
/// 1.6 GB). A server writing the same SQLite file waits for each transaction (about 2 s at
/// this size); `--batch` trades that wait against speed.
pub const DEFAULT_BATCH: usize = crate::engine::MAX_COMMANDS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Members,
    Orders,
    Refunds,
}

#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub rows: u64,
    pub accepted: u64,
    /// Already present with the same content (a re-run).
    pub skipped: u64,
    pub rejected: u64,
    pub elapsed_secs: f64,
}

impl Summary {
    pub fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.elapsed_secs.max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rows {} · accepted {} · skipped (already present) {} · rejected {} · elapsed {:.2} s · {:.0} rows/s",
            self.rows,
            self.accepted,
            self.skipped,
            self.rejected,
            self.elapsed_secs,
            self.rows_per_sec()
        )
    }
}

/// One parsed row: its line number and what to do with it (or why it was refused).
type Parsed = (u64, Result<Command, String>);

pub struct Options {
    pub batch: usize,
    pub rejects: PathBuf,
    pub progress: bool,
}

pub fn default_rejects(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".rejects.csv");
    PathBuf::from(s)
}

pub async fn run(
    store: &dyn Store,
    program: &Program,
    kind: Kind,
    file: &Path,
    opts: &Options,
) -> anyhow::Result<Summary> {
    assert!((1..=crate::engine::MAX_COMMANDS).contains(&opts.batch), "batch size is bounded by the engine's");
    let started = Instant::now();
    let size = std::fs::metadata(file)?.len();
    let bar = if opts.progress { indicatif::ProgressBar::new(size) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
            .expect("static template"),
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<Parsed>, u64)>(4);
    let reader = spawn_reader(file.to_owned(), kind, program.clone(), opts.batch, tx);
    let mut rejects = csv::Writer::from_path(&opts.rejects)?;
    rejects.write_record(["line", "reason"])?;
    let mut sum = Summary::default();
    while let Some((rows, offset)) = rx.recv().await {
        apply_rows(store, program, rows, &mut sum, &mut rejects).await?;
        bar.set_position(offset);
        bar.set_message(format!("{} rows", sum.rows));
    }
    reader.await??;
    // Leaves the database file whole and its write-ahead log empty.
    store.checkpoint().await?;
    rejects.flush()?;
    bar.finish_and_clear();
    sum.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(sum)
}

async fn apply_rows(
    store: &dyn Store,
    program: &Program,
    rows: Vec<Parsed>,
    sum: &mut Summary,
    rejects: &mut csv::Writer<std::fs::File>,
) -> Result<(), StoreError> {
    let mut lines = Vec::with_capacity(rows.len());
    let mut cmds = Vec::with_capacity(rows.len());
    for (line, parsed) in rows {
        sum.rows += 1;
        match parsed {
            Ok(cmd) => {
                lines.push(line);
                cmds.push(cmd);
            }
            Err(reason) => reject(rejects, sum, line, &reason),
        }
    }
    if cmds.is_empty() {
        return Ok(());
    }
    let replies = apply_batch(store, program, &cmds, Timestamp::now()).await?;
    for (line, reply) in lines.into_iter().zip(replies) {
        match reply {
            Ok(Outcome::Order { replayed: true, .. }) | Ok(Outcome::Refund { replayed: true, .. }) => sum.skipped += 1,
            Ok(_) => sum.accepted += 1,
            Err(e) => reject(rejects, sum, line, &format!("{} ({})", e, e.code())),
        }
    }
    Ok(())
}

fn reject(w: &mut csv::Writer<std::fs::File>, sum: &mut Summary, line: u64, reason: &str) {
    sum.rejected += 1;
    if let Err(e) = w.write_record([line.to_string(), reason.to_owned()]) {
        tracing::error!(error = %e, "could not write a rejected row");
    }
}

fn spawn_reader(
    file: PathBuf,
    kind: Kind,
    program: Program,
    batch: usize,
    tx: tokio::sync::mpsc::Sender<(Vec<Parsed>, u64)>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::task::spawn_blocking(move || {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_path(&file)?;
        let headers = rdr.headers()?.clone();
        let cols = Columns::new(kind, &headers)?;
        let now = Timestamp::now();
        let mut rows = Vec::with_capacity(batch);
        let mut record = csv::StringRecord::new();
        loop {
            let line = rdr.position().line();
            let parsed = match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => cols.parse(&record, &program, now),
                Err(e) => Err(format!("unreadable row: {e}")),
            };
            rows.push((line, parsed));
            if rows.len() >= batch {
                let offset = rdr.position().byte();
                if tx.blocking_send((std::mem::take(&mut rows), offset)).is_err() {
                    return Ok(());
                }
            }
        }
        let offset = rdr.position().byte();
        let _ = tx.blocking_send((rows, offset));
        Ok(())
    })
}

/// Where each known column is in this file's header.
struct Columns {
    kind: Kind,
    at: HashMap<&'static str, usize>,
}

const MEMBER_COLS: &[&str] = &["member_id", "name", "phone", "email", "birthday", "channel", "registered_at", "status"];
const ORDER_COLS: &[&str] =
    &["order_id", "member_id", "paid_at", "amount_minor", "shipping_minor", "currency", "sku", "category", "brand"];
const REFUND_COLS: &[&str] = &["refund_id", "order_id", "refunded_at", "amount_minor"];

impl Columns {
    fn new(kind: Kind, headers: &csv::StringRecord) -> anyhow::Result<Self> {
        let (known, required): (&[&'static str], &[&str]) = match kind {
            Kind::Members => (MEMBER_COLS, &["member_id"]),
            Kind::Orders => (ORDER_COLS, &["order_id", "member_id", "paid_at", "amount_minor"]),
            Kind::Refunds => (REFUND_COLS, REFUND_COLS),
        };
        let mut at = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            match known.iter().find(|k| **k == h) {
                Some(k) => {
                    at.insert(*k, i);
                }
                None => anyhow::bail!("unknown column {h:?} in the header; known columns: {}", known.join(",")),
            }
        }
        if let Some(missing) = required.iter().find(|r| !at.contains_key(*r)) {
            anyhow::bail!("the header lacks the required column {missing:?} (required: {})", required.join(","));
        }
        Ok(Self { kind, at })
    }

    fn get<'r>(&self, r: &'r csv::StringRecord, col: &str) -> Option<&'r str> {
        self.at.get(col).and_then(|i| r.get(*i)).filter(|v| !v.is_empty())
    }

    fn int(&self, r: &csv::StringRecord, col: &str) -> Result<Option<i64>, String> {
        self.get(r, col)
            .map(|v| v.parse::<i64>().map_err(|_| format!("{col}: {v:?} is not an integer (minor units)")))
            .transpose()
    }

    fn parse(&self, r: &csv::StringRecord, program: &Program, now: Timestamp) -> Result<Command, String> {
        let s = |col| self.get(r, col).map(str::to_owned);
        match self.kind {
            Kind::Members => {
                let id = MemberId::parse(self.get(r, "member_id").unwrap_or(""))
                    .map_err(|e| format!("member_id: {}", e.0))?;
                let input = MemberInput {
                    name: s("name"),
                    phone: s("phone"),
                    email: s("email"),
                    birthday: s("birthday"),
                    channel: s("channel"),
                    registered_at: s("registered_at"),
                    status: s("status"),
                };
                Ok(Command::UpsertMember { id, input })
            }
            Kind::Orders => {
                let amount = self.int(r, "amount_minor")?.ok_or("amount_minor: required")?;
                if amount < 0 {
                    return Err(format!("amount_minor: {amount} must not be negative"));
                }
                let input = OrderInput {
                    id: s("order_id").unwrap_or_default(),
                    member_id: s("member_id").unwrap_or_default(),
                    paid_at: s("paid_at").unwrap_or_default(),
                    currency: s("currency"),
                    lines: vec![LineInput::one_unit(
                        s("sku").unwrap_or_else(|| "order".into()),
                        s("category"),
                        s("brand"),
                        amount,
                    )],
                    shipping_minor: self.int(r, "shipping_minor")?.unwrap_or(0),
                    shipping_waived_minor: 0,
                };
                let order = input.validate(program, now).map_err(|e| e.to_string())?;
                Ok(Command::PlaceOrder { order, create_member: true })
            }
            Kind::Refunds => {
                let order_id =
                    OrderId::parse(self.get(r, "order_id").unwrap_or("")).map_err(|e| format!("order_id: {}", e.0))?;
                let input = RefundInput {
                    id: s("refund_id").unwrap_or_default(),
                    amount_minor: self.int(r, "amount_minor")?,
                    lines: None,
                    refunded_at: s("refunded_at"),
                };
                Ok(Command::Refund { order_id, input })
            }
        }
    }
}
