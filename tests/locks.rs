//! Issue #19.3: locks that protect. Every lock message carries the command that works (with
//! `--state`), `force-unlock` refuses a holder still running on this host, and SIGINT or SIGTERM
//! release the lock and leave the state as a crash would: complete up to the last write. Each test
//! failed before its fix.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::proxy::{Fault, Proxy, Rule};
use common::{Env, Run, endpoint, owned_in_aws, recorded_in_state};
use serde_json::Value;

async fn s3() -> aws_sdk_s3::Client {
    common::aws().await.s3
}

/// A fresh bucket per test, and the state address in it.
fn location(env: &Env) -> (String, String) {
    let bucket = format!("cfcr-state-{}", env.prefix);
    (bucket.clone(), format!("s3://{bucket}/team"))
}

fn with_state<'a>(url: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--state", url];
    all.extend_from_slice(args);
    all
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

fn lock_key(env: &Env) -> String {
    format!("team/{}.lock", env.prefix)
}

async fn s3_state(bucket: &str, env: &Env) -> Value {
    let bytes = object(bucket, &format!("team/{}.json", env.prefix))
        .await
        .expect("the state object");
    serde_json::from_slice(&bytes).unwrap()
}

/// Waits until the proxy has seen `action` (the running command got that far).
fn wait_for(proxy: &Proxy, action: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.actions().iter().any(|a| a == action) {
        assert!(Instant::now() < deadline, "{action} never came");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the proxy has answered `action`: a held request has reached LocalStack.
fn wait_until_answered(proxy: &Proxy, action: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.log().iter().any(|e| e.action == action) {
        assert!(Instant::now() < deadline, "{action} never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The binary running, its standard error read line by line.
fn start(env: &Env, args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = env
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Reads standard error until a line contains `text`; returns what was read.
fn wait_for_line(lines: &Receiver<String>, text: &str) -> String {
    let mut seen = String::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(text) {
                    return seen;
                }
            }
            Err(_) => panic!("{text:?} never shown:\n{seen}"),
        }
    }
}

/// Waits for the end, with the rest of standard error.
fn finish(mut child: Child, lines: Receiver<String>, mut seen: String) -> Run {
    let status = child.wait().unwrap();
    seen.extend(lines.iter().map(|l| l + "\n"));
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: seen,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lock_message_names_the_state_and_force_unlock_refuses_a_holder_still_running() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("lockmsg", "", &proxy.url);
    let (bucket, url) = location(&env);
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    proxy.add_rule(Rule {
        action: Some("CreateVpc"),
        times: 1,
        fault: Fault::Delay(Duration::from_secs(5)),
    });
    let (first, lines) = start(
        &env,
        &with_state(&url, &["pave", "--yes", "--no-bootstrap"]),
    );
    wait_for(&proxy, "CreateVpc");

    let refused = env.run(&with_state(&url, &["pave", "--yes", "--no-bootstrap"]));
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let command = format!("cfcr-aws --state {url} force-unlock ");
    assert!(refused.stderr.contains(&command), "{}", refused.stderr);
    let id = refused.stderr.split(&command).nth(1).unwrap()[..16].to_string();

    // Its holder runs here: refused, naming it, its pid and the flag; the lock stays.
    let unlock = env.run(&with_state(&url, &["force-unlock", &id]));
    assert_eq!(unlock.code, 2, "{}", unlock.stderr);
    for named in [
        format!("pid {}", first.id()),
        "still running".to_string(),
        "--even-if-running".to_string(),
    ] {
        assert!(unlock.stderr.contains(&named), "{named}: {}", unlock.stderr);
    }
    assert!(object(&bucket, &lock_key(&env)).await.is_some(), "kept");

    // Said explicitly, it goes.
    env.run(&with_state(
        &url,
        &["force-unlock", &id, "--even-if-running"],
    ))
    .ok();
    assert!(object(&bucket, &lock_key(&env)).await.is_none());

    let first = finish(first, lines, String::new());
    assert_eq!(first.code, 0, "{}", first.stderr);
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn force_unlock_without_an_s3_state_says_where_it_looked_and_who_holds_the_local_lock() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("locklocal", "", &proxy.url);
    let nobody = env.run(&["force-unlock", "0123456789abcdef"]);
    assert_eq!(nobody.code, 2, "{}", nobody.stderr);
    assert!(
        nobody
            .stderr
            .contains("cfcr-aws --state s3://BUCKET/PREFIX force-unlock 0123456789abcdef"),
        "{}",
        nobody.stderr
    );

    proxy.add_rule(Rule {
        action: Some("CreateVpc"),
        times: 1,
        fault: Fault::Delay(Duration::from_secs(5)),
    });
    let (pave, lines) = start(&env, &["pave", "--yes", "--no-bootstrap"]);
    wait_for(&proxy, "CreateVpc");
    let held = env.run(&["force-unlock", "0123456789abcdef"]);
    assert_eq!(held.code, 2, "{}", held.stderr);
    assert!(
        held.stderr.contains(&format!("pave: pid {}", pave.id())),
        "{}",
        held.stderr
    );
    finish(pave, lines, String::new());
    env.unpave();
}

/// A pave stopped by `signal` while its VPC's create call is in flight: the exit status says so,
/// no lock is left, the state records the VPC as being created, and a re-run finishes with exactly
/// the environment's resources.
async fn stopped_in_the_walk(label: &str, in_s3: bool, signal_name: &str, status: i32) {
    let proxy = Proxy::start(endpoint());
    let env = Env::against(label, "", &proxy.url);
    let (bucket, url) = location(&env);
    let args: Vec<&str> = if in_s3 {
        env.run(&with_state(&url, &["--create-state-bucket", "list"]))
            .ok();
        with_state(&url, &[])
    } else {
        Vec::new()
    };
    let run = |more: &[&str]| {
        let mut all = args.clone();
        all.extend_from_slice(more);
        env.run(&all)
    };
    proxy.add_rule(Rule {
        action: Some("CreateVpc"),
        times: 1,
        fault: Fault::Delay(Duration::from_secs(5)),
    });
    let mut pave_args = args.clone();
    pave_args.extend_from_slice(&["pave", "--yes", "--no-bootstrap"]);
    let (pave, lines) = start(&env, &pave_args);
    wait_for(&proxy, "CreateVpc");
    signal(&pave, signal_name);
    let stopped = finish(pave, lines, String::new());
    assert_eq!(stopped.code, status, "{}", stopped.stderr);
    assert!(stopped.stderr.contains("interrupted"), "{}", stopped.stderr);

    let state = if in_s3 {
        assert!(object(&bucket, &lock_key(&env)).await.is_none(), "released");
        s3_state(&bucket, &env).await
    } else {
        let dir = env.path().join("state");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        env.state()
    };
    assert!(
        state["creating"]
            .as_array()
            .is_some_and(|c| c.contains(&"vpc".into())),
        "{state}"
    );

    // The held create reaches LocalStack; the next pave finds its VPC instead of making another.
    wait_until_answered(&proxy, "CreateVpc");
    let again = run(&["pave", "--yes", "--no-bootstrap"]).ok();
    assert!(again.stderr.contains("recovered"), "{}", again.stderr);
    let state = if in_s3 {
        s3_state(&bucket, &env).await
    } else {
        env.state()
    };
    let in_aws = owned_in_aws(&common::aws().await, &env.prefix).await;
    assert_eq!(in_aws, recorded_in_state(&state));
    assert_eq!(in_aws.len(), 21, "{in_aws:?}");
    run(&["unpave", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_in_the_walk_releases_the_s3_lock_and_exits_143() {
    stopped_in_the_walk("sigterm", true, "TERM", 143).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_in_the_walk_leaves_a_whole_local_state_and_exits_130() {
    stopped_in_the_walk("sigint", false, "INT", 130).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_waiting_for_the_bastions_ssh_releases_the_s3_lock() {
    let env = Env::new("sigssh", "");
    let (bucket, url) = location(&env);
    env.run(&with_state(
        &url,
        &["--create-state-bucket", "pave", "--yes", "--no-bootstrap"],
    ))
    .ok();
    let before = s3_state(&bucket, &env).await;
    // Nothing listens there: SSH is refused, and the wait goes on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{closed}");
    let (bootstrap, lines) = start(
        &env,
        &with_state(
            &url,
            &[
                "--bastion-address",
                &address,
                "bootstrap",
                "--director-only",
            ],
        ),
    );
    let seen = wait_for_line(&lines, "waiting for SSH");
    signal(&bootstrap, "INT");
    let stopped = finish(bootstrap, lines, seen);
    assert_eq!(stopped.code, 130, "{}", stopped.stderr);
    assert!(object(&bucket, &lock_key(&env)).await.is_none(), "released");
    assert_eq!(s3_state(&bucket, &env).await, before);
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_stops_at_once() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("sigtwice", "", &proxy.url);
    let (_, url) = location(&env);
    env.run(&with_state(&url, &["--create-state-bucket", "list"]))
        .ok();
    proxy.add_rule(Rule {
        action: Some("CreateVpc"),
        times: 1,
        fault: Fault::Delay(Duration::from_secs(5)),
    });
    let (pave, lines) = start(
        &env,
        &with_state(&url, &["pave", "--yes", "--no-bootstrap"]),
    );
    wait_for(&proxy, "CreateVpc");
    // The first Ctrl-C releases the lock, which takes a while here; the second does not wait.
    proxy.add_rule(Rule {
        action: Some("S3:DELETE"),
        times: 1,
        fault: Fault::Delay(Duration::from_secs(10)),
    });
    signal(&pave, "INT");
    wait_for(&proxy, "S3:DELETE");
    signal(&pave, "INT");
    let stopped = finish(pave, lines, String::new());
    assert_eq!(stopped.code, 130, "{}", stopped.stderr);
    assert!(
        !proxy.log().iter().any(|e| e.action == "S3:DELETE"),
        "it waited for the lock's release"
    );
    assert!(
        stopped.stderr.contains("force-unlock"),
        "{}",
        stopped.stderr
    );

    wait_until_answered(&proxy, "S3:DELETE");
    wait_until_answered(&proxy, "CreateVpc");
    env.run(&with_state(&url, &["unpave", "--yes"])).ok();
}
