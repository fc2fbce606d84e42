//! Issue #5's request budget, counted by the proxy (counts, never timings): a pave, a pave with
//! nothing to do, and an unpave each stay within their number of AWS requests, and a pave with
//! nothing to do changes nothing.

mod common;

use common::proxy::Proxy;
use common::{Env, endpoint};

#[test]
fn pave_repave_and_unpave_stay_within_their_request_budgets() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("budget", "", &proxy.url);

    env.pave();
    let pave = proxy.log();
    assert!(pave.len() <= 55, "pave sent {} requests", pave.len());

    proxy.reset_count();
    let again = env.pave();
    let repave = proxy.log();
    let mutating: Vec<&str> = repave
        .iter()
        .filter(|e| e.mutating())
        .map(|e| e.action.as_str())
        .collect();
    assert!(mutating.is_empty(), "a no-change pave sent {mutating:?}");
    assert!(
        repave.len() <= 10,
        "a no-change pave sent {} requests",
        repave.len()
    );
    assert!(
        !again.stderr.contains("created"),
        "nothing is created twice:\n{}",
        again.stderr
    );

    proxy.reset_count();
    env.unpave();
    let unpave = proxy.log();
    // 43 for the deletes, then the last sweep (issue #19): one EC2 tag listing (on LocalStack,
    // which keeps a deleted resource's tags, with a describe by id for each kind it names), the
    // load balancers' tags and four IAM listings by path.
    assert!(unpave.len() <= 65, "unpave sent {} requests", unpave.len());
}

#[test]
fn a_new_environment_is_created_without_looking_for_each_resource_first() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("nolook", "", &proxy.url);
    env.pave();
    // Preflight looks up the named resources and the VPC once; nothing looks for the subnets,
    // route tables, security groups, gateways or addresses it is about to create.
    let looks: Vec<String> = proxy
        .actions()
        .into_iter()
        .filter(|a| {
            matches!(
                a.as_str(),
                "DescribeSubnets"
                    | "DescribeRouteTables"
                    | "DescribeSecurityGroups"
                    | "DescribeInternetGateways"
                    | "DescribeTags"
            )
        })
        .collect();
    assert!(looks.is_empty(), "{looks:?}");
    env.unpave();
}
