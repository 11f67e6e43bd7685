//! `loyalty bench-insight`: a synthetic store of N members and M orders in SQLite; our RFM,
//! segments and lifecycle timed against DuckDB's RFM query over the same orders in Parquet, in
//! the same run, with every member's scores and segments compared; and the BG/NBD fit timed over
//! 100,000 members simulated from known parameters.

use crate::insight_data as bench_data;
use jiff::Timestamp;
use loyalty_insight::bgnbd::{self, BgNbdObservation, BgNbdParams};
use loyalty_insight::FitOptions;
use loyalty_report::analysis::analyse;
use loyalty_report::compute;
use loyalty_report::config::InsightConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members in the synthetic store.
    #[arg(long, default_value_t = 1_000_000)]
    pub members: usize,
    /// Orders in the synthetic store.
    #[arg(long, default_value_t = 10_000_000)]
    pub orders: usize,
    /// Members in the timed BG/NBD fit (simulated from the CDNOW parameters).
    #[arg(long, default_value_t = 100_000)]
    pub fit_members: usize,
    /// Directory for the SQLite file and the Parquet export (replaced on each run).
    #[arg(long, default_value = "target/bench-insight")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 20_260_101)]
    pub seed: u64,
    /// The DuckDB script (it installs duckdb from PyPI if missing).
    #[arg(long, default_value = "scripts/duckdb_rfm.py")]
    pub duckdb_script: PathBuf,
    /// Skip the DuckDB comparison.
    #[arg(long)]
    pub no_duckdb: bool,
    /// Skip the full `loyalty insight` run that stores results.
    #[arg(long)]
    pub no_store: bool,
    /// Keep the SQLite file a previous run with the same sizes and seed loaded, instead of
    /// loading it again (to re-time the read while working on it).
    #[arg(long)]
    pub reuse: bool,
    /// Reads the activity this many more times after the timed read and prints each time and
    /// the median (a steadier figure for comparing two builds on a noisy machine; the first,
    /// cold read stays the one compared with DuckDB).
    #[arg(long, default_value_t = 0)]
    pub again: usize,
}

/// The analysis instant of the synthetic store.
const AT: &str = "2026-01-01T00:00:00+08:00";

