//! Issue #13: files that cannot be redirected, pipes and terminals, no silent minutes, and errors
//! and prompts that say what to do. Each test failed before its fix.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::proxy::{Fault, Proxy, Rule};
use common::{Env, Run, aws, endpoint, owned_in_aws};
use serde_json::Value;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The binary under `umask 000`, the most permissive a user can set.
fn under_open_umask(env: &Env, args: &[&str]) -> Run {
    let command = env.command(args);
    let program = command.get_program().to_owned();
    let mut wrapped = Command::new("sh");
    wrapped
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(program)
        .args(args)
        .current_dir(env.path())
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
    Run::from(wrapped.output().unwrap())
}

/// Starts the binary, returns when a line of its standard error contains `text` (or panics after
/// `within`), and stops it.
fn shows_within(env: &Env, args: &[&str], text: &str, within: Duration) -> String {
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
    let started = Instant::now();
    let mut seen = String::new();
    let found = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(text) {
                    break Some(line);
                }
            }
            Err(_) if started.elapsed() > within => break None,
            Err(_) => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    found.unwrap_or_else(|| panic!("{text:?} not shown within {within:?}:\n{seen}"))
}

#[test]
fn a_symlinked_lock_or_state_file_is_refused_and_its_target_untouched() {
    let env = Env::new("symlock", "");
    let state = env.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let victim = env.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, state.join(format!("{}.lock", env.prefix))).unwrap();
    let run = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("is a symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    std::fs::remove_file(state.join(format!("{}.lock", env.prefix))).unwrap();
    std::os::unix::fs::symlink(&victim, env.state_path()).unwrap();
    let run = env.run(&["status"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}.json is a symbolic link", env.prefix)),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[tokio::test(flavor = "multi_thread")]
async fn files_and_directories_stay_private_under_any_umask_and_never_clobber() {
    let env = Env::new("umask", "");
    let paved = under_open_umask(&env, &["pave", "--yes", "--no-bootstrap"]).ok();
    assert_eq!(mode(&env.path().join("state")), 0o700, "{}", paved.stderr);
    assert_eq!(mode(&env.state_path()), 0o600);

    // A bare file name, beside an unrelated file of the old temporary name.
    std::fs::write(env.path().join("key1.tmp"), "mine").unwrap();
    under_open_umask(&env, &["ssh-key", "--out", "key1"]).ok();
    assert_eq!(mode(&env.path().join("key1")), 0o600);
    assert_eq!(
        std::fs::read_to_string(env.path().join("key1.tmp")).unwrap(),
        "mine"
    );
    under_open_umask(&env, &["ssh-key", "--out", "new/dir/id.pem"]).ok();
    assert_eq!(mode(&env.path().join("new")), 0o700);
    assert_eq!(mode(&env.path().join("new/dir")), 0o700);

    // render: a fresh directory is private; a second render names what it replaced and keeps
    // what else is there; a link inside --out is refused before anything is written.
    let out = env.path().join("bundle");
    under_open_umask(&env, &["render", "--out", "bundle"]).ok();
    assert_eq!(mode(&out), 0o700);
    std::fs::write(out.join("teardown.tmp"), "mine").unwrap();
    let again = env.run(&["render", "--out", "bundle"]).ok();
    assert!(again.stderr.contains("replaced"), "{}", again.stderr);
    assert!(again.stderr.contains("teardown.sh"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(out.join("teardown.tmp")).unwrap(),
        "mine"
    );
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let sub = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("the bundle has a directory");
    std::fs::remove_dir_all(&sub).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &sub).unwrap();
    let refused = env.run(&["render", "--out", "bundle"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("is a symbolic link"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    env.unpave();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_quietly() {
    let env = Env::new("pipes", "");
    env.pave();
    for args in [
        vec!["status"],
        vec!["list"],
        vec!["outputs", "--format", "yaml"],
        vec!["man"],
        vec!["completions", "bash"],
    ] {
        let mut child = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!env.path().join("state/last-error.json").exists());
    env.unpave();
}

#[test]
fn errors_are_plain_off_a_terminal_and_json_with_json_logs() {
    let env = Env::new("errfmt", "");
    let plain = env.run(&["-v", "status", "--env", "never-paved"]);
    assert!(!plain.stderr.contains('\u{1b}'), "{:?}", plain.stderr);
    // A command whose -v log has lines of the tool's own (each request): none coloured either.
    let logged = env
        .run(&["-v", "unpave", "--env", &env.prefix, "--yes"])
        .ok();
    assert!(logged.stderr.contains("answered in"), "{}", logged.stderr);
    assert!(!logged.stderr.contains('\u{1b}'), "{:?}", logged.stderr);
    let json = env.run(&["--log-format", "json", "status", "--env", "never-paved"]);
    assert_eq!(json.code, 1);
    let last: Value = serde_json::from_str(json.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "error");
    assert!(last["message"].as_str().unwrap().contains("never-paved"));
}

#[test]
fn an_endpoint_that_is_not_a_url_is_bad_input() {
    let env = Env::new("badurl", "");
    for (flag, env_value) in [(Some("not a url"), None), (None, Some("ftp://example.com"))] {
        let mut command = env.command(&["status", "--env", "x"]);
        if let Some(url) = flag {
            command.args(["--endpoint-url", url]);
        }
        if let Some(url) = env_value {
            command.env("AWS_ENDPOINT_URL", url);
        }
        let run = Run::from(command.output().unwrap());
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("is not an http:// or https:// URL"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn retries_against_an_endpoint_that_refuses_connections_are_shown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::against("refused", "", &format!("http://127.0.0.1:{port}"));
    let line = shows_within(
        &env,
        &["unpave", "--yes"],
        "retrying",
        Duration::from_secs(30),
    );
    assert!(line.contains("so far"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn waiting_for_an_unreachable_bastion_is_shown_at_once() {
    let env = Env::new("nossh", "");
    env.pave();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let line = shows_within(
        &env,
        &[
            "--bastion-address",
            &address,
            "bootstrap",
            "--director-only",
        ],
        "waiting for SSH on the bastion",
        Duration::from_secs(20),
    );
    assert!(line.contains("up to 5m"), "{line}");
    env.unpave();
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_may_change_while_nothing_exists() {
    let proxy = Proxy::start(endpoint());
    let env = Env::against("nothing", "", &proxy.url);
    proxy.add_rule(Rule {
        action: Some("DescribeAvailabilityZones"),
        times: 1,
        fault: Fault::Error {
            code: "UnauthorizedOperation",
            status: 403,
            message: "You are not authorized to perform this operation.",
        },
    });
    let failed = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(env.state_path().exists());
    env.run(&[
        "pave",
        "--yes",
        "--no-bootstrap",
        "--vpc-cidr",
        "10.9.0.0/16",
        "--public-subnet-ip-prefix",
        "10.9.1",
        "--private-subnet-ip-prefix",
        "10.9.2",
    ])
    .ok();
    assert_eq!(env.state()["settings"]["vpc_cidr"], "10.9.0.0/16");
    env.unpave();
}

#[tokio::test(flavor = "multi_thread")]
async fn prompts_and_advice_say_what_will_happen() {
    let env = Env::new("prompts", "");
    // No terminal, no --yes: pave shows what it would create, then refuses to ask.
    let refused = env.run(&["pave", "--no-bootstrap"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("pave will create 23 resources"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("bastion_image"),
        "{}",
        refused.stderr
    );
    assert!(owned_in_aws(&aws().await, &env.prefix).await.is_empty());

    let plan = env.run(&["plan"]).ok();
    assert!(plan.stderr.contains("0.0.0.0/0"), "{}", plan.stderr);
    let flags = env.run(&["plan", "--env", &env.prefix, "--zone", "us-east-1b"]);
    assert_eq!(flags.code, 2, "{}", flags.stderr);

    env.pave();
    let unpave = env.run(&["unpave"]);
    assert_eq!(unpave.code, 2);
    let (delete, forget) = unpave
        .stderr
        .split_once("and forget")
        .expect(&unpave.stderr);
    assert!(!delete.contains("bastion_image"), "{}", unpave.stderr);
    assert!(forget.contains("bastion_image"), "{}", unpave.stderr);

    // A lost state: the advice warns that the environment may be live elsewhere.
    let state = std::fs::read(env.state_path()).unwrap();
    std::fs::remove_file(env.state_path()).unwrap();
    let lost = env.run(&["pave", "--yes", "--no-bootstrap"]);
    assert_eq!(lost.code, 1);
    assert!(
        lost.stderr.contains("find that state first"),
        "{}",
        lost.stderr
    );
    std::fs::write(env.state_path(), state).unwrap();
    std::fs::set_permissions(env.state_path(), std::fs::Permissions::from_mode(0o600)).unwrap();

    // status: aligned columns, each request's action and duration with -v.
    let status = env.run(&["-v", "status"]).ok();
    let column = |line: &str| line.find("present").or_else(|| line.find("STATUS"));
    let columns: Vec<Option<usize>> = status.stdout.lines().map(column).collect();
    assert!(
        columns.windows(2).all(|w| w[0] == w[1]),
        "{}",
        status.stdout
    );
    assert!(status.stderr.contains("answered in"), "{}", status.stderr);
    env.unpave();
}

#[test]
fn a_missing_image_names_the_key_that_was_set() {
    let env = Env::new("noimage", "");
    let run = env.run(&[
        "pave",
        "--yes",
        "--no-bootstrap",
        "--bastion-ami-name",
        "no-such-image-*",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("bastion_ami_name: no image matches"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_shows_the_commands_own_flags_first() {
    let env = Env::new("help", "");
    let help = env.run(&["pave", "--help"]).ok().stdout;
    let at = |flag: &str| help.find(flag).unwrap_or_else(|| panic!("{flag}: {help}"));
    assert!(at("--no-bootstrap") < at("--prefix"));
    assert!(at("--prefix") < at("--config"));
    assert!(help.contains("Global options"));
    let completions = env.run(&["completions", "--help"]).ok().stdout;
    for shell in ["bash", "elvish", "fish", "powershell", "zsh"] {
        assert!(completions.contains(shell), "{shell}");
    }
}
