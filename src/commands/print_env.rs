//! `cfcr-aws print-env`: the variables that point the bosh and credhub CLIs at the director from
//! this machine, through the tunnel's SOCKS5 port. Read from the state and custody's copy of the
//! director's vars store, so no SSH is needed to print them; the deployer key is written to a
//! 0600 file under the state directory, never elsewhere.

use anyhow::{Context, bail};
use serde_norway::Value;

use super::environment;
use super::terminal::{out, outln};
use super::tunnel;
use crate::cli::{GlobalArgs, PrintEnvArgs};
use crate::custody;
use crate::files::write_private;
use crate::report;
use crate::shells;
use crate::ssh;
use crate::state::Step;

/// The director's vars store, as `bosh create-env` wrote it.
struct VarsStore(Value);

impl VarsStore {
    fn parse(bytes: &[u8]) -> anyhow::Result<VarsStore> {
        // Only where it failed: the message must not quote the credentials around it.
        serde_norway::from_slice(bytes).map(VarsStore).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            anyhow::anyhow!("custody's copy of {} is not YAML{at}", custody::VARS_STORE)
        })
    }

    /// The string at `path` (`/`-separated keys, as `bosh int --path` names them).
    fn get(&self, path: &str) -> anyhow::Result<&str> {
        path.trim_start_matches('/')
            .split('/')
            .try_fold(&self.0, |value, key| value.get(key))
            .and_then(Value::as_str)
            .with_context(|| {
                format!(
                    "the director's vars store has no {path} (bosh-deployment's uaa.yml and credhub.yml set it)"
                )
            })
    }
}

/// The variables, in the order they are printed.
fn variables(
    vars: &VarsStore,
    director_ip: &str,
    port: u16,
    key: &str,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let proxy = format!("socks5://127.0.0.1:{port}");
    let credhub_ca = vars.get("/credhub_tls/ca")?;
    // CredHub's own CA and UAA's, whose tokens CredHub checks: both, as credhub-login.sh gives them.
    let separator = if credhub_ca.ends_with('\n') { "" } else { "\n" };
    let credhub_cas = format!("{credhub_ca}{separator}{}", vars.get("/uaa_ssl/ca")?);
    Ok(vec![
        ("BOSH_ENVIRONMENT", director_ip.to_string()),
        ("BOSH_CLIENT", "admin".to_string()),
        (
            "BOSH_CLIENT_SECRET",
            vars.get("/admin_password")?.to_string(),
        ),
        ("BOSH_CA_CERT", vars.get("/director_ssl/ca")?.to_string()),
        ("BOSH_ALL_PROXY", proxy.clone()),
        ("CREDHUB_SERVER", format!("https://{director_ip}:8844")),
        ("CREDHUB_CLIENT", "credhub-admin".to_string()),
        (
            "CREDHUB_SECRET",
            vars.get("/credhub_admin_client_secret")?.to_string(),
        ),
        ("CREDHUB_CA_CERT", credhub_cas),
        ("CREDHUB_PROXY", proxy),
        ("JUMPBOX_PRIVATE_KEY", key.to_string()),
    ])
}

