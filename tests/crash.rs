//! Crash safety (issue #4): cfcr-aws killed with SIGKILL after any request of a pave or an unpave —
//! the moment AWS has acted and the tool has not yet seen the answer — is finished by running the
//! same command again, with exactly one of each resource and nothing the state does not know about.

mod common;

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::proxy::Proxy;
use common::{Env, aws, endpoint, owned_in_aws, recorded_in_state};

/// Runs `args` with the proxy set to kill the tool after request `n`; true if it was killed.
fn run_killed_after(env: &Env, proxy: &Proxy, n: usize, args: &[&str]) -> bool {
    proxy.reset_count();
    proxy.kill_after(Some(n));
    let mut child = env
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    proxy.pid.store(child.id(), Ordering::SeqCst);
    let status = child.wait().unwrap();
    proxy.kill_after(None);
    status.code().is_none()
}

/// How many requests a command makes, run through a fresh proxy.
fn requests_of(env: &Env, proxy: &Proxy, args: &[&str]) -> usize {
    proxy.reset_count();
    env.run(args).ok();
    proxy.requests()
}

/// Runs `check(n)` for every n in `1..=count` on three worker threads, each with its own proxy.
fn for_every_request(count: usize, check: impl Fn(&Proxy, usize) + Sync) {
    let next = Arc::new(Mutex::new(1usize));
    std::thread::scope(|scope| {
        for _ in 0..3 {
            let next = next.clone();
            let check = &check;
            scope.spawn(move || {
                let proxy = Proxy::start(endpoint());
                loop {
                    let n = {
                        let mut next = next.lock().unwrap();
                        let n = *next;
                        *next += 1;
                        n
                    };
                    if n > count {
                        break;
                    }
                    let started = std::time::Instant::now();
                    check(&proxy, n);
                    eprintln!("request {n}: checked in {:?}", started.elapsed());
                }
            });
        }
    });
}

#[test]
fn pave_killed_after_any_request_is_finished_by_running_it_again() {
    let measure = Proxy::start(endpoint());
    let env = Env::against("crashm", "", &measure.url);
    let count = requests_of(&env, &measure, &["pave", "--yes", "--no-bootstrap"]);
    env.unpave();
    assert!(count > 20, "a pave makes {count} requests");

    for_every_request(count, |proxy, n| {
        let env = Env::against("crashp", "", &proxy.url);
        run_killed_after(&env, proxy, n, &["pave", "--yes", "--no-bootstrap"]);
        env.pave();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let in_aws = runtime.block_on(async { owned_in_aws(&aws().await, &env.prefix).await });
        let state = env.state();
        assert_eq!(
            in_aws,
            recorded_in_state(&state),
            "killed after request {n}"
        );
        assert_eq!(in_aws.len(), 21, "killed after request {n}: {in_aws:?}");
        env.unpave();
        let left = runtime.block_on(async { owned_in_aws(&aws().await, &env.prefix).await });
        assert!(left.is_empty(), "killed after request {n}: {left:?}");
    });
}

#[test]
fn unpave_killed_after_any_request_is_finished_by_running_it_again() {
    let measure = Proxy::start(endpoint());
    let env = Env::against("crashm", "", &measure.url);
    env.pave();
    let count = requests_of(&env, &measure, &["unpave", "--yes"]);
    assert!(count > 20, "an unpave makes {count} requests");

    for_every_request(count, |proxy, n| {
        let env = Env::against("crashu", "", &proxy.url);
        env.pave();
        run_killed_after(&env, proxy, n, &["unpave", "--yes"]);
        env.unpave();
        assert!(!env.state_path().exists(), "killed after request {n}");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let left = runtime.block_on(async { owned_in_aws(&aws().await, &env.prefix).await });
        assert!(left.is_empty(), "killed after request {n}: {left:?}");
    });
}
