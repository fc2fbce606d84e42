//! Issue #20: `print-env` (the bosh and credhub CLIs' variables, read from custody's copy of the
//! director's vars store) and `tunnel` (a SOCKS5 proxy through the bastion with its pinned host
//! key), against a real OpenSSH server standing in for the bastion and LocalStack.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::files_server::FilesServer;
use common::{Env, FakeBastion, Run};
use serde_json::Value;

const NAMES: [&str; 11] = [
    "BOSH_ENVIRONMENT",
    "BOSH_CLIENT",
    "BOSH_CLIENT_SECRET",
    "BOSH_CA_CERT",
    "BOSH_ALL_PROXY",
    "CREDHUB_SERVER",
    "CREDHUB_CLIENT",
    "CREDHUB_SECRET",
    "CREDHUB_CA_CERT",
    "CREDHUB_PROXY",
    "JUMPBOX_PRIVATE_KEY",
];

/// What the stand-in's `bosh create-env` wrote into the vars store, as custody holds it.
fn vars_store(env: &Env) -> serde_norway::Value {
    let path = env
        .path()
        .join("state")
        .join(format!("{}.director", env.prefix))
        .join("bosh-aws-creds.yml");
    serde_norway::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn at<'a>(vars: &'a serde_norway::Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(vars, |v, key| &v[*key])
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is not in the vars store"))
}

fn bastion_dir(env: &Env) -> PathBuf {
    std::fs::canonicalize(env.path().join("state"))
        .unwrap()
        .join(format!("{}.bastion", env.prefix))
}

/// Every variable as the vars store and the state say it must be, the proxy on `proxy_port`.
fn expected(env: &Env, proxy_port: u16) -> BTreeMap<String, String> {
    let vars = vars_store(env);
    let prefix = env.outputs()["private_subnet_ip_prefix"]
        .as_str()
        .unwrap()
        .to_string();
    let ip = format!("{prefix}.252");
    let proxy = format!("socks5://127.0.0.1:{proxy_port}");
    let key = bastion_dir(env).join("deployer-key");
    let credhub_ca = at(&vars, &["credhub_tls", "ca"]);
    assert!(credhub_ca.ends_with('\n'), "a PEM block as bosh writes it");
    [
        ("BOSH_ENVIRONMENT", ip.clone()),
        ("BOSH_CLIENT", "admin".into()),
        ("BOSH_CLIENT_SECRET", at(&vars, &["admin_password"]).into()),
        ("BOSH_CA_CERT", at(&vars, &["director_ssl", "ca"]).into()),
        ("BOSH_ALL_PROXY", proxy.clone()),
        ("CREDHUB_SERVER", format!("https://{ip}:8844")),
        ("CREDHUB_CLIENT", "credhub-admin".into()),
        (
            "CREDHUB_SECRET",
            at(&vars, &["credhub_admin_client_secret"]).into(),
        ),
        (
            "CREDHUB_CA_CERT",
            format!("{credhub_ca}{}", at(&vars, &["uaa_ssl", "ca"])),
        ),
        ("CREDHUB_PROXY", proxy),
        ("JUMPBOX_PRIVATE_KEY", key.display().to_string()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect()
}

/// The exported variables after `eval "$(<printed>)"` in bash, read back from `env -0`.
fn eval_in_bash(printed: &str) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env.sh");
    std::fs::write(&file, printed).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"eval "$(cat "$1")" && exec env -0"#)
        .arg("bash")
        .arg(&file)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exported(&out.stdout)
}

/// fish's own reading, when fish is installed.
fn source_in_fish(fish: &Path, printed: &str) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env.fish");
    std::fs::write(&file, printed).unwrap();
    let out = Command::new(fish)
        .arg("--no-config")
        .arg("-c")
        .arg(format!("source '{}'; and env -0", file.display()))
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exported(&out.stdout)
}