pub async fn run(global: &GlobalArgs, args: PrintEnvArgs) -> anyhow::Result<()> {
    let env = environment::environment(global, &args.env)?;
    let backend = environment::backend(global).await?;
    let state = environment::existing_state(&backend, &env).await?.state;
    let Some(bytes) = custody::read(&backend, &state, custody::VARS_STORE)? else {
        bail!(
            "custody holds no vars store of the director of {env:?} ({}): deploy the director first, `cfcr-aws bootstrap --env {env} --director-only`",
            backend.custody_place(&env)
        );
    };
    let vars = VarsStore::parse(&bytes)?;
    if !state.bootstrap.done(Step::DeployBosh) {
        report::warning(&format!(
            "the director of {env:?} is not completely deployed (deploy-bosh has not finished): `cfcr-aws bootstrap --env {env}` finishes it"
        ));
    }
    let director_ip = state
        .director_network()
        .context("the state does not know the private subnet yet: pave first")?
        .internal_ip
        .to_string();
    let dir = tunnel::local_dir(global, &env)?;
    let key = dir.join(ssh::DEPLOYER_KEY);
    write_private(&key, state.deployer_key.private_key.as_bytes())?;
    let port = tunnel_port(&env, &dir, args.port)?;
    let variables = variables(&vars, &director_ip, port, &key.to_string_lossy())?;
    if args.json {
        let object: serde_json::Map<String, serde_json::Value> = variables
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.into()))
            .collect();
        let text = serde_json::to_string_pretty(&object).expect("strings serialise");
        outln!("{text}")?;
    } else {
        let lines: String = variables
            .iter()
            .map(|(name, value)| shells::assignment(args.shell, name, value))
            .collect();
        out!("{lines}")?;
    }
    Ok(())
}

/// `--port`, else the running background tunnel's, else the environment's own; saying when no
/// tunnel runs there, since the CLIs then cannot connect.
fn tunnel_port(env: &str, dir: &std::path::Path, asked: Option<u16>) -> anyhow::Result<u16> {
    let running = tunnel::running(dir)?;
    let port = asked
        .or(running.as_ref().map(|t| t.port))
        .unwrap_or_else(|| tunnel::default_port(env));
    match running {
        Some(t) if t.port != port => report::warning(&format!(
            "the tunnel for {env:?} runs on port {}, not {port}: the variables name {port}",
            t.port
        )),
        Some(_) => {}
        None => report::note(&format!(
            "no tunnel for {env:?} runs in the background: the variables name 127.0.0.1:{port}, where `cfcr-aws tunnel --env {env} --background{}` listens",
            asked.map(|p| format!(" --port {p}")).unwrap_or_default()
        )),
    }
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: &str = "admin_password: pw\ncredhub_admin_client_secret: chs\ndirector_ssl:\n  ca: |\n    DIRECTOR\n  certificate: c\ncredhub_tls:\n  ca: CREDHUB\nuaa_ssl:\n  ca: |\n    UAA\n";

    #[test]
    fn every_variable_comes_from_its_place_in_the_vars_store() {
        let vars = VarsStore::parse(STORE.as_bytes()).unwrap();
        let printed = variables(&vars, "10.0.1.252", 21234, "/s/e.bastion/deployer-key").unwrap();
        let value = |name: &str| {
            printed
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        assert_eq!(value("BOSH_ENVIRONMENT"), "10.0.1.252");
        assert_eq!(value("BOSH_CLIENT_SECRET"), "pw");
        assert_eq!(value("BOSH_CA_CERT"), "DIRECTOR\n");
        assert_eq!(value("CREDHUB_SERVER"), "https://10.0.1.252:8844");
        assert_eq!(value("CREDHUB_SECRET"), "chs");
        // A CA without its final newline still ends its line before the next one starts.
        assert_eq!(value("CREDHUB_CA_CERT"), "CREDHUB\nUAA\n");
        assert_eq!(value("BOSH_ALL_PROXY"), "socks5://127.0.0.1:21234");
        assert_eq!(value("CREDHUB_PROXY"), "socks5://127.0.0.1:21234");
        assert_eq!(value("JUMPBOX_PRIVATE_KEY"), "/s/e.bastion/deployer-key");
    }

    #[test]
    fn a_missing_value_is_named_and_a_broken_store_not_quoted() {
        let vars = VarsStore::parse(b"admin_password: pw\n").unwrap();
        let err = variables(&vars, "10.0.1.252", 1, "k").unwrap_err();
        assert!(err.to_string().contains("/credhub_tls/ca"), "{err}");
        let err = VarsStore::parse(b"admin_password: [secret-value\n")
            .err()
            .unwrap();
        assert!(!format!("{err:#}").contains("secret-value"), "{err:#}");
    }
}
