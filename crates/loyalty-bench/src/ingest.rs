//! `loyalty bench`: generates a synthetic store and measures what issue 2 §12 asks of this
//! machine: importing orders into SQLite through the importer (and, for the ratio, the naive
//! way with one transaction per order), ingesting orders over HTTP through the real router,
//! and the peak memory of each phase. It prints a table and writes `<dir>/results.md`.
//!
//! What it generates is deterministic for a given `--seed` and day: every draw comes from a
//! seeded generator, and timestamps are anchored at the start of the current day (+08:00) so
//! that no order is ever in the future.

use anyhow::{bail, ensure, Context};
use hdrhistogram::Histogram;
use jiff::Timestamp;
use loyalty::app as cli;
use loyalty_core::order::{LineInput, OrderInput};
use loyalty_core::Program;
use loyalty_engine::{apply_batch, Command, MAX_COMMANDS};
use loyalty_engine::{import, jobs};
use loyalty_http::auth;
use loyalty_store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const TARGET_IMPORT_PER_SEC: f64 = 50_000.0;
const TARGET_HTTP_PER_SEC: f64 = 5_000.0;
const TARGET_HTTP_P99_MS: f64 = 50.0;
/// Orders of the import file are spread over this many seconds before the anchor (2 years).
const SPAN_SECS: u32 = 730 * 86_400;
/// The spread of members' log-normal shares of orders: the heaviest buyer of 100,000 buys
/// about a hundred times what the median member does.
const SKEW_SIGMA: f64 = 1.2;
const CATEGORIES: &[&str] =
    &["apparel", "beauty", "books", "digital", "food", "home", "kids", "pets", "sports", "toys", "travel", "wine"];
/// A worker gives up after this many failed requests, so a dead server cannot spin it forever.
const MAX_WORKER_ERRORS: u64 = 100;
/// Largest response the load generator accepts.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Orders in the generated CSV that the import benchmark loads.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u64,
    /// Members the orders are spread over (skewed: a few buy a lot).
    #[arg(long, default_value_t = 100_000)]
    pub members: u64,
    /// Orders posted over HTTP.
    #[arg(long, default_value_t = 100_000)]
    pub http_orders: u64,
    /// Concurrent HTTP workers, each on its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Orders applied the naive way (one transaction each), taken from the start of the CSV.
    #[arg(long, default_value_t = 20_000)]
    pub naive_orders: u64,
    /// Where the CSV files, databases and results.md go.
    #[arg(long, default_value = "/tmp/loyalty-bench")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Rows per transaction in the import.
    #[arg(long, default_value_t = import::DEFAULT_BATCH)]
    pub batch: usize,
    /// Worker threads of the load generator's own runtime (the server keeps the main one).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Send an Idempotency-Key with every order, as a careful integration would.
    #[arg(long)]
    pub idempotency_keys: bool,
    /// Also run the HTTP benchmark on PostgreSQL, in a fresh database created on this
    /// server and dropped afterwards, e.g. postgres://postgres@127.0.0.1:5432.
    #[arg(long)]
    pub postgres_url: Option<String>,
    #[arg(long)]
    pub skip_import: bool,
    #[arg(long)]
    pub skip_naive: bool,
    #[arg(long)]
    pub skip_http: bool,
    /// Active tasks every order can move (0 to 200): what task progress costs ingestion.
    #[arg(long, default_value_t = 0)]
    pub tasks: usize,
}

