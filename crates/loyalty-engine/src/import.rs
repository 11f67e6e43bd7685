//! CSV imports of members, orders and refunds. Rows are parsed on a blocking thread and
//! applied in large batches through the same engine code as HTTP requests (one transaction
//! per batch). Orders are applied grouped by member (see [`run_orders`]). Re-running an
//! import skips what is already there; rejected rows are written to the rejects file as
//! `line,reason,row` (the row as it is in the file, see [`Spot`]), and the import carries on.

use crate::clock::{Clock, SharedClock};
use crate::writer::{self as engine, Command, Outcome, Reply};
use jiff::Timestamp;
use loyalty_core::ids::{MemberId, OrderId};
use loyalty_core::member::MemberInput;
use loyalty_core::order::{LineInput, OrderInput, RefundInput, ValidOrder};
use loyalty_core::Program;
use loyalty_store::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Rows applied per transaction. Large, because an import's cost per order is mostly index
/// pages dirtied and written to the log, and a bigger transaction dirties each page for more
/// orders; past 65,536 the gain is small and the memory is not (BENCHMARKS.md, *The write
/// path as measured*). A server writing the same SQLite file waits for each transaction
/// (about 1 s grouped by member, 2 s in file order); `--batch` trades that wait against speed.
pub const DEFAULT_BATCH: usize = crate::writer::MAX_COMMANDS;

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

/// Where a row is in the file: the line the reader was on when it began the row (the rejects
/// file names the row by the line it starts on, see [`Source::row`]) and its bytes. A row the engine refuses is read back from the file by them when it is refused,
/// so that an import keeps 16 bytes more per row rather than every row's text for the few it
/// rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spot {
    line: u64,
    start: u64,
    end: u64,
}

impl Spot {
    /// The record a reader read between `before` (its position before the read) and `after`.
    fn read(before: &csv::Position, after: &csv::Position) -> Self {
        Self { line: before.line(), start: before.byte(), end: after.byte() }
    }
}

/// One parsed row: where it is and what to do with it (or why it was refused).
type Parsed = (Spot, Result<Command, String>);

pub struct Options {
    pub batch: usize,
    pub rejects: PathBuf,
    pub progress: bool,
    /// An orders file larger than this is split by member into temporary files of about this
    /// size (in the system's temporary directory, `TMPDIR`), each grouped in memory on its own
    /// (see [`run_orders`]).
    pub group_bytes: u64,
    /// What "now" is for validation (no orders from the future) and for each transaction.
    pub clock: SharedClock,
    /// Applies orders in file order, one batch after another, as members and refunds are:
    /// the same results, slower on a history (the reference the grouped way is tested against).
    pub in_file_order: bool,
}

/// Orders grouped in memory at once: 96 MiB of CSV is about 1,400,000 orders of the bench's
/// shape (its 1,000,000 orders are 70 MB, and their import peaked at 1.1 GB resident).
pub const DEFAULT_GROUP_BYTES: u64 = 96 << 20;

pub fn default_rejects(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".rejects.csv");
    PathBuf::from(s)
}

/// Imports `file`. Members and refunds are applied in file order, `opts.batch` rows to a
/// transaction. Orders are applied grouped by member (see [`run_orders`]), with the same
/// results as in file order (`opts.in_file_order`).
pub async fn run(
    store: &dyn Store,
    program: &Program,
    kind: Kind,
    file: &Path,
    opts: &Options,
) -> anyhow::Result<Summary> {
    assert!((1..=crate::writer::MAX_COMMANDS).contains(&opts.batch), "batch size is bounded by the engine's");
    assert!(opts.group_bytes > 0, "a group holds something");
    let started = Instant::now();
    let size = std::fs::metadata(file)?.len();
    let bar = if opts.progress { indicatif::ProgressBar::new(size) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .expect("static template"),
    );
    let mut t = Tally::create(&opts.rejects, file, bar)?;
    let applied = match kind {
        Kind::Orders if !opts.in_file_order => run_orders(store, program, file, opts, &mut t).await,
        Kind::Orders | Kind::Members | Kind::Refunds => run_in_order(store, program, kind, file, opts, &mut t).await,
    };
    // Rejected rows found before a failure are reported too.
    let (mut sum, written) = t.finish();
    applied?;
    written?;
    // Leaves the database file whole and its write-ahead log empty.
    store.checkpoint().await?;
    sum.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(sum)
}

