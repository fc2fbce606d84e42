//! The hand-off (issue #3) against a real OpenSSH server standing in for the bastion, with recording
//! stand-ins for bosh, credhub, kubectl and git.

mod common;

use std::os::unix::fs::PermissionsExt;

use std::collections::BTreeMap;

use common::files_server::{FilesServer, STEMCELL, STEMCELL_SHA1, stemcell_server, with_stemcell};
use common::{Env, FakeBastion, aws};
use serde_json::{Value, json};

fn director_args(env: &Env, instance_profile: bool) -> String {
    let p = &env.prefix;
    let credentials = if instance_profile {
        format!(
            "-o bosh-deployment/aws/cli-iam-instance-profile.yml -o bosh-deployment/aws/iam-instance-profile.yml -v iam_instance_profile={p}-bosh-director"
        )
    } else {
        "--var-env=director_var".to_string()
    };
    format!(
        "bosh-deployment/bosh.yml --state=bosh-aws-state.json --vars-store=bosh-aws-creds.yml \
         -o bosh-deployment/aws/cpi.yml -o bosh-deployment/uaa.yml -o bosh-deployment/credhub.yml \
         -o bosh-deployment/jumpbox-user.yml \
         -o ops-files/director-size-aws.yml -o ops-files/imdsv2.yml -o ops-files/director-tags.yml \
         {credentials} -v director_name=bosh-aws -v internal_cidr=10.0.2.0/24 -v internal_gw=10.0.2.1 \
         -v internal_ip=10.0.2.252 -v region=us-east-1 -v az=us-east-1a -v default_key_name={p}-deployer \
         -v default_security_groups=[{sg}] -v subnet_id={subnet}",
        sg = env.id("node_access_security_group"),
        subnet = env.id("private_subnet"),
    )
}

