//! The benchmark behind docs/benchmarks.md (run it with `tests/harness/benchmark`).
//!
//! Against an emulator the only cost of paving is API round trips, so the proxy in front of
//! LocalStack adds a fixed latency to every request, as a distant region would, and logs when each
//! request arrived and was answered. For `pave --no-bootstrap`, a second `pave` with nothing to do,
//! and `unpave`, at the normal concurrency and at concurrency 1, it reports the wall time, the
//! requests, the mutating requests, and the longest chain of requests that waited on each other.
//! A last pair of runs makes the NAT gateway and the instance stay `pending` for a while, to show
//! that the slow waits overlap each other and everything else. `--realistic SEED` instead measures
//! pave and unpave behind the realism layer (AWS's timing in real time) against the floor its
//! slowest waits set.

#[path = "../../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::proxy::{Exchange, Proxy, SlowStates};
use common::realism::Realism;
use common::{Env, Run, endpoint};

#[derive(Parser)]
#[command(about = "Measures cfcr-aws's pave and unpave against LocalStack behind a slow proxy")]
struct Options {
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// The normal concurrency to compare with concurrency 1.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long the NAT gateway stays `pending` in the slow-state runs, in seconds (0: skip them).
    #[arg(long, default_value_t = 20)]
    nat_pending: u64,
    /// How long the bastion instance stays `pending` in the slow-state runs, in seconds.
    #[arg(long, default_value_t = 10)]
    instance_pending: u64,
    /// Print every request of every phase with its timing, to see what waited on what.
    #[arg(long)]
    show_requests: bool,
    /// Measure only pave and unpave behind the realism layer with this seed (repeatable): AWS's
    /// timing in real time, minutes per seed. The stalled answer is left out: it costs one attempt
    /// timeout wherever it falls, and the point is the waits.
    #[arg(long, value_name = "SEED")]
    realistic: Vec<u64>,
    /// Arguments cargo passes to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One phase's figures.
struct Measure {
    wall: Duration,
    requests: usize,
    mutating: usize,
    chain: usize,
}

/// The longest sequence of requests each of which arrived only after the previous was answered:
/// the round trips the run could not overlap.
fn longest_chain(log: &[Exchange]) -> usize {
    let mut by_start: Vec<&Exchange> = log.iter().collect();
    by_start.sort_by_key(|e| e.started);
    let mut chain = vec![0usize; by_start.len()];
    for i in 0..by_start.len() {
        let before = (0..i)
            .filter(|&j| by_start[j].finished <= by_start[i].started)
            .map(|j| chain[j])
            .max()
            .unwrap_or(0);
        chain[i] = before + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

/// Runs the tool as an operator would on AWS: with every preflight check (the tests skip the
/// elastic IP quota check, which LocalStack reports but does not enforce; one environment at a
/// time fits it).
fn run(env: &Env, args: &[&str]) -> Run {
    let out = env
        .command(args)
        .env("CFCR_AWS_SKIP_QUOTA_CHECK", "false")
        .output()
        .expect("running cfcr-aws");
    Run::from(out).ok()
}

fn measure(proxy: &Proxy, env: &Env, args: &[&str], show_requests: bool) -> Measure {
    proxy.reset_count();
    let started = Instant::now();
    run(env, args);
    let wall = started.elapsed();
    let log = proxy.log();
    if show_requests {
        println!("cfcr-aws {}", args.join(" "));
        for e in &log {
            println!(
                "  {:>6.0} ms – {:>6.0} ms  {}",
                (e.started - started).as_secs_f64() * 1000.0,
                (e.finished - started).as_secs_f64() * 1000.0,
                e.action
            );
        }
    }
    Measure {
        wall,
        requests: log.len(),
        mutating: log.iter().filter(|e| e.mutating()).count(),
        chain: longest_chain(&log),
    }
}

const PHASES: [&str; 3] = ["pave", "pave, no changes", "unpave"];

fn phases(proxy: &Proxy, concurrency: usize, show_requests: bool) -> Vec<Measure> {
    let env = Env::against(&format!("bench-c{concurrency}"), "", &proxy.url);
    let limit = concurrency.to_string();
    let pave = [
        "--max-concurrency",
        &limit,
        "pave",
        "--yes",
        "--no-bootstrap",
    ];
    let unpave = ["--max-concurrency", &limit, "unpave", "--yes"];
    vec![
        measure(proxy, &env, &pave, show_requests),
        measure(proxy, &env, &pave, show_requests),
        measure(proxy, &env, &unpave, show_requests),
    ]
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// When the first and the last request with `action` were answered, relative to `start`.
fn span(log: &[Exchange], start: Instant, action: &str) -> String {
    let times: Vec<Duration> = log
        .iter()
        .filter(|e| e.action == action)
        .map(|e| e.finished - start)
        .collect();
    match (times.iter().min(), times.iter().max()) {
        (Some(first), Some(last)) if times.len() > 1 => format!(
            "{:.1}–{:.1} s ({}×)",
            first.as_secs_f64(),
            last.as_secs_f64(),
            times.len()
        ),
        (Some(first), _) => format!("{:.1} s", first.as_secs_f64()),
        _ => "–".into(),
    }
}

fn slow_states(proxy: &Proxy, options: &Options) {
    let slow = SlowStates {
        nat_gateway: Duration::from_secs(options.nat_pending),
        instance: Duration::from_secs(options.instance_pending),
    };
    println!(
        "\nSlow states: NAT gateway pending {} s, instance pending {} s (answers since the run started)\n",
        options.nat_pending, options.instance_pending
    );
    let landmarks = [
        "CreateNatGateway",
        "DescribeNatGateways",
        "RunInstances",
        "DescribeInstances",
        "AssociateAddress",
        "CreateLoadBalancer",
        "AddRoleToInstanceProfile",
        "CreateRoute",
    ];
    let concurrencies = [options.concurrency, 1];
    let mut columns = Vec::new();
    for concurrency in concurrencies {
        let env = Env::against(&format!("bench-slow-c{concurrency}"), "", &proxy.url);
        let limit = concurrency.to_string();
        proxy.reset_count();
        proxy.set_slow_states(slow);
        let start = Instant::now();
        run(
            &env,
            &[
                "--max-concurrency",
                &limit,
                "pave",
                "--yes",
                "--no-bootstrap",
            ],
        );
        let wall = start.elapsed();
        let log = proxy.log();
        let mut column = vec![seconds(wall), log.len().to_string()];
        column.extend(landmarks.iter().map(|a| span(&log, start, a)));
        columns.push(column);
        proxy.set_slow_states(SlowStates::default());
        run(&env, &["unpave", "--yes"]);
    }
    let rows = ["wall time", "requests"]
        .into_iter()
        .chain(landmarks)
        .collect::<Vec<_>>();
    println!(
        "| | concurrency {} | concurrency 1 |\n|---|---|---|",
        options.concurrency
    );
    for (i, row) in rows.iter().enumerate() {
        println!("| {row} | {} | {} |", columns[0][i], columns[1][i]);
    }
}

/// Pave and unpave behind the realism layer, against the floors set by the slowest waits AWS
/// imposes (the NAT gateway's `pending` and `deleting`, the instance's `pending` and
/// `shutting-down`), per seed.
fn realistic(seeds: &[u64]) {
    println!(
        "| seed | pave | pave floor | over | unpave | unpave floor | over |\n|---|---|---|---|---|---|---|"
    );
    let over = |took: Duration, floor: Duration| {
        format!(
            "{:+.1} %",
            (took.as_secs_f64() / floor.as_secs_f64() - 1.0) * 100.0
        )
    };
    for &seed in seeds {
        let proxy = Proxy::start(endpoint());
        proxy.set_realism(Realism {
            stall: None,
            ..Realism::aws(seed)
        });
        let env = Env::against(&format!("bench-real{seed}"), "", &proxy.url);
        let start = Instant::now();
        run(&env, &["pave", "--yes", "--no-bootstrap"]);
        let pave = start.elapsed();
        let pave_floor = proxy
            .world(|w| w.slowest_ready())
            .flatten()
            .map(|t| t - start);
        let start = Instant::now();
        run(&env, &["unpave", "--yes"]);
        let unpave = start.elapsed();
        let unpave_floor = proxy
            .world(|w| w.slowest_gone())
            .flatten()
            .map(|t| t - start);
        let (Some(pave_floor), Some(unpave_floor)) = (pave_floor, unpave_floor) else {
            continue;
        };
        println!(
            "| {seed} | {} | {} | {} | {} | {} | {} |",
            seconds(pave),
            seconds(pave_floor),
            over(pave, pave_floor),
            seconds(unpave),
            seconds(unpave_floor),
            over(unpave, unpave_floor)
        );
    }
}

fn main() {
    let options = Options::parse();
    if !options.realistic.is_empty() {
        realistic(&options.realistic);
        return;
    }
    let proxy = Proxy::start(endpoint());
    proxy.set_latency(Duration::from_millis(options.latency_ms));
    println!(
        "cfcr-aws {} against LocalStack, {} ms added to every request\n",
        env!("CARGO_PKG_VERSION"),
        options.latency_ms
    );
    // A fresh LocalStack loads parts of its emulation (moto's image catalogue, each service's
    // first request) on first use: a pave and unpave of a throwaway environment make every
    // measured run meet a warm one.
    let warm_up = Env::against("bench-warm-up", "", &proxy.url);
    run(&warm_up, &["pave", "--yes", "--no-bootstrap"]);
    run(&warm_up, &["unpave", "--yes"]);
    let normal = phases(&proxy, options.concurrency, options.show_requests);
    let serial = phases(&proxy, 1, false);
    let c = options.concurrency;
    println!(
        "| phase | wall time (c={c}) | wall time (c=1) | speed-up | requests | mutating | longest chain (c={c}) | longest chain (c=1) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for ((phase, n), s) in PHASES.iter().zip(&normal).zip(&serial) {
        println!(
            "| {phase} | {} | {} | {:.1}× | {} | {} | {} | {} |",
            seconds(n.wall),
            seconds(s.wall),
            s.wall.as_secs_f64() / n.wall.as_secs_f64(),
            n.requests,
            n.mutating,
            n.chain,
            s.chain
        );
    }
    if options.nat_pending > 0 || options.instance_pending > 0 {
        slow_states(&proxy, &options);
    }
}