async fn run_in_order(
    store: &dyn Store,
    program: &Program,
    kind: Kind,
    file: &Path,
    opts: &Options,
    t: &mut Tally,
) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<Parsed>, u64)>(4);
    let reader = spawn_reader(file.to_owned(), kind, program.clone(), opts.batch, opts.clock.now(), tx);
    while let Some((rows, offset)) = rx.recv().await {
        let mut cmds = Vec::with_capacity(rows.len());
        for (spot, parsed) in rows {
            t.sum.rows += 1;
            match parsed {
                Ok(cmd) => cmds.push((spot, cmd)),
                Err(reason) => t.refuse(spot, &reason),
            }
        }
        apply_rows(store, program, cmds, opts.clock.now(), t).await?;
        t.bar.set_position(offset);
        t.bar.set_message(format!("{} rows", t.sum.rows));
    }
    reader.await??;
    Ok(())
}

/// Imports orders grouped by member, which is several times faster than file order for a
/// store's history and gives the same results.
///
/// In file order, every transaction of a history touches most members: each loads the
/// member's lots again, dirties pages all over every member-keyed table (so the write and the
/// checkpoint grow with the file), and appends to the member's activity log by rewriting it.
/// Grouped, each member is loaded and written once, and members are taken in key order, so
/// the member-keyed tables are written from one end to the other.
///
/// The results are those of file order because members share nothing but order ids, and a
/// member's own rows keep their file order (the sort is stable). Members whose rows share an
/// order id with another member's (a conflict the engine refuses, in whichever order) are
/// *entangled*: all their rows are held back and applied after the groups, in file order, so
/// which row wins is decided exactly as in file order. Ids are compared by 64-bit hash; two
/// ids sharing a hash only entangle their members needlessly.
///
/// A file larger than `opts.group_bytes` is first split by the hash of the member id into
/// temporary files, so memory stays bounded whatever the file's size (the entangled rows are
/// kept in memory: as many as the file has conflicts).
async fn run_orders(
    store: &dyn Store,
    program: &Program,
    file: &Path,
    opts: &Options,
    t: &mut Tally,
) -> anyhow::Result<()> {
    let size = std::fs::metadata(file)?.len();
    let parts = size.div_ceil(opts.group_bytes).max(1) as usize;
    t.bar.set_message("reading");
    let reading = Instant::now();
    // Rows refused while reading come over as they are found, so that a file of bad rows is
    // never held in memory.
    let (refused, mut refusals) = tokio::sync::mpsc::channel::<(Spot, String)>(1_024);
    let reader = {
        let (file, program, bar, now) = (file.to_owned(), program.clone(), t.bar.clone(), opts.clock.now());
        tokio::task::spawn_blocking(move || split_orders(&file, &program, parts, now, &bar, &refused))
    };
    while let Some((spot, reason)) = refusals.recv().await {
        t.refuse(spot, &reason);
    }
    let split = reader.await??;
    tracing::debug!(
        rows = split.rows,
        parts,
        entangled = split.entangled.len(),
        read_ms = reading.elapsed().as_secs_f64() * 1e3,
        "orders file read"
    );
    t.sum.rows = split.rows;
    t.bar.set_length(split.rows);
    t.bar.set_message("applying");
    t.show();
    let mut tail = Vec::new();
    let program = Arc::new(program.clone());
    match split.groups {
        Groups::InMemory(rows) => {
            let rows = hold_back(rows, &split.entangled, &mut tail);
            apply_grouped(store, &program, rows, opts.batch, opts.clock.as_ref(), t).await?
        }
        Groups::Spilled { files, headers } => {
            for f in files {
                let (path, headers, prog, now) =
                    (f.path().to_owned(), headers.clone(), Arc::clone(&program), split.now);
                let rows = tokio::task::spawn_blocking(move || read_spilled(&path, &headers, &prog, now)).await??;
                drop(f);
                let rows = hold_back(rows, &split.entangled, &mut tail);
                apply_grouped(store, &program, rows, opts.batch, opts.clock.as_ref(), t).await?;
            }
        }
    }
    tail.sort_by_key(|(spot, _)| spot.line);
    let ends = group_ends(&tail, opts.batch, |_, _| false);
    apply_cut(store, &program, tail, &ends, opts.clock.as_ref(), t).await
}

