//! Issue #11: each fix that AWS's real behaviour forced, proved under the proxy's realism layer
//! (tests/common/realism.rs) with one behaviour switched on and short durations. Each of these
//! fails without its fix. The full model, in real time, is tests/realistic.rs.

mod common;

use std::time::Duration;

use common::files_server::{stemcell_server, with_stemcell};
use common::proxy::{Fault, Proxy, Rule};
use common::realism::{Realism, Span, Stall};
use common::{Env, FakeBastion, assert_complete, assert_gone, aws, endpoint, owned_in_aws};

fn sent(proxy: &Proxy, action: &str) -> usize {
    proxy.actions().iter().filter(|a| *a == action).count()
}

/// A proxy in front of LocalStack behaving as `realism` says, and an environment behind it.
fn behind(label: &str, realism: Realism) -> (Proxy, Env) {
    let proxy = Proxy::start(endpoint());
    proxy.set_realism(realism);
    let env = Env::against(label, "", &proxy.url);
    (proxy, env)
}

#[tokio::test(flavor = "multi_thread")]
async fn runinstances_waits_out_both_iam_propagation_refusals() {
    // The role is added moments after the profile is made, and is refused for longer than the
    // profile: RunInstances meets both refusals, one after the other.
    let (proxy, env) = behind(
        "iamprop",
        Realism {
            iam_propagation: Span::secs(2, 3),
            role_propagation: Span::secs(8, 10),
            ..Realism::off(11)
        },
    );
    env.pave();
    assert!(sent(&proxy, "RunInstances") > 1, "{:?}", proxy.actions());
    let refusals = proxy.refusals();
    for message in [
        "Invalid IAM Instance Profile name",
        "has no associated IAM Roles",
    ] {
        assert!(
            refusals
                .iter()
                .any(|r| r.starts_with("RunInstances") && r.contains(message)),
            "{message}: {refusals:?}"
        );
    }
    assert_complete(&env).await;
    env.unpave();
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttle_after_many_tolerated_answers_is_retried_not_fatal() {
    // The VPC stays unknown for 40 s: AttachInternetGateway is told "not found" a dozen times or
    // more, then throttled three times in a row. One shared budget made the throttles fatal.
    let (proxy, env) = behind(
        "budgets",
        Realism {
            read_after_create: Span::secs(40, 40),
            read_after_create_of: Some("vpc-"),
            ..Realism::off(12)
        },
    );
    proxy.add_rule_after(
        11,
        Rule {
            action: Some("AttachInternetGateway"),
            times: 3,
            fault: Fault::Throttle,
        },
    );
    env.pave();
    assert!(
        sent(&proxy, "AttachInternetGateway") >= 15,
        "the throttles came after the tolerated answers: {:?}",
        proxy.actions()
    );
    assert_complete(&env).await;
    env.unpave();
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_create_times_out_and_is_looked_for_before_it_is_sent_again() {
    let (proxy, env) = behind(
        "stalled",
        Realism {
            stall: Some(Stall {
                action: Some("CreateSecurityGroup"),
                nth: (1, 1),
                lasts: Duration::from_secs(600),
            }),
            ..Realism::off(13)
        },
    );
    env.pave();
    // The tool gave up on the silent answer (a request timeout), it did not wait it out.
    assert_eq!(proxy.abandoned_stalls(), 1);
    // The stalled create was acted on: found, not sent again.
    assert_eq!(
        sent(&proxy, "CreateSecurityGroup"),
        2,
        "{:?}",
        proxy.actions()
    );
    assert_complete(&env).await;
    env.unpave();
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_load_balancers_interfaces_are_deleted_not_waited_for() {
    // AWS would keep them for longer than any window the tool waits.
    let (proxy, env) = behind(
        "elbenis",
        Realism {
            elb_interfaces_linger: Span::secs(3600, 3600),
            ..Realism::off(14)
        },
    );
    env.pave();
    env.unpave();
    assert!(
        sent(&proxy, "DeleteNetworkInterface") >= 2,
        "{:?}",
        proxy.actions()
    );
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_just_left_its_profile_is_deleted_once_iam_catches_up() {
    let (proxy, env) = behind(
        "roleleft",
        Realism {
            role_release: Span::secs(3, 5),
            ..Realism::off(15)
        },
    );
    env.pave();
    env.unpave();
    assert!(sent(&proxy, "DeleteRole") > 3, "{:?}", proxy.actions());
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_nat_gateway_stops_pave_clearly_and_unpave_cleans_up() {
    let (_proxy, env) = behind(
        "natfail",
        Realism {
            nat_pending: Span::secs(2, 3),
            nat_fails: true,
            ..Realism::off(16)
        },
    );
    let run = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("is failed: InternalError") && last.contains("cfcr-aws unpave"),
        "{last}"
    );
    env.unpave();
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_groups_that_node_access_admits_are_released_before_deletion() {
    let proxy = Proxy::start(endpoint());
    proxy.set_realism(Realism {
        referenced_groups: true,
        ..Realism::off(17)
    });
    let stemcells = stemcell_server();
    let env = Env::against("k8sref", &with_stemcell(&stemcells, ""), &proxy.url);
    env.pave();
    let bastion = FakeBastion::start(&env);
    env.run_via(&bastion, &["bootstrap"]).ok();
    let aws = aws().await;
    let tag = env.state()["cluster_tag"].as_str().unwrap().to_string();
    // What Kubernetes' cloud provider does for a Service of type LoadBalancer.
    let group = aws
        .ec2
        .create_security_group()
        .group_name(format!("k8s-elb-{}", env.prefix))
        .description("Security group for Kubernetes ELB")
        .vpc_id(env.id("vpc"))
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(format!("kubernetes.io/cluster/{tag}"))
                        .value("owned")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let group_id = group.group_id().unwrap().to_string();
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(env.id("node_access_security_group"))
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(30000)
                .to_port(32767)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&group_id)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = env.run(&["unpave", "--yes", "--skip-teardown"]).ok();
    assert!(
        run.stderr
            .contains(&format!("admit Kubernetes security group {group_id}")),
        "{}",
        run.stderr
    );
    assert_gone(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_refuses_an_instance_type_the_zone_does_not_offer() {
    let env = Env::new("notype", "bastion_instance_type = \"t2.enormous\"");
    let run = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("bastion_instance_type: t2.enormous is not offered in us-east-1a"),
        "{}",
        run.stderr
    );
    assert!(owned_in_aws(&aws().await, &env.prefix).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_bucket_in_another_region_is_followed_there() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("s3region", "", &proxy.url);
    let bucket = format!("cfcr-state-{}", env.prefix);
    let url = format!("s3://{bucket}/team");
    env.run(&["--state", &url, "--create-state-bucket", "list"])
        .ok();
    proxy.add_rule(Rule {
        action: Some("S3:HEAD"),
        times: 1,
        fault: Fault::BucketElsewhere("eu-west-2"),
    });
    let run = env.run(&["--state", &url, "list"]).ok();
    assert!(
        run.stderr
            .contains(&format!("the state bucket {bucket} is in region eu-west-2")),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_deletion_names_what_holds_it_and_a_rerun_finishes_once_it_is_gone() {
    // Issue #14: an interface and a group the environment did not create, in its VPC.
    let (_proxy, env) = behind(
        "blocked",
        Realism {
            referenced_groups: true,
            interfaces_block: true,
            ..Realism::off(18)
        },
    );
    env.pave();
    let aws = aws().await;
    let interface = aws
        .ec2
        .create_network_interface()
        .subnet_id(env.id("private_subnet"))
        .description("someone's appliance")
        .send()
        .await
        .unwrap();
    let interface_id = interface
        .network_interface()
        .and_then(|i| i.network_interface_id())
        .unwrap()
        .to_string();
    let group = aws
        .ec2
        .create_security_group()
        .group_name(format!("{}-monitoring", env.prefix))
        .description("someone's monitoring")
        .vpc_id(env.id("vpc"))
        .send()
        .await
        .unwrap();
    let group_id = group.group_id().unwrap().to_string();
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&group_id)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(9100)
                .to_port(9100)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(env.id("node_access_security_group"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let stopped = env.run(&["unpave", "--yes"]);
    assert_eq!(stopped.code, 1, "{}", stopped.stderr);
    for needle in [
        format!(
            "waiting: {} is used by {interface_id}",
            env.id("private_subnet")
        ),
        format!("{interface_id} (someone's appliance)"),
        format!("a rule of security group {group_id}"),
        "which this environment did not create".to_string(),
    ] {
        assert!(
            stopped.stderr.contains(&needle),
            "{needle}: {}",
            stopped.stderr
        );
    }
    assert!(env.state_path().exists());

    aws.ec2
        .delete_network_interface()
        .network_interface_id(&interface_id)
        .send()
        .await
        .unwrap();
    aws.ec2
        .delete_security_group()
        .group_id(&group_id)
        .send()
        .await
        .unwrap();
    env.unpave();
    assert_gone(&env).await;
}
