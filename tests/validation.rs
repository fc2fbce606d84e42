//! Bad input is refused before any AWS request: exit status, a message naming the field, no request
//! on the wire (a listener stands in for AWS and counts connections), and no state written.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Env, Run};

/// An endpoint that counts the connections made to it and answers none of them.
struct CountingEndpoint {
    url: String,
    connections: Arc<AtomicUsize>,
}

fn counting_endpoint() -> CountingEndpoint {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    CountingEndpoint { url, connections }
}

#[track_caller]
fn assert_refused(env: &Env, endpoint: &CountingEndpoint, run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "{needle}: {}", run.stderr);
    assert!(
        run.stderr.contains(needle),
        "expected {needle:?} in: {}",
        run.stderr
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{}", run.stderr);
    assert_eq!(endpoint.connections.load(Ordering::SeqCst), 0, "{needle}");
    assert!(!env.state_path().exists(), "{needle}");
}

#[test]
fn bad_configuration_is_refused_before_any_request() {
    let long_prefix = "a".repeat(24);
    let cases: &[(&str, &[&str], &str)] = &[
        ("vpc_cidr = \"10.0.0.0/33\"", &[], "vpc_cidr"),
        ("vpc_cidr = \"ten.0.0.0/16\"", &[], "vpc_cidr"),
        ("vpc_cidr = \"10.0.0.0/8\"", &[], "vpc_cidr"),
        (
            "public_subnet_ip_prefix = \"10.1.1\"",
            &[],
            "public_subnet_ip_prefix",
        ),
        (
            "public_subnet_ip_prefix = \"10.0.256\"",
            &[],
            "public_subnet_ip_prefix",
        ),
        (
            "private_subnet_ip_prefix = \"10.0.1\"",
            &[],
            "private_subnet_ip_prefix",
        ),
        ("", &["--prefix", "Bad_Prefix"], "prefix"),
        ("", &["--prefix", long_prefix.as_str()], "prefix"),
        ("zone = \"eu-west-1a\"", &[], "zone"),
        ("", &["--region", "mars"], "region"),
        ("vpc_cidrs = \"10.0.0.0/16\"", &[], "vpc_cidrs"),
        ("prefix = ", &[], "cfcr-aws.toml line 4"),
        (
            "director_credentials = \"root\"",
            &[],
            "director_credentials",
        ),
        (
            "kubernetes_master_port = 70000",
            &[],
            "kubernetes_master_port",
        ),
        (
            "ssh_allowed_cidrs = [\"everyone\"]",
            &[],
            "ssh_allowed_cidrs",
        ),
        (
            "api_allowed_cidrs = \"0.0.0.0/0\"",
            &[],
            "api_allowed_cidrs",
        ),
        ("bastion_ami = \"ubuntu\"", &[], "bastion_ami"),
        ("", &["--config", "missing.toml"], "missing.toml"),
    ];
    for (config, flags, field) in cases {
        let endpoint = counting_endpoint();
        let env = Env::against("bad", config, &endpoint.url);
        let mut args = vec!["pave", "--yes", "--no-bootstrap"];
        args.extend_from_slice(flags);
        let run = env.run(&args);
        assert_refused(&env, &endpoint, &run, 2, field);
    }
}

#[test]
fn every_problem_of_a_config_file_is_reported_at_once() {
    let endpoint = counting_endpoint();
    let env = Env::against("many", "", &endpoint.url);
    let keys = [
        "zone",
        "kubernetes_master_port",
        "bastion_ami",
        "ssh_allowed_cidrs",
        "worker_count",
    ];
    std::fs::write(
        env.path().join("several.toml"),
        format!(
            "prefix = \"{}\"\nregion = \"us-east-1\"\nzone = \"eu-west-1a\"\nkubernetes_master_port = 70000\nbastion_ami = \"ubuntu\"\nssh_allowed_cidrs = [\"everyone\"]\nworker_count = 0\n",
            env.prefix
        ),
    )
    .unwrap();
    let run = env.run(&[
        "pave",
        "--yes",
        "--no-bootstrap",
        "--config",
        "several.toml",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: 5 problems in the configuration:\n"),
        "{}",
        run.stderr
    );
    for key in keys {
        assert!(
            run.stderr.contains(&format!("\n  - {key}: ")),
            "expected {key:?} in: {}",
            run.stderr
        );
    }
    assert_eq!(endpoint.connections.load(Ordering::SeqCst), 0);
    assert!(!env.state_path().exists());
}

#[test]
fn a_missing_prefix_names_the_field() {
    let endpoint = counting_endpoint();
    let env = Env::against("none", "", &endpoint.url);
    std::fs::write(env.path().join("cfcr-aws.toml"), "region = \"us-east-1\"\n").unwrap();
    let run = env.run(&["pave", "--yes"]);
    assert_refused(&env, &endpoint, &run, 2, "prefix: missing");
}

#[test]
fn missing_credentials_are_reported_before_any_request() {
    let endpoint = counting_endpoint();
    let env = Env::against("cred", "", &endpoint.url);
    let out = env
        .command(&["pave", "--yes", "--no-bootstrap"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_refused(&env, &endpoint, &run, 1, "AWS credentials");
}

#[test]
fn pave_without_a_terminal_or_yes_refuses_instead_of_waiting() {
    let endpoint = counting_endpoint();
    let env = Env::against("tty", "", &endpoint.url);
    let run = env.run(&["pave", "--no-bootstrap"]);
    assert_refused(&env, &endpoint, &run, 2, "--yes");
}

#[test]
fn commands_without_an_environment_say_how_to_name_one() {
    let endpoint = counting_endpoint();
    let env = Env::against("noenv", "", &endpoint.url);
    std::fs::remove_file(env.path().join("cfcr-aws.toml")).unwrap();
    for command in ["unpave", "outputs", "status"] {
        let run = env.run(&[command]);
        assert_refused(&env, &endpoint, &run, 2, "--env NAME");
    }
    let run = env.run(&["outputs", "--env", "nosuch"]);
    assert_refused(
        &env,
        &endpoint,
        &run,
        1,
        "no state for environment \"nosuch\"",
    );
    let run = env.run(&["pave", "--frobnicate"]);
    assert_eq!(run.code, 2, "clap usage errors exit 2");
}
