//! Issue #14, part 1: paving into an existing VPC. The network is made beforehand directly against
//! LocalStack, as a network team would hand it out; pave, status and unpave run on it; afterwards
//! every pre-existing resource still exists with exactly the tags and attributes it had before.

mod common;

use aws_sdk_ec2::types::Tag;
use common::network::vpc;
use common::{Aws, Env, REGION, aws, owned_in_aws};
use serde_json::Value;

fn cluster_tag_of(tags: &[Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("KubernetesCluster"))
        .and_then(|t| t.value().map(str::to_string))
}

async fn subnet_tags(aws: &Aws, id: &str) -> Vec<Tag> {
    let out = aws
        .ec2
        .describe_subnets()
        .subnet_ids(id)
        .send()
        .await
        .unwrap();
    out.subnets()[0].tags().to_vec()
}

fn origin(state: &Value, key: &str) -> String {
    state["resources"][key]["origin"]
        .as_str()
        .unwrap_or_else(|| panic!("{key} has no origin: {state}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vpc_and_subnets_handed_out_are_used_and_left_as_they_were() {
    let aws = aws().await;
    let mut network = vpc(&aws, "10.40.0.0/16", true, true).await;
    let public = network.public_subnet(&aws, "10.40.1.0/24").await;
    // The private subnet has no route out of its own: the environment adds its NAT gateway.
    let private = network
        .subnet(
            &aws,
            "10.40.2.0/24",
            &format!("{REGION}a"),
            &[("team", "network")],
        )
        .await;
    let before = network.snapshot(&aws).await;

    let env = Env::new(
        "exvpc",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{private}\"",
            network.vpc
        ),
    );
    let plan = env.run(&["plan"]).ok();
    for adopted in [&network.vpc, &public, &private] {
        assert!(
            plan.stdout
                .lines()
                .any(|l| l.contains("adopt") && l.contains(adopted.as_str())),
            "{}",
            plan.stdout
        );
    }
    assert!(plan.stdout.contains("4 to adopt"), "{}", plan.stdout);

    let paved = env.pave();
    assert!(paved.stderr.contains("adopted"), "{}", paved.stderr);
    let state = env.state();
    assert_eq!(state["schema_version"], 2);
    for key in ["vpc", "internet_gateway", "public_subnet", "private_subnet"] {
        assert_eq!(origin(&state, key), "adopted", "{key}");
    }
    assert_eq!(origin(&state, "bastion"), "created");
    assert_eq!(origin(&state, "bastion_image"), "looked_up");
    assert_eq!(env.id("internet_gateway"), network.igw.clone().unwrap());
    assert_eq!(env.id("vpc"), network.vpc);
    // No public route table of its own: the handed-out subnet routes to the gateway already.
    assert!(state["resources"].get("public_route_table").is_none());
    assert!(state["resources"].get("nat_gateway").is_some());
    let cluster_tag = state["cluster_tag"].as_str().unwrap().to_string();
    for subnet in [&public, &private] {
        assert_eq!(
            cluster_tag_of(&subnet_tags(&aws, subnet).await),
            Some(cluster_tag.clone())
        );
    }
    // The environment's addresses come from the handed-out blocks.
    let outputs = env.outputs();
    assert_eq!(outputs["vpc_cidr"], "10.40.0.0/16");
    assert_eq!(outputs["private_subnet_cidr"], "10.40.2.0/24");
    assert_eq!(outputs["public_subnet_ip_prefix"], "10.40.1");
    let bundle = env.path().join("bundle");
    env.run(&["render", "--out", bundle.to_str().unwrap()]).ok();
    let args = std::fs::read_to_string(bundle.join("director-args.sh")).unwrap();
    for expected in [
        "internal_cidr=10.40.2.0/24",
        "internal_gw=10.40.2.1",
        "internal_ip=10.40.2.252",
        &format!("subnet_id={private}"),
    ] {
        assert!(args.contains(expected), "{expected} in {args}");
    }

    let status = env.run(&["status"]).ok();
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.contains(&private) && l.contains("present (adopted)")),
        "{}",
        status.stdout
    );
    // The cluster tag taken off by hand is drift, put back by pave.
    aws.ec2
        .delete_tags()
        .resources(&private)
        .tags(Tag::builder().key("KubernetesCluster").build())
        .send()
        .await
        .unwrap();
    let drift = env.run(&["status"]);
    assert_eq!(drift.code, 2, "{}", drift.all_output());
    assert!(drift.stdout.contains("tag KubernetesCluster is missing"));
    env.pave();
    env.run(&["status"]).ok();

    // The network team's own instance in the public subnet is not the environment's business.
    let theirs = aws
        .ec2
        .run_instances()
        .image_id(env.id("bastion_image"))
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .subnet_id(&public)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let theirs = theirs.instances()[0].instance_id().unwrap().to_string();

    let destroy = env.run(&["plan", "--destroy"]).ok();
    assert!(destroy.stdout.contains("keep"), "{}", destroy.stdout);
    for adopted in [&network.vpc, &public, &private] {
        assert!(
            destroy
                .stdout
                .lines()
                .any(|l| l.contains("keep") && l.contains(adopted.as_str())),
            "{adopted} kept: {}",
            destroy.stdout
        );
    }
    let unpaved = env.unpave();
    assert!(unpaved.stderr.contains("kept"), "{}", unpaved.stderr);
    assert!(!unpaved.stderr.contains(&theirs), "{}", unpaved.stderr);
    assert!(owned_in_aws(&aws, &env.prefix).await.is_empty());
    let still = aws
        .ec2
        .describe_instances()
        .instance_ids(&theirs)
        .send()
        .await
        .unwrap();
    let state = still.reservations()[0].instances()[0]
        .state()
        .unwrap()
        .name()
        .unwrap();
    assert_eq!(state.as_str(), "running");
    aws.ec2
        .terminate_instances()
        .instance_ids(&theirs)
        .send()
        .await
        .unwrap();
    assert_eq!(network.snapshot(&aws).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vpc_alone_gets_the_environments_subnets_and_loses_them_again() {
    let aws = aws().await;
    let mut network = vpc(&aws, "10.41.0.0/16", true, true).await;
    // Someone else's subnet, which the environment's must not overlap.
    network
        .subnet(&aws, "10.41.0.0/24", &format!("{REGION}b"), &[])
        .await;
    let before = network.snapshot(&aws).await;
    let config = format!(
        "vpc_id = \"{}\"\npublic_subnet_ip_prefix = \"10.41.1\"\nprivate_subnet_ip_prefix = \"10.41.2\"",
        network.vpc
    );
    let env = Env::new("exvpc2", &config);
    env.pave();
    let state = env.state();
    assert_eq!(origin(&state, "vpc"), "adopted");
    assert_eq!(origin(&state, "public_subnet"), "created");
    assert!(state["resources"].get("public_route_table").is_some());
    let public = env.id("public_subnet");
    let described = aws
        .ec2
        .describe_subnets()
        .subnet_ids(&public)
        .send()
        .await
        .unwrap();
    assert_eq!(described.subnets()[0].vpc_id(), Some(network.vpc.as_str()));
    assert_eq!(described.subnets()[0].cidr_block(), Some("10.41.1.0/24"));

    // Without its state, unpave finds the environment in the VPC and keeps the VPC.
    std::fs::remove_file(env.state_path()).unwrap();
    let recovered = env.run(&["unpave", "--env", &env.prefix, "--yes"]).ok();
    assert!(
        recovered.all_output().contains(&network.vpc),
        "{}",
        recovered.all_output()
    );
    assert!(owned_in_aws(&aws, &env.prefix).await.is_empty());
    assert_eq!(network.snapshot(&aws).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_subnet_with_its_own_way_out_gets_no_nat_gateway() {
    let aws = aws().await;
    let mut network = vpc(&aws, "10.42.0.0/16", true, true).await;
    let public = network.public_subnet(&aws, "10.42.1.0/24").await;
    let private = network
        .subnet(&aws, "10.42.2.0/24", &format!("{REGION}a"), &[])
        .await;
    // The network team's NAT instance, standing in as an interface in the public subnet.
    let nat_instance = aws
        .ec2
        .create_network_interface()
        .subnet_id(&public)
        .send()
        .await
        .unwrap()
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();
    let table = network
        .routed(&aws, &private, |r| r.network_interface_id(&nat_instance))
        .await;
    let before = network.snapshot(&aws).await;
    let env = Env::new(
        "exvpc3",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{private}\"",
            network.vpc
        ),
    );
    let paved = env.pave();
    assert!(
        paved.stderr.contains(&nat_instance) && paved.stderr.contains("no NAT gateway"),
        "{}",
        paved.stderr
    );
    let state = env.state();
    assert_eq!(state["private_egress"], "existing");
    for key in [
        "nat_gateway",
        "nat_eip",
        "private_route_table",
        "private_route",
    ] {
        assert!(state["resources"].get(key).is_none(), "{key}");
    }

    // A handed-out subnet that disappears is an error, not something pave recreates.
    aws.ec2
        .disassociate_route_table()
        .association_id(association(&aws, &table, &private).await)
        .send()
        .await
        .unwrap();
    aws.ec2
        .delete_subnet()
        .subnet_id(&private)
        .send()
        .await
        .unwrap();
    let status = env.run(&["status"]);
    assert_eq!(status.code, 2, "{}", status.all_output());
    assert!(
        status.stdout.contains("missing (adopted"),
        "{}",
        status.stdout
    );
    let repave = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(repave.code, 1, "{}", repave.all_output());
    assert!(
        repave.stderr.contains("does not recreate it"),
        "{}",
        repave.stderr
    );
    env.unpave();
    assert!(owned_in_aws(&aws, &env.prefix).await.is_empty());
    let after = network.snapshot(&aws).await;
    let unchanged: Vec<_> = before
        .iter()
        .filter(|(k, _)| !k.contains(&private) && !k.starts_with("rtb"))
        .collect();
    for (key, value) in unchanged {
        assert_eq!(after.get(key), Some(value), "{key}");
    }
}

async fn association(aws: &Aws, table: &str, subnet: &str) -> String {
    let out = aws
        .ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .unwrap();
    out.route_tables()[0]
        .associations()
        .iter()
        .find(|a| a.subnet_id() == Some(subnet))
        .and_then(|a| a.route_table_association_id())
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_names_what_makes_a_vpc_unusable_before_creating_anything() {
    let aws = aws().await;
    // DNS off, no internet gateway.
    let mut bare = vpc(&aws, "10.43.0.0/16", false, false).await;
    let mut other_vpc = vpc(&aws, "10.44.0.0/16", true, true).await;
    let foreign = other_vpc
        .subnet(&aws, "10.44.1.0/24", &format!("{REGION}a"), &[])
        .await;
    let tagged = bare
        .subnet(
            &aws,
            "10.43.2.0/24",
            &format!("{REGION}b"),
            &[("KubernetesCluster", "someone-elses")],
        )
        .await;
    let env = Env::new(
        "exbad",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{foreign}\"\nprivate_subnet_id = \"{tagged}\"",
            bare.vpc
        ),
    );
    let run = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    for expected in [
        "has DNS support off",
        "--enable-dns-support",
        "has DNS hostnames off",
        "--enable-dns-hostnames",
        "has no internet gateway attached",
        &format!("public_subnet_id: {foreign} is in VPC {}", other_vpc.vpc),
        &format!("private_subnet_id: {tagged} is in zone {REGION}b"),
        "KubernetesCluster=someone-elses",
        "nothing was created",
    ] {
        assert!(run.stderr.contains(expected), "{expected}:\n{}", run.stderr);
    }
    assert!(!env.state_path().exists());
    assert!(owned_in_aws(&aws, &env.prefix).await.is_empty());

    // Blocks that do not fit: outside the VPC (of two blocks), over a subnet already there.
    let mut fits = vpc(&aws, "10.45.0.0/16", true, true).await;
    fits.add_block(&aws, "10.145.0.0/16").await;
    let taken = fits
        .subnet(&aws, "10.45.0.0/20", &format!("{REGION}a"), &[])
        .await;
    let env = Env::new(
        "exbad2",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_ip_prefix = \"10.45.3\"\nprivate_subnet_ip_prefix = \"10.46.2\"",
            fits.vpc
        ),
    );
    let run = env.run(&["plan"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    for expected in [
        &format!("public_subnet_ip_prefix: 10.45.3.0/24 overlaps subnet {taken}"),
        "private_subnet_ip_prefix: 10.46.2.0/24 lies outside VPC",
        // Each block once (the primary is also among the VPC's associations).
        &format!(
            "{}'s blocks (10.45.0.0/16, 10.145.0.0/16); choose",
            fits.vpc
        ),
    ] {
        assert!(
            run.all_output().contains(expected),
            "{expected}:\n{}",
            run.all_output()
        );
    }
    // What each message suggests instead is free and inside the VPC's blocks.
    let taken_block: ipnet::Ipv4Net = "10.45.0.0/20".parse().unwrap();
    let blocks: [ipnet::Ipv4Net; 2] = [
        "10.45.0.0/16".parse().unwrap(),
        "10.145.0.0/16".parse().unwrap(),
    ];
    for field in ["public_subnet_ip_prefix", "private_subnet_ip_prefix"] {
        let output = run.all_output();
        let problem = output
            .lines()
            .find(|l| l.contains(&format!("{field}: ")))
            .unwrap_or_else(|| panic!("{field}: {output}"));
        let suggested = problem
            .split("e.g. ")
            .nth(1)
            .unwrap_or_else(|| panic!("no suggestion: {problem}"));
        for prefix in suggested.split(", ") {
            let net: ipnet::Ipv4Net = format!("{prefix}.0/24")
                .parse()
                .unwrap_or_else(|e| panic!("{prefix:?}: {e}: {problem}"));
            assert!(
                blocks.iter().any(|b| b.contains(&net)),
                "{net} outside: {problem}"
            );
            assert!(!taken_block.contains(&net), "{net} taken: {problem}");
        }
    }
    let missing = Env::new(
        "exbad3",
        "vpc_id = \"vpc-0123456789abcdef0\"\npublic_subnet_ip_prefix = \"10.0.1\"\nprivate_subnet_ip_prefix = \"10.0.2\"",
    );
    let run = missing.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("vpc_id: VPC vpc-0123456789abcdef0 does not exist"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_reads_the_subnets_routes_and_sizes() {
    let aws = aws().await;
    let mut network = vpc(&aws, "10.47.0.0/16", true, true).await;
    let zone = format!("{REGION}a");
    // Routed by the main table, which has no way out: no public subnet.
    let unrouted = network.subnet(&aws, "10.47.1.0/24", &zone, &[]).await;
    // Too small, and given a route table of its own without a default route.
    let small = network.subnet(&aws, "10.47.2.0/25", &zone, &[]).await;
    let table = aws
        .ec2
        .create_route_table()
        .vpc_id(&network.vpc)
        .send()
        .await
        .unwrap();
    let table = table
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    aws.ec2
        .associate_route_table()
        .route_table_id(&table)
        .subnet_id(&small)
        .send()
        .await
        .unwrap();
    let env = Env::new(
        "exroute",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{unrouted}\"\nprivate_subnet_id = \"{small}\"",
            network.vpc
        ),
    );
    let run = env.run(&["plan"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    for expected in [
        &format!("public_subnet_id: {unrouted} does not route 0.0.0.0/0 to an internet gateway"),
        "aws ec2 create-route --route-table-id",
        // The VPC's own gateway, not a placeholder.
        &format!("--gateway-id {}", network.igw.clone().unwrap()),
        &format!("private_subnet_id: {small} is 10.47.2.0/25"),
        &format!(
            "private_subnet_id: {small} is associated with route table {table}, which has no default route"
        ),
    ] {
        assert!(
            run.all_output().contains(expected),
            "{expected}:\n{}",
            run.all_output()
        );
    }

    // A "private" subnet routed to the internet gateway is a public one.
    let public = network.public_subnet(&aws, "10.47.3.0/24").await;
    let env = Env::new(
        "exroute2",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{public}\"",
            network.vpc
        ),
    );
    let same = env.run(&["plan"]);
    assert_eq!(
        same.code,
        2,
        "the same subnet twice is refused offline: {}",
        same.all_output()
    );
    let second = network.public_subnet(&aws, "10.47.4.0/24").await;
    let env = Env::new(
        "exroute3",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{second}\"",
            network.vpc
        ),
    );
    let run = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.stderr.contains(&format!(
            "private_subnet_id: {second} routes 0.0.0.0/0 to internet gateway"
        )),
        "{}",
        run.stderr
    );
    assert!(!env.state_path().exists());

    // The director's address taken by someone's interface.
    let taken = network.subnet(&aws, "10.47.5.0/24", &zone, &[]).await;
    let interface = aws
        .ec2
        .create_network_interface()
        .subnet_id(&taken)
        .private_ip_address("10.47.5.252")
        .send()
        .await
        .unwrap();
    let interface = interface
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();
    let env = Env::new(
        "exroute4",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{taken}\"",
            network.vpc
        ),
    );
    let run = env.run(&["plan"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.all_output().contains(&format!(
            "10.47.5.252, the address BOSH gives the director, is held by {interface}"
        )),
        "{}",
        run.all_output()
    );
}