impl Args {
    fn check(&self) -> anyhow::Result<()> {
        ensure!((1..=10_000_000).contains(&self.orders), "--orders must be 1 to 10,000,000");
        ensure!((1..=10_000_000).contains(&self.members), "--members must be 1 to 10,000,000");
        ensure!((1..=10_000_000).contains(&self.http_orders), "--http-orders must be 1 to 10,000,000");
        ensure!(
            self.naive_orders <= self.orders,
            "--naive-orders takes the first rows of the CSV: at most --orders ({})",
            self.orders
        );
        ensure!((1..=1_024).contains(&self.connections), "--connections must be 1 to 1,024");
        ensure!(
            (1..=MAX_COMMANDS).contains(&self.batch),
            "--batch must be 1 to {}, the engine's bound on a batch",
            MAX_COMMANDS
        );
        ensure!((1..=16).contains(&self.client_threads), "--client-threads must be 1 to 16");
        ensure!(self.tasks <= loyalty_core::engagement::task::MAX_TASKS, "--tasks must be 0 to 200");
        Ok(())
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    args.check()?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    let program = crate::task_program::with_tasks(args.tasks)?;
    let anchor = day_anchor(Timestamp::now());
    let mut rng = StdRng::seed_from_u64(args.seed);
    let pop = Arc::new(Population::new(args.members, &mut rng));
    let mut report = Report { machine: Machine::read(), ..Default::default() };
    if !(args.skip_import && args.skip_naive) {
        let path = args.dir.join("orders.csv");
        eprintln!("bench: writing {} orders for {} members to {}", args.orders, args.members, path.display());
        let gen = write_orders_csv(&path, args.orders, &pop, &mut rng, anchor)?;
        if !args.skip_import {
            report.import = Some(import_phase(&args, &program, &path).await?);
        }
        if !args.skip_naive && args.naive_orders > 0 {
            report.naive = Some(naive_phase(&args, &program, &path).await?);
        }
        report.gen = Some(gen);
    }
    if !args.skip_http {
        let (path, url) = fresh_sqlite(&args.dir, "http")?;
        eprintln!("bench: HTTP on SQLite ({})", path.display());
        let store = loyalty_store::open(&url).await?;
        report.http.push(http_phase(&args, &program, store, "SQLite", &pop).await?);
        if let Some(admin_url) = &args.postgres_url {
            report.http.push(postgres_phase(&args, &program, admin_url, &pop).await?);
        }
    }
    println!("{}", report.table());
    let md = args.dir.join("results.md");
    std::fs::write(&md, report.markdown(&args)).with_context(|| format!("cannot write {}", md.display()))?;
    println!("results written to {}", md.display());
    let broken = report.broken();
    if !broken.is_empty() {
        bail!("the bench found errors (targets aside): {}", broken.join("; "));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The synthetic store.

/// Who buys: members' shares of orders are log-normal, so most members buy a few times and
/// a few buy hundreds of times.
struct Population {
    cumulative: Vec<f64>,
}

impl Population {
    fn new(members: u64, rng: &mut StdRng) -> Self {
        let mut total = 0.0;
        let cumulative = (0..members)
            .map(|_| {
                total += (SKEW_SIGMA * normal(rng)).exp();
                total
            })
            .collect();
        Self { cumulative }
    }

    fn len(&self) -> usize {
        self.cumulative.len()
    }

    fn pick(&self, rng: &mut impl Rng) -> usize {
        let total = *self.cumulative.last().expect("a population has members");
        let x = rng.random::<f64>() * total;
        self.cumulative.partition_point(|c| *c <= x).min(self.len() - 1)
    }
}

/// A standard normal draw (Box–Muller), so no distribution crate is needed.
fn normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn member_id(i: usize) -> String {
    format!("m{i:07}")
}

/// The start of the current day at +08:00: generated instants are all before it.
fn day_anchor(now: Timestamp) -> Timestamp {
    let off = 8 * 3600;
    let day = (now.as_second() + off).div_euclid(86_400) * 86_400 - off;
    Timestamp::from_second(day).expect("a day start is a valid instant")
}

fn rfc3339_cst(at: Timestamp) -> String {
    at.display_with_offset(jiff::tz::offset(8)).to_string()
}

/// One order's random parts: who, how much (fen), shipping and what.
struct Basket {
    member: usize,
    amount_minor: i64,
    shipping_minor: i64,
    sku: u32,
    category: &'static str,
}

fn basket(rng: &mut impl Rng, pop: &Population) -> Basket {
    // Log-normal around ¥120, from ¥1 to ¥20,000.
    let amount = (12_000.0 * (0.9 * normal(rng)).exp()).round() as i64;
    let shipping_minor = match rng.random_range(0..10) {
        0..=5 => 0,
        6..=8 => 800,
        _ => 1_200,
    };
    Basket {
        member: pop.pick(rng),
        amount_minor: amount.clamp(100, 2_000_000),
        shipping_minor,
        sku: rng.random_range(0..20_000),
        category: CATEGORIES[rng.random_range(0..CATEGORIES.len())],
    }
}

#[derive(Debug, Clone, Default)]
struct Generated {
    orders: u64,
    buyers: u64,
    max_per_member: u64,
    bytes: u64,
    secs: f64,
}

/// Writes `n` orders in the importer's format, in the order they were paid.
fn write_orders_csv(
    path: &Path,
    n: u64,
    pop: &Population,
    rng: &mut StdRng,
    anchor: Timestamp,
) -> anyhow::Result<Generated> {
    let started = Instant::now();
    let mut offsets: Vec<u32> = (0..n).map(|_| rng.random_range(0..SPAN_SECS)).collect();
    offsets.sort_unstable();
    let mut counts = vec![0u32; pop.len()];
    let mut w = csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(["order_id", "member_id", "paid_at", "amount_minor", "shipping_minor", "sku", "category"])?;
    for (i, off) in offsets.iter().enumerate() {
        let b = basket(rng, pop);
        counts[b.member] += 1;
        let paid_at = Timestamp::from_second(anchor.as_second() - i64::from(SPAN_SECS - off))?;
        let record = [
            format!("o{i:09}"),
            member_id(b.member),
            rfc3339_cst(paid_at),
            b.amount_minor.to_string(),
            b.shipping_minor.to_string(),
            format!("SKU-{:05}", b.sku),
            b.category.to_owned(),
        ];
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(Generated {
        orders: n,
        buyers: counts.iter().filter(|c| **c > 0).count() as u64,
        max_per_member: counts.iter().copied().max().unwrap_or(0).into(),
        bytes: std::fs::metadata(path)?.len(),
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Writes every member of the population as the importer's members CSV.
fn write_members_csv(path: &Path, members: usize) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(["member_id", "name", "channel"])?;
    for i in 0..members {
        w.write_record([member_id(i), format!("Member {i}"), ["app", "web", "mini-program"][i % 3].to_owned()])?;
    }
    w.flush()?;
    Ok(())
}

/// A row of the orders CSV, read back for the naive comparison.
#[derive(serde::Deserialize)]
struct CsvOrder {
    order_id: String,
    member_id: String,
    paid_at: String,
    amount_minor: i64,
    shipping_minor: i64,
    sku: String,
    category: String,
}

/// The first `n` orders of the CSV as commands, built as the importer builds them.
fn read_commands(path: &Path, n: u64, program: &Program) -> anyhow::Result<Vec<Command>> {
    let now = Timestamp::now();
    let mut out = Vec::with_capacity(n as usize);
    for row in csv::Reader::from_path(path)?.deserialize::<CsvOrder>().take(n as usize) {
        let r = row?;
        let line = LineInput::one_unit(r.sku, Some(r.category), None, r.amount_minor);
        let input = OrderInput {
            id: r.order_id,
            member_id: r.member_id,
            paid_at: r.paid_at,
            currency: None,
            lines: vec![line],
            shipping_minor: r.shipping_minor,
            shipping_waived_minor: 0,
            coupons: Vec::new(),
        };
        let order = input
            .validate(program, now)
            .map_err(|e| anyhow::anyhow!("generated order {} is invalid: {e}", input.id))?;
        out.push(Command::PlaceOrder { order, create_member: true });
    }
    Ok(out)
}

/// A SQLite file that does not exist yet, with its URL.
fn fresh_sqlite(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, String)> {
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", PathBuf::from(p).display()))
            }
            _ => {}
        }
    }
    let url = format!("sqlite://{}", path.display());
    Ok((path, url))
}

fn db_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// Memory and CPU.

/// Kibibytes of a field of /proc/self/status (VmRSS, VmHWM); 0 where there is no /proc.
fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user and system, all threads) this process has used so far; Linux's
/// USER_HZ is 100 on every architecture we run on.
fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The share of the last five minutes in which some task waited for a CPU (PSI), if known.
fn cpu_pressure() -> Option<String> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let some = text.lines().find(|l| l.starts_with("some"))?;
    some.split_whitespace().find_map(|f| f.strip_prefix("avg300=")).map(|v| format!("{v}%"))
}

#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    /// Highest resident set sampled during the phase.
    peak_rss_kib: u64,
    /// The process's high-water mark when the phase ended (it never goes down).
    hwm_kib: u64,
    /// CPU the whole process used during the phase (with HTTP, the load generator's too).
    cpu_secs: f64,
}

