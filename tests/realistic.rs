//! Issue #11's realistic run: a full pave (without the hand-off), status, a drift repair and
//! unpave, behind the realism layer with every behaviour of AWS's model on, in real time
//! (tests/common/realism.rs; the table is in docs/testing.md). Four seeds, one of them with a NAT
//! gateway that fails, one in an existing VPC (issue #14). LocalStack's inventory is checked after
//! each command that changes it.
//!
//! Minutes long, so ignored by `cargo test`: `tests/realistic` runs it (CI too).

mod common;

use std::time::{Duration, Instant};

use common::drift;
use common::network::{Network, vpc};
use common::proxy::Proxy;
use common::realism::Realism;
use common::{Env, assert_owns, aws, endpoint, owned_in_aws};

/// Seconds, for the figures.
fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// How far `took` is above `floor`, in percent.
fn over(took: Duration, floor: Duration) -> String {
    format!(
        "{:+.1} %",
        (took.as_secs_f64() / floor.as_secs_f64() - 1.0) * 100.0
    )
}

fn assert_clean_status(env: &Env) {
    let status = env.run(&["status"]).ok();
    for word in ["missing", "changed"] {
        assert!(!status.stdout.contains(word), "{}", status.stdout);
    }
}

/// Drift made behind the tool's back, straight at LocalStack: the SSH rule revoked, and a tag the
/// environment put on the private subnet removed (its Name, or on an adopted subnet its cluster tag).
async fn make_drift(env: &Env, tag: &str) {
    let aws = aws().await;
    drift::revoke_ssh(&aws, &env.id("node_access_security_group")).await;
    drift::untag(&aws, &env.id("private_subnet"), tag).await;
}

/// A network handed out, made straight at LocalStack (not through the layer: it is old news to
/// AWS): a VPC with its gateway, a public subnet routed to it, a private one without a way out.
async fn existing_network() -> (Network, String) {
    let aws = aws().await;
    let mut network = vpc(&aws, "10.70.0.0/16", true, true).await;
    let public = network.public_subnet(&aws, "10.70.1.0/24").await;
    let private = network
        .subnet(&aws, "10.70.2.0/24", "us-east-1a", &[])
        .await;
    let config = format!(
        "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{private}\"",
        network.vpc
    );
    (network, config)
}

async fn realistic_run(label: &str, realism: Realism, existing: Option<(Network, String)>) {
    let seed = realism.seed;
    let nat_fails = realism.nat_fails;
    let proxy = Proxy::start(endpoint());
    proxy.set_realism(realism);
    // A restricted API: the master ELB must still reach the masters (through api-access).
    let mut config = "api_allowed_cidrs = [\"192.0.2.0/24\"]\n".to_string();
    let (owned, drifted_tag, before) = match &existing {
        Some((network, network_config)) => {
            config.push_str(network_config);
            (
                16,
                "KubernetesCluster",
                Some(network.snapshot(&aws().await).await),
            )
        }
        None => (21, "Name", None),
    };
    let env = Env::against(label, &config, &proxy.url);

    let started = Instant::now();
    let pave = env.run(&["pave", "--yes", "--no-bootstrap"]);
    let pave_took = started.elapsed();
    let pave_floor = proxy
        .world(|w| w.slowest_ready())
        .flatten()
        .map(|t| t.duration_since(started));
    if nat_fails {
        assert_eq!(pave.code, 1, "{}", pave.stderr);
        let last = pave.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("is failed: InternalError") && last.contains("cfcr-aws unpave"),
            "{last}"
        );
    } else {
        let pave = pave.ok();
        assert_owns(&env, owned).await;
        assert_clean_status(&env);

        make_drift(&env, drifted_tag).await;
        let status = env.run(&["status"]);
        assert_eq!(status.code, 2, "{}", status.stderr);
        assert_eq!(
            status.stdout.matches("changed").count(),
            2,
            "{}",
            status.stdout
        );
        let repair = env.run(&["pave", "--yes", "--no-bootstrap"]).ok();
        assert_eq!(
            repair.stderr.matches("repaired").count(),
            2,
            "{}",
            repair.stderr
        );
        assert_clean_status(&env);
        assert_owns(&env, owned).await;
        drop(pave);
    }

    let started = Instant::now();
    env.unpave();
    let unpave_took = started.elapsed();
    let unpave_floor = proxy
        .world(|w| w.slowest_gone())
        .flatten()
        .map(|t| t.duration_since(started));
    assert!(!env.state_path().exists());
    let left = owned_in_aws(&aws().await, &env.prefix).await;
    assert!(left.is_empty(), "{left:?}");
    if let (Some((network, _)), Some(before)) = (&existing, before) {
        assert_eq!(network.snapshot(&aws().await).await, before);
    }

    // A stalled answer on the critical path costs one attempt timeout: say which request it was.
    println!(
        "realistic seed {seed}: stalled {:?}, abandoned after the attempt timeout: {}",
        proxy.stalled(),
        proxy.abandoned_stalls()
    );
    if let Some(floor) = pave_floor.filter(|_| !nat_fails) {
        println!(
            "realistic seed {seed}: pave {} (floor {}, {})",
            secs(pave_took),
            secs(floor),
            over(pave_took, floor)
        );
    }
    if let Some(floor) = unpave_floor {
        println!(
            "realistic seed {seed}: unpave {} (floor {}, {})",
            secs(unpave_took),
            secs(floor),
            over(unpave_took, floor)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes of real time: run by tests/realistic"]
async fn realistic_seed_1() {
    realistic_run("real1", Realism::aws(1), None).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes of real time: run by tests/realistic"]
async fn realistic_seed_2() {
    realistic_run("real2", Realism::aws(2), None).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes of real time: run by tests/realistic"]
async fn realistic_seed_3_with_a_failed_nat_gateway() {
    realistic_run(
        "real3",
        Realism {
            nat_fails: true,
            ..Realism::aws(3)
        },
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes of real time: run by tests/realistic"]
async fn realistic_seed_4_in_an_existing_vpc() {
    let network = existing_network().await;
    realistic_run("real4", Realism::aws(4), Some(network)).await;
}
