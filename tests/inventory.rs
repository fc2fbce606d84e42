//! The inventory of issue #2, checked attribute by attribute against LocalStack, then removed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, VpcAttributeName};
use base64::Engine;
use common::{Aws, Env, aws, drift};
use serde_json::{Value, json};

const OWNER_TAG: &str = "cfcr-aws:env";

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[track_caller]
fn assert_named(tags: &BTreeMap<String, String>, name: &str, env: &Env) {
    assert_eq!(tags.get("Name").map(String::as_str), Some(name), "{tags:?}");
    assert_eq!(
        tags.get(OWNER_TAG).map(String::as_str),
        Some(env.prefix.as_str()),
        "{tags:?}"
    );
}

/// IAM returns policy documents URL-encoded.
fn policy_json(document: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("{e}: {decoded}"))
}

fn actions(statement: &Value) -> BTreeSet<String> {
    match &statement["Action"] {
        Value::String(s) => BTreeSet::from([s.clone()]),
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        other => panic!("unexpected Action {other}"),
    }
}

async fn check_network(env: &Env, aws: &Aws) {
    let p = &env.prefix;
    let ec2 = &aws.ec2;
    let cluster_tag = env.state()["cluster_tag"].as_str().unwrap().to_string();

    let vpc_id = env.id("vpc");
    let vpcs = ec2.describe_vpcs().vpc_ids(&vpc_id).send().await.unwrap();
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    assert_named(&ec2_tags(vpc.tags()), &format!("{p}-cfcr-vpc"), env);
    for attribute in [
        VpcAttributeName::EnableDnsSupport,
        VpcAttributeName::EnableDnsHostnames,
    ] {
        let out = ec2
            .describe_vpc_attribute()
            .vpc_id(&vpc_id)
            .attribute(attribute.clone())
            .send()
            .await
            .unwrap();
        let value = match attribute {
            VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
            _ => out.enable_dns_hostnames(),
        };
        assert_eq!(
            value.and_then(AttributeBooleanValue::value),
            Some(true),
            "{attribute:?}"
        );
    }

    let igw_id = env.id("internet_gateway");
    let igws = ec2
        .describe_internet_gateways()
        .internet_gateway_ids(&igw_id)
        .send()
        .await
        .unwrap();
    let igw = &igws.internet_gateways()[0];
    assert_named(&ec2_tags(igw.tags()), &format!("{p}-cfcr-igw"), env);
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id.as_str()));

    for (key, name, cidr) in [
        ("public_subnet", "cfcr-public", "10.0.1.0/24"),
        ("private_subnet", "cfcr-private", "10.0.2.0/24"),
    ] {
        let subnets = ec2
            .describe_subnets()
            .subnet_ids(env.id(key))
            .send()
            .await
            .unwrap();
        let subnet = &subnets.subnets()[0];
        assert_eq!(subnet.cidr_block(), Some(cidr));
        assert_eq!(subnet.availability_zone(), Some("us-east-1a"));
        assert_eq!(subnet.vpc_id(), Some(vpc_id.as_str()));
        let tags = ec2_tags(subnet.tags());
        assert_named(&tags, &format!("{p}-{name}"), env);
        assert_eq!(tags["KubernetesCluster"], cluster_tag);
    }

    let nat_id = env.id("nat_gateway");
    let nats = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&nat_id)
        .send()
        .await
        .unwrap();
    // LocalStack answers with every NAT gateway, whatever the ids asked for.
    let nat = nats
        .nat_gateways()
        .iter()
        .find(|n| n.nat_gateway_id() == Some(nat_id.as_str()))
        .unwrap();
    assert_eq!(nat.subnet_id(), Some(env.id("public_subnet").as_str()));
    assert_eq!(nat.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(
        nat.nat_gateway_addresses()[0].allocation_id(),
        Some(env.id("nat_eip").as_str())
    );
    assert_named(&ec2_tags(nat.tags()), &format!("{p}-nat"), env);

    for (key, name, subnet, target) in [
        (
            "public_route_table",
            "public-route-table",
            "public_subnet",
            igw_id.clone(),
        ),
        (
            "private_route_table",
            "private-route-table",
            "private_subnet",
            nat_id.clone(),
        ),
    ] {
        let tables = ec2
            .describe_route_tables()
            .route_table_ids(env.id(key))
            .send()
            .await
            .unwrap();
        let table = &tables.route_tables()[0];
        assert_named(&ec2_tags(table.tags()), &format!("{p}-{name}"), env);
        let default_route = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .expect("a default route");
        let via = default_route
            .gateway_id()
            .or(default_route.nat_gateway_id());
        assert_eq!(via, Some(target.as_str()), "{key}");
        let associated: Vec<_> = table
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id())
            .collect();
        assert_eq!(associated, vec![env.id(subnet).as_str()], "{key}");
    }

    let addresses = ec2
        .describe_addresses()
        .set_filters(Some(vec![
            Filter::builder()
                .name(format!("tag:{OWNER_TAG}"))
                .values(p)
                .build(),
        ]))
        .send()
        .await
        .unwrap();
    let names: BTreeSet<String> = addresses
        .addresses()
        .iter()
        .map(|a| ec2_tags(a.tags())["Name"].clone())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([format!("{p}-nat-eip"), format!("{p}-bastion-eip")])
    );
}

