//! Issue #7: the state in S3 (LocalStack's), shared and locked with S3's own conditional writes.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::proxy::{Fault, Proxy, Rule};
use common::{Env, endpoint};

async fn s3() -> aws_sdk_s3::Client {
    common::aws().await.s3
}

/// A fresh bucket name per test, and the state address in it.
fn location(env: &Env) -> (String, String) {
    let bucket = format!("cfcr-state-{}", env.prefix);
    let url = format!("s3://{bucket}/team");
    (bucket, url)
}

async fn object(bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = s3()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.unwrap().to_vec())
}

fn with_state<'a>(url: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--state", url];
    all.extend_from_slice(args);
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_cycle_on_s3_and_migration_both_ways() {
    let env = Env::new("s3cycle", "");
    let (bucket, url) = location(&env);
    let key = format!("team/{}.json", env.prefix);

    let missing = env.run(&with_state(&url, &["list"]));
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("--create-state-bucket"),
        "{}",
        missing.stderr
    );

    env.run(&with_state(
        &url,
        &["--create-state-bucket", "pave", "--yes", "--no-bootstrap"],
    ))
    .ok();
    assert!(!env.state_path().exists(), "nothing local");
    let stored: serde_json::Value =
        serde_json::from_slice(&object(&bucket, &key).await.unwrap()).unwrap();
    assert_eq!(stored["env"], env.prefix.as_str());
    let head = s3()
        .await
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    let versioning = s3()
        .await
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versioning.status(),
        Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled)
    );
    assert!(
        object(&bucket, &format!("team/{}.lock", env.prefix))
            .await
            .is_none(),
        "released"
    );

    let ip = env
        .run(&with_state(&url, &["outputs", "bosh_bastion_ip"]))
        .ok();
    assert!(!ip.stdout.trim().is_empty());
    let listed = env.run(&with_state(&url, &["list"])).ok().stdout;
    assert!(listed.contains(&env.prefix), "{listed}");

    // To the local state dir and back.
    env.run(&with_state(&url, &["state", "migrate", "--to", "local"]))
        .ok();
    assert!(env.state_path().exists());
    assert!(object(&bucket, &key).await.is_none());
    env.run(&["plan", "--detailed-exitcode"]).ok();
    env.run(&["state", "migrate", "--to", &url]).ok();
    assert!(!env.state_path().exists());
    assert!(object(&bucket, &key).await.is_some());

    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
    assert!(object(&bucket, &key).await.is_none());
    assert!(
        object(&bucket, &format!("team/{}.lock", env.prefix))
            .await
            .is_none()
    );
}