/// Samples VmRSS every 10 ms on its own thread, since VmHWM cannot be reset between phases.
struct MemSampler {
    cpu_at_start: f64,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl MemSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(status_kib("VmRSS")));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(status_kib("VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self { cpu_at_start: process_cpu_secs(), stop, peak, thread }
    }

    fn finish(self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let peak_rss_kib = self.peak.load(Ordering::Relaxed).max(status_kib("VmRSS"));
        Memory { peak_rss_kib, hwm_kib: status_kib("VmHWM"), cpu_secs: process_cpu_secs() - self.cpu_at_start }
    }
}

// ---------------------------------------------------------------------------------------
// Import, verify and the naive way.

struct ImportResult {
    summary: import::Summary,
    mem: Memory,
    db_bytes: u64,
    verify: VerifyResult,
}

struct VerifyResult {
    members: usize,
    entries: usize,
    violations: Vec<String>,
    secs: f64,
    mem: Memory,
}

async fn verify(store: &dyn Store) -> anyhow::Result<VerifyResult> {
    let mem = MemSampler::start();
    let started = Instant::now();
    let r = jobs::verify_all(store, &Program::default_program(), 20).await?;
    let secs = started.elapsed().as_secs_f64();
    Ok(VerifyResult {
        members: r.members,
        entries: r.entries,
        violations: r.violations.iter().map(|v| v.to_string()).collect(),
        secs,
        mem: mem.finish(),
    })
}