/// An orders file read once: its rows' count, the rows to group by member, and the entangled
/// members (see [`run_orders`]).
struct Split {
    rows: u64,
    groups: Groups,
    /// Hashes of the members whose rows are applied in file order after the groups.
    entangled: HashSet<u64>,
    /// The instant rows were validated at; spilled rows are validated again at the same one.
    now: Timestamp,
}

enum Groups {
    InMemory(Vec<(Spot, Command)>),
    /// One temporary CSV file per part of the members: the file's own columns, then the row's
    /// line number and bytes (its [`Spot`]).
    Spilled {
        files: Vec<tempfile::NamedTempFile>,
        headers: csv::StringRecord,
    },
}

fn hash_of(s: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    // Fixed keys: a member's part must not depend on the process.
    BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(s)
}

fn placed(cmd: &Command) -> &ValidOrder {
    match cmd {
        Command::PlaceOrder { order, .. } => order,
        _ => unreachable!("an orders file holds orders"),
    }
}

/// Moves the rows of entangled members to `tail`; returns the others.
fn hold_back(
    rows: Vec<(Spot, Command)>,
    entangled: &HashSet<u64>,
    tail: &mut Vec<(Spot, Command)>,
) -> Vec<(Spot, Command)> {
    if entangled.is_empty() {
        return rows;
    }
    let (held, rest): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|(_, cmd)| entangled.contains(&hash_of(placed(cmd).member_id.as_str())));
    tail.extend(held);
    rest
}

/// Rows handed at once to a validating thread.
const CHUNK_ROWS: usize = 8_192;

/// A chunk of rows as read: where each is and its record (or why it could not be read).
type Read = Vec<(Spot, Result<csv::StringRecord, String>)>;
/// The same rows validated.
type Checked = Vec<(Spot, Result<csv::StringRecord, String>, Result<Command, String>)>;

/// Reads an orders file once, sending each row it refuses to `refused`. One thread reads the records, two validate them (jiff's parse
/// of `paid_at` and the order's checks are most of the work), and this one takes their chunks
/// back in the order they were handed out, so rows stay in file order.
fn split_orders(
    file: &Path,
    program: &Program,
    parts: usize,
    now: Timestamp,
    bar: &indicatif::ProgressBar,
    refused: &tokio::sync::mpsc::Sender<(Spot, String)>,
) -> anyhow::Result<Split> {
    assert!(parts >= 1);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_path(file)?;
    let headers = rdr.headers()?.clone();
    let cols = Columns::new(Kind::Orders, &headers)?;
    let mut split = Split { rows: 0, groups: Groups::InMemory(Vec::new()), entangled: HashSet::new(), now };
    let mut spill = if parts > 1 {
        let mut files = Vec::with_capacity(parts);
        for _ in 0..parts {
            let f = tempfile::NamedTempFile::new()?;
            let w = csv::WriterBuilder::new().flexible(true).from_writer(std::io::BufWriter::new(f.reopen()?));
            files.push((f, w));
        }
        Some(files)
    } else {
        None
    };
    // Each order id seen (by hash) and the member (by hash) it was first given to.
    let mut owners: HashMap<u64, u64> = HashMap::new();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (cols, bar) = (&cols, bar.clone());
        let mut to_check = Vec::new();
        let mut checked = Vec::new();
        for _ in 0..2 {
            let (to, from_reader) = std::sync::mpsc::sync_channel::<Read>(2);
            let (back, from_checker) = std::sync::mpsc::sync_channel::<Checked>(2);
            scope.spawn(move || {
                for chunk in from_reader {
                    let out = chunk
                        .into_iter()
                        .map(|(spot, rec)| {
                            let parsed = match &rec {
                                Ok(r) => cols.parse(r, program, now),
                                Err(e) => Err(e.clone()),
                            };
                            (spot, rec, parsed)
                        })
                        .collect();
                    if back.send(out).is_err() {
                        return;
                    }
                }
            });
            to_check.push(to);
            checked.push(from_checker);
        }
        scope.spawn(move || {
            for turn in 0.. {
                let mut chunk = Vec::with_capacity(CHUNK_ROWS);
                while chunk.len() < CHUNK_ROWS {
                    let before = rdr.position().clone();
                    let mut record = csv::StringRecord::new();
                    match rdr.read_record(&mut record) {
                        Ok(false) => break,
                        Ok(true) => chunk.push((Spot::read(&before, rdr.position()), Ok(record))),
                        Err(e) => {
                            chunk.push((Spot::read(&before, rdr.position()), Err(format!("unreadable row: {e}"))))
                        }
                    }
                }
                bar.set_position(rdr.position().byte());
                let last = chunk.len() < CHUNK_ROWS;
                if chunk.is_empty() || to_check[turn % 2].send(chunk).is_err() || last {
                    return;
                }
            }
        });
        for turn in 0.. {
            // The chunks come back in the turns they were handed out in: the first turn with
            // nothing to take means the reader is done.
            let Ok(chunk) = checked[turn % 2].recv() else { break };
            for (spot, record, parsed) in chunk {
                split.rows += 1;
                let cmd = match parsed {
                    Ok(cmd) => cmd,
                    Err(reason) => {
                        // The receiver only goes when the import has failed.
                        let _ = refused.blocking_send((spot, reason));
                        continue;
                    }
                };
                let order = placed(&cmd);
                let member = hash_of(order.member_id.as_str());
                let owner = *owners.entry(hash_of(order.id.as_str())).or_insert(member);
                if owner != member {
                    split.entangled.insert(owner);
                    split.entangled.insert(member);
                }
                if let Some(files) = &mut spill {
                    let w = &mut files[(member % parts as u64) as usize].1;
                    let mut out = record.expect("a row that parsed was read");
                    for n in [spot.line, spot.start, spot.end] {
                        out.push_field(&n.to_string());
                    }
                    w.write_record(&out)?;
                } else if let Groups::InMemory(rows) = &mut split.groups {
                    rows.push((spot, cmd));
                }
            }
        }
        Ok(())
    })?;
    if let Some(files) = spill {
        let mut kept = Vec::with_capacity(files.len());
        for (f, mut w) in files {
            w.flush()?;
            kept.push(f);
        }
        split.groups = Groups::Spilled { files: kept, headers };
    }
    Ok(split)
}