/// Waits until the proxy has seen `action` (the running command got that far).
fn wait_for(proxy: &Proxy, action: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.actions().iter().any(|a| a == action) {
        assert!(Instant::now() < deadline, "{action} never came");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_paves_at_once_one_proceeds_and_the_other_names_the_holder() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("s3race", "", &proxy.url);
    let (_, url) = location(&env);
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    // The first holds the lock while its VPC is (slowly) created.
    proxy.add_rule(Rule {
        action: Some("CreateVpc"),
        times: 1,
        fault: Fault::Delay(Duration::from_secs(4)),
    });
    let first = env
        .command(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&proxy, "CreateVpc");
    let second = env.run(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]));
    assert_eq!(second.code, 1);
    assert!(
        second
            .stderr
            .contains(&format!("is locked (pave by pid {}", first.id())),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("force-unlock"), "{}", second.stderr);
    let first = common::Run::from(first.wait_with_output().unwrap()).ok();
    assert!(first.stderr.contains("is paved"));
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_changed_behind_a_commands_back_is_never_overwritten() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("s3race", "", &proxy.url);
    let (bucket, url) = location(&env);
    let key = format!("team/{}.json", env.prefix);
    env.run(&with_state(
        &url,
        &["--create-state-bucket", "pave", "--yes", "--no-bootstrap"],
    ))
    .ok();

    // unpave reads the state, then (held here) checks for foreign instances before its first write.
    proxy.add_rule(Rule {
        action: Some("DescribeInstances"),
        times: 1,
        fault: Fault::Delay(Duration::from_secs(3)),
    });
    proxy.reset_count();
    let unpave = env
        .command(&with_state(&url, &["unpave", "--yes"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&proxy, "DescribeInstances");
    // Another writer (one that ignored the lock) changes the state meanwhile.
    let mut changed: serde_json::Value =
        serde_json::from_slice(&object(&bucket, &key).await.unwrap()).unwrap();
    changed["created_at"] = "changed behind its back".into();
    let changed = serde_json::to_vec_pretty(&changed).unwrap();
    s3().await
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(changed.clone().into())
        .send()
        .await
        .unwrap();

    let refused = common::Run::from(unpave.wait_with_output().unwrap());
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("changed by someone else"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        object(&bucket, &key).await.unwrap(),
        changed,
        "not overwritten"
    );

    // Run again: it reads the new state and finishes.
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
    assert!(object(&bucket, &key).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_runs_lock_is_reported_and_only_force_unlock_removes_it() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("s3crash", "", &proxy.url);
    let (bucket, url) = location(&env);
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();

    // Killed in the middle of the pave: the lock stays behind.
    let mut crashed = env
        .command(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    proxy
        .pid
        .store(crashed.id(), std::sync::atomic::Ordering::SeqCst);
    proxy.reset_count();
    proxy.kill_after(Some(20));
    assert!(!crashed.wait().unwrap().success());
    proxy.kill_after(None);
    let lock_key = format!("team/{}.lock", env.prefix);
    assert!(object(&bucket, &lock_key).await.is_some());

    let refused = env.run(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]));
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains(&format!("pave by pid {}", crashed.id())),
        "{}",
        refused.stderr
    );
    let id = refused
        .stderr
        .split("force-unlock ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();

    let wrong = env.run(&with_state(&url, &["force-unlock", "0000000000000000"]));
    assert_eq!(wrong.code, 1);
    assert!(object(&bucket, &lock_key).await.is_some(), "kept");
    env.run(&with_state(&url, &["force-unlock", &id])).ok();
    assert!(object(&bucket, &lock_key).await.is_none());

    // The crashed pave is finished by the next one.
    env.run(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]))
        .ok();
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conditional_write_whose_answer_was_lost_is_recognised_as_its_own() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("s3torn", "", &proxy.url);
    let (bucket, url) = location(&env);
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    // The lock's creation, the new state's and the first update's: each acted on by S3, each
    // answer cut in half, each retried with the same condition, which S3 then refuses.
    proxy.add_rule(Rule {
        action: Some("S3:PUT"),
        times: 3,
        fault: Fault::Truncate,
    });
    env.run(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]))
        .ok();
    let puts = proxy.actions().iter().filter(|a| *a == "S3:PUT").count();
    assert!(puts > 6, "the three cut answers were retried ({puts} PUTs)");
    let stored: serde_json::Value = serde_json::from_slice(
        &object(&bucket, &format!("team/{}.json", env.prefix))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["resources"]["vpc"]["ready"], true);
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
}

/// Every version of an object, oldest first.
async fn versions(bucket: &str, key: &str) -> Vec<Vec<u8>> {
    let client = s3().await;
    let listed = client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for version in listed.versions().iter().rev() {
        if version.key() != Some(key) {
            continue;
        }
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .version_id(version.version_id().unwrap())
            .send()
            .await
            .unwrap();
        bodies.push(out.body.collect().await.unwrap().to_vec());
    }
    bodies
}

/// Issue #19: a pave left 71 versions of the state in the bucket (72 PutObject requests), each
/// holding the private keys. The keys are written once, to an object of their own, and the state
/// twice per resource created (its intent, its id): resources turning ready ride along.
#[tokio::test(flavor = "multi_thread")]
async fn a_pave_keeps_its_keys_out_of_the_state_versions_and_writes_less() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("s3puts", "", &proxy.url);
    let (bucket, url) = location(&env);
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    proxy.reset_count();
    env.run(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]))
        .ok();
    let puts = proxy
        .iam_actions()
        .iter()
        .filter(|a| *a == "s3:PutObject")
        .count();
    let state_versions = versions(&bucket, &format!("team/{}.json", env.prefix)).await;
    let key_versions = versions(&bucket, &format!("team/{}.secrets.json", env.prefix)).await;
    eprintln!(
        "PutObject requests for one pave: {puts}; state versions: {}",
        state_versions.len()
    );
    for version in &state_versions {
        let text = String::from_utf8_lossy(version);
        assert!(!text.contains("PRIVATE KEY"), "a state version holds a key");
    }
    assert_eq!(key_versions.len(), 1);
    assert!(String::from_utf8_lossy(&key_versions[0]).contains("PRIVATE KEY"));
    let last: serde_json::Value = serde_json::from_slice(state_versions.last().unwrap()).unwrap();
    let resources = last["resources"].as_object().unwrap();
    assert!(resources.values().all(|r| r["ready"] == true), "{last}");
    // The lock, the keys, the new state, the image, two per resource created, the last readiness.
    let created = resources.len() - 1;
    assert!(
        puts <= 4 + 2 * created + 1,
        "{puts} PutObject requests for one pave"
    );

    // Read back whole: the keys are where the bastion needs them.
    let key = env.run(&with_state(&url, &["ssh-key"])).ok().stdout;
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
    assert!(
        object(&bucket, &format!("team/{}.secrets.json", env.prefix))
            .await
            .is_none()
    );
}