async fn import_phase(args: &Args, program: &Program, csv: &Path) -> anyhow::Result<ImportResult> {
    let (path, url) = fresh_sqlite(&args.dir, "import")?;
    eprintln!("bench: importing {} into {} ({} rows per transaction)", csv.display(), path.display(), args.batch);
    let store = loyalty_store::open(&url).await?;
    loyalty::app::apply_program_definitions(store.as_ref(), program, Timestamp::now()).await?;
    let opts = import::Options {
        batch: args.batch,
        rejects: args.dir.join("orders.rejects.csv"),
        progress: std::io::stderr().is_terminal(),
        group_bytes: import::DEFAULT_GROUP_BYTES,
        in_file_order: false,
        clock: loyalty_engine::clock::system(),
    };
    let mem = MemSampler::start();
    let summary = import::run(store.as_ref(), program, import::Kind::Orders, csv, &opts).await?;
    let mem = mem.finish();
    eprintln!("bench: import: {summary}");
    eprintln!("bench: verifying the imported store");
    let verify = verify(store.as_ref()).await?;
    let totals = store.totals().await?;
    if totals.orders as u64 != summary.accepted {
        bail!("the import accepted {} orders but the store holds {}", summary.accepted, totals.orders);
    }
    Ok(ImportResult { summary, mem, db_bytes: db_bytes(&path), verify })
}

struct NaiveResult {
    orders: u64,
    secs: f64,
    mem: Memory,
}

impl NaiveResult {
    fn rate(&self) -> f64 {
        self.orders as f64 / self.secs.max(1e-9)
    }
}