async fn check_security_groups(env: &Env, aws: &Aws) {
    let p = &env.prefix;
    let groups = aws
        .ec2
        .describe_security_groups()
        .group_ids(env.id("node_access_security_group"))
        .group_ids(env.id("api_access_security_group"))
        .send()
        .await
        .unwrap();
    let node_id = env.id("node_access_security_group");
    let mut seen = 0;
    for group in groups.security_groups() {
        let mut rules = BTreeSet::new();
        for permission in group.ip_permissions() {
            let ports = format!(
                "{}:{}-{}",
                permission.ip_protocol().unwrap_or_default(),
                permission.from_port().unwrap_or(-1),
                permission.to_port().unwrap_or(-1)
            );
            for range in permission.ip_ranges() {
                rules.insert(format!("{ports} from {}", range.cidr_ip().unwrap()));
            }
            for pair in permission.user_id_group_pairs() {
                rules.insert(format!("{ports} from {}", pair.group_id().unwrap()));
            }
        }
        let egress: BTreeSet<String> = group
            .ip_permissions_egress()
            .iter()
            .flat_map(|perm| {
                perm.ip_ranges().iter().map(|r| {
                    format!(
                        "{} to {}",
                        perm.ip_protocol().unwrap_or_default(),
                        r.cidr_ip().unwrap()
                    )
                })
            })
            .collect();
        assert_eq!(egress, BTreeSet::from(["-1 to 0.0.0.0/0".to_string()]));
        let tags = ec2_tags(group.tags());
        if group.group_id() == Some(node_id.as_str()) {
            seen += 1;
            assert_eq!(
                group.group_name(),
                Some(format!("{p}-node-access").as_str())
            );
            assert_named(&tags, &format!("{p}-node-access"), env);
            let expected: BTreeSet<String> = [
                "tcp:22-22 from 203.0.113.0/24".to_string(),
                "tcp:22-22 from 198.51.100.7/32".to_string(),
                "tcp:8443-8443 from 192.0.2.0/24".to_string(),
                // The master ELB's interfaces carry api-access: its listener must reach the API.
                format!("tcp:8443-8443 from {}", env.id("api_access_security_group")),
            ]
            .into_iter()
            .chain(
                rules
                    .iter()
                    .filter(|r| r.starts_with("-1:"))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .collect();
            assert_eq!(rules, expected);
            assert!(
                rules
                    .iter()
                    .any(|r| r.starts_with("-1:") && r.ends_with(&node_id)),
                "all traffic from itself: {rules:?}"
            );
        } else {
            seen += 1;
            assert_named(&tags, &format!("{p}-api-access"), env);
            assert_eq!(
                rules,
                BTreeSet::from(["tcp:443-443 from 192.0.2.0/24".to_string()])
            );
        }
    }
    assert_eq!(seen, 2);
}

async fn check_load_balancer(env: &Env, aws: &Aws) {
    let p = &env.prefix;
    let name = format!("{p}-cfcr-api");
    let out = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(&name)
        .send()
        .await
        .unwrap();
    let lb = &out.load_balancer_descriptions()[0];
    assert_eq!(lb.scheme(), Some("internet-facing"));
    assert_eq!(lb.subnets(), [env.id("public_subnet")]);
    assert_eq!(lb.security_groups(), [env.id("api_access_security_group")]);
    let listener = lb.listener_descriptions()[0].listener().unwrap();
    assert_eq!(listener.protocol(), "TCP");
    assert_eq!(listener.load_balancer_port(), 443);
    assert_eq!(listener.instance_protocol(), Some("TCP"));
    assert_eq!(listener.instance_port(), 8443);
    let check = lb.health_check().unwrap();
    assert_eq!(check.target(), "TCP:8443");
    assert_eq!(
        (
            check.healthy_threshold(),
            check.unhealthy_threshold(),
            check.timeout(),
            check.interval()
        ),
        (2, 2, 2, 5)
    );
    let tags = aws
        .elb
        .describe_tags()
        .load_balancer_names(&name)
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<String, String> = tags.tag_descriptions()[0]
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_named(&tags, &name, env);
    let outputs = env.outputs();
    assert_eq!(outputs["cfcr_master_target_pool"], json!(name));
    assert_eq!(
        outputs["master_lb_ip_address"],
        json!(lb.dns_name().unwrap())
    );
}

async fn check_iam(env: &Env, aws: &Aws) {
    let p = &env.prefix;
    let iam = &aws.iam;
    let mut role_arns = Vec::new();
    for role in ["cfcr-master", "cfcr-worker", "bosh-director"] {
        let name = format!("{p}-{role}");
        let out = iam.get_role().role_name(&name).send().await.unwrap();
        let role = out.role().unwrap();
        role_arns.push(role.arn().to_string());
        let trust = policy_json(role.assume_role_policy_document().unwrap());
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
        assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
        let profile = iam
            .get_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await
            .unwrap();
        let roles: Vec<&str> = profile
            .instance_profile()
            .unwrap()
            .roles()
            .iter()
            .map(|r| r.role_name())
            .collect();
        assert_eq!(roles, [name.as_str()]);
    }

    let master = iam
        .get_role_policy()
        .role_name(format!("{p}-cfcr-master"))
        .policy_name(format!("{p}-cfcr-master"))
        .send()
        .await
        .unwrap();
    let master = policy_json(master.policy_document());
    let master_actions = actions(&master["Statement"][0]);
    assert_eq!(master_actions.len(), 46);
    for action in [
        "ec2:DescribeInstances",
        "ec2:ModifyInstanceAttribute",
        "ec2:DescribeVpcs",
        "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
        "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
    ] {
        assert!(master_actions.contains(action), "{action}");
    }
    assert_eq!(master["Statement"][0]["Resource"], "*");
    let worker = iam
        .get_role_policy()
        .role_name(format!("{p}-cfcr-worker"))
        .policy_name(format!("{p}-cfcr-worker"))
        .send()
        .await
        .unwrap();
    let worker = policy_json(worker.policy_document());
    assert_eq!(
        actions(&worker["Statement"][0]),
        BTreeSet::from(["ec2:DescribeInstances".to_string()])
    );

    let policy_arn = env.id("director_policy");
    let policy = iam
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let version = policy.policy().unwrap().default_version_id().unwrap();
    let document = iam
        .get_policy_version()
        .policy_arn(&policy_arn)
        .version_id(version)
        .send()
        .await
        .unwrap();
    let document = policy_json(document.policy_version().unwrap().document().unwrap());
    // The CPI's own statements (tests/director_policy.rs checks each action against the CPI's
    // policy); iam:PassRole only for the environment's three roles.
    let statements = document["Statement"].as_array().unwrap();
    let director_actions: BTreeSet<String> = statements.iter().flat_map(actions).collect();
    for action in [
        "ec2:RunInstances",
        "ec2:CreateNetworkInterface",
        "ec2:AssociateAddress",
        "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
        "sts:DecodeAuthorizationMessage",
    ] {
        assert!(director_actions.contains(action), "{action}");
    }
    assert!(!director_actions.contains("elasticloadbalancing:*"));
    let pass = statements
        .iter()
        .find(|s| s["Action"] == "iam:PassRole")
        .unwrap();
    assert_eq!(pass["Resource"], json!(role_arns));
    let attached = iam
        .list_attached_role_policies()
        .role_name(format!("{p}-bosh-director"))
        .send()
        .await
        .unwrap();
    let attached: Vec<_> = attached
        .attached_policies()
        .iter()
        .filter_map(|a| a.policy_arn())
        .collect();
    assert_eq!(attached, [policy_arn.as_str()]);
}

async fn check_bastion(env: &Env, aws: &Aws) {
    let p = &env.prefix;
    let ec2 = &aws.ec2;
    let state = env.state();
    let id = env.id("bastion");
    let out = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    let instance = &out.reservations()[0].instances()[0];
    assert_eq!(instance.image_id(), Some(env.id("bastion_image").as_str()));
    assert_eq!(
        instance.instance_type().map(|t| t.as_str()),
        Some("t3.micro")
    );
    // IMDSv2 only, with room for one hop (what runs in containers on the bastion).
    let metadata = instance.metadata_options().unwrap();
    assert_eq!(
        metadata.http_tokens(),
        Some(&aws_sdk_ec2::types::HttpTokensState::Required)
    );
    assert_eq!(metadata.http_put_response_hop_limit(), Some(2));
    assert_eq!(instance.subnet_id(), Some(env.id("public_subnet").as_str()));
    assert_eq!(instance.key_name(), Some(format!("{p}-deployer").as_str()));
    let groups: Vec<_> = instance.network_interfaces()[0]
        .groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups, [env.id("node_access_security_group").as_str()]);
    let profile = instance.iam_instance_profile().unwrap().arn().unwrap();
    assert!(
        profile.ends_with(&format!("/{p}-bosh-director")),
        "{profile}"
    );
    assert_eq!(
        instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running")
    );
    assert_named(
        &ec2_tags(instance.tags()),
        &format!("{p}-bosh-bastion"),
        env,
    );

    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let user_data = user_data.user_data().and_then(|u| u.value()).unwrap();
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(user_data)
        .unwrap();
    let user_data = String::from_utf8(user_data).unwrap();
    let host_key = state["bastion_host_key"]["public_key"].as_str().unwrap();
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(
        user_data.contains(&format!("ed25519_public: {host_key}")),
        "{user_data}"
    );
    assert_eq!(
        env.outputs()["bastion_host_public_key"],
        json!(host_key),
        "outputs show the pinned key"
    );

    let eip = ec2
        .describe_addresses()
        .allocation_ids(env.id("bastion_eip"))
        .send()
        .await
        .unwrap();
    let eip = &eip.addresses()[0];
    assert_eq!(eip.instance_id(), Some(id.as_str()));
    assert_eq!(
        env.outputs()["bosh_bastion_ip"],
        json!(eip.public_ip().unwrap())
    );

    let pairs = ec2
        .describe_key_pairs()
        .key_names(format!("{p}-deployer"))
        .send()
        .await
        .unwrap();
    assert_named(
        &ec2_tags(pairs.key_pairs()[0].tags()),
        &format!("{p}-deployer"),
        env,
    );
}