/// One part of the members written by [`split_orders`], parsed again. Every row parsed before.
fn read_spilled(
    path: &Path,
    headers: &csv::StringRecord,
    program: &Program,
    now: Timestamp,
) -> anyhow::Result<Vec<(Spot, Command)>> {
    let cols = Columns::new(Kind::Orders, headers)?;
    let mut rdr = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_path(path)?;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while rdr.read_record(&mut record)? {
        let fields = record.len().checked_sub(3).ok_or_else(|| anyhow::anyhow!("a spilled row without its spot"))?;
        let n = |i: usize| record[fields + i].parse::<u64>();
        let spot = Spot { line: n(0)?, start: n(1)?, end: n(2)? };
        record.truncate(fields);
        let cmd =
            cols.parse(&record, program, now).map_err(|e| anyhow::anyhow!("line {} parsed before: {e}", spot.line))?;
        rows.push((spot, cmd));
    }
    Ok(rows)
}

/// Applies one part's orders grouped by member, members in key order, in transactions of at
/// most `batch` rows that end between two members where they can.
async fn apply_grouped(
    store: &dyn Store,
    program: &Arc<Program>,
    mut rows: Vec<(Spot, Command)>,
    batch: usize,
    clock: &dyn Clock,
    t: &mut Tally,
) -> anyhow::Result<()> {
    fn member(row: &(Spot, Command)) -> &str {
        placed(&row.1).member_id.as_str()
    }
    // Stable: a member's rows keep their file order.
    rows.sort_by(|a, b| member(a).cmp(member(b)));
    let ends = group_ends(&rows, batch, |a, b| member(a) == member(b));
    apply_cut(store, program, rows, &ends, clock, t).await
}

/// Applies `rows` in transactions that end at `ends` (see [`engine::apply_batches`]: a
/// transaction's rules run while the one before is written, when they touch different members).
async fn apply_cut(
    store: &dyn Store,
    program: &Arc<Program>,
    rows: Vec<(Spot, Command)>,
    ends: &[usize],
    clock: &dyn Clock,
    t: &mut Tally,
) -> anyhow::Result<()> {
    assert_eq!(ends.last().copied().unwrap_or(0), rows.len(), "the cuts cover every row");
    let mut rows = rows.into_iter();
    let mut start = 0;
    let batches = ends.iter().map(|&end| {
        let (spots, cmds): (Vec<Spot>, Vec<Command>) = rows.by_ref().take(end - start).unzip();
        start = end;
        (spots, cmds)
    });
    engine::apply_batches(store, program, clock, batches, |spots, replies| {
        t.count(spots, replies);
        t.show();
    })
    .await?;
    Ok(())
}