async fn naive_phase(args: &Args, program: &Program, csv: &Path) -> anyhow::Result<NaiveResult> {
    let cmds = read_commands(csv, args.naive_orders, program)?;
    let (path, url) = fresh_sqlite(&args.dir, "naive")?;
    eprintln!("bench: naive: {} orders, one transaction each, into {}", cmds.len(), path.display());
    let store = loyalty_store::open(&url).await?;
    let mem = MemSampler::start();
    let started = Instant::now();
    for cmd in &cmds {
        let replies = apply_batch(store.as_ref(), program, std::slice::from_ref(cmd), Timestamp::now()).await?;
        if let Some(Err(e)) = replies.first() {
            bail!("naive: an order was refused: {e}");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(NaiveResult { orders: cmds.len() as u64, secs, mem: mem.finish() })
}

// ---------------------------------------------------------------------------------------
// HTTP ingestion.

struct HttpResult {
    backend: &'static str,
    connections: usize,
    members_secs: f64,
    load: LoadReport,
    mem: Memory,
    verify: VerifyResult,
    stored_orders: i64,
}

impl HttpResult {
    fn rate(&self) -> f64 {
        self.load.created as f64 / self.load.secs.max(1e-9)
    }
    fn ms(&self, q: f64) -> f64 {
        self.load.hist.value_at_quantile(q) as f64 / 1_000.0
    }
}

/// Registers the members, starts the real router on 127.0.0.1:0, and posts the orders.
async fn http_phase(
    args: &Args,
    program: &Program,
    store: Arc<dyn Store>,
    backend: &'static str,
    pop: &Arc<Population>,
) -> anyhow::Result<HttpResult> {
    loyalty::app::apply_program_definitions(store.as_ref(), program, Timestamp::now()).await?;
    let members_csv = args.dir.join("members.csv");
    write_members_csv(&members_csv, pop.len())?;
    let opts = import::Options {
        batch: args.batch,
        rejects: args.dir.join("members.rejects.csv"),
        progress: false,
        group_bytes: import::DEFAULT_GROUP_BYTES,
        in_file_order: false,
        clock: loyalty_engine::clock::system(),
    };
    let started = Instant::now();
    let sum = import::run(store.as_ref(), program, import::Kind::Members, &members_csv, &opts).await?;
    ensure!(sum.rejected == 0, "{} members were rejected; see {}", sum.rejected, opts.rejects.display());
    let members_secs = started.elapsed().as_secs_f64();
    let key = auth::new_key();
    let stored = store.insert_api_key(&auth::hash_key(&key), "bench", "integration", Timestamp::now()).await?;
    ensure!(stored, "the store already has a live key named \"bench\"");

    let (_state, router) = cli::app(store.clone(), program.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    eprintln!(
        "bench: {backend}: {} members registered in {members_secs:.1} s; posting {} orders on {} connections to {addr}",
        pop.len(),
        args.http_orders,
        args.connections
    );
    let load = Load {
        addr,
        key,
        orders: args.http_orders,
        connections: args.connections,
        seed: args.seed,
        anchor: Timestamp::now(),
        idempotency_keys: args.idempotency_keys,
        pop: pop.clone(),
    };
    let threads = args.client_threads;
    let mem = MemSampler::start();
    let load = tokio::task::spawn_blocking(move || run_load(load, threads)).await??;
    let mem = mem.finish();
    let _ = stop.send(());
    server.await??;
    eprintln!("bench: {backend}: {} created, {} errors in {:.1} s; verifying", load.created, load.errors, load.secs);
    let verify = verify(store.as_ref()).await?;
    let stored_orders = store.totals().await?.orders;
    Ok(HttpResult { backend, connections: args.connections, members_secs, load, mem, verify, stored_orders })
}

/// The HTTP benchmark on a fresh PostgreSQL database, dropped afterwards whatever happens.
async fn postgres_phase(
    args: &Args,
    program: &Program,
    admin_url: &str,
    pop: &Arc<Population>,
) -> anyhow::Result<HttpResult> {
    use sqlx::Connection;
    let name = format!("loyalty_bench_{}", std::process::id());
    let mut admin =
        sqlx::PgConnection::connect(admin_url).await.with_context(|| format!("cannot connect to {admin_url}"))?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    let url = with_database(admin_url, &name);
    eprintln!("bench: HTTP on PostgreSQL (database {name})");
    let result = async { http_phase(args, program, loyalty_store::open(&url).await?, "PostgreSQL", pop).await }.await;
    let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
    let result = result?;
    dropped.with_context(|| format!("could not drop the bench database {name}"))?;
    Ok(result)
}

/// `url` with its database name replaced by `db` (query parameters kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let host_at = base.find("://").map_or(0, |i| i + 3);
    let base = base[host_at..].find('/').map_or(base, |i| &base[..host_at + i]);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// What the load generator sends.
struct Load {
    addr: SocketAddr,
    key: String,
    orders: u64,
    connections: usize,
    seed: u64,
    /// Orders are paid in the hour before this instant.
    anchor: Timestamp,
    idempotency_keys: bool,
    pop: Arc<Population>,
}

impl Load {
    /// Order `i`'s request, the same for a given seed whichever worker sends it.
    fn request(&self, i: u64) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let b = basket(&mut rng, &self.pop);
        let n = rng.random_range(1..=3u32);
        let lines = (0..n)
            .map(|k| {
                let paid = (b.amount_minor / i64::from(n)).max(1);
                LineInput::one_unit(format!("SKU-{:05}", (b.sku + k) % 20_000), Some(b.category.to_owned()), None, paid)
            })
            .collect();
        let paid_at = Timestamp::from_second(self.anchor.as_second() - rng.random_range(0..3_600))
            .expect("an hour ago is a valid instant");
        let order = OrderInput {
            id: format!("h{i:09}"),
            member_id: member_id(b.member),
            paid_at: rfc3339_cst(paid_at),
            currency: None,
            lines,
            shipping_minor: b.shipping_minor,
            shipping_waived_minor: 0,
            coupons: Vec::new(),
        };
        let body = serde_json::to_string(&order).expect("an order serialises");
        let idem = if self.idempotency_keys { format!("Idempotency-Key: bench-{i}\r\n") } else { String::new() };
        let head = format!(
            "POST /v1/orders HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n{idem}Content-Length: {}\r\n\r\n",
            self.addr,
            self.key,
            body.len()
        );
        [head.into_bytes(), body.into_bytes()].concat()
    }
}

struct LoadReport {
    /// Microseconds from sending a request to having read its whole response.
    hist: Histogram<u64>,
    created: u64,
    errors: u64,
    first_error: Option<String>,
    secs: f64,
}

impl LoadReport {
    fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("static bounds"),
            created: 0,
            errors: 0,
            first_error: None,
            secs: 0.0,
        }
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn merge(&mut self, other: LoadReport) {
        self.hist.add(&other.hist).expect("histograms with the same bounds add up");
        self.created += other.created;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs the workers on a runtime of their own, so the server keeps the main runtime's threads.
fn run_load(load: Load, threads: usize) -> anyhow::Result<LoadReport> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    rt.block_on(async move {
        let load = Arc::new(load);
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..load.connections).map(|_| tokio::spawn(worker(load.clone(), next.clone()))).collect();
        let mut report = LoadReport::new();
        for w in workers {
            report.merge(w.await?);
        }
        report.secs = started.elapsed().as_secs_f64();
        Ok(report)
    })
}

/// Takes the next order until there are none, one request at a time on one connection.
async fn worker(load: Arc<Load>, next: Arc<AtomicU64>) -> LoadReport {
    let mut report = LoadReport::new();
    let mut conn: Option<Conn> = None;
    while report.errors < MAX_WORKER_ERRORS {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= load.orders {
            break;
        }
        let req = load.request(i);
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(load.addr).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    report.error(format!("connect: {e}"));
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let result = c.exchange(&req).await;
        report.hist.saturating_record(sent.elapsed().as_micros().max(1) as u64);
        match result {
            Ok((201, _, keep)) => {
                report.created += 1;
                if !keep {
                    conn = None;
                }
            }
            Ok((status, body, _)) => {
                report.error(format!("order h{i:09}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
                conn = None;
            }
            Err(e) => {
                report.error(format!("order h{i:09}: {e}"));
                conn = None;
            }
        }
    }
    report
}

/// A minimal HTTP/1.1 client connection: one request at a time, bodies by Content-Length.
/// It costs the shared CPU far less per request than a general client would.
struct Conn {
    io: tokio::io::BufReader<tokio::net::TcpStream>,
    line: String,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { io: tokio::io::BufReader::with_capacity(16 * 1024, stream), line: String::new() })
    }

    /// Sends a whole request and reads the whole response: status, body, keep-alive.
    async fn exchange(&mut self, req: &[u8]) -> std::io::Result<(u16, Vec<u8>, bool)> {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        self.io.get_mut().write_all(req).await?;
        self.line.clear();
        if self.io.read_line(&mut self.line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("malformed status line"))?;
        let (mut len, mut keep) = (None, true);
        for _ in 0..100 {
            self.line.clear();
            if self.io.read_line(&mut self.line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let Some((name, value)) = self.line.trim_end().split_once(':') else { break };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                keep = false;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("chunked responses are not supported"));
            }
        }
        let len = len.filter(|n| *n <= MAX_RESPONSE_BYTES).ok_or_else(|| bad("no usable Content-Length"))?;
        let mut body = vec![0; len];
        self.io.read_exact(&mut body).await?;
        Ok((status, body, keep))
    }
}