/// Issue #19: `error: state: state: ...`, and bucket names S3 refuses that passed the local check.
#[test]
fn a_state_address_is_checked_before_any_request() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("s3name", "", &proxy.url);
    for (bucket, problem) in [
        ("Upper", "lowercase letters, digits, dots and hyphens"),
        ("a..b", "two dots in a row"),
        ("192.168.5.4", "an IP address"),
        ("-bucket", "begin and end with a letter or digit"),
        ("xn--bucket", "must not begin with xn--"),
        ("ab", "3 to 63 characters"),
    ] {
        let run = env.run(&["--state", &format!("s3://{bucket}/team"), "list"]);
        assert_eq!(run.code, 2, "{bucket}: {}", run.stderr);
        assert!(run.stderr.contains(problem), "{bucket}: {}", run.stderr);
        assert!(!run.stderr.contains("state: state:"), "{}", run.stderr);
    }
    assert_eq!(proxy.requests(), 0);
}

async fn bucket_exists(bucket: &str) -> bool {
    s3().await.head_bucket().bucket(bucket).send().await.is_ok()
}

/// Issue #19: `--create-state-bucket` created a bucket for a `status`, which only reads a state.
#[tokio::test(flavor = "multi_thread")]
async fn only_a_command_that_writes_creates_the_state_bucket() {
    let env = Env::new("s3ro", "");
    let (bucket, url) = location(&env);
    for read_only in [
        &["status"][..],
        &["outputs"],
        &["force-unlock", "0123456789abcdef"],
    ] {
        let mut args = vec!["--create-state-bucket"];
        args.extend_from_slice(read_only);
        let run = env.run(&with_state(&url, &args));
        assert_eq!(run.code, 1, "{read_only:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("the state bucket {bucket} does not exist")),
            "{read_only:?}: {}",
            run.stderr
        );
        assert!(!bucket_exists(&bucket).await, "{read_only:?} created it");
    }
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    assert!(bucket_exists(&bucket).await);
}

/// Issue #19: "no state ... pass --state" to a command given --state, and no last-error.json.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_state_in_s3_is_named_as_such_and_recorded_in_last_error() {
    let env = Env::new("s3none", "");
    let (_, url) = location(&env);
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    let run = env.run(&with_state(&url, &["status", "--env", "nowhere"]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("no state for environment \"nowhere\" in {url}")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("pass --state"), "{}", run.stderr);
    let recorded =
        std::fs::read_to_string(env.path().join("state/last-error.json")).expect("last-error.json");
    assert!(recorded.contains("no state for environment"), "{recorded}");
}

/// A state written to S3 by an older cfcr-aws (version 2: its keys in it) is read as it is, and
/// written back as version 3, its keys moved out.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_2_state_in_s3_is_read_and_written_back_with_its_keys_apart() {
    let env = Env::new("s3v2", "");
    let (bucket, url) = location(&env);
    env.pave();
    let mut old = env.state();
    assert_eq!(old["schema_version"], 2);
    // Left unfinished, so that the next pave has something to write.
    old["resources"]["vpc"]["ready"] = false.into();
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    let key = format!("team/{}.json", env.prefix);
    s3().await
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(serde_json::to_vec_pretty(&old).unwrap().into())
        .send()
        .await
        .unwrap();
    std::fs::remove_file(env.state_path()).unwrap();

    let public_key = env.run(&with_state(&url, &["ssh-key"])).ok().stdout;
    assert_eq!(public_key.trim(), old["deployer_key"]["public_key"]);
    env.run(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]))
        .ok();
    let stored: serde_json::Value =
        serde_json::from_slice(&object(&bucket, &key).await.unwrap()).unwrap();
    assert_eq!(stored["schema_version"], 3);
    assert_eq!(stored["secrets"], format!("{}.secrets.json", env.prefix));
    assert_eq!(stored["resources"]["vpc"]["ready"], true);
    assert!(!stored.to_string().contains("PRIVATE KEY"));
    let keys: serde_json::Value = serde_json::from_slice(
        &object(&bucket, &format!("team/{}.secrets.json", env.prefix))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(keys["deployer_key"], old["deployer_key"]);
    assert_eq!(keys["bastion_host_key"], old["bastion_host_key"]);
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
}
