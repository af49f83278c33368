//! `fiscus-bench`: measures Fiscus on generated sponsor books and prints one JSON object per command.
//!
//! `fiscus-bench grpc --clients 64 --seconds 10` starts `fiscusd` on a fresh store and measures durable
//! commits, balance queries and a bare tonic echo server's queries in the same run (see `grpc.rs`).
//!
//! `fiscus-bench logcost --clients 64 --rounds 5` measures durable commits with receipts against the
//! same daemon without the transparency log, alternating, and prints the ratio of the medians (see
//! `grpc/logcost.rs`).
//!
//! `fiscus-bench crash --cycles N` kills `fiscusd` with SIGKILL N times under concurrent writers and
//! checks after every restart that every acknowledged event is stored once where it was acknowledged
//! (see `fiscus_bench::crash`); it fails when anything was lost, duplicated or moved.
//!
//! `fiscus-bench replay --events N [--seed S] [--dir D] [--runs R]` builds (or reuses) a store of a
//! generated sponsor year with N events, then runs each measured pass R times, each in a fresh
//! child process of this binary (the OS page cache stays warm; sled's own cache starts cold, as
//! when the daemon starts), alternating full verification and the hash-only baseline, and reports
//! medians.

mod echo;
mod grpc;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Parser, Subcommand, ValueEnum};
use fiscus_bench::{build_store, full_pass, hash_pass, median, peak_rss_bytes};
use fiscus_ledger::store::dir_bytes;
use fiscus_workload::{generate, WorkloadConfig};
use serde_json::json;

/// The allocator `fiscusd` uses: the load clients, the echo server and the replay passes run with
/// it too, so both servers of the gRPC figures and the daemon's own replay are measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "fiscus-bench", about = "Fiscus benchmarks; each command prints one JSON object")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay speed of a generated store: full verification against a hash-only pass.
    Replay {
        /// Events in the generated store.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Store directory (reused when it already holds this workload).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Measured runs of each pass.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Commit requests per group when building the store.
        #[arg(long, default_value_t = fiscus_bench::BUILD_GROUP_REQUESTS)]
        group: usize,
    },
    /// One measured pass in this process (what `replay` runs in its children).
    Pass {
        /// Which pass.
        #[arg(long, value_enum)]
        mode: Mode,
        /// Replay threads for the full pass (1: all on one core).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Store directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// gRPC load on a fresh `fiscusd`: durable commits, balance queries, and a bare tonic echo baseline.
    Grpc(grpc::GrpcArgs),
    /// The transparency log's cost: durable commits with receipts against the same daemon without
    /// the log (`fiscusd --measure-without-log`), alternating rounds; one JSON line per configuration.
    Logcost(grpc::logcost::LogCostArgs),
    /// Crash loop: SIGKILL of `fiscusd` under concurrent writers, restart, check every acknowledged event.
    Crash(fiscus_bench::crash::CrashArgs),
    /// The echo baseline server that `grpc` runs in a child process.
    #[command(hide = true)]
    EchoServer,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Full,
    Hash,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Replay { events, seed, dir, runs, group } => replay(events, seed, dir, runs.max(1), group),
        Cmd::Pass { mode, threads, dir } => pass(mode, threads, &dir),
        Cmd::Grpc(args) => grpc::run(&args),
        Cmd::Logcost(args) => grpc::logcost::run(&args),
        Cmd::Crash(args) => fiscus_bench::crash::main(&args),
        Cmd::EchoServer => echo::serve(),
    };
    if let Err(e) = result {
        eprintln!("fiscus-bench: {e}");
        std::process::exit(1);
    }
}

fn pass(mode: Mode, threads: usize, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let p = match mode {
        Mode::Full => full_pass(dir, threads)?,
        Mode::Hash => hash_pass(dir)?,
    };
    println!("{}", json!({ "events": p.events, "seconds": p.seconds, "peak_rss_bytes": peak_rss_bytes() }));
    Ok(())
}

fn replay(
    events: u64,
    seed: u64,
    dir: Option<PathBuf>,
    runs: usize,
    group: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("fiscus-bench-replay-{events}-{seed}-{group}")));
    let marker = dir.join("fiscus-bench.json");
    let wanted =
        json!({ "events": events, "seed": seed, "group": group, "layout": fiscus_ledger::store::LAYOUT }).to_string();
    let build_seconds = if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        eprintln!("reusing the store in {}", dir.display());
        None
    } else {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        eprintln!("building a store of {events} generated events (seed {seed}) in {}", dir.display());
        let started = std::time::Instant::now();
        let config = WorkloadConfig::new(events, seed);
        let mut last = 0;
        let stored = build_store(&dir, generate(&config), group, |n| {
            if n - last >= 100_000 || n >= events {
                eprintln!("  {n} events stored");
                last = n;
            }
        })?;
        std::fs::write(&marker, &wanted)?;
        eprintln!("built {stored} events in {:.1} s", started.elapsed().as_secs_f64());
        Some(started.elapsed().as_secs_f64())
    };
    let store_bytes = dir_bytes(&dir)? - std::fs::metadata(&marker)?.len();

    let exe = std::env::current_exe()?;
    let (mut full, mut single, mut hash, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut replayed = 0u64;
    for run in 0..runs {
        for (name, mode, threads) in [("full", "full", 2), ("full-1-thread", "full", 1), ("hash", "hash", 1)] {
            let out = Command::new(&exe)
                .args(["pass", "--mode", mode, "--threads", &threads.to_string(), "--dir"])
                .arg(&dir)
                .output()?;
            if !out.status.success() {
                return Err(format!("{name} pass failed: {}", String::from_utf8_lossy(&out.stderr)).into());
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let n = v["events"].as_u64().ok_or("pass printed no events")?;
            let s = v["seconds"].as_f64().ok_or("pass printed no seconds")?;
            eprintln!("  run {} {name}: {n} events in {s:.3} s ({:.0} events/s)", run + 1, n as f64 / s);
            let rate = n as f64 / s;
            match name {
                "full" => {
                    replayed = n;
                    full.push(rate);
                    rss.push(v["peak_rss_bytes"].as_u64().unwrap_or(0) as f64);
                }
                "full-1-thread" => single.push(rate),
                _ => hash.push(rate),
            }
        }
    }
    let full_m = median(&mut full);
    let single_m = median(&mut single);
    let hash_m = median(&mut hash);
    let report = json!({
        "events": replayed,
        "seed": seed,
        "build_group_requests": group,
        "runs": runs,
        "passes": "each in a fresh child process; OS page cache warm, sled cache cold",
        "full_verify_events_per_s": full_m.round(),
        "full_verify_threads": 2,
        "full_verify_1_thread_events_per_s": single_m.round(),
        "hash_only_events_per_s": hash_m.round(),
        "hash_over_full_ratio": (hash_m / full_m * 100.0).round() / 100.0,
        "hash_over_full_1_thread_ratio": (hash_m / single_m * 100.0).round() / 100.0,
        "store_bytes": store_bytes,
        "bytes_per_event": (store_bytes as f64 / replayed.max(1) as f64).round(),
        "full_verify_peak_rss_bytes": median(&mut rss).round(),
        "build_seconds": build_seconds,
    });
    println!("{report}");
    Ok(())
}