/// Where each transaction ends in `rows` (sorted by group): at most `max` rows each, ending
/// between two groups unless one group alone is longer than `max`.
pub fn group_ends<T>(rows: &[T], max: usize, same: impl Fn(&T, &T) -> bool) -> Vec<usize> {
    assert!(max >= 1);
    let mut ends = Vec::with_capacity(rows.len() / max + 1);
    let mut start = 0;
    while start < rows.len() {
        let mut end = (start + max).min(rows.len());
        if end < rows.len() {
            // Back to the start of the group the boundary cuts, unless it began this chunk.
            let mut b = end;
            while b > start && same(&rows[b - 1], &rows[end]) {
                b -= 1;
            }
            if b > start {
                end = b;
            }
        }
        assert!(end > start, "every transaction takes a row");
        ends.push(end);
        start = end;
    }
    ends
}

/// Applies parsed rows in one transaction and counts each row's outcome.
async fn apply_rows(
    store: &dyn Store,
    program: &Program,
    rows: Vec<(Spot, Command)>,
    now: Timestamp,
    t: &mut Tally,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (spots, cmds): (Vec<Spot>, Vec<Command>) = rows.into_iter().unzip();
    let replies = engine::apply_batch(store, program, &cmds, now).await?;
    t.count(spots, replies);
    Ok(())
}

/// What an import has done so far: the summary, the rejected rows (written as they are found,
/// so that a file of bad rows takes no memory) and the progress bar.
struct Tally {
    sum: Summary,
    rejects: csv::Writer<std::fs::File>,
    /// The imported file, where rejected rows are read back from.
    source: Source,
    /// The first failure to write a rejected row, reported when the import ends.
    unwritten: Option<anyhow::Error>,
    bar: indicatif::ProgressBar,
    /// Rows whose outcome is known (the bar's position once an orders file is read).
    done: u64,
}

impl Tally {
    fn create(rejects: &Path, file: &Path, bar: indicatif::ProgressBar) -> anyhow::Result<Self> {
        let mut w = csv::Writer::from_path(rejects)?;
        w.write_record(["line", "reason", "row"])?;
        let source = Source { file: std::fs::File::open(file)?, buf: Vec::new() };
        Ok(Self { sum: Summary::default(), rejects: w, source, unwritten: None, bar, done: 0 })
    }

    /// Writes the row at `spot` to the rejects file: its line, why, and the row itself.
    fn refuse(&mut self, spot: Spot, reason: &str) {
        self.sum.rejected += 1;
        self.done += 1;
        let written = match self.source.row(spot) {
            Ok((line, row)) => {
                self.rejects.write_record([line.to_string().as_bytes(), reason.as_bytes(), row]).map_err(Into::into)
            }
            Err(e) => Err(anyhow::anyhow!("the row at line {} could not be read back from the file: {e}", spot.line)),
        };
        if let Err(e) = written {
            self.unwritten.get_or_insert(e);
        }
    }

    /// Moves the bar to the rows done.
    fn show(&self) {
        self.bar.set_position(self.done);
    }

    /// Counts each row's outcome; `spots` and `replies` go together.
    fn count(&mut self, spots: Vec<Spot>, replies: Vec<Reply>) {
        assert_eq!(spots.len(), replies.len(), "one reply per row");
        for (spot, reply) in spots.into_iter().zip(replies) {
            match reply {
                Ok(Outcome::Order { replayed: true, .. }) | Ok(Outcome::Refund { replayed: true, .. }) => {
                    self.sum.skipped += 1;
                    self.done += 1;
                }
                Ok(_) => {
                    self.sum.accepted += 1;
                    self.done += 1;
                }
                Err(e) => self.refuse(spot, &format!("{} ({})", e, e.code())),
            }
        }
    }