/// The calls of one tool, without the package check that depends on the test machine, and without
/// the digest of the director's state file the stand-in notes (tests/custody.rs checks it).
fn calls_of(bastion: &FakeBastion, tool: &str) -> Vec<String> {
    bastion
        .calls()
        .into_iter()
        .filter(|c| c.starts_with(&format!("{tool} ")))
        .map(|c| {
            c.split(' ')
                .filter(|w| !w.starts_with("{state-before="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

const DIRECTOR: &str =
    "{BOSH_ENVIRONMENT=10.0.2.252} {BOSH_CLIENT=admin} {BOSH_CLIENT_SECRET} {BOSH_CA_CERT}";

fn expected_bosh_calls(env: &Env, stemcells: &FilesServer, instance_profile: bool) -> Vec<String> {
    let p = &env.prefix;
    let secret = if instance_profile {
        String::new()
    } else {
        " {director_var_access_key_id} {director_var_secret_access_key}".to_string()
    };
    let int = |path: &str| format!("bosh int bosh-aws-creds.yml --path {path}");
    let targeted = [
        int("/admin_password") + " {BOSH_CLIENT=admin} @cfcr-manifests",
        int("/director_ssl/ca") + " {BOSH_CLIENT=admin} @cfcr-manifests",
    ];
    let mut calls = vec![format!(
        "bosh create-env {}{secret} @cfcr-manifests",
        director_args(env, instance_profile)
    )];
    calls.extend(targeted.clone());
    calls.push(format!(
        "bosh -n upload-stemcell {}/{STEMCELL} --sha1 {STEMCELL_SHA1} {DIRECTOR} @cfcr-manifests",
        stemcells.url
    ));
    calls.extend(targeted.clone());
    calls.push(format!(
        "bosh -n update-cloud-config cloud-config.yml -v az=us-east-1a \
         -v internal_cidr=10.0.2.0/24 -v internal_gw=10.0.2.1 -v internal_ip=10.0.2.252 \
         -v dns_recursor_ip=10.0.0.2 -v subnet_id={subnet} {DIRECTOR} @cfcr-manifests",
        subnet = env.id("private_subnet")
    ));
    calls.push(format!(
        "bosh -n update-runtime-config --name dns bosh-deployment/runtime-configs/dns.yml \
         {DIRECTOR} @cfcr-manifests"
    ));
    calls.extend(targeted.clone());
    calls.push(format!(
        "bosh -n update-config --type cloud --name cfcr \
         kubo-deployment/manifests/cloud-config/iaas/aws/use-vm-extensions.yml \
         -v deployment_name=cfcr -v master_iam_instance_profile={p}-cfcr-master \
         -v worker_iam_instance_profile={p}-cfcr-worker -v cfcr_master_target_pool={p}-cfcr-api \
         {DIRECTOR} @cfcr-manifests"
    ));
    calls.push(format!(
        "bosh -n -d cfcr deploy kubo-deployment/manifests/cfcr.yml \
         -o kubo-deployment/manifests/ops-files/misc/scale-to-one-az.yml \
         -o kubo-deployment/manifests/ops-files/worker_count.yml \
         -o kubo-deployment/manifests/ops-files/use-vm-extensions.yml \
         -o kubo-deployment/manifests/ops-files/iaas/aws/cloud-provider.yml \
         -o kubo-deployment/manifests/ops-files/iaas/aws/lb.yml \
         -o kubo-deployment/manifests/ops-files/add-hostname-to-master-certificate.yml \
         -o kubo-deployment/manifests/ops-files/non-precompiled-releases.yml \
         -o kubo-deployment/manifests/ops-files/addons-spec.yml \
         -o ops-files/releases-from-mirror.yml -o ops-files/kubo-release.yml \
         -o ops-files/cfcr-stemcell.yml --var-file=addons-spec=addons-spec.yml \
         -v deployment_name=cfcr -v worker_count={workers} -v kubernetes_cluster_tag={tag} \
         -v api-hostname={p}-cfcr-api.us-east-1.elb.amazonaws.com {DIRECTOR} @cfcr-manifests",
        workers = env.state()["settings"]["bootstrap"]["worker_count"],
        tag = env.state()["cluster_tag"].as_str().unwrap()
    ));
    calls.extend(targeted);
    calls.push(format!(
        "bosh -n -d cfcr run-errand apply-addons {DIRECTOR} @cfcr-manifests"
    ));
    calls
        .into_iter()
        .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn bootstrap_runs_every_step_on_the_bastion_and_unpave_tears_down_first() {
    let stemcells = stemcell_server();
    let env = Env::new("boot", &with_stemcell(&stemcells, "worker_count = 2"));
    env.pave();
    let bastion = FakeBastion::start(&env);

    let run = env.run_via(&bastion, &["bootstrap"]).ok();
    for step in [
        "install-tools",
        "deploy-bosh",
        "upload-stemcell",
        "update-cloud-config",
        "deploy-kubernetes",
        "apply-addons",
    ] {
        assert!(
            run.stderr.contains(&format!("bastion: {step}")),
            "{}",
            run.stderr
        );
        let log = bastion
            .home()
            .join(format!("cfcr-manifests/logs/{step}.log"));
        assert!(log.exists(), "{step} is logged on the bastion");
    }
    assert_eq!(
        calls_of(&bastion, "git"),
        [
            "git clone --quiet https://github.com/cloudfoundry/bosh-deployment bosh-deployment @cfcr-manifests",
            "git -C bosh-deployment checkout --quiet c3b2109 @cfcr-manifests",
            "git clone --quiet https://github.com/cloudfoundry-incubator/kubo-deployment kubo-deployment @cfcr-manifests",
            "git -C kubo-deployment checkout --quiet v0.44.0 @cfcr-manifests",
        ]
    );
    assert_eq!(
        calls_of(&bastion, "bosh"),
        expected_bosh_calls(&env, &stemcells, true)
    );
    // The bastion checked the stemcell's URL before bosh was asked to fetch it.
    assert_eq!(stemcells.asked(), [format!("HEAD /{STEMCELL}")]);
    let stemcell_ops = std::fs::read_to_string(
        bastion
            .home()
            .join("cfcr-manifests/ops-files/cfcr-stemcell.yml"),
    )
    .unwrap();
    assert!(
        stemcell_ops.contains("value: ubuntu-xenial"),
        "{stemcell_ops}"
    );
    assert!(
        stemcell_ops.contains("value: \"621.125\""),
        "{stemcell_ops}"
    );
    // IMDSv2 for the director and every VM it creates.
    let imdsv2 =
        std::fs::read_to_string(bastion.home().join("cfcr-manifests/ops-files/imdsv2.yml"))
            .unwrap();
    assert!(imdsv2.contains("http_tokens: required"), "{imdsv2}");
    assert!(imdsv2.contains("/cloud_provider/properties/aws/metadata_options?"));
    assert!(imdsv2.contains("/instance_groups/name=bosh/properties/aws/metadata_options?"));

    // What was uploaded: the bundle and the deployer key, private.
    let home = bastion.home();
    let pem = std::fs::read_to_string(home.join("deployer.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(
        pem,
        env.state()["deployer_key"]["private_key"].as_str().unwrap()
    );
    let mode = |p: &str| {
        std::fs::metadata(home.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("deployer.pem"), 0o600);
    assert_eq!(mode("cfcr-manifests/env.sh"), 0o600);
    assert_eq!(mode("cfcr-manifests/deploy-bosh.sh"), 0o700);
    let env_sh = std::fs::read_to_string(home.join("cfcr-manifests/env.sh")).unwrap();
    assert!(env_sh.contains(&format!("export vpc_id={}", env.id("vpc"))));
    assert!(!env_sh.contains("AWS_SECRET_ACCESS_KEY"));
    // The cluster's VMs keep IMDSv1: neither kubo line's Kubernetes can use tokens.
    let cloud_config =
        std::fs::read_to_string(home.join("cfcr-manifests/cloud-config.yml")).unwrap();
    assert_eq!(
        cloud_config.matches("http_tokens: optional").count(),
        3,
        "{cloud_config}"
    );
    assert!(
        run.stderr.contains("keep IMDSv1") && run.stderr.contains("aws-sdk-go v1.16.26"),
        "{}",
        run.stderr
    );
    let addons = std::fs::read_to_string(home.join("cfcr-manifests/addons-spec.yml")).unwrap();
    assert!(addons.contains("name: standard") && addons.contains("type: gp2"));

    let steps = &env.state()["bootstrap"]["steps"];
    assert_eq!(steps.as_object().unwrap().len(), 6);
    assert!(steps.as_object().unwrap().values().all(|s| s == "done"));

    // A second run finds every step done.
    let before = bastion.calls().len();
    let again = env.run_via(&bastion, &["bootstrap"]).ok();
    assert_eq!(
        again.stderr.matches("already done").count(),
        6,
        "{}",
        again.stderr
    );
    assert_eq!(bastion.calls().len(), before);

    // The operator's ways in.
    let ssh = env
        .run_via(&bastion, &["ssh", "--", "echo", "hello from the bastion"])
        .ok();
    assert_eq!(ssh.stdout.trim(), "hello from the bastion");
    let failed = env.run_via(&bastion, &["ssh", "--", "exit", "7"]);
    assert_eq!(failed.code, 7);
    // Several words keep their quoting; one is a command line; 255 from the command is its own.
    let words = env
        .run_via(&bastion, &["ssh", "--", "printf", "%s|", "a b", "it's"])
        .ok();
    assert_eq!(words.stdout, "a b|it's|");
    let line = env
        .run_via(&bastion, &["ssh", "--", "echo one | tr o O"])
        .ok();
    assert_eq!(line.stdout.trim(), "One");
    let own = env.run_via(&bastion, &["ssh", "--", "exit", "255"]);
    assert_eq!(own.code, 255, "{}", own.stderr);
    assert!(!own.stderr.contains("error"), "{}", own.stderr);

    let kubeconfig = env.run_via(&bastion, &["kubeconfig"]).ok();
    let path = env.path().join(format!("state/{}.kubeconfig", env.prefix));
    assert!(
        kubeconfig.stderr.contains("kubeconfig"),
        "{}",
        kubeconfig.stderr
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let p = &env.prefix;
    assert!(
        text.contains(&format!(
            "server: https://{p}-cfcr-api.us-east-1.elb.amazonaws.com:8443"
        )),
        "{text}"
    );
    assert!(text.contains("token: \"test-admin-token\""), "{text}");
    assert!(
        text.contains(&format!("current-context: cfcr-{p}")),
        "{text}"
    );
    let ca = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n",
    );
    assert!(
        text.contains(&format!("certificate-authority-data: {ca}")),
        "{text}"
    );
    assert!(!kubeconfig.all_output().contains("test-admin-token"));
    let credhub = calls_of(&bastion, "credhub");
    assert_eq!(
        credhub,
        [
            "credhub get -n /bosh-aws/cfcr/tls-kubernetes --output-json {BOSH_ENVIRONMENT=10.0.2.252} {BOSH_CLIENT=admin} {CREDHUB_SERVER=https://10.0.2.252:8844} {CREDHUB_CLIENT=credhub-admin} {BOSH_CLIENT_SECRET} {BOSH_CA_CERT} {CREDHUB_SECRET} {CREDHUB_CA_CERT} @cfcr-manifests",
            "credhub get -n /bosh-aws/cfcr/kubo-admin-password --output-json {BOSH_ENVIRONMENT=10.0.2.252} {BOSH_CLIENT=admin} {CREDHUB_SERVER=https://10.0.2.252:8844} {CREDHUB_CLIENT=credhub-admin} {BOSH_CLIENT_SECRET} {BOSH_CA_CERT} {CREDHUB_SECRET} {CREDHUB_CA_CERT} @cfcr-manifests",
        ]
    );

    // unpave: the teardown on the bastion first, then the infrastructure.
    let before = calls_of(&bastion, "bosh").len();
    let delete_env = format!(
        "bosh -n delete-env {} {DIRECTOR} @cfcr-manifests",
        director_args(&env, true)
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ");
    let gone = env.run_via(&bastion, &["unpave", "--yes"]).ok();
    let teardown: Vec<String> = calls_of(&bastion, "bosh").split_off(before);
    let teardown: Vec<&String> = teardown
        .iter()
        .filter(|c| !c.starts_with("bosh int"))
        .collect();
    assert_eq!(
        teardown,
        [
            &format!("bosh -n -d cfcr delete-deployment {DIRECTOR} @cfcr-manifests"),
            &format!("bosh -n clean-up --all {DIRECTOR} @cfcr-manifests"),
            &delete_env,
        ]
    );
    let teardown_at = gone.stderr.find("bastion: teardown").expect("teardown ran");
    let first_delete = gone.stderr.find("deleted ").expect("resources deleted");
    assert!(teardown_at < first_delete, "{}", gone.stderr);
    assert!(!env.state_path().exists());
}

#[test]
fn access_key_mode_passes_the_key_through_the_environment_only() {
    let stemcells = stemcell_server();
    let env = Env::new(
        "bootkey",
        &with_stemcell(&stemcells, "director_credentials = \"access-key\""),
    );
    env.pave();
    let secret = env.state()["director_access_key"]["secret_access_key"]
        .as_str()
        .unwrap()
        .to_string();
    let bastion = FakeBastion::start(&env);
    let run = env.run_via(&bastion, &["bootstrap"]).ok();
    assert_eq!(
        calls_of(&bastion, "bosh"),
        expected_bosh_calls(&env, &stemcells, false)
    );
    // Only the director's own steps (create-env, delete-env) see the key: not env.sh, which
    // every step sources.
    let env_sh = std::fs::read_to_string(bastion.home().join("cfcr-manifests/env.sh")).unwrap();
    assert!(!env_sh.contains(&secret));
    let args =
        std::fs::read_to_string(bastion.home().join("cfcr-manifests/director-args.sh")).unwrap();
    assert!(args.contains(&format!("export director_var_secret_access_key={secret}")));
    for call in calls_of(&bastion, "bosh") {
        assert_eq!(
            call.contains("{director_var_secret_access_key}"),
            call.starts_with("bosh create-env"),
            "{call}"
        );
    }
    assert!(!run.all_output().contains(&secret));
    for call in bastion.calls() {
        assert!(!call.contains(&secret), "{call}");
    }
    env.run_via(&bastion, &["unpave", "--yes"]).ok();
}

#[test]
fn a_bastion_with_another_host_key_is_refused() {
    let env = Env::new("hostkey", "");
    env.pave();
    // --director-only: the host key is checked before anything else, whatever the cluster needs.
    let impostor = cfcr_host_key();
    let bastion = FakeBastion::start_with_host_key(&env, &impostor);
    let run = env.run_via(&bastion, &["bootstrap", "--director-only"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("pinned host key"), "{}", run.stderr);
    let ssh = env.run_via(&bastion, &["ssh", "--", "true"]);
    assert_eq!(ssh.code, 1, "{}", ssh.stderr);
    assert!(ssh.stderr.contains("pinned host key"), "{}", ssh.stderr);
    assert!(bastion.calls().is_empty());
    assert_eq!(env.state()["bootstrap"], json!({}));
    env.run(&["unpave", "--yes"]).ok();
}

/// Another ed25519 host key, made by OpenSSH.
fn cfcr_host_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn a_failing_step_stops_the_run_and_pave_resumes_there() {
    let stemcells = stemcell_server();
    let env = Env::new("resume", &with_stemcell(&stemcells, ""));
    env.pave();
    let bastion = FakeBastion::start(&env);
    bastion.fail_on(Some("update-cloud-config"));
    let run = env.run_via(&bastion, &["bootstrap"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("bastion step update-cloud-config failed (exit status: 3)"),
        "{}",
        run.stderr
    );
    let steps = env.state()["bootstrap"]["steps"].clone();
    assert_eq!(steps["deploy-bosh"], "done");
    assert_eq!(steps["update-cloud-config"], "started");
    assert_eq!(steps.get("deploy-kubernetes"), None);

    bastion.fail_on(None);
    let resumed = env.run_via(&bastion, &["pave", "--yes"]).ok();
    assert!(resumed.stderr.contains("bastion: deploy-bosh already done"));
    let bosh = calls_of(&bastion, "bosh");
    assert_eq!(
        bosh.iter()
            .filter(|c| c.starts_with("bosh create-env"))
            .count(),
        1
    );
    assert_eq!(
        bosh.iter()
            .filter(|c| c.starts_with("bosh -n update-cloud-config"))
            .count(),
        2
    );
    assert_eq!(
        bosh.iter()
            .filter(|c| c.starts_with("bosh -n -d cfcr deploy"))
            .count(),
        1
    );
    env.run_via(&bastion, &["unpave", "--yes"]).ok();
}

#[test]
fn render_writes_every_file_with_every_value_filled() {
    let env = Env::new("render", "director_credentials = \"access-key\"");
    env.pave();
    let out = env.path().join("bundle");
    let run = env.run(&["render", "--out", out.to_str().unwrap()]).ok();
    let mut files: Vec<String> = run
        .stdout
        .lines()
        .map(|l| {
            l.strip_prefix(&format!("{}/", out.display()))
                .unwrap()
                .to_string()
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "apply-addons.sh",
            "bosh-aws-env.sh",
            "cloud-config.yml",
            "credhub-login.sh",
            "deploy-bosh.sh",
            "deploy-kubernetes.sh",
            "director-args.sh",
            "env.sh",
            "install-tools.sh",
            "kubeconfig-values.sh",
            "ops-files/cfcr-stemcell.yml",
            "ops-files/director-size-aws.yml",
            "ops-files/director-tags.yml",
            "ops-files/imdsv2.yml",
            "ops-files/kubo-release.yml",
            "ops-files/releases-from-mirror.yml",
            "run-step.sh",
            "specs/storage-class.yml",
            "teardown.sh",
            "update-cloud-config.sh",
            "upload-stemcell.sh",
        ]
    );
    for file in &files {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(
            !text.contains("{{") && !text.contains("{%"),
            "{file}: {text}"
        );
    }
    let args = std::fs::read_to_string(out.join("director-args.sh")).unwrap();
    let state = env.state();
    let key: &Value = &state["director_access_key"];
    assert!(args.contains(&format!(
        "export director_var_access_key_id={}",
        key["access_key_id"].as_str().unwrap()
    )));
    assert!(
        !run.all_output()
            .contains(key["secret_access_key"].as_str().unwrap())
    );
    let install = std::fs::read_to_string(out.join("install-tools.sh")).unwrap();
    assert!(install.contains("bosh-cli-7.11.0-linux-amd64"));
    assert!(install.contains("3ad84c3967672070b7f70f91f8da76abcbb604d588787b4f98457338cc9fc8d2"));
    env.unpave();
}

#[tokio::test(flavor = "multi_thread")]
async fn unpave_removes_what_kubernetes_and_bosh_left_in_the_vpc() {
    let stemcells = stemcell_server();
    let env = Env::new("leftover", &with_stemcell(&stemcells, ""));
    env.pave();
    let bastion = FakeBastion::start(&env);
    env.run_via(&bastion, &["bootstrap"]).ok();
    let aws = aws().await;
    let tag = env.state()["cluster_tag"].as_str().unwrap().to_string();
    let subnet = env.id("public_subnet");

    // A Service of type LoadBalancer, a PersistentVolume, and a BOSH VM nobody deleted.
    let lb_name = format!("a{}", &env.prefix.replace('-', "")[..]);
    aws.elb
        .create_load_balancer()
        .load_balancer_name(&lb_name)
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("TCP")
                .load_balancer_port(80)
                .instance_port(30080)
                .build()
                .unwrap(),
        )
        .subnets(&subnet)
        .tags(
            aws_sdk_elasticloadbalancing::types::Tag::builder()
                .key(format!("kubernetes.io/cluster/{tag}"))
                .value("owned")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let volume = aws
        .ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("KubernetesCluster")
                        .value(&tag)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let volume_id = volume.volume_id().unwrap().to_string();
    let vm = aws
        .ec2
        .run_instances()
        .image_id(env.id("bastion_image"))
        .min_count(1)
        .max_count(1)
        .subnet_id(env.id("private_subnet"))
        .send()
        .await
        .unwrap();
    let vm_id = vm.instances()[0].instance_id().unwrap().to_string();

    let stopped = env.run(&["unpave", "--yes", "--skip-teardown"]);
    assert_eq!(stopped.code, 1);
    assert!(stopped.stderr.contains(&vm_id), "{}", stopped.stderr);
    assert!(stopped.stderr.contains("--force"), "{}", stopped.stderr);
    assert!(env.state_path().exists());

    // What Kubernetes made is gone before the check for instances stops the run.
    assert!(
        stopped
            .stderr
            .contains(&format!("Kubernetes load balancer {lb_name}")),
        "{}",
        stopped.stderr
    );
    assert!(
        stopped
            .stderr
            .contains(&format!("Kubernetes volume {volume_id}")),
        "{}",
        stopped.stderr
    );

    let gone = env
        .run(&["unpave", "--yes", "--skip-teardown", "--force"])
        .ok();
    assert!(
        gone.stderr
            .contains(&format!("terminating instance {vm_id}")),
        "{}",
        gone.stderr
    );
    assert!(!env.state_path().exists());
    let lbs = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(&lb_name)
        .send()
        .await;
    assert!(lbs.is_err());
    let volumes = aws
        .ec2
        .describe_volumes()
        .volume_ids(&volume_id)
        .send()
        .await;
    assert!(volumes.map(|v| v.volumes().is_empty()).unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_that_cannot_work_is_refused_before_anything_is_created_or_run() {
    let env = Env::new("compat", "");
    // pave with the hand-off: refused before the first AWS resource, as bad input.
    let refused = env.run(&["pave", "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    for needle in [
        "ubuntu-xenial 621.76",
        "no longer published",
        "RFC-0010",
        "full (heavy) stemcell",
        "--director-only",
        "cfcr_stemcell_url",
        "Nothing was created",
    ] {
        assert!(
            refused.stderr.contains(needle),
            "{needle}: {}",
            refused.stderr
        );
    }
    // kubo v0.16.0's cluster: refused whatever stemcell is brought.
    let old = env.run(&[
        "pave",
        "--yes",
        "--kubo-deployment-ref",
        "v0.16.0",
        "--cfcr-stemcell-url",
        "https://stemcells.example.com/s.tgz",
        "--cfcr-stemcell-sha1",
        "0123456789012345678901234567890123456789",
        "--cfcr-stemcell-os",
        "ubuntu-jammy",
        "--cfcr-stemcell-version",
        "1.800",
    ]);
    assert_eq!(old.code, 2, "{}", old.stderr);
    assert!(old.stderr.contains("api_version 2"), "{}", old.stderr);
    assert!(
        common::owned_in_aws(&aws().await, &env.prefix)
            .await
            .is_empty()
    );
    let plan = env.run(&["plan"]).ok();
    assert!(plan.stderr.contains("pave's hand-off"), "{}", plan.stderr);

    // The AWS resources alone, then the hand-off: refused before any step runs on the bastion.
    env.pave();
    let bastion = FakeBastion::start(&env);
    let refused = env.run_via(&bastion, &["bootstrap"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("ubuntu-xenial 621.76"));
    assert!(bastion.calls().is_empty(), "{:?}", bastion.calls());
    assert_eq!(env.state()["bootstrap"], json!({}));

    // --director-only: the director and its cloud config, no stemcell, deploy or add-ons.
    let director = env
        .run_via(&bastion, &["bootstrap", "--director-only"])
        .ok();
    assert!(
        director.stderr.contains("--director-only"),
        "{}",
        director.stderr
    );
    let steps = env.state()["bootstrap"]["steps"].clone();
    assert_eq!(
        steps,
        json!({"install-tools": "done", "deploy-bosh": "done", "update-cloud-config": "done"})
    );
    let bosh = calls_of(&bastion, "bosh");
    assert!(bosh.iter().any(|c| c.starts_with("bosh create-env")));
    assert!(
        bosh.iter()
            .any(|c| c.starts_with("bosh -n update-cloud-config"))
    );
    assert!(
        !bosh.iter().any(|c| c.contains("upload-stemcell")
            || c.contains("-d cfcr deploy")
            || c.contains("run-errand")),
        "{bosh:?}"
    );

    // The bastion itself was launched IMDSv2-only.
    let instance = aws()
        .await
        .ec2
        .describe_instances()
        .instance_ids(env.id("bastion"))
        .send()
        .await
        .unwrap();
    let options = instance.reservations()[0].instances()[0]
        .metadata_options()
        .cloned()
        .expect("metadata options");
    assert_eq!(
        options.http_tokens(),
        Some(&aws_sdk_ec2::types::HttpTokensState::Required)
    );
    env.run_via(&bastion, &["unpave", "--yes"]).ok();
}

/// `sha256sum` or `sha512sum` of `bytes`.
fn checksum(tool: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new(tool)
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..if tool == "sha256sum" { 64 } else { 128 }].to_string()
}

/// A gzipped tarball holding the stand-in as `inner`.
fn tarball_of_stand_in(inner: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(inner);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/bastion/stand-in"),
        &file,
    )
    .unwrap();
    let out = std::process::Command::new("tar")
        .arg("-czf")
        .arg("-")
        .arg("-C")
        .arg(dir.path())
        .arg(inner)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn install_tools_fetches_from_a_mirror_and_refuses_a_wrong_checksum() {
    let bosh = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/bastion/stand-in"),
    )
    .unwrap();
    let credhub = tarball_of_stand_in("credhub");
    let kubectl = tarball_of_stand_in("kubernetes/client/bin/kubectl");
    let mirror = FilesServer::start(BTreeMap::from([
        ("bosh-cli-7.11.0-linux-amd64".to_string(), bosh.clone()),
        (
            "credhub-linux-amd64-2.9.39.tgz".to_string(),
            credhub.clone(),
        ),
        (
            "kubernetes-client-linux-amd64.tar.gz".to_string(),
            kubectl.clone(),
        ),
        (STEMCELL.to_string(), b"stemcell".to_vec()),
    ]));
    let config = |kubectl_sum: &str| {
        format!(
            "downloads_mirror = \"{url}\"\nbosh_cli_sha256 = \"{}\"\ncredhub_cli_sha256 = \"{}\"\n\
             kubectl_sha512 = \"{kubectl_sum}\"\ncfcr_stemcell_url = \"https://stemcells.example.com/{STEMCELL}\"\n\
             cfcr_stemcell_sha1 = \"{STEMCELL_SHA1}\"\ncfcr_stemcell_os = \"ubuntu-jammy\"\n\
             cfcr_stemcell_version = \"1.800\"",
            checksum("sha256sum", &bosh),
            checksum("sha256sum", &credhub),
            url = mirror.url,
        )
    };
    let env = Env::new("mirror", &config(&checksum("sha512sum", &kubectl)));
    env.pave();
    let host_key = env.state()["bastion_host_key"]["private_key"]
        .as_str()
        .unwrap()
        .to_string();
    // Only git and sudo stand in: bosh, credhub and kubectl come from the mirror.
    let bastion = FakeBastion::start_with(&env, &host_key, &["git", "sudo"]);
    env.run_via(&bastion, &["bootstrap"]).ok();
    let asked = mirror.asked();
    for file in [
        "bosh-cli-7.11.0-linux-amd64",
        "credhub-linux-amd64-2.9.39.tgz",
        "kubernetes-client-linux-amd64.tar.gz",
    ] {
        assert!(asked.contains(&format!("GET /{file}")), "{file}: {asked:?}");
    }
    // The stemcell's URL is the mirror's too, under its upstream file name.
    assert!(asked.contains(&format!("HEAD /{STEMCELL}")), "{asked:?}");
    // So are the deploy's releases, under the names docs/bootstrap.md gives.
    let releases = std::fs::read_to_string(
        bastion
            .home()
            .join("cfcr-manifests/ops-files/releases-from-mirror.yml"),
    )
    .unwrap();
    for file in [
        "kubo-release-0.44.0.tgz",
        "cfcr-etcd-release-1.12.4.tgz",
        "docker-release-35.3.4.tgz",
        "bpm-release-1.1.8.tgz",
    ] {
        assert!(
            releases.contains(&format!("value: {}/{file}", mirror.url)),
            "{file}: {releases}"
        );
    }
    for tool in ["bosh", "credhub", "kubectl"] {
        assert!(bastion.home().join("bin").join(tool).exists(), "{tool}");
    }
    assert!(
        calls_of(&bastion, "bosh")
            .iter()
            .any(|c| c.starts_with("bosh create-env"))
    );
    env.run_via(&bastion, &["unpave", "--yes"]).ok();

    let wrong = Env::new("badsum", &config(&"0".repeat(128)));
    wrong.pave();
    let host_key = wrong.state()["bastion_host_key"]["private_key"]
        .as_str()
        .unwrap()
        .to_string();
    let bastion = FakeBastion::start_with(&wrong, &host_key, &["git", "sudo"]);
    let failed = wrong.run_via(&bastion, &["bootstrap", "--director-only"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("bastion step install-tools failed"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("checksum mismatch"),
        "{}",
        failed.stderr
    );
    assert!(!bastion.home().join("bin/kubectl").exists());
    wrong.run_via(&bastion, &["unpave", "--yes"]).ok();
}

#[test]
fn a_local_stemcell_tarball_is_uploaded_through_the_bastion() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("my-stemcell.tgz");
    std::fs::write(&tarball, b"a stemcell built in-house").unwrap();
    let env = Env::new(
        "localsc",
        &format!(
            "cfcr_stemcell_url = \"{}\"\ncfcr_stemcell_sha1 = \"{STEMCELL_SHA1}\"\n\
             cfcr_stemcell_os = \"ubuntu-jammy\"\ncfcr_stemcell_version = \"1.800\"",
            tarball.display()
        ),
    );
    env.pave();
    let bastion = FakeBastion::start(&env);
    let run = env.run_via(&bastion, &["bootstrap"]).ok();
    assert!(
        run.stderr.contains("uploading the stemcell"),
        "{}",
        run.stderr
    );
    let uploaded = bastion.home().join("cfcr-manifests/cfcr-stemcell.tgz");
    assert_eq!(
        std::fs::read(&uploaded).unwrap(),
        b"a stemcell built in-house"
    );
    assert_eq!(
        std::fs::metadata(&uploaded).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        calls_of(&bastion, "bosh").contains(&format!(
            "bosh -n upload-stemcell cfcr-stemcell.tgz --sha1 {STEMCELL_SHA1} {DIRECTOR} @cfcr-manifests"
        )),
        "{:?}",
        calls_of(&bastion, "bosh")
    );
    env.run_via(&bastion, &["unpave", "--yes"]).ok();
}
