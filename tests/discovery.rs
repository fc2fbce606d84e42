//! Issue #19, points 1 and 2: an environment whose state is lost (or held elsewhere) is found by its
//! ownership tag alone, whatever the configuration says; unpave asks before it writes anything,
//! never invents settings, warns that another state may hold the environment, and does not call an
//! environment gone while anything still carries its tag.

mod common;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use common::network::vpc;
use common::{Env, Run, aws, owned_in_aws};

/// A run from a directory without the configuration, as a teammate or a CI job would: the
/// environment is named by `--env` and the region comes from the environment.
fn run_bare(env: &Env, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut command = env.command(args);
    command
        .current_dir(dir.path())
        .env("AWS_REGION", common::REGION)
        .arg("--state-dir")
        .arg(env.path().join("state"));
    Run::from(command.output().unwrap())
}

fn owner_tag(resource: ResourceType, env: &Env) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(
            Tag::builder()
                .key("cfcr-aws:env")
                .value(&env.prefix)
                .build(),
        )
        .build()
}

/// The id of the first `kind:` entry of an inventory from `owned_in_aws`.
fn first(inventory: &std::collections::BTreeSet<String>, kind: &str) -> String {
    inventory
        .iter()
        .find_map(|r| r.strip_prefix(&format!("{kind}:")))
        .unwrap_or_else(|| panic!("no {kind} in {inventory:?}"))
        .to_string()
}