    /// The summary, and whether every rejected row was written.
    fn finish(mut self) -> (Summary, anyhow::Result<()>) {
        self.bar.finish_and_clear();
        let written = match self.unwritten.take() {
            Some(e) => Err(e.context("a rejected row could not be written")),
            None => self.rejects.flush().map_err(anyhow::Error::from),
        };
        (self.sum, written)
    }
}

/// The imported file, opened a second time to read rejected rows back.
struct Source {
    file: std::fs::File,
    buf: Vec<u8>,
}

impl Source {
    /// The line the row at `spot` starts on, and its bytes as they are in the file without the
    /// line breaks around it; line breaks inside a quoted field are the row's own and stay.
    ///
    /// The reader counts a row from where the one before it ended: after the blank lines
    /// between them, and in a file of `\r\n` line ends after the `\r` (the `\n` is read with
    /// the next row), so `spot.line` can be a line or more before the row's own. The `\n`s of
    /// what comes before the row's first byte are counted here. (A file of lone `\r` line ends
    /// has its rows read right, but its lines are not counted at all.)
    fn row(&mut self, spot: Spot) -> std::io::Result<(u64, &[u8])> {
        use std::io::{Read, Seek, SeekFrom};
        let len = usize::try_from(spot.end - spot.start).expect("a row that was read fits in memory");
        self.buf.resize(len, 0);
        self.file.seek(SeekFrom::Start(spot.start))?;
        self.file.read_exact(&mut self.buf)?;
        let text = self.buf.as_slice();
        let line_break = |b: &u8| *b == b'\n' || *b == b'\r';
        let first = text.iter().position(|b| !line_break(b)).unwrap_or(text.len());
        let last = text.iter().rposition(|b| !line_break(b)).map_or(first, |i| i + 1);
        let breaks = text[..first].iter().filter(|b| **b == b'\n').count() as u64;
        Ok((spot.line + breaks, &text[first..last]))
    }
}