/// `NAME=VALUE` entries separated by NULs, for the variables print-env sets.
fn exported(env0: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8(env0.to_vec())
        .unwrap()
        .split('\0')
        .filter_map(|entry| entry.split_once('='))
        .filter(|(name, _)| NAMES.contains(name))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Reads lines of `<start>NAME<between>'quoted'` as the shell would: `unquote` takes the text
/// after the opening quote and returns the value and the rest after the closing quote.
fn read_assignments(
    text: &str,
    start: &str,
    between: &str,
    unquote: fn(&str) -> (String, &str),
) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let line = rest
            .strip_prefix(start)
            .unwrap_or_else(|| panic!("not {start:?}: {rest:?}"));
        let (name, after) = line.split_once(between).unwrap();
        let quoted = after.strip_prefix('\'').expect("a single-quoted value");
        let (value, after) = unquote(quoted);
        rest = after.strip_prefix('\n').expect("one assignment a line");
        found.insert(name.to_string(), value);
    }
    found
}

/// fish's single quotes: `\\` and `\'` are escapes, every other backslash is itself.
fn fish_unquote(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return (value, &text[i + 1..]),
            '\\' => match chars.clone().next() {
                Some((_, next @ ('\\' | '\''))) => {
                    value.push(next);
                    chars.next();
                }
                _ => value.push('\\'),
            },
            c => value.push(c),
        }
    }
    panic!("unterminated: {text:?}")
}

/// PowerShell's single quotes: a quote (or typographic single quote) written twice is itself.
fn powershell_unquote(text: &str) -> (String, &str) {
    let quote = |c: char| matches!(c, '\'' | '\u{2018}'..='\u{201B}');
    let mut value = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if quote(c) {
            match chars.peek() {
                Some((_, next)) if quote(*next) => {
                    value.push(c);
                    chars.next();
                }
                _ => return (value, &text[i + c.len_utf8()..]),
            }
        } else {
            value.push(c);
        }
    }
    panic!("unterminated: {text:?}")
}

/// The SOCKS5 port a printed `BOSH_ALL_PROXY` names.
fn proxy_port(printed: &BTreeMap<String, String>) -> u16 {
    let proxy = &printed["BOSH_ALL_PROXY"];
    assert_eq!(proxy, &printed["CREDHUB_PROXY"]);
    proxy
        .strip_prefix("socks5://127.0.0.1:")
        .unwrap_or_else(|| panic!("{proxy}"))
        .parse()
        .unwrap()
}

fn print_env(env: &Env, args: &[&str]) -> Run {
    let mut all = vec!["print-env"];
    all.extend_from_slice(args);
    env.run(&all).ok()
}

