//! Shared test harness: a LocalStack for every test binary, one environment (prefix, config file,
//! state directory) per test, and SDK clients to inspect what the tool did.

#![allow(dead_code)] // each test binary uses a different part of the harness

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
        ec2: aws_sdk_ec2::Client::new(&config),
        elb: aws_sdk_elasticloadbalancing::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
    }
}