// ---------------------------------------------------------------------------------------
// The report.

#[derive(Default)]
struct Machine {
    cpus: usize,
    model: String,
    mem_kib: u64,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        Self { cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), model, mem_kib }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} CPUs ({}), {:.1} GiB RAM", self.cpus, self.model, self.mem_kib as f64 / 1_048_576.0)
    }
}

#[derive(Default)]
struct Report {
    machine: Machine,
    gen: Option<Generated>,
    import: Option<ImportResult>,
    naive: Option<NaiveResult>,
    http: Vec<HttpResult>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1_024.0)
}

fn secs(s: f64) -> String {
    format!("{s:.1} s")
}

fn per_sec(rate: f64) -> String {
    format!("{} orders/s", thousands(rate.round() as u64))
}

const PHASE_COLS: [&str; 8] = ["phase", "work", "time", "rate", "target", "peak RSS", "VmHWM after", "process CPU"];
const LATENCY_COLS: [&str; 7] = ["HTTP", "p50", "p99", "p99.9", "max", "errors", "afterwards"];

fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        format!("{}\n", padded.join(" | ").trim_end())
    };
    let mut out = line(header.to_vec());
    out += &format!("{}\n", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"));
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for row in rows {
        out += &format!("| {} |\n", row.join(" | "));
    }
    out
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

impl Report {
    /// One row per phase: phase, work, time, rate, target, peak RSS during, VmHWM after.
    fn phases(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mem = |m: &Memory| [mib(m.peak_rss_kib), mib(m.hwm_kib), secs(m.cpu_secs)];
        if let Some(i) = &self.import {
            let s = &i.summary;
            let rate = s.rows_per_sec();
            let [a, b, c] = mem(&i.mem);
            let work = format!(
                "{} orders ({} rejected), {} MiB database",
                thousands(s.accepted),
                s.rejected,
                i.db_bytes >> 20
            );
            rows.push(vec![
                "import, SQLite, batched".into(),
                work,
                secs(s.elapsed_secs),
                per_sec(rate),
                format!("≥ 50,000/s: {}", verdict(rate >= TARGET_IMPORT_PER_SEC)),
                a,
                b,
                c,
            ]);
            let v = &i.verify;
            let [a, b, c] = mem(&v.mem);
            let work = format!("{} members, {} entries", thousands(v.members as u64), thousands(v.entries as u64));
            rows.push(vec![
                "verify after import".into(),
                work,
                secs(v.secs),
                format!("{} violations", v.violations.len()),
                format!("clean: {}", verdict(v.violations.is_empty())),
                a,
                b,
                c,
            ]);
        }
        if let Some(n) = &self.naive {
            let ratio = self.import.as_ref().map_or_else(
                || "-".into(),
                |i| format!("batched is {:.0}× faster", i.summary.rows_per_sec() / n.rate()),
            );
            let [a, b, c] = mem(&n.mem);
            rows.push(vec![
                "naive, SQLite, 1 tx per order".into(),
                format!("{} orders", thousands(n.orders)),
                secs(n.secs),
                per_sec(n.rate()),
                ratio,
                a,
                b,
                c,
            ]);
        }
        for h in &self.http {
            let (rate, p99) = (h.rate(), h.ms(0.99));
            let [a, b, c] = mem(&h.mem);
            let target = format!(
                "≥ 5,000/s: {}; p99 < 50 ms: {}",
                verdict(rate >= TARGET_HTTP_PER_SEC),
                verdict(p99 < TARGET_HTTP_P99_MS)
            );
            let work = format!("{} orders, {} connections", thousands(h.load.created), h.connections);
            rows.push(vec![
                format!("HTTP POST /v1/orders, {}", h.backend),
                work,
                secs(h.load.secs),
                per_sec(rate),
                target,
                a,
                b,
                c,
            ]);
        }
        rows
    }

    /// One row per HTTP run: backend, p50, p99, p99.9, max, errors, what followed.
    fn latencies(&self) -> Vec<Vec<String>> {
        let ms = |v: f64| format!("{v:.2} ms");
        self.http
            .iter()
            .map(|h| {
                let after = format!(
                    "{} stored; verify: {} violations in {:.1} s; members registered in {:.1} s",
                    thousands(h.stored_orders.max(0) as u64),
                    h.verify.violations.len(),
                    h.verify.secs,
                    h.members_secs
                );
                let max = h.load.hist.max() as f64 / 1_000.0;
                vec![
                    h.backend.to_owned(),
                    ms(h.ms(0.5)),
                    ms(h.ms(0.99)),
                    ms(h.ms(0.999)),
                    ms(max),
                    h.load.errors.to_string(),
                    after,
                ]
            })
            .collect()
    }

    fn data(&self, args: &Args) -> String {
        let mut s = format!("seed {}; {} members", args.seed, thousands(args.members));
        if let Some(g) = &self.gen {
            s += &format!(
                "; {} orders ({} MiB CSV, written in {:.1} s) bought by {} members, the heaviest with {} orders",
                thousands(g.orders),
                g.bytes >> 20,
                g.secs,
                thousands(g.buyers),
                thousands(g.max_per_member)
            );
        }
        s
    }

    /// How contended the CPUs were: other work on the machine slows every figure.
    fn pressure(&self) -> String {
        match cpu_pressure() {
            Some(p) => format!("CPU pressure over the last 5 minutes (PSI, some tasks waiting for a CPU): {p}"),
            None => "CPU pressure: unknown (no /proc/pressure/cpu)".into(),
        }
    }

    fn table(&self) -> String {
        let mut out = String::from("\nloyalty bench\n");
        out += &format!("machine: {}; the load generator and the server share it\n", self.machine);
        out += &format!("{}\n\n", self.pressure());
        out += &text_table(&PHASE_COLS, &self.phases());
        if !self.http.is_empty() {
            out += "\n";
            out += &text_table(&LATENCY_COLS, &self.latencies());
        }
        out
    }

    fn markdown(&self, args: &Args) -> String {
        let command: Vec<String> = std::env::args().collect();
        let mut out = format!(
            "### `loyalty bench` — {}\n\n",
            Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| Timestamp::now())
        );
        out += &format!("- Command: `{}`\n", command.join(" "));
        out += &format!("- Machine: {}; the load generator and the server share it.\n", self.machine);
        out += &format!("- {}.\n", self.pressure());
        out += &format!("- Data: {}.\n\n", self.data(args));
        out += &md_table(&PHASE_COLS, &self.phases());
        if !self.http.is_empty() {
            out += "\nHTTP latency, from sending a request to reading its whole response:\n\n";
            out += &md_table(&LATENCY_COLS, &self.latencies());
        }
        out
    }

    /// What makes the run invalid whatever the speed: rejects, violations, failed requests.
    fn broken(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(i) = &self.import {
            if i.summary.rejected > 0 {
                out.push(format!("the import rejected {} generated rows", i.summary.rejected));
            }
            if !i.verify.violations.is_empty() {
                out.push(format!(
                    "verify found {} violations after the import, e.g. {}",
                    i.verify.violations.len(),
                    i.verify.violations[0]
                ));
            }
        }
        for h in &self.http {
            if h.load.errors > 0 {
                out.push(format!(
                    "{}: {} requests failed, e.g. {}",
                    h.backend,
                    h.load.errors,
                    h.load.first_error.as_deref().unwrap_or("?")
                ));
            }
            if !h.verify.violations.is_empty() {
                out.push(format!(
                    "{}: verify found {} violations after HTTP ingestion",
                    h.backend,
                    h.verify.violations.len()
                ));
            }
            if h.stored_orders as u64 != h.load.created {
                out.push(format!(
                    "{}: {} orders acknowledged but {} stored",
                    h.backend, h.load.created, h.stored_orders
                ));
            }
        }
        out
    }
}