async fn cluster_tag_of(subnet: &str) -> Option<String> {
    let out = aws()
        .await
        .ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap();
    out.subnets()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("KubernetesCluster"))
        .and_then(|t| t.value())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn without_state_or_config_unpave_finds_everything_in_an_existing_vpc() {
    let aws = aws().await;
    let mut network = vpc(&aws, "10.71.0.0/16", true, true).await;
    let public = network.public_subnet(&aws, "10.71.1.0/24").await;
    let private = network
        .subnet(&aws, "10.71.2.0/24", &format!("{}a", common::REGION), &[])
        .await;
    let env = Env::new(
        "lostvpc",
        &format!(
            "vpc_id = \"{}\"\npublic_subnet_id = \"{public}\"\nprivate_subnet_id = \"{private}\"",
            network.vpc
        ),
    );
    env.pave();
    let before = owned_in_aws(&aws, &env.prefix).await;
    assert!(
        before.iter().any(|r| r.starts_with("instance:")),
        "{before:?}"
    );
    assert!(before.iter().any(|r| r.starts_with("nat:")), "{before:?}");
    assert!(before.iter().any(|r| r.starts_with("elb:")), "{before:?}");
    let tag = env.state()["cluster_tag"].as_str().unwrap().to_string();
    assert_eq!(cluster_tag_of(&public).await.as_deref(), Some(tag.as_str()));
    std::fs::remove_file(env.state_path()).unwrap();

    let gone = run_bare(&env, &["unpave", "--env", &env.prefix, "--yes"]);
    assert_eq!(gone.code, 0, "{}", gone.all_output());
    assert!(gone.stderr.contains("is gone"), "{}", gone.stderr);
    // What it found, and the warning that another state may hold the environment.
    assert!(gone.stderr.contains("--state s3://"), "{}", gone.stderr);
    let left = owned_in_aws(&aws, &env.prefix).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    // The adopted subnets lost the cluster tag the environment added, and only that.
    assert_eq!(cluster_tag_of(&public).await, None);
    assert_eq!(cluster_tag_of(&private).await, None);
    let again = run_bare(&env, &["unpave", "--env", &env.prefix, "--yes"]).ok();
    assert!(
        again.stderr.contains("AWS holds nothing of it"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_stateless_unpave_writes_nothing_and_a_recovered_state_is_only_unpaves() {
    let aws = aws().await;
    let env = Env::new("lostno", "");
    env.pave();
    let paved = owned_in_aws(&aws, &env.prefix).await;
    std::fs::remove_file(env.state_path()).unwrap();

    // No terminal, no --yes: refused, with the findings and the warning, and nothing written.
    let declined = run_bare(&env, &["unpave", "--env", &env.prefix]);
    assert_eq!(declined.code, 2, "{}", declined.all_output());
    assert!(
        declined.stderr.contains("there is no state for"),
        "{}",
        declined.stderr
    );
    assert!(declined.stderr.contains(&first(&paved, "vpc")));
    assert!(
        !env.state_path().exists(),
        "a declined unpave wrote a state"
    );
    assert_eq!(owned_in_aws(&aws, &env.prefix).await, paved);
    let listed = run_bare(&env, &["list"]).ok();
    assert!(!listed.stdout.contains(&env.prefix), "{}", listed.stdout);

    // A BOSH VM nobody deleted stops the confirmed unpave after it wrote the recovered state:
    // that state is unpave's alone.
    let bastion = aws
        .ec2
        .describe_instances()
        .instance_ids(first(&paved, "instance"))
        .send()
        .await
        .unwrap();
    let image = bastion.reservations()[0].instances()[0].image_id().unwrap();
    let vm = aws
        .ec2
        .run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .subnet_id(first(&paved, "subnet"))
        .send()
        .await
        .unwrap();
    let vm_id = vm.instances()[0].instance_id().unwrap().to_string();
    let stopped = run_bare(&env, &["unpave", "--env", &env.prefix, "--yes"]);
    assert_eq!(stopped.code, 1, "{}", stopped.all_output());
    assert!(stopped.stderr.contains(&vm_id), "{}", stopped.stderr);
    let state = env.state();
    assert_eq!(state["recovered"], true);
    for command in [vec!["status"], vec!["plan", "--env"], vec!["outputs"]] {
        let mut args = command.clone();
        if args.last() != Some(&"--env") {
            args.push("--env");
        }
        args.push(&env.prefix);
        let refused = run_bare(&env, &args);
        assert_ne!(refused.code, 0, "{args:?}: {}", refused.all_output());
        assert!(
            refused.stderr.contains("rebuilt from AWS"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    let listed = run_bare(&env, &["list"]).ok();
    assert!(
        listed.stdout.contains("recovered by unpave"),
        "{}",
        listed.stdout
    );
    run_bare(&env, &["unpave", "--env", &env.prefix, "--yes", "--force"]).ok();
    assert!(owned_in_aws(&aws, &env.prefix).await.is_empty());
    assert!(!env.state_path().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn unpave_deletes_what_still_carries_the_tag_and_names_what_it_cannot() {
    let aws = aws().await;
    let env = Env::new("sweep", "");
    env.pave();
    // The director's persistent disk, left by a teardown that never ran: tagged by the director's
    // ops-file, not in the state.
    let disk = aws
        .ec2
        .create_volume()
        .availability_zone(format!("{}a", common::REGION))
        .size(1)
        .tag_specifications(owner_tag(ResourceType::Volume, &env))
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    // A group someone made with the environment's tag in another VPC: not blindly deletable.
    let other = aws
        .ec2
        .create_vpc()
        .cidr_block("10.72.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let group = aws
        .ec2
        .create_security_group()
        .group_name(format!("{}-stray", env.prefix))
        .description("stray")
        .vpc_id(&other)
        .tag_specifications(owner_tag(ResourceType::SecurityGroup, &env))
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();

    let stopped = env.run(&["unpave", "--yes"]);
    assert_eq!(stopped.code, 1, "{}", stopped.all_output());
    assert!(stopped.stderr.contains(&group), "{}", stopped.stderr);
    assert!(!stopped.stderr.contains("is gone"), "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains(&disk),
        "the disk was deleted: {}",
        stopped.stderr
    );
    let volumes = aws.ec2.describe_volumes().volume_ids(&disk).send().await;
    assert!(volumes.map(|v| v.volumes().is_empty()).unwrap_or(true));

    aws.ec2
        .delete_security_group()
        .group_id(&group)
        .send()
        .await
        .unwrap();
    aws.ec2.delete_vpc().vpc_id(&other).send().await.unwrap();
    let gone = env.run(&["unpave", "--yes"]).ok();
    assert!(gone.stderr.contains("is gone"), "{}", gone.stderr);
    assert!(!env.state_path().exists());
}