fn json_of(run: &Run) -> BTreeMap<String, String> {
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A minimal SOCKS5 client (RFC 1928: no authentication, CONNECT to an IPv4 address): an HTTP
/// GET of `path` from `target` through the proxy on `proxy_port`, the whole answer.
fn get_through_socks5(proxy_port: u16, target: SocketAddr, path: &str) -> std::io::Result<String> {
    let SocketAddr::V4(target) = target else {
        panic!("an IPv4 target")
    };
    let mut stream = TcpStream::connect(("127.0.0.1", proxy_port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(&[5, 1, 0])?;
    let mut chosen = [0u8; 2];
    stream.read_exact(&mut chosen)?;
    assert_eq!(chosen, [5, 0], "the proxy takes no authentication");
    let mut connect = vec![5, 1, 0, 1];
    connect.extend_from_slice(&target.ip().octets());
    connect.extend_from_slice(&target.port().to_be_bytes());
    stream.write_all(&connect)?;
    let mut reply = [0u8; 10];
    stream.read_exact(&mut reply)?;
    if reply[1] != 0 {
        return Err(std::io::Error::other(format!(
            "the proxy refused: {reply:?}"
        )));
    }
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: director\r\n\r\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tunnel's record under the state directory.
fn record(env: &Env) -> Option<Value> {
    let text = std::fs::read_to_string(bastion_dir(env).join("tunnel.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

/// Whether `pid` is a process that still runs (a zombie has no command line left).
fn alive(pid: u64) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

#[test]
fn print_env_gives_the_vars_stores_values_in_every_shell_without_ssh() {
    let env = Env::new("printenv", "");
    env.pave();
    let bastion = FakeBastion::start(&env);
    env.run_via(&bastion, &["bootstrap", "--director-only"])
        .ok();
    // print-env reads custody: no bastion needs to answer (none is named, none is at the state's
    // address).
    let flags = bastion.flags();
    drop(bastion);

    let bash = print_env(&env, &[]);
    assert!(
        !bash.stderr.contains("test-admin-password") && !bash.stderr.contains("TESTDIRECTORCA"),
        "{}",
        bash.stderr
    );
    assert!(bash.stderr.contains("no tunnel"), "{}", bash.stderr);
    let in_bash = eval_in_bash(&bash.stdout);
    let port = proxy_port(&in_bash);
    assert!((20000..30000).contains(&port), "{port}");
    assert_eq!(in_bash, expected(&env, port));

    // The key is written privately, under the state directory.
    let key = PathBuf::from(&in_bash["JUMPBOX_PRIVATE_KEY"]);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        env.state()["deployer_key"]["private_key"].as_str().unwrap()
    );

    // The same port on every run; --port says another.
    assert_eq!(print_env(&env, &[]).stdout, bash.stdout);
    let other = eval_in_bash(&print_env(&env, &["--port", "23456"]).stdout);
    assert_eq!(other, expected(&env, 23456));

    assert_eq!(print_env(&env, &["--shell", "zsh"]).stdout, bash.stdout);
    let fish = print_env(&env, &["--shell", "fish"]).stdout;
    let in_fish = match Path::new("/usr/bin/fish") {
        path if path.exists() => source_in_fish(path, &fish),
        _ => read_assignments(&fish, "set -gx ", " ", fish_unquote),
    };
    assert_eq!(in_fish, expected(&env, port));
    let powershell = print_env(&env, &["--shell", "powershell"]).stdout;
    assert_eq!(
        read_assignments(&powershell, "$env:", " = ", powershell_unquote),
        expected(&env, port)
    );
    assert_eq!(print_env(&env, &["--shell", "pwsh"]).stdout, powershell);
    assert_eq!(json_of(&print_env(&env, &["--json"])), expected(&env, port));

    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["unpave", "--yes", "--skip-teardown"]);
    env.run(&args).ok();
}

#[test]
fn the_tunnel_reaches_the_private_network_through_the_bastion_and_stops() {
    let env = Env::new("tunnel", "");
    env.pave();
    let bastion = FakeBastion::start(&env);
    env.run_via(&bastion, &["bootstrap", "--director-only"])
        .ok();
    // Stands for the director: reached from the bastion's side of the tunnel.
    let director = FilesServer::start(BTreeMap::from([(
        "info".to_string(),
        b"the director answers".to_vec(),
    )]));
    let director_address: SocketAddr = director
        .url
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();

    // In the background, on the port print-env names without being told.
    let port = proxy_port(&json_of(&print_env(&env, &["--json"])));
    let started = env.run_via(&bastion, &["tunnel", "--background"]).ok();
    assert!(
        started
            .stderr
            .contains(&format!("socks5://127.0.0.1:{port}")),
        "{}",
        started.stderr
    );
    let tunnel = record(&env).expect("the tunnel's record");
    assert_eq!(tunnel["port"], port);
    let pid = tunnel["pid"].as_u64().unwrap();
    assert!(alive(pid));
    assert_eq!(mode(&bastion_dir(&env).join("tunnel.json")), 0o600);
    let printed = print_env(&env, &["--json"]);
    assert!(!printed.stderr.contains("no tunnel"), "{}", printed.stderr);
    assert_eq!(proxy_port(&json_of(&printed)), port);

    let answer = get_through_socks5(port, director_address, "/info").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("the director answers"), "{answer}");
    assert_eq!(director.asked(), ["GET /info"]);

    // Started again: it runs already. In the foreground beside it: refused.
    let again = env.run_via(&bastion, &["tunnel", "--background"]).ok();
    assert!(again.stderr.contains("already runs"), "{}", again.stderr);
    let beside = env.run_via(&bastion, &["tunnel"]);
    assert_eq!(beside.code, 1, "{}", beside.stderr);
    assert!(beside.stderr.contains("--stop"), "{}", beside.stderr);

    let stopped = env.run(&["tunnel", "--stop"]).ok();
    assert!(
        stopped.stderr.contains("stopped the tunnel"),
        "{}",
        stopped.stderr
    );
    assert!(!alive(pid));
    assert!(record(&env).is_none());
    assert!(get_through_socks5(port, director_address, "/info").is_err());
    let none = env.run(&["tunnel", "--stop"]).ok();
    assert!(none.stderr.contains("no tunnel"), "{}", none.stderr);

    // On another port: print-env names the running tunnel's.
    let other = free_port();
    env.run_via(
        &bastion,
        &["tunnel", "--background", "--port", &other.to_string()],
    )
    .ok();
    assert_eq!(proxy_port(&json_of(&print_env(&env, &["--json"]))), other);
    assert!(get_through_socks5(other, director_address, "/info").is_ok());
    env.run(&["tunnel", "--stop"]).ok();

    // A record whose pid is not the tunnel (it ended, the pid went to another program): --stop
    // leaves that process alone.
    let mut stranger = Command::new("sleep").arg("600").spawn().unwrap();
    let stale = serde_json::json!({
        "pid": stranger.id(), "port": port, "bastion": "127.0.0.1:22", "started_at": "",
    });
    std::fs::write(bastion_dir(&env).join("tunnel.json"), stale.to_string()).unwrap();
    let printed = print_env(&env, &["--json"]);
    assert!(printed.stderr.contains("no tunnel"), "{}", printed.stderr);
    let left = env.run(&["tunnel", "--stop"]).ok();
    assert!(left.stderr.contains("ended already"), "{}", left.stderr);
    assert!(stranger.try_wait().unwrap().is_none(), "sleep still runs");
    assert!(record(&env).is_none());
    stranger.kill().unwrap();
    stranger.wait().unwrap();

    // In the foreground: OpenSSH in the command's place, until it is stopped.
    let foreground_port = free_port();
    let flags = bastion.flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let port_text = foreground_port.to_string();
    args.extend(["tunnel", "--port", &port_text]);
    let mut foreground = env
        .command(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = Instant::now();
    let answer = loop {
        match get_through_socks5(foreground_port, director_address, "/info") {
            Ok(answer) => break answer,
            Err(e) => {
                assert!(
                    foreground.try_wait().unwrap().is_none(),
                    "the foreground tunnel ended: {e}"
                );
                assert!(waited.elapsed() < Duration::from_secs(120), "{e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert!(answer.ends_with("the director answers"), "{answer}");
    foreground.kill().unwrap();
    foreground.wait().unwrap();
    assert!(
        record(&env).is_none(),
        "a foreground tunnel leaves no record"
    );

    env.run_via(&bastion, &["unpave", "--yes"]).ok();
}

#[test]
fn the_tunnel_refuses_a_bastion_whose_host_key_is_not_the_pinned_one() {
    let env = Env::new("tunnelkey", "");
    env.pave();
    // Before the director: nothing in custody to print.
    let early = env.run(&["print-env"]);
    assert_eq!(early.code, 1, "{}", early.stderr);
    assert!(early.stderr.contains("--director-only"), "{}", early.stderr);

    let impostor = FakeBastion::start_with_host_key(&env, &another_host_key());
    let background = env.run_via(&impostor, &["tunnel", "--background"]);
    assert_eq!(background.code, 1, "{}", background.stderr);
    assert!(
        background.stderr.contains("pinned host key"),
        "{}",
        background.stderr
    );
    assert!(record(&env).is_none());
    let port = free_port().to_string();
    let foreground = env.run_via(&impostor, &["tunnel", "--port", &port]);
    assert_eq!(foreground.code, 1, "{}", foreground.stderr);
    assert!(
        foreground.stderr.contains("pinned host key"),
        "{}",
        foreground.stderr
    );
    env.unpave();
}

/// Another ed25519 host key, made by OpenSSH.
fn another_host_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(path).unwrap()
}
