//! Issue #11's realistic run: a full pave (without the hand-off), status, a drift repair and
//! unpave, behind the realism layer with every behaviour of AWS's model on, in real time
//! (tests/common/realism.rs; the table is in docs/testing.md). Three seeds, one of them with a NAT
//! gateway that fails. LocalStack's inventory is checked after each command that changes it.
//!
//! Minutes long, so ignored by `cargo test`: `tests/realistic` runs it (CI too).

mod common;

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IpPermission, IpRange, Tag};
use common::proxy::Proxy;
use common::realism::Realism;
use common::{Env, assert_complete, assert_gone, aws, endpoint};

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

/// Drift made behind the tool's back, straight at LocalStack: the SSH rule revoked, the public
/// subnet's Name tag removed.
async fn drift(env: &Env) {
    let aws = aws().await;
    let ssh = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    aws.ec2
        .revoke_security_group_ingress()
        .group_id(env.id("node_access_security_group"))
        .ip_permissions(ssh)
        .send()
        .await
        .unwrap();
    aws.ec2
        .delete_tags()
        .resources(env.id("public_subnet"))
        .tags(Tag::builder().key("Name").build())
        .send()
        .await
        .unwrap();
}

async fn realistic_run(label: &str, realism: Realism) {
    let seed = realism.seed;
    let nat_fails = realism.nat_fails;
    let proxy = Proxy::start(endpoint());
    proxy.set_realism(realism);
    // A restricted API: the master ELB must still reach the masters (through api-access).
    let env = Env::against(label, "api_allowed_cidrs = [\"192.0.2.0/24\"]", &proxy.url);

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
        assert_complete(&env).await;
        assert_clean_status(&env);

        drift(&env).await;
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
        assert_complete(&env).await;
        drop(pave);
    }

    let started = Instant::now();
    env.unpave();
    let unpave_took = started.elapsed();
    let unpave_floor = proxy
        .world(|w| w.slowest_gone())
        .flatten()
        .map(|t| t.duration_since(started));
    assert_gone(&env).await;

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
    realistic_run("real1", Realism::aws(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes of real time: run by tests/realistic"]
async fn realistic_seed_2() {
    realistic_run("real2", Realism::aws(2)).await;
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
    )
    .await;
}
