//! Issue #20: the director's `bosh create-env` state and vars store in the tool's custody, against a
//! real OpenSSH server standing in for the bastion (its stand-in `bosh` writes the files where
//! `--state` and `--vars-store` say, as the CLI does) and LocalStack for AWS and S3.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::files_server::{stemcell_server, with_stemcell};
use common::{Env, FakeBastion, aws};
use serde_json::Value;

const STATE: &str = "bosh-aws-state.json";
const VARS: &str = "bosh-aws-creds.yml";

fn sha256(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn custody_dir(env: &Env) -> std::path::PathBuf {
    env.path()
        .join("state")
        .join(format!("{}.director", env.prefix))
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The create-env calls' `{state-before=...}`: the digest of the state file create-env was given.
fn states_given_to_create_env(bastion: &FakeBastion) -> Vec<String> {
    bastion
        .calls()
        .iter()
        .filter(|c| c.starts_with("bosh create-env"))
        .filter_map(|c| {
            c.split(' ')
                .find_map(|w| w.strip_prefix("{state-before=")?.strip_suffix('}'))
                .map(str::to_string)
        })
        .collect()
}

/// A director state naming a real instance and volume, made in LocalStack for the test.
async fn director_in_aws(env: &Env) -> (String, String, String) {
    let aws = aws().await;
    let image = env.id("bastion_image");
    let vm = aws
        .ec2
        .run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .subnet_id(env.id("private_subnet"))
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let disk = aws
        .ec2
        .create_volume()
        .availability_zone(format!("{}a", common::REGION))
        .size(64)
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    let state = format!(
        r#"{{"director_id": "d-1", "installation_id": "i-1", "current_vm_cid": "{vm}", "current_disk_id": "x", "disks": [{{"id": "x", "cid": "{disk}", "size": 65536, "cloud_properties": {{}}}}], "stemcells": [{{"id": "s", "name": "bosh-aws-xen-hvm-ubuntu-noble-go_agent", "version": "1.484", "cid": "ami-0123 light"}}], "releases": []}}"#
    );
    (vm, disk, state)
}

#[tokio::test(flavor = "multi_thread")]
async fn custody_keeps_the_directors_files_and_restores_them_to_a_new_bastion() {
    let env = Env::new("custody", "");
    env.pave();
    let bastion = FakeBastion::start(&env);
    let (_, _, director) = director_in_aws(&env).await;
    std::fs::write(bastion.home().join(".director-state"), &director).unwrap();

    // create-env fails, having written its state: custody takes both files all the same.
    bastion.fail_on(Some("create-env"));
    let failed = env.run_via(&bastion, &["bootstrap", "--director-only"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let held = custody_dir(&env);
    assert_eq!(
        std::fs::read(held.join(STATE)).unwrap(),
        director.as_bytes()
    );
    assert_eq!(mode(&held), 0o700);
    assert_eq!(mode(&held.join(STATE)), 0o600);
    assert_eq!(mode(&held.join(VARS)), 0o600);
    let recorded = &env.state()["bootstrap"]["custody"];
    assert_eq!(recorded[STATE]["sha256"], sha256(director.as_bytes()));
    assert_eq!(recorded[STATE]["step"], "deploy-bosh");
    assert_eq!(recorded[STATE]["bastion"], env.id("bastion"));
    let vars = std::fs::read(held.join(VARS)).unwrap();
    assert_eq!(recorded[VARS]["sha256"], sha256(&vars));
    assert!(!failed.all_output().contains("test-admin-password"));

    bastion.fail_on(None);
    env.run_via(&bastion, &["bootstrap", "--director-only"])
        .ok();

    // The bastion is replaced: terminated in AWS, recreated by pave (its home starts empty).
    let aws = aws().await;
    let old = env.id("bastion");
    aws.ec2
        .terminate_instances()
        .instance_ids(&old)
        .send()
        .await
        .unwrap();
    env.pave();
    assert_ne!(env.id("bastion"), old);
    std::fs::remove_dir_all(bastion.home().join("cfcr-manifests")).unwrap();
    // And the director's size changes: deploy-bosh runs again, as an update of the same director.
    let mut config = std::fs::read_to_string(env.path().join("cfcr-aws.toml")).unwrap();
    config.push_str("director_instance_type = \"t3.xlarge\"\n");
    std::fs::write(env.path().join("cfcr-aws.toml"), config).unwrap();
    env.pave();
    let before = bastion.calls().len();
    let again = env
        .run_via(&bastion, &["bootstrap", "--director-only"])
        .ok();
    assert!(
        again
            .stderr
            .contains("restored bosh-aws-state.json to the bastion"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("bastion: install-tools again"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("bastion: deploy-bosh again"),
        "{}",
        again.stderr
    );
    let restored = std::fs::read(bastion.home().join("cfcr-manifests").join(STATE)).unwrap();
    assert_eq!(restored, director.as_bytes());
    assert_eq!(
        mode(&bastion.home().join("cfcr-manifests").join(VARS)),
        0o600
    );
    // create-env was given custody's state: an update, never a second director.
    let given = states_given_to_create_env(&bastion);
    assert_eq!(given.last().unwrap(), &sha256(director.as_bytes()));
    assert!(
        bastion.calls()[before..]
            .iter()
            .any(|c| c.starts_with("bosh create-env"))
    );
    // The stand-in's delete-env leaves the test's VM: --force terminates it.
    env.run_via(&bastion, &["unpave", "--yes", "--force"]).ok();
    assert!(!held.exists(), "custody is removed with the environment");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bastion_copy_that_differs_stops_the_hand_off_until_told_which_is_right() {
    let env = Env::new("custdiff", "");
    env.pave();
    let bastion = FakeBastion::start(&env);
    env.run_via(&bastion, &["bootstrap", "--director-only"])
        .ok();
    let held = custody_dir(&env).join(STATE);
    let custody_copy = std::fs::read(&held).unwrap();
    let on_bastion = bastion.home().join("cfcr-manifests").join(STATE);
    // Someone ran bosh on the bastion by hand.
    std::fs::write(&on_bastion, b"{\"current_vm_cid\": \"i-byhand\"}").unwrap();
    let before = bastion.calls().len();
    let stopped = env.run_via(&bastion, &["bootstrap", "--director-only"]);
    assert_eq!(stopped.code, 1, "{}", stopped.stderr);
    for needle in [
        sha256(&custody_copy),
        sha256(b"{\"current_vm_cid\": \"i-byhand\"}"),
        "--take-bastion-copy".to_string(),
        "--restore-custody-copy".to_string(),
    ] {
        assert!(
            stopped.stderr.contains(&needle),
            "{needle}: {}",
            stopped.stderr
        );
    }
    assert_eq!(
        bastion.calls().len(),
        before,
        "nothing ran on the bastion: {:?}",
        &bastion.calls()[before..]
    );

    // Custody's copy is right: put back.
    env.run_via(
        &bastion,
        &["bootstrap", "--director-only", "--restore-custody-copy"],
    )
    .ok();
    assert_eq!(std::fs::read(&on_bastion).unwrap(), custody_copy);

    // Another change, and this time the bastion's copy is right: taken into custody.
    std::fs::write(&on_bastion, b"{\"current_vm_cid\": \"i-right\"}").unwrap();
    env.run_via(
        &bastion,
        &["bootstrap", "--director-only", "--take-bastion-copy"],
    )
    .ok();
    assert_eq!(
        std::fs::read(&held).unwrap(),
        b"{\"current_vm_cid\": \"i-right\"}"
    );
    assert_eq!(
        env.state()["bootstrap"]["custody"][STATE]["sha256"],
        sha256(b"{\"current_vm_cid\": \"i-right\"}")
    );
    env.run_via(&bastion, &["unpave", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn custody_in_s3_is_encrypted_and_versioned() {
    let env = Env::new("custs3", "");
    let bucket = format!("cfcr-state-{}", env.prefix);
    let url = format!("s3://{bucket}/team");
    env.run(&[
        "--state",
        &url,
        "--create-state-bucket",
        "pave",
        "--yes",
        "--no-bootstrap",
    ])
    .ok();
    let bastion = FakeBastion::start_for_state(&env, &url).await;
    let run = |args: &[&str]| {
        let mut all = vec!["--state", url.as_str()];
        all.extend_from_slice(args);
        env.run_via(&bastion, &all)
    };
    run(&["bootstrap", "--director-only"]).ok();
    // A second create-env (the director's size changed) writes a second version.
    let mut config = std::fs::read_to_string(env.path().join("cfcr-aws.toml")).unwrap();
    config.push_str("director_instance_type = \"t3.xlarge\"\n");
    std::fs::write(env.path().join("cfcr-aws.toml"), config).unwrap();
    std::fs::write(
        bastion.home().join(".director-state"),
        b"{\"current_vm_cid\": \"i-second\"}",
    )
    .unwrap();
    run(&["pave", "--yes", "--no-bootstrap"]).ok();
    run(&["bootstrap", "--director-only"]).ok();
    let s3 = aws().await.s3;
    let key = format!("team/{}.director/{STATE}", env.prefix);
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert!(head.server_side_encryption().is_some(), "{head:?}");
    let versions = s3
        .list_object_versions()
        .bucket(&bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    assert!(versions.versions().len() >= 2, "{versions:?}");
    let state: Value = {
        let out = s3
            .get_object()
            .bucket(&bucket)
            .key(format!("team/{}.json", env.prefix))
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&out.body.collect().await.unwrap().to_vec()).unwrap()
    };
    assert_eq!(
        state["bootstrap"]["custody"][STATE]["sha256"],
        sha256(b"{\"current_vm_cid\": \"i-second\"}")
    );
    run(&["unpave", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_its_bastion_unpave_deletes_the_director_custody_names() {
    let stemcells = stemcell_server();
    let env = Env::new("custgone", &with_stemcell(&stemcells, ""));
    env.pave();
    let bastion = FakeBastion::start(&env);
    let (vm, disk, director) = director_in_aws(&env).await;
    std::fs::write(bastion.home().join(".director-state"), &director).unwrap();
    env.run_via(&bastion, &["bootstrap", "--director-only"])
        .ok();

    let status = env.run(&["status"]);
    assert_eq!(status.code, 0, "{}", status.all_output());
    for needle in [
        format!("director: the director's VM {vm}: present"),
        format!("director: the director's disk {disk}: present"),
        "bosh-aws-state.json in custody".to_string(),
    ] {
        assert!(
            status.stdout.contains(&needle),
            "{needle}: {}",
            status.stdout
        );
    }

    // The bastion's SSH is gone: unpave gives up on it after its minute, deletes the director by
    // custody's ids instead, and finishes, without --skip-teardown.
    let flags = bastion.flags();
    drop(bastion);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["unpave", "--yes"]);
    let gone = env.run(&args).ok();
    assert!(
        gone.stderr
            .contains("deleting the director by the ids in custody"),
        "{}",
        gone.stderr
    );
    assert!(gone.stderr.contains("is gone"), "{}", gone.stderr);
    let aws = aws().await;
    let instance = aws
        .ec2
        .describe_instances()
        .instance_ids(&vm)
        .send()
        .await
        .unwrap();
    assert_eq!(
        instance.reservations()[0].instances()[0]
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str()),
        Some("terminated")
    );
    let volumes = aws.ec2.describe_volumes().volume_ids(&disk).send().await;
    assert!(volumes.map(|v| v.volumes().is_empty()).unwrap_or(true));
    assert!(common::owned_in_aws(&aws, &env.prefix).await.is_empty());
}
