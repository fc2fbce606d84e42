//! `cfcr-aws tunnel`: a SOCKS5 proxy on a loopback port whose connections leave from the bastion
//! (OpenSSH's `-D`), over a connection that checks the bastion's pinned host key, for the bosh and
//! credhub CLIs (`print-env`'s `BOSH_ALL_PROXY` and `CREDHUB_PROXY`). Their own `ssh+socks5://`
//! proxy accepts whatever host key the bastion shows first (docs/bootstrap.md, "Reaching the
//! director from your machine").
//!
//! What this machine keeps to reach the bastion lives in `<state-dir>/<env>.bastion/` (0700): the
//! deployer key, the pinned known-hosts file, and, while a background tunnel runs, its record
//! (`tunnel.json`: pid and port) and OpenSSH's messages (`tunnel.log`).

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::environment;
use crate::cli::{GlobalArgs, TunnelArgs};
use crate::files::{private_dir, refuse_symlink, write_private};
use crate::report;
use crate::ssh::{self, Bastion, Target};

/// The ports an environment's own port is chosen from: below every common system's ephemeral
/// range (Linux from 32768, macOS and Windows from 49152), so that no outgoing connection holds it.
const PORTS: std::ops::Range<u16> = 20000..30000;
const RECORD: &str = "tunnel.json";
const LOG: &str = "tunnel.log";
/// How long OpenSSH may take to be let in and open the port (its own connect timeout is 10 s).
const UP_WITHIN: Duration = Duration::from_secs(60);
/// How long a tunnel may take to end once told to.
const STOPPED_WITHIN: Duration = Duration::from_secs(10);

/// The environment's own port: the same on every machine and every run, so that `print-env` and
/// `tunnel` agree without talking (the first four bytes of the name's SHA-256, into `PORTS`).
pub fn default_port(env: &str) -> u16 {
    let digest = Sha256::digest(env.as_bytes());
    let number = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let offset = number % u32::from(PORTS.end - PORTS.start);
    PORTS.start + u16::try_from(offset).expect("below the range's width")
}

/// `<state-dir>/<env>.bastion`, made private (0700) if need be, as an absolute path: OpenSSH is
/// given files in it, and a tunnel is told from other processes by them whatever the working
/// directory.
pub fn local_dir(global: &GlobalArgs, env: &str) -> anyhow::Result<PathBuf> {
    let dir = global.state_dir.join(format!("{env}.bastion"));
    refuse_symlink(&dir)?;
    private_dir(&dir)?;
    // OpenSSH trusts the known-hosts file in it: nobody else may replace that.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", dir.display()))?;
    fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))
}

/// What a background tunnel leaves under the state directory.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub pid: u32,
    pub port: u16,
    /// The bastion's `HOST:PORT`.
    pub bastion: String,
    pub started_at: String,
}

