//! Shared test harness: a LocalStack for every test binary, one environment (prefix, config file,
//! state directory) per test, and SDK clients to inspect what the tool did.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod drift;
pub mod files_server;
pub mod gopatch;
pub mod network;
pub mod proxy;
pub mod realism;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region};
use serde_json::Value;

pub const REGION: &str = "us-east-1";
/// LocalStack's Canonical images are old Ubuntu releases.
pub const AMI_PATTERN: &str = "ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*";
/// The port tests start LocalStack on when CFCR_AWS_TEST_ENDPOINT does not name one.
const TEST_PORT: &str = "4599";

/// The LocalStack endpoint: CFCR_AWS_TEST_ENDPOINT, or one started by the harness script.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(url) = std::env::var("CFCR_AWS_TEST_ENDPOINT") {
            return url;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/localstack.sh");
        let out = Command::new("bash")
            .arg(script)
            .args(["start", TEST_PORT])
            .output()
            .expect("running tests/harness/localstack.sh");
        assert!(
            out.status.success(),
            "starting LocalStack failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// One test's environment: a unique prefix, a working directory with `cfcr-aws.toml`, a state dir.
pub struct Env {
    pub prefix: String,
    pub dir: tempfile::TempDir,
    pub endpoint: String,
}

impl Env {
    /// A fresh environment against LocalStack; `extra_config` is appended to the config file.
    pub fn new(label: &str, extra_config: &str) -> Env {
        Env::against(label, extra_config, endpoint())
    }

    /// A fresh environment whose AWS endpoint is `endpoint` (for tests that count requests).
    pub fn against(label: &str, extra_config: &str, endpoint: &str) -> Env {
        let prefix = format!("{label}-{:06x}", fastrand::u32(..0x100_0000));
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "prefix = \"{prefix}\"\nregion = \"{REGION}\"\nbastion_ami_name = \"{AMI_PATTERN}\"\n{extra_config}\n"
        );
        std::fs::write(dir.path().join("cfcr-aws.toml"), config).unwrap();
        Env {
            prefix,
            dir,
            endpoint: endpoint.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_path(&self) -> PathBuf {
        self.path()
            .join("state")
            .join(format!("{}.json", self.prefix))
    }

    /// The binary with a clean environment: LocalStack's test credentials and this endpoint only.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cfcr-aws"));
        command
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // LocalStack reports an elastic IP quota of 5 and does not enforce it; tests run in
            // parallel.
            .env("CFCR_AWS_SKIP_QUOTA_CHECK", "true")
            .env("AWS_ENDPOINT_URL", &self.endpoint);
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("running cfcr-aws"))
    }

    pub fn pave(&self) -> Run {
        self.run(&["pave", "--yes", "--no-bootstrap"]).ok()
    }

    pub fn unpave(&self) -> Run {
        self.run(&["unpave", "--yes"]).ok()
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_path()).unwrap()).unwrap()
    }

    pub fn outputs(&self) -> Value {
        let run = self.run(&["outputs", "--json"]).ok();
        serde_json::from_str(&run.stdout).unwrap()
    }

    /// The id the state records for a resource.
    pub fn id(&self, key: &str) -> String {
        self.state()["resources"][key]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{key} not in the state"))
            .to_string()
    }
}

/// SDK clients pointed at the test LocalStack, for checking what the tool created.
pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub iam: aws_sdk_iam::Client,
}

pub async fn aws() -> Aws {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    Aws {
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        ),
        ec2: aws_sdk_ec2::Client::new(&config),
        elb: aws_sdk_elasticloadbalancing::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
    }
}