/// CPU time the process has used, user and system, where `/proc` tells it (Linux).
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in brackets and may hold spaces: utime and stime
    // are the 12th and 13th, in clock ticks (100 a second on Linux).
    let mut rest = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: f64 = rest.nth(11)?.parse().ok()?;
    let stime: f64 = rest.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.members > 0 && args.members <= 50_000_000, "--members must be 1 to 50,000,000");
    anyhow::ensure!(args.orders <= 500_000_000, "--orders must be at most 500,000,000");
    std::fs::create_dir_all(&args.dir)?;
    let at: Timestamp = AT.parse()?;
    let config = InsightConfig::default();
    println!("bench-insight: {} members, {} orders, analysis instant {AT}", args.members, args.orders);
    let started = Instant::now();
    let data = bench_data::generate(args.members, args.orders, at, args.seed);
    println!("generate: {:.1} s", secs(started));
    let db = args.dir.join("insight-bench.db");
    let reuse = args.reuse && db.exists();
    if !reuse {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    let store = loyalty_store::open(&format!("sqlite://{}", db.display())).await?;
    if reuse {
        println!("load SQLite: reusing {}", db.display());
    } else {
        let started = Instant::now();
        bench_data::load_sqlite(&db, &data).await?;
        println!("load SQLite: {:.1} s", secs(started));
    }

    let started = Instant::now();
    let activity = compute::read_activity(store.as_ref(), at, config.window_days).await?;
    let read_s = secs(started);
    let analysis = analyse(&activity, at, &config)?;
    let t = &analysis.summary.timings_ms;
    let ms = |k: &str| t.get(k).copied().unwrap_or(0.0);
    let compute_s = (ms("summaries") + ms("rfm") + ms("segments") + ms("lifecycle")) / 1e3;
    println!("ours: read activity from SQLite (ranges of 20,000 members) {read_s:.2} s");
    println!(
        "ours: RFM + segments + lifecycle {compute_s:.3} s \
         (summaries {:.0} ms, rfm {:.0} ms, segments {:.0} ms, lifecycle {:.0} ms)",
        ms("summaries"),
        ms("rfm"),
        ms("segments"),
        ms("lifecycle")
    );
    println!("ours: total from the store {:.2} s", read_s + compute_s);
    // Warm figures (`--again`): the median read of the repeats, and the analysis of the last one.
    let mut warm_s = None;
    if args.again > 0 {
        let mut last = Vec::new();
        let (mut times, mut cpus) = (Vec::with_capacity(args.again), Vec::with_capacity(args.again));
        for _ in 0..args.again {
            let (started, cpu) = (Instant::now(), process_cpu_secs());
            let again = compute::read_activity(store.as_ref(), at, config.window_days).await?;
            times.push(secs(started));
            cpus.push(process_cpu_secs().zip(cpu).map_or(f64::NAN, |(after, before)| after - before));
            anyhow::ensure!(again.len() == activity.len(), "a second read found another number of members");
            last = again;
        }
        let each: Vec<String> = times.iter().zip(&cpus).map(|(t, c)| format!("{t:.3} ({c:.2})")).collect();
        times.sort_by(f64::total_cmp);
        cpus.sort_by(f64::total_cmp);
        println!(
            "ours: read again {} times (wall, in brackets CPU): {} s; median {:.3} s, CPU {:.2} s",
            args.again,
            each.join(" "),
            times[times.len() / 2],
            cpus[cpus.len() / 2]
        );
        let again = analyse(&last, at, &config)?;
        let t = &again.summary.timings_ms;
        let ms = |k: &str| t.get(k).copied().unwrap_or(0.0);
        let compute_s = (ms("summaries") + ms("rfm") + ms("segments") + ms("lifecycle")) / 1e3;
        warm_s = Some(times[times.len() / 2] + compute_s);
        println!(
            "ours, warm: total from the store {:.2} s (median read + RFM, segments and lifecycle {compute_s:.3} s)",
            warm_s.unwrap_or(f64::NAN)
        );
    }
    println!(
        "ours: BG/NBD + Gamma-Gamma fit over {} buyers {:.0} ms, predictions {:.0} ms",
        analysis.buyers(),
        ms("fit"),
        ms("predict")
    );
    for m in &analysis.models {
        println!(
            "  {}: {} converged {} ({} iterations)",
            m.model,
            m.params.as_deref().unwrap_or("-"),
            m.converged,
            m.iterations
        );
    }
    if !args.no_duckdb {
        duckdb(&args, &data, &activity, &analysis, at, config.window_days, (read_s + compute_s, warm_s))?;
    }
    if !args.no_store {
        let started = Instant::now();
        let o = compute::run(store.as_ref(), &config, at).await?;
        let stages: Vec<String> = o.summary.timings_ms.iter().map(|(k, v)| format!("{k} {v:.0} ms")).collect();
        println!(
            "full `loyalty insight` (read, analyse, store {} rows): {:.1} s — {}",
            o.members,
            secs(started),
            stages.join(", ")
        );
    }
    fit_benchmark(args.fit_members, args.seed)?;
    Ok(())
}

