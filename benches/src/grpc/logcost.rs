//! `fiscus-bench logcost`: the cost of the transparency log on durable commits, against the same
//! daemon without it, in one run.
//!
//! It starts two `fiscusd` children on fresh temporary stores: one as always (every commit group
//! in the log, a checkpoint signed per group, every `RecordCommit` answered with its receipt), and
//! one with the hidden `--measure-without-log` (no log, no checkpoint, no receipt: that flag exists
//! for this measurement only; the log is always on otherwise). Both get the same projects, and the
//! same `--clients` concurrent clients record one `ContributionReceived` per `RecordCommit`, as
//! phase 1 of `fiscus-bench grpc` does, for `--seconds` per round. The two alternate for `--rounds`
//! rounds (the first of a round swaps every round), so that both see the same machine when other
//! load comes and goes. It prints one JSON line per configuration: the rate of each round, their
//! median, latencies over all rounds, the writer's groups and CPU; the line of the log adds
//! `ratio_to_without_log`, its median rate over the other's.

use super::*;

/// Arguments of `fiscus-bench logcost`.
#[derive(clap::Args, Debug)]
pub struct LogCostArgs {
    /// Concurrent clients, each with one request in flight at a time (one connection each).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Length of each measured round of each configuration, in seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds; each runs both configurations once.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Projects the commits go to, in turn (opened on both daemons before the first round).
    #[arg(long, default_value_t = 16)]
    projects: usize,
    /// Most requests of one round, over all clients.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// The `fiscusd` binary [default: next to this executable].
    #[arg(long, value_name = "PATH")]
    fiscusd: Option<PathBuf>,
}

/// One daemon under measurement and what its rounds measured.
struct Config {
    name: &'static str,
    server: Server,
    log: PathBuf,
    channels: Vec<Channel>,
    accountant: String,
    rates: Vec<f64>,
    all: Option<Phase>,
    groups: Groups,
}

/// Runs the command and prints its two JSON lines.
pub fn run(args: &LogCostArgs) -> Result<(), Box<dyn Error>> {
    if args.clients == 0 || args.seconds == 0 || args.projects == 0 || args.rounds == 0 {
        return Err("--clients, --seconds, --projects and --rounds must be at least 1".into());
    }
    let fiscusd = find_fiscusd(args.fiscusd.as_deref())?;
    let dir = tempfile::Builder::new().prefix("fiscus-bench-logcost-").tempdir()?;
    eprintln!("fiscusd: {}; stores and logs in {}", fiscusd.display(), dir.path().display());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("fiscus-bench").build()?;
    let lines = runtime.block_on(measure(args, &fiscusd, dir.path())).map_err(|e| e.to_string())?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// Starts one daemon (`without_log`: with `--measure-without-log`) and opens the projects on it.
async fn start(
    name: &'static str,
    without_log: bool,
    fiscusd: &Path,
    dir: &Path,
    projects: &[String],
    clients: usize,
) -> Result<Config, BoxError> {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir)?;
    let extra: &[&str] = if without_log { &["--measure-without-log"] } else { &[] };
    let (server, log, admin, accountant) = super::start_fiscusd(fiscusd, &dir, extra)?;
    eprintln!("{name}: fiscusd (pid {}) listening on {}", server.pid(), server.addr);
    wait_serving(server.addr, pb::ledger_server::SERVICE_NAME, START_DEADLINE).await?;
    let admin_channel = connect(server.addr).await?;
    open_projects(&mut LedgerClient::with_interceptor(admin_channel, Bearer::new(&admin)?), projects).await?;
    let channels = connect_all(server.addr, clients).await?;
    Ok(Config { name, server, log, channels, accountant, rates: Vec::new(), all: None, groups: Groups::default() })
}

/// Both daemons, the alternating rounds, and the two report lines.
async fn measure(args: &LogCostArgs, fiscusd: &Path, dir: &Path) -> Result<Vec<serde_json::Value>, BoxError> {
    let projects: Vec<String> = (0..args.projects).map(|i| format!("bench-{i:05}")).collect();
    let mut configs = [
        start("log", false, fiscusd, dir, &projects, args.clients).await?,
        start("without_log", true, fiscusd, dir, &projects, args.clients).await?,
    ];
    eprintln!("opened {} projects on both", projects.len());
    let cap = (args.max_requests / args.clients as u64).max(1);
    let seconds = Duration::from_secs(args.seconds);
    for round in 0..args.rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for at in order {
            let config = &mut configs[at];
            let bearer = Bearer::new(&config.accountant)?;
            let log_start = file_len(&config.log);
            let channels = config.channels.clone();
            let prefix = format!("r{round}-");
            let phase = run_phase(args.clients, seconds, cap, config.server.pid(), |i| Commit {
                client: LedgerClient::with_interceptor(channels[i % channels.len()].clone(), bearer.clone()),
                id: i,
                projects: projects.clone(),
                prefix: prefix.clone(),
            })
            .await?;
            let groups = commit_groups(&config.log, log_start, file_len(&config.log));
            config.groups.groups += groups.groups;
            config.groups.requests += groups.requests;
            config.groups.max_requests = config.groups.max_requests.max(groups.max_requests);
            config.groups.busy_us += groups.busy_us;
            phase.progress(&format!("round {round} {}", config.name), "events");
            config.rates.push(phase.rate());
            config.all = Some(match config.all.take() {
                Some(all) => all.merge(phase),
                None => phase,
            });
        }
    }
    let medians: Vec<f64> = configs.iter().map(|c| median_of(&c.rates)).collect();
    let mut lines = Vec::new();
    for (at, config) in configs.iter().enumerate() {
        let Some(all) = &config.all else { return Err("no round ran".into()) };
        let mut line = json!({
            "config": config.name,
            "clients": args.clients,
            "projects": args.projects,
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "committed_events_per_s_rounds": config.rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
            "committed_events_per_s_median": medians[at].round(),
            "commit_p50_ms": ms(all.percentile(500)),
            "commit_p99_ms": ms(all.percentile(990)),
            "commit_refusals": all.errors,
            "commit_groups": config.groups.groups,
            "commit_group_requests_mean": round2(config.groups.mean_requests()),
            "commit_group_ms_mean": round3(config.groups.mean_us() / 1_000.0),
            "writer_cpu_us_per_event":
                all.server.as_ref().map(|c| round2(c.writer_ns as f64 / 1e3 / all.units.max(1) as f64)),
            "daemon_cpu_us_per_commit": all.server_cpu_us_per_call(),
            "daemon_threads_cpu_us_per_commit": all.server_threads_us_per_call(),
            "client_cpu_us_per_commit": all.client_cpu_us_per_call(),
            "others_cores_during_commits": all.others_cores(),
        });
        if at == 0 {
            line["ratio_to_without_log"] = json!(round3(medians[0] / medians[1].max(1e-9)));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// The median of a few rates (the mean of the middle two for an even count).
fn median_of(rates: &[f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::median_of;

    #[test]
    fn medians() {
        assert_eq!(median_of(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_of(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median_of(&[]), 0.0);
    }
}