/// Nothing with the environment's ownership tag or names is left in LocalStack.
async fn assert_nothing_left(env: &Env, aws: &Aws) {
    let p = &env.prefix;
    let ec2 = &aws.ec2;
    let owned = || {
        Filter::builder()
            .name(format!("tag:{OWNER_TAG}"))
            .values(p)
            .build()
    };
    let vpcs = ec2.describe_vpcs().filters(owned()).send().await.unwrap();
    assert!(vpcs.vpcs().is_empty(), "{vpcs:?}");
    let subnets = ec2
        .describe_subnets()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(subnets.subnets().is_empty());
    let igws = ec2
        .describe_internet_gateways()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(igws.internet_gateways().is_empty());
    let tables = ec2
        .describe_route_tables()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(tables.route_tables().is_empty());
    let groups = ec2
        .describe_security_groups()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(groups.security_groups().is_empty());
    let addresses = ec2
        .describe_addresses()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(addresses.addresses().is_empty());
    let nats = ec2
        .describe_nat_gateways()
        .filter(owned())
        .send()
        .await
        .unwrap();
    assert!(
        nats.nat_gateways()
            .iter()
            .filter(|n| ec2_tags(n.tags()).get(OWNER_TAG) == Some(p))
            .all(|n| n.state().map(|s| s.as_str()) == Some("deleted")),
        "{nats:?}"
    );
    let instances = ec2
        .describe_instances()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(
        instances
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .all(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("terminated"))
    );
    let pairs = ec2
        .describe_key_pairs()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(pairs.key_pairs().is_empty());
    let lb = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(format!("{p}-cfcr-api"))
        .send()
        .await;
    assert!(lb.is_err(), "{lb:?}");
    for name in ["cfcr-master", "cfcr-worker", "bosh-director"] {
        let name = format!("{p}-{name}");
        assert!(aws.iam.get_role().role_name(&name).send().await.is_err());
        assert!(
            aws.iam
                .get_instance_profile()
                .instance_profile_name(&name)
                .send()
                .await
                .is_err()
        );
    }
    assert!(
        aws.iam
            .get_user()
            .user_name(format!("{p}-bosh-director"))
            .send()
            .await
            .is_err()
    );
    let policies = aws.iam.list_policies().send().await.unwrap();
    assert!(
        policies
            .policies()
            .iter()
            .all(|pol| pol.policy_name() != Some(format!("{p}-bosh-director").as_str()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pave_creates_the_whole_inventory_and_unpave_removes_all_of_it() {
    let env = Env::new(
        "inv",
        "ssh_allowed_cidrs = [\"203.0.113.0/24\", \"198.51.100.7/32\"]\n\
         api_allowed_cidrs = [\"192.0.2.0/24\"]\n\
         kubernetes_master_port = 443",
    );
    let run = env.pave();
    assert!(
        !run.stderr.contains("open to the whole internet"),
        "no warning for restricted SSH"
    );
    let aws = aws().await;

    let mode = std::fs::metadata(env.state_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let state = env.state();
    assert_eq!(state["schema_version"], 2);
    assert_eq!(state["cluster_tag"].as_str().unwrap().len(), 22);
    let keys: BTreeSet<&str> = state["resources"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 24, "{keys:?}");
    assert!(!keys.contains("director_user"));
    assert!(
        state["resources"]
            .as_object()
            .unwrap()
            .values()
            .all(|r| r["ready"] == json!(true))
    );
    // Everything created but the image, which is looked up.
    for (key, record) in state["resources"].as_object().unwrap() {
        let expected = if key == "bastion_image" {
            "looked_up"
        } else {
            "created"
        };
        assert_eq!(record["origin"], expected, "{key}");
    }

    check_network(&env, &aws).await;
    check_security_groups(&env, &aws).await;
    check_load_balancer(&env, &aws).await;
    check_iam(&env, &aws).await;
    check_bastion(&env, &aws).await;

    let outputs = env.outputs();
    for (name, expected) in [
        ("prefix", json!(env.prefix)),
        ("region", json!("us-east-1")),
        ("zone", json!("us-east-1a")),
        ("vpc_cidr", json!("10.0.0.0/16")),
        ("private_subnet_ip_prefix", json!("10.0.2")),
        ("vpc_id", json!(env.id("vpc"))),
        ("public_subnet_id", json!(env.id("public_subnet"))),
        ("private_subnet_id", json!(env.id("private_subnet"))),
        (
            "default_security_groups",
            json!([env.id("node_access_security_group")]),
        ),
        (
            "default_key_name",
            json!(format!("{}-deployer", env.prefix)),
        ),
        ("kubernetes_cluster_tag", state["cluster_tag"].clone()),
    ] {
        assert_eq!(outputs[name], expected, "{name}");
    }
    let listing = env.run(&["outputs"]).ok().stdout;
    assert!(
        listing.contains(&format!(
            "vpc_id                        = {}",
            env.id("vpc")
        )),
        "{listing}"
    );

    // A second pave finds everything in place and changes nothing.
    let again = env.pave();
    for verb in [
        "created",
        "recovered",
        "adopted",
        "resuming",
        "repaired",
        "missing",
        "deleted",
    ] {
        assert!(!again.stderr.contains(verb), "{}", again.stderr);
    }
    assert_eq!(env.state(), state);

    let status = env.run(&["status"]).ok().stdout;
    assert_eq!(status.matches(" present").count(), 24, "{status}");

    let gone = env.unpave();
    assert_eq!(
        gone.stderr.matches("deleted ").count(),
        23,
        "{}",
        gone.stderr
    );
    assert!(!env.state_path().exists());
    assert_nothing_left(&env, &aws).await;

    let twice = env.unpave();
    assert!(twice.stderr.contains("nothing to do"), "{}", twice.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_key_mode_adds_a_user_whose_secret_stays_in_the_state() {
    let env = Env::new("key", "director_credentials = \"access-key\"");
    let run = env.pave();
    assert!(
        run.stderr.contains("open to the whole internet"),
        "{}",
        run.stderr
    );
    let aws = aws().await;
    let state = env.state();
    let user = format!("{}-bosh-director", env.prefix);
    assert_eq!(env.id("director_user"), user);
    let access_key = &state["director_access_key"];
    let key_id = access_key["access_key_id"].as_str().unwrap();
    let secret = access_key["secret_access_key"].as_str().unwrap();
    assert!(!secret.is_empty());

    let keys = aws
        .iam
        .list_access_keys()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    assert_eq!(ids, [key_id]);
    let attached = aws
        .iam
        .list_attached_user_policies()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_arn(),
        Some(env.id("director_policy").as_str())
    );

    let outputs = env.run(&["outputs", "--json"]).ok();
    let status = env.run(&["status"]).ok();
    for shown in [&run, &outputs, &status] {
        assert!(!shown.all_output().contains(secret));
        assert!(!shown.all_output().contains("PRIVATE KEY"));
    }

    env.unpave();
    assert!(aws.iam.get_user().user_name(&user).send().await.is_err());
    assert_nothing_left(&env, &aws).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_shown_by_status_and_plan_and_repaired_by_pave() {
    let env = Env::new("drift", "");
    env.pave();
    let aws = aws().await;
    // Behind the tool's back: an instance profile deleted, an SSH rule revoked, a tag removed, a
    // route pointed elsewhere.
    drift::delete_worker_profile(&aws, &env).await;
    let group = env.id("node_access_security_group");
    drift::revoke_ssh(&aws, &group).await;
    let subnet = env.id("private_subnet");
    drift::untag(&aws, &subnet, "Name").await;
    let table = env.id("private_route_table");
    aws.ec2
        .replace_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(env.id("internet_gateway"))
        .send()
        .await
        .unwrap();

    let status = env.run(&["status"]);
    assert_eq!(status.code, 2, "drift is exit status 2: {}", status.stderr);
    let status = status.stdout;
    let line = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {status}"))
            .to_string()
    };
    assert!(
        line("worker_instance_profile").ends_with("missing"),
        "{status}"
    );
    assert!(
        line("node_access_security_group").contains("changed: ingress tcp/22"),
        "{status}"
    );
    assert!(
        line("private_subnet").contains("changed: tag Name is missing"),
        "{status}"
    );
    assert!(
        line("private_route").contains("changed: routes to igw-"),
        "{status}"
    );
    assert_eq!(status.matches(" present").count(), 20, "{status}");

    let plan = env.run(&["plan", "--detailed-exitcode", "--json"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let action = |key: &str| {
        plan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == key)
            .map(|r| r["action"].as_str().unwrap().to_string())
    };
    assert_eq!(action("worker_instance_profile").as_deref(), Some("create"));
    assert_eq!(
        action("node_access_security_group").as_deref(),
        Some("repair")
    );
    assert_eq!(action("private_subnet").as_deref(), Some("repair"));
    assert_eq!(action("private_route").as_deref(), Some("repair"));
    assert_eq!(
        action("bastion"),
        None,
        "unchanged resources are not in the plan"
    );

    let repaired = env.pave();
    for key in [
        "worker_instance_profile",
        "node_access_security_group",
        "private_subnet",
        "private_route",
    ] {
        assert!(repaired.stderr.contains(key), "{key}: {}", repaired.stderr);
    }
    let status = env.run(&["status"]).ok().stdout;
    assert_eq!(status.matches(" present").count(), 24, "{status}");
    let plan = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);

    env.unpave();
    assert_nothing_left(&env, &aws).await;
}