fn duckdb(
    args: &Args,
    data: &bench_data::Synthetic,
    activity: &[loyalty_store::analytics::MemberActivity],
    analysis: &loyalty_report::analysis::Analysis,
    at: Timestamp,
    window_days: u32,
    (ours_s, ours_warm_s): (f64, Option<f64>),
) -> anyhow::Result<()> {
    let parquet = args.dir.join("orders.parquet");
    let started = Instant::now();
    bench_data::write_parquet(&parquet, data)?;
    println!("export orders to Parquet: {:.1} s", secs(started));
    let out = args.dir.join("duckdb_rfm.tsv");
    let output = std::process::Command::new("python3")
        .arg(&args.duckdb_script)
        .args(["--orders", &parquet.display().to_string(), "--out", &out.display().to_string()])
        .args(["--at-micros", &at.as_microsecond().to_string(), "--window-days", &window_days.to_string()])
        .args(["--again", &args.again.to_string()])
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run python3 {}: {e}", args.duckdb_script.display()))?;
    anyhow::ensure!(output.status.success(), "DuckDB script failed: {}", String::from_utf8_lossy(&output.stderr));
    let timings: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let f = |k: &str| timings[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "duckdb {} ({} threads): summaries from Parquet {:.3} s, RFM {:.3} s, segments {:.3} s, total {:.3} s",
        timings["duckdb"].as_str().unwrap_or("?"),
        timings["threads"],
        f("summary_s"),
        f("rfm_s"),
        f("segments_s"),
        f("total_s")
    );
    let t = &analysis.summary.timings_ms;
    let ours_compute = t.get("rfm").copied().unwrap_or(0.0) + t.get("segments").copied().unwrap_or(0.0);
    println!(
        "compare: RFM + segments from summaries — ours {:.3} s, DuckDB {:.3} s; \
         from stored orders — ours {ours_s:.2} s (SQLite), DuckDB {:.2} s (Parquet)",
        ours_compute / 1e3,
        f("rfm_s") + f("segments_s"),
        f("total_s")
    );
    if let (Some(ours), Some(theirs)) = (ours_warm_s, timings["again_median_s"].as_f64()) {
        println!(
            "compare, warm (median of {} repeats each): from stored orders — ours {ours:.2} s (SQLite), DuckDB {theirs:.2} s (Parquet)",
            args.again
        );
    }
    let (compared, mismatches) = compare(&out, activity, analysis)?;
    println!("compare: {compared} scored members, {} differ from DuckDB", mismatches.len());
    for m in mismatches.iter().take(10) {
        println!("  {m}");
    }
    anyhow::ensure!(mismatches.is_empty(), "scores differ from DuckDB for {} members", mismatches.len());
    Ok(())
}

/// Compares every scored member with DuckDB's row: R, F, M, value and score segment.
fn compare(
    tsv: &Path,
    activity: &[loyalty_store::analytics::MemberActivity],
    analysis: &loyalty_report::analysis::Analysis,
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut ours: HashMap<&str, String> = HashMap::new();
    for (i, a) in activity.iter().enumerate() {
        if let Some(s) = analysis.scores[i] {
            let row = format!("{}\t{}\t{}\t{}\t{}", s.r, s.f, s.m, analysis.value[i].code(), analysis.score[i].code());
            ours.insert(&a.member_id, row);
        }
    }
    let text = std::fs::read_to_string(tsv)?;
    let mut mismatches = Vec::new();
    let mut seen = 0;
    for line in text.lines() {
        let (id, theirs) = line.split_once('\t').ok_or_else(|| anyhow::anyhow!("malformed DuckDB line {line:?}"))?;
        seen += 1;
        match ours.get(id) {
            Some(mine) if mine == theirs => {}
            Some(mine) => mismatches.push(format!("{id}: ours {mine} vs DuckDB {theirs}")),
            None => mismatches.push(format!("{id}: scored by DuckDB only")),
        }
    }
    if seen != ours.len() {
        mismatches.push(format!("DuckDB scored {seen} members, we scored {}", ours.len()));
    }
    Ok((seen, mismatches))
}

/// Times the BG/NBD fit over `members` simulated from the CDNOW parameters (Fader, Hardie & Lee
/// 2005, per day: α × 7), in whole days as the store counts them, and in continuous time.
fn fit_benchmark(members: usize, seed: u64) -> anyhow::Result<()> {
    let truth = BgNbdParams::new(0.24, 4.41 * 7.0, 0.79, 2.43)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let ages: Vec<f64> = (0..members).map(|_| rng.random_range(189.0..273.0)).collect();
    let exact = bgnbd::simulate_ages(&truth, &ages, &mut rng)?;
    let days: Vec<BgNbdObservation> = exact
        .iter()
        .map(|o| BgNbdObservation::new(o.x(), o.t_x().floor(), o.age().floor()))
        .collect::<Result<_, _>>()?;
    for (name, obs) in [("whole days", &days), ("continuous time", &exact)] {
        let started = Instant::now();
        let fit = bgnbd::fit(obs, &FitOptions::default())?;
        let p = fit.params;
        println!(
            "BG/NBD fit, {members} members ({name}, {} distinct histories): {:.3} s, {} iterations, \
             converged {}; r {:.3} α {:.2} a {:.3} b {:.3} (truth 0.24, 30.87, 0.79, 2.43)",
            fit.distinct_histories,
            secs(started),
            fit.iterations,
            fit.converged,
            p.r(),
            p.alpha(),
            p.a(),
            p.b()
        );
    }
    Ok(())
}