/// A stand-in for the bastion: Debian's OpenSSH server, run unprivileged-style on a loopback port
/// with the environment's pinned host key (or another, to test refusal), accepting the deployer key,
/// with recording stand-ins for bosh, credhub, kubectl, git and sudo first on its PATH.
pub struct FakeBastion {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_0600(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl FakeBastion {
    /// Starts the server with the environment's pinned host key.
    pub fn start(env: &Env) -> FakeBastion {
        let state = env.state();
        let host_key = state["bastion_host_key"]["private_key"].as_str().unwrap();
        FakeBastion::start_with_host_key(env, host_key)
    }

    pub fn start_with_host_key(env: &Env, host_key: &str) -> FakeBastion {
        FakeBastion::start_with(
            env,
            host_key,
            &["bosh", "credhub", "kubectl", "git", "sudo"],
        )
    }

    /// For an environment whose state is in S3 at `url` (`s3://BUCKET/PREFIX`): its keys are read
    /// from the keys object beside the state.
    pub async fn start_for_state(env: &Env, url: &str) -> FakeBastion {
        let (bucket, prefix) = url
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .expect("an s3://BUCKET/PREFIX address");
        let out = aws()
            .await
            .s3
            .get_object()
            .bucket(bucket)
            .key(format!("{prefix}/{}.secrets.json", env.prefix))
            .send()
            .await
            .unwrap();
        let keys: Value =
            serde_json::from_slice(&out.body.collect().await.unwrap().to_vec()).unwrap();
        FakeBastion::start_keys(
            keys["bastion_host_key"]["private_key"].as_str().unwrap(),
            keys["deployer_key"]["public_key"].as_str().unwrap(),
            &["bosh", "credhub", "kubectl", "git", "sudo"],
        )
    }

    /// With stand-ins for `tools` only: what is left out, the bundle must install.
    pub fn start_with(env: &Env, host_key: &str, tools: &[&str]) -> FakeBastion {
        let state = env.state();
        FakeBastion::start_keys(
            host_key,
            state["deployer_key"]["public_key"].as_str().unwrap(),
            tools,
        )
    }

    /// The server with `host_key`, letting in `deployer_public_key`, with stand-ins for `tools`.
    pub fn start_keys(host_key: &str, deployer_public_key: &str, tools: &[&str]) -> FakeBastion {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "these tests need Debian's openssh-server; tests/run installs it"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let home = root.join("home");
        let bin = root.join("bin");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/bastion/stand-in");
        // The tools the bundle installs stand in where it installs them (~/bin); the others
        // stand first on the PATH.
        std::fs::create_dir_all(home.join("bin")).unwrap();
        for tool in tools {
            let dir = match *tool {
                "bosh" | "credhub" | "kubectl" => home.join("bin"),
                _ => bin.clone(),
            };
            std::os::unix::fs::symlink(&stand_in, dir.join(tool)).unwrap();
        }
        write_0600(&root.join("host_key"), host_key);
        write_0600(&root.join("authorized_keys"), deployer_public_key);
        let port = free_port();
        let user = current_user();
        let config = format!(
            "ListenAddress 127.0.0.1:{port}\n\
             HostKey {root}/host_key\n\
             AuthorizedKeysFile {root}/authorized_keys\n\
             PidFile {root}/sshd.pid\n\
             UsePAM no\n\
             StrictModes no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n\
             AllowUsers {user}\n\
             SetEnv PATH={bin}:/usr/local/bin:/usr/bin:/bin HOME={home} CFCR_TEST_RECORD={root}/record\n",
            root = root.display(),
            bin = bin.display(),
            home = home.display(),
        );
        std::fs::write(root.join("sshd_config"), config).unwrap();
        // As root, sshd wants its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let status = Command::new(sshd)
            .arg("-f")
            .arg(root.join("sshd_config"))
            .arg("-E")
            .arg(root.join("sshd.log"))
            .status()
            .unwrap();
        assert!(status.success(), "sshd did not start");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FakeBastion { dir, port }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The global flags that point cfcr-aws at this bastion.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--bastion-address".into(),
            format!("127.0.0.1:{}", self.port),
            "--bastion-user".into(),
            current_user(),
        ]
    }

    /// Every stand-in call so far, one line each.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("record"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Makes every stand-in call whose command line contains `text` fail; `None` stops that.
    pub fn fail_on(&self, text: Option<&str>) {
        let path = self.home().join(".fail-on");
        match text {
            Some(text) => std::fs::write(path, text).unwrap(),
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Drop for FakeBastion {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("sshd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

impl Env {
    /// Runs the binary with the fake bastion's flags added.
    pub fn run_via(&self, bastion: &FakeBastion, args: &[&str]) -> Run {
        let flags = bastion.flags();
        let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// Everything in LocalStack that belongs to the environment, as `kind:id`, found by ownership tag
/// and by the environment's names: what the state must account for exactly.
pub async fn owned_in_aws(aws: &Aws, prefix: &str) -> std::collections::BTreeSet<String> {
    use aws_sdk_ec2::types::Filter;
    let mut found = std::collections::BTreeSet::new();
    let owner = || {
        Filter::builder()
            .name("tag:cfcr-aws:env")
            .values(prefix)
            .build()
    };
    let owned = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("cfcr-aws:env") && t.value() == Some(prefix))
    };
    let ec2 = &aws.ec2;
    for v in ec2
        .describe_vpcs()
        .filters(owner())
        .send()
        .await
        .unwrap()
        .vpcs()
    {
        found.insert(format!("vpc:{}", v.vpc_id().unwrap()));
    }
    for s in ec2
        .describe_subnets()
        .filters(owner())
        .send()
        .await
        .unwrap()
        .subnets()
    {
        found.insert(format!("subnet:{}", s.subnet_id().unwrap()));
    }
    for g in ec2
        .describe_internet_gateways()
        .filters(owner())
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        found.insert(format!("igw:{}", g.internet_gateway_id().unwrap()));
    }
    for t in ec2
        .describe_route_tables()
        .filters(owner())
        .send()
        .await
        .unwrap()
        .route_tables()
    {
        found.insert(format!("rtb:{}", t.route_table_id().unwrap()));
    }
    for g in ec2
        .describe_security_groups()
        .filters(owner())
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        found.insert(format!("sg:{}", g.group_id().unwrap()));
    }
    for a in ec2.describe_addresses().send().await.unwrap().addresses() {
        if owned(a.tags()) {
            found.insert(format!("eip:{}", a.allocation_id().unwrap()));
        }
    }
    let mut nats = Vec::new();
    let mut token = None;
    loop {
        let page = ec2
            .describe_nat_gateways()
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        nats.extend_from_slice(page.nat_gateways());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for n in &nats {
        let live = matches!(n.state().map(|s| s.as_str()), Some("pending" | "available"));
        if owned(n.tags()) && live {
            found.insert(format!("nat:{}", n.nat_gateway_id().unwrap()));
        }
    }
    let mut reservations = Vec::new();
    let mut token = None;
    loop {
        let page = ec2
            .describe_instances()
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        reservations.extend_from_slice(page.reservations());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for i in reservations.iter().flat_map(|r| r.instances()) {
        let state = i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string());
        let live = !matches!(state.as_deref(), Some("terminated" | "shutting-down"));
        if owned(i.tags()) && live {
            found.insert(format!("instance:{}", i.instance_id().unwrap()));
        }
    }
    for k in ec2.describe_key_pairs().send().await.unwrap().key_pairs() {
        if k.key_name() == Some(format!("{prefix}-deployer").as_str()) {
            found.insert(format!("keypair:{}", k.key_name().unwrap()));
        }
    }
    let lb = format!("{prefix}-cfcr-api");
    if aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(&lb)
        .send()
        .await
        .is_ok()
    {
        found.insert(format!("elb:{lb}"));
    }
    for name in ["cfcr-master", "cfcr-worker", "bosh-director"] {
        let name = format!("{prefix}-{name}");
        if aws.iam.get_role().role_name(&name).send().await.is_ok() {
            found.insert(format!("role:{name}"));
        }
        if aws
            .iam
            .get_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await
            .is_ok()
        {
            found.insert(format!("profile:{name}"));
        }
    }
    if aws
        .iam
        .get_user()
        .user_name(format!("{prefix}-bosh-director"))
        .send()
        .await
        .is_ok()
    {
        found.insert(format!("user:{prefix}-bosh-director"));
    }
    let policies = aws
        .iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    for p in policies.policies() {
        if p.policy_name() == Some(format!("{prefix}-bosh-director").as_str()) {
            found.insert(format!("policy:{}", p.arn().unwrap()));
        }
    }
    found
}

/// LocalStack holds exactly what the state records: the environment's 21 owned resources.
pub async fn assert_complete(env: &Env) {
    assert_owns(env, 21).await;
}

/// LocalStack holds exactly what the state records as created: `count` resources.
pub async fn assert_owns(env: &Env, count: usize) {
    let in_aws = owned_in_aws(&aws().await, &env.prefix).await;
    assert_eq!(in_aws, recorded_in_state(&env.state()));
    assert_eq!(in_aws.len(), count, "{in_aws:?}");
}

/// Nothing of the environment is left, in LocalStack or in the state directory.
pub async fn assert_gone(env: &Env) {
    assert!(!env.state_path().exists());
    let left = owned_in_aws(&aws().await, &env.prefix).await;
    assert!(left.is_empty(), "{left:?}");
}

pub fn recorded_in_state(state: &Value) -> std::collections::BTreeSet<String> {
    let kind = |key: &str| match key {
        "vpc" => Some("vpc"),
        "public_subnet" | "private_subnet" => Some("subnet"),
        "internet_gateway" => Some("igw"),
        "public_route_table" | "private_route_table" => Some("rtb"),
        "node_access_security_group" | "api_access_security_group" => Some("sg"),
        "nat_eip" | "bastion_eip" => Some("eip"),
        "nat_gateway" => Some("nat"),
        "bastion" => Some("instance"),
        "deployer_key_pair" => Some("keypair"),
        "master_load_balancer" => Some("elb"),
        "master_role" | "worker_role" | "director_role" => Some("role"),
        "master_instance_profile" | "worker_instance_profile" | "director_instance_profile" => {
            Some("profile")
        }
        "director_policy" => Some("policy"),
        "director_user" => Some("user"),
        _ => None,
    };
    state["resources"]
        .as_object()
        .map(|resources| {
            resources
                .iter()
                // Adopted resources are the operator's: they carry no ownership tag.
                .filter(|(_, record)| record["origin"] != "adopted")
                .filter_map(|(key, record)| {
                    Some(format!("{}:{}", kind(key)?, record["id"].as_str()?))
                })
                .collect()
        })
        .unwrap_or_default()
}