fn read_record(dir: &Path) -> anyhow::Result<Option<Record>> {
    let path = dir.join(RECORD);
    match fs::read(&path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("reading {}: remove it", path.display())
            })?))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn remove_record(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(RECORD);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The environment's background tunnel, when its record names a process that is still that
/// tunnel.
pub fn running(dir: &Path) -> anyhow::Result<Option<Record>> {
    Ok(read_record(dir)?.filter(|r| is_the_tunnel(r, dir)))
}

/// Whether `record.pid` is an OpenSSH that serves `record.port` with the known-hosts file in `dir`
/// (no other process has both): a pid reused by anything else is never taken for the tunnel.
fn is_the_tunnel(record: &Record, dir: &Path) -> bool {
    let Some(words) = command_line(record.pid) else {
        return false;
    };
    let program = words.first().and_then(|w| Path::new(w).file_name());
    let listens = words
        .windows(2)
        .any(|w| w[0] == "-D" && w[1] == ssh::socks_listen_address(record.port));
    let known_hosts = ssh::known_hosts_option(&dir.join(ssh::KNOWN_HOSTS));
    program.is_some_and(|p| p == "ssh") && listens && words.contains(&known_hosts)
}

/// A live process's arguments; `None` when there is none (or a zombie: no arguments left).
#[cfg(target_os = "linux")]
fn command_line(pid: u32) -> Option<Vec<String>> {
    let bytes = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = bytes
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    (!words.is_empty()).then_some(words)
}

/// A live process's arguments, as `ps` shows them (split at spaces).
#[cfg(not(target_os = "linux"))]
fn command_line(pid: u32) -> Option<Vec<String>> {
    let out = std::process::Command::new("ps")
        .args(["-ww", "-o", "args=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    (out.status.success() && !words.is_empty()).then_some(words)
}

pub async fn run(global: &GlobalArgs, args: TunnelArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    if args.stop {
        return stop(global, &env);
    }
    let state = environment::existing_state(&environment::backend(global).await?, &env)
        .await?
        .state;
    let dir = local_dir(global, &env)?;
    let port = args.port.unwrap_or_else(|| default_port(&env));
    if let Some(tunnel) = running(&dir)? {
        if tunnel.port == port && args.background {
            report::note(&format!(
                "the tunnel for {env:?} already runs: socks5://127.0.0.1:{port} (pid {}, since {})",
                tunnel.pid, tunnel.started_at
            ));
            return Ok(());
        }
        bail!(
            "a tunnel for {env:?} already runs in the background on port {} (pid {}): use it, or stop it first with `cfcr-aws tunnel --env {env} --stop`",
            tunnel.port,
            tunnel.pid
        );
    }
    // OpenSSH would only say it cannot listen; said here with what to do.
    TcpListener::bind(("127.0.0.1", port)).with_context(|| {
        format!("127.0.0.1:{port} is taken by another program: pass --port (to print-env too)")
    })?;
    let target = Target::new(
        &state,
        global.bastion_address.as_deref(),
        &global.bastion_user,
    )?;
    let bastion = Bastion::kept_in(&state, target, &dir)?;
    if args.background {
        background(&env, &bastion, &dir, port)
    } else {
        foreground(&env, &bastion, port)
    }
}

/// OpenSSH in this process's place, until Ctrl-C (a tunnel in the foreground has nothing to tidy
/// up after). The bastion is tried first, for a clear error when it is not the one pinned.
fn foreground(env: &str, bastion: &Bastion, port: u16) -> anyhow::Result<()> {
    bastion.probe()?;
    report::note(&format!(
        "tunnel for {env:?}: socks5://127.0.0.1:{port} through the bastion at {}, until Ctrl-C; in another shell, eval \"$(cfcr-aws print-env --env {env}{})\"",
        bastion.address(),
        port_flag(env, port)
    ));
    let err = bastion.socks_proxy(port).exec();
    Err(err).context("running ssh (is the OpenSSH client installed?)")
}

/// `--port P` when `port` is not the environment's own.
fn port_flag(env: &str, port: u16) -> String {
    if port == default_port(env) {
        String::new()
    } else {
        format!(" --port {port}")
    }
}

/// OpenSSH in a session of its own, recorded before it is waited for (an interrupted wait leaves
/// a tunnel `--stop` finds), until the port answers; a failure stops it and says why.
fn background(env: &str, bastion: &Bastion, dir: &Path, port: u16) -> anyhow::Result<()> {
    let log_path = dir.join(LOG);
    refuse_symlink(&log_path)?;
    let log = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut command = bastion.socks_proxy(port);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    ssh::detach(&mut command);
    let mut child = command
        .spawn()
        .context("running ssh (is the OpenSSH client installed?)")?;
    let record = Record {
        pid: child.id(),
        port,
        bastion: bastion.address(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let recorded = write_private(
        &dir.join(RECORD),
        &serde_json::to_vec_pretty(&record).expect("a record serialises"),
    );
    if let Err(e) = recorded {
        // Unrecorded, nothing could find it to stop it.
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let started = Instant::now();
    let _shown = report::activity(format!(
        "opening the tunnel through the bastion at {}",
        bastion.address()
    ));
    loop {
        if let Some(status) = child.try_wait()? {
            remove_record(dir)?;
            let said = fs::read_to_string(&log_path).unwrap_or_default();
            let said = if said.trim().is_empty() {
                format!("ssh exited ({status}) before the tunnel was up")
            } else {
                said
            };
            return Err(bastion.failure(&said));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if started.elapsed() >= UP_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            remove_record(dir)?;
            bail!(
                "the tunnel was not up after {}; OpenSSH said: {}",
                report::human(UP_WITHIN),
                fs::read_to_string(&log_path).unwrap_or_default().trim()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    report::note(&format!(
        "tunnel for {env:?} up: socks5://127.0.0.1:{port} through the bastion at {} (pid {}); eval \"$(cfcr-aws print-env --env {env}{})\" to use it, `cfcr-aws tunnel --env {env} --stop` to stop it",
        bastion.address(),
        record.pid,
        port_flag(env, port)
    ));
    Ok(())
}

/// For `unpave`: the environment is gone, so is what this machine kept to reach its bastion (a
/// running tunnel, the deployer key print-env wrote).
pub(super) fn forget(global: &GlobalArgs, env: &str) -> anyhow::Result<()> {
    let dir = global.state_dir.join(format!("{env}.bastion"));
    if !dir.exists() {
        return Ok(());
    }
    stop(global, env)?;
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Stops the background tunnel its record names, and only when that process is still the tunnel.
fn stop(global: &GlobalArgs, env: &str) -> anyhow::Result<()> {
    let dir = global.state_dir.join(format!("{env}.bastion"));
    let dir = match fs::canonicalize(&dir) {
        Ok(dir) => dir,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            report::note(&format!("no tunnel for {env:?} is running"));
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("resolving {}", dir.display())),
    };
    let Some(record) = read_record(&dir)? else {
        report::note(&format!("no tunnel for {env:?} is running"));
        return Ok(());
    };
    if !is_the_tunnel(&record, &dir) {
        remove_record(&dir)?;
        report::note(&format!(
            "the tunnel for {env:?} (pid {}, port {}) had ended already; its record is removed, nothing else was stopped",
            record.pid, record.port
        ));
        return Ok(());
    }
    let pid = libc::pid_t::try_from(record.pid).context("a pid out of range")?;
    // SAFETY: kill(2) with a pid just checked to be the tunnel's OpenSSH.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        let err = std::io::Error::last_os_error();
        return Err(err).with_context(|| format!("stopping the tunnel (pid {pid})"));
    }
    let asked = Instant::now();
    while is_the_tunnel(&record, &dir) {
        if asked.elapsed() >= STOPPED_WITHIN {
            bail!(
                "the tunnel (pid {pid}) still runs {} after SIGTERM; kill it yourself",
                report::human(STOPPED_WITHIN)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    remove_record(&dir)?;
    report::note(&format!(
        "stopped the tunnel for {env:?} (pid {pid}, port {})",
        record.port
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environments_port_is_its_own_and_in_the_range() {
        let port = default_port("cfcr-dev");
        assert!(PORTS.contains(&port));
        assert_eq!(port, default_port("cfcr-dev"));
        let ports: std::collections::BTreeSet<u16> =
            (0..50).map(|n| default_port(&format!("env-{n}"))).collect();
        assert!(ports.len() > 40, "{ports:?}");
        assert!(ports.iter().all(|p| PORTS.contains(p)));
    }

    #[test]
    fn only_the_tunnels_own_openssh_is_the_tunnel() {
        let dir = tempfile::tempdir().unwrap();
        let record = |pid| Record {
            pid,
            port: 1080,
            bastion: "203.0.113.5:22".into(),
            started_at: String::new(),
        };
        // This test's own process is not an OpenSSH serving the port.
        assert!(!is_the_tunnel(&record(std::process::id()), dir.path()));
        assert!(!is_the_tunnel(&record(u32::MAX), dir.path()));
    }
}