fn spawn_reader(
    file: PathBuf,
    kind: Kind,
    program: Program,
    batch: usize,
    now: Timestamp,
    tx: tokio::sync::mpsc::Sender<(Vec<Parsed>, u64)>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::task::spawn_blocking(move || {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_path(&file)?;
        let headers = rdr.headers()?.clone();
        let cols = Columns::new(kind, &headers)?;
        let mut rows = Vec::with_capacity(batch);
        let mut record = csv::StringRecord::new();
        loop {
            let before = rdr.position().clone();
            let parsed = match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => cols.parse(&record, &program, now),
                Err(e) => Err(format!("unreadable row: {e}")),
            };
            rows.push((Spot::read(&before, rdr.position()), parsed));
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
                    referred_by: None,
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
                    coupons: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` orders over `members` members, every 97th row unreadable as an amount.
    fn orders_file(dir: &Path, rows: usize, members: usize) -> PathBuf {
        let mut text = String::from("order_id,member_id,paid_at,amount_minor\n");
        for i in 0..rows {
            let amount = if i % 97 == 5 { "x".to_owned() } else { (100 + i).to_string() };
            text.push_str(&format!("o{i},m{},2026-01-05T10:00:00+08:00,{amount}\n", i * 7 % members));
        }
        let path = dir.join("orders.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Reads `file` in `parts`, with the rows it refused, in the order they were sent.
    fn split(file: &Path, rows: usize, parts: usize) -> (Split, Vec<(Spot, String)>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(rows.max(1));
        let split = split_orders(
            file,
            &Program::default_program(),
            parts,
            Timestamp::now(),
            &indicatif::ProgressBar::hidden(),
            &tx,
        )
        .unwrap();
        drop(tx);
        let mut refused = Vec::new();
        while let Ok(r) = rx.try_recv() {
            refused.push(r);
        }
        (split, refused)
    }

    /// Several chunks go through the two validating threads and come back in file order.
    #[test]
    fn a_file_read_in_chunks_keeps_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let rows = CHUNK_ROWS * 5 + 123;
        let file = orders_file(dir.path(), rows, 101);
        let (split, refused) = split(&file, rows, 1);
        assert_eq!(split.rows, rows as u64);
        let rejected: Vec<u64> = refused.iter().map(|(spot, _)| spot.line).collect();
        let expected: Vec<u64> = (0..rows).filter(|i| i % 97 == 5).map(|i| i as u64 + 2).collect();
        assert_eq!(rejected, expected, "rejected rows by line, in order");
        let Groups::InMemory(kept) = split.groups else { panic!("one part stays in memory") };
        assert_eq!(kept.len() + rejected.len(), rows);
        assert!(kept.windows(2).all(|w| w[0].0.line < w[1].0.line), "rows in file order");
        let text = std::fs::read_to_string(&file).unwrap();
        for (spot, cmd) in &kept {
            assert_eq!(placed(cmd).id.as_str(), format!("o{}", spot.line - 2), "each row with its own line");
            let row = &text[spot.start as usize..spot.end as usize];
            assert!(row.starts_with(&format!("o{},", spot.line - 2)) && row.ends_with('\n'), "and its bytes: {row:?}");
        }
        assert!(split.entangled.is_empty());
    }

    /// Split into parts, every row lands in its member's part once, with its line number.
    #[test]
    fn a_split_file_puts_each_member_in_one_part() {
        let dir = tempfile::tempdir().unwrap();
        let rows = CHUNK_ROWS * 2 + 7;
        let file = orders_file(dir.path(), rows, 53);
        let program = Program::default_program();
        let (split, _) = split(&file, rows, 3);
        let Groups::Spilled { files, headers } = split.groups else { panic!("three parts spill") };
        assert_eq!(files.len(), 3);
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = Vec::new();
        let mut part_of = HashMap::new();
        for (k, f) in files.iter().enumerate() {
            for (spot, cmd) in read_spilled(f.path(), &headers, &program, split.now).unwrap() {
                let member = placed(&cmd).member_id.to_string();
                assert_eq!(*part_of.entry(member).or_insert(k), k, "a member's rows in one part");
                let row = &text[spot.start as usize..spot.end as usize];
                assert!(row.starts_with(&format!("{},", placed(&cmd).id)), "with its bytes: {row:?}");
                lines.push(spot.line);
            }
        }
        lines.sort_unstable();
        let expected: Vec<u64> = (0..rows).filter(|i| i % 97 != 5).map(|i| i as u64 + 2).collect();
        assert_eq!(lines, expected, "every readable row once");
    }

    /// What the rejects file gets as a row is the row as written: quotes, commas, white space,
    /// a quoted line break, whatever the file's line ends and blank lines between rows; and the
    /// line it starts on, which the reader's position alone misses after a blank line and in
    /// a file of `\r\n` line ends.
    #[test]
    fn a_row_is_read_back_as_it_is_in_the_file() {
        let rows = ["a,b", " x , \"y, \"\"z\"\"\" ", "\"two\nlines\",c", "\"crlf\r\ninside\",d", "last"];
        for (ending, at_the_end) in [("\n", true), ("\r\n", true), ("\r", false)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.csv");
            let mut text = format!("h1,h2{ending}");
            for (i, row) in rows.iter().enumerate() {
                text.push_str(row);
                if i + 1 < rows.len() || at_the_end {
                    text.push_str(ending);
                }
                if i == 1 {
                    text.push_str(ending);
                }
            }
            std::fs::write(&path, &text).unwrap();
            let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_path(&path).unwrap();
            rdr.headers().unwrap();
            let mut source = Source { file: std::fs::File::open(&path).unwrap(), buf: Vec::new() };
            let (mut record, mut got, mut lines) = (csv::StringRecord::new(), Vec::new(), Vec::new());
            loop {
                let before = rdr.position().clone();
                if !rdr.read_record(&mut record).unwrap() {
                    break;
                }
                let spot = Spot::read(&before, rdr.position());
                let (line, row) = source.row(spot).unwrap();
                got.push(String::from_utf8(row.to_vec()).unwrap());
                lines.push(line);
            }
            assert_eq!(got, rows, "{ending:?}");
            // The header is line 1, a blank line follows the second row, two rows take two lines.
            if ending != "\r" {
                assert_eq!(lines, [2, 3, 5, 7, 9], "{ending:?}");
            }
        }
    }

    #[test]
    fn an_empty_file_has_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let file = orders_file(dir.path(), 0, 1);
        let (split, refused) = split(&file, 0, 1);
        assert!(refused.is_empty());
        assert_eq!(split.rows, 0);
        assert!(matches!(split.groups, Groups::InMemory(rows) if rows.is_empty()));
    }
}
