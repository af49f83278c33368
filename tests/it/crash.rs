//! The crash loop of `fiscus-bench crash`, short: the real `fiscusd` is killed with SIGKILL under
//! concurrent writers (and sometimes while its store opens), restarted on the same store, and every
//! acknowledged event must be stored once where its answer said, no unanswered commit half there,
//! every chain verifying, every retry stored once. The long run is reported in BENCHMARKS.md.

use fiscus_bench::crash::{run, CrashArgs};

/// Cycles of the suite's run (each a start, a full check, load, and a SIGKILL; about a second).
const CYCLES: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_under_load_lose_duplicate_and_move_nothing() {
    let mut args = CrashArgs::new(CYCLES, env!("CARGO_BIN_EXE_fiscusd").into());
    // Every third cycle also kills a start, so that some kills land while the store opens.
    args.open_kill_per_mille = 333;
    let report = run(&args).await.unwrap_or_else(|e| panic!("the crash loop could not run: {e}"));
    let json = report.to_json();
    eprintln!("{json}");
    assert_eq!(report.cycles, CYCLES, "{json}");
    assert_eq!(report.kills_under_load, CYCLES, "{json}");
    assert!(report.acknowledged > report.projects as u64, "the writers got answers: {json}");
    assert!(report.kills_with_requests_in_flight > 0, "some kills caught requests in flight: {json}");
    assert_eq!(report.checks, CYCLES + 1, "a check after every restart and at the end: {json}");
    assert_eq!(
        (report.lost, report.duplicated, report.moved, report.half_commits),
        (0, 0, 0, 0),
        "seed {}: {json}",
        report.seed
    );
    assert_eq!(
        (report.phantom, report.retry_mismatches, report.refused, report.verify_failures),
        (0, 0, 0, 0),
        "seed {}: {json}",
        report.seed
    );
    assert_eq!(report.failures(), 0, "{json}");
}
