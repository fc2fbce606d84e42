//! The account's quotas against what `pave` (and the hand-off after it) will use, read through the
//! Service Quotas API before anything is created (elastic IPs: through the account's attributes).
//! Where that API does not answer (not allowed, not offered — LocalStack's community edition has
//! none), AWS's default quota is used, and the finding says so. A shortfall names the quota, its
//! code, the usage, and where to ask for more. These are every quota check preflight makes, and
//! all that `--skip-quota-check` skips.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    Address, Instance, InstanceType, InternetGateway, NatGateway, Subnet, Vpc,
};

use crate::aws::{self, Policy};
use crate::config::BootstrapSettings;
use crate::ec2::{self, filters::filter};
use crate::hand_off::HandOffMode;
use crate::key::Key;
use crate::resources::Ctx;
use crate::state::{BootstrapProgress, Step};

/// One quota the environment draws on.
struct Quota {
    service: &'static str,
    code: &'static str,
    name: &'static str,
    /// What it counts, as the warning of skipped checks names it.
    counts: &'static str,
    /// AWS's default, used when Service Quotas does not answer.
    default: f64,
}

const VPCS: Quota = Quota {
    service: "vpc",
    code: "L-F678F1CE",
    name: "VPCs per Region",
    counts: "VPCs",
    default: 5.0,
};
const INTERNET_GATEWAYS: Quota = Quota {
    service: "vpc",
    code: "L-A4707A72",
    name: "Internet gateways per Region",
    counts: "internet gateways",
    default: 5.0,
};
const NAT_GATEWAYS: Quota = Quota {
    service: "vpc",
    code: "L-FE5A380F",
    name: "NAT gateways per Availability Zone",
    counts: "NAT gateways per zone",
    default: 5.0,
};
const CLASSIC_LOAD_BALANCERS: Quota = Quota {
    service: "elasticloadbalancing",
    code: "L-E9E9831D",
    name: "Classic Load Balancers per Region",
    counts: "classic load balancers",
    default: 20.0,
};
const STANDARD_VCPUS: Quota = Quota {
    service: "ec2",
    code: "L-1216C47A",
    name: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (vCPUs)",
    counts: "standard vCPUs",
    default: 5.0,
};

/// What the elastic IP check counts: the account attribute `vpc-max-elastic-ips`, not a Service
/// Quotas quota.
const ELASTIC_IPS: &str = "elastic IPs";

/// Every quota check preflight makes, as the warning of skipped checks names them.
const CHECKED: [&str; 6] = [
    VPCS.counts,
    INTERNET_GATEWAYS.counts,
    NAT_GATEWAYS.counts,
    CLASSIC_LOAD_BALANCERS.counts,
    ELASTIC_IPS,
    STANDARD_VCPUS.counts,
];

/// The warning when the checks are skipped: one line naming each.
pub fn skipped() -> String {
    format!(
        "quotas not checked (--skip-quota-check, CFCR_AWS_SKIP_QUOTA_CHECK): {}; a shortfall will stop pave half-way instead",
        CHECKED.join(", ")
    )
}

/// The instance families the standard vCPU quota covers.
const STANDARD_FAMILIES: &str = "acdhimrtz";

/// The compilation workers of the director's cloud config (templates/bundle/cloud-config.yml),
/// `small-highmem` VMs.
const COMPILATION_WORKERS: f64 = 2.0;

/// VMs of one instance type, and how many.
type Vms<'a> = Vec<(&'a str, f64)>;

/// What the hand-off still has to start, as the VMs that run at once in each of its phases. The
/// director runs throughout; BOSH deletes its compilation VMs before it creates the cluster's, so
/// the cluster's deploy peaks at the larger of the two; the add-ons errand's VM runs beside the
/// cluster (kubo's `minimal` VM type, sized as `small`). Steps already done started theirs: those
/// VMs run now and are counted as in use.
fn hand_off_phases<'a>(
    boot: &'a BootstrapSettings,
    mode: HandOffMode,
    progress: &BootstrapProgress,
) -> Vec<Vms<'a>> {
    let runs = |step: Step| mode.runs(step, progress);
    let mut director: Vms = Vec::new();
    if runs(Step::DeployBosh) {
        director.push((&boot.director_instance_type, 1.0));
    }
    let mut compilation = director.clone();
    let mut cluster = director.clone();
    if runs(Step::DeployKubernetes) {
        compilation.push((&boot.small_highmem_instance_type, COMPILATION_WORKERS));
        cluster.push((&boot.small_instance_type, 1.0));
        cluster.push((
            &boot.small_highmem_instance_type,
            f64::from(boot.worker_count),
        ));
    }
    if runs(Step::ApplyAddons) {
        cluster.push((&boot.small_instance_type, 1.0));
    }
    vec![director, compilation, cluster]
}

/// The vCPUs of `vms`, by `cpus_of` each type.
fn vcpus_of(vms: &[(&str, f64)], cpus_of: impl Fn(&str) -> f64) -> f64 {
    // Folded from 0.0: an empty f64 sum is -0.0, which prints as "-0".
    vms.iter()
        .map(|(t, n)| n * cpus_of(t))
        .fold(0.0, |a, b| a + b)
}

/// The quota's value and, when AWS's default stands in (Service Quotas did not answer), why; not
/// asked (`None`) when the environment draws nothing on it.
async fn limit(ctx: &Ctx, quota: &Quota, counted: bool) -> Option<(f64, Option<String>)> {
    if !counted {
        return None;
    }
    let client = &ctx.aws.quotas;
    let answer = aws::call("GetServiceQuota", &Policy::optional(), || {
        client
            .get_service_quota()
            .service_code(quota.service)
            .quota_code(quota.code)
            .send()
    })
    .await;
    Some(
        match answer.map(|out| out.quota().and_then(|q| q.value())) {
            Ok(Some(value)) => (value, None),
            Ok(None) => (quota.default, Some("Service Quotas gave no value".into())),
            Err(e) => (
                quota.default,
                Some(format!(
                    "Service Quotas did not answer: {}",
                    e.code.unwrap_or(e.message)
                )),
            ),
        },
    )
}

/// A problem when `used + needed` does not fit `quota`'s limit, and a warning when the default was
/// assumed; neither when nothing is needed.
fn judge(
    quota: &Quota,
    limit: Option<(f64, Option<String>)>,
    used: f64,
    needed: f64,
) -> (Option<String>, Option<String>) {
    let Some((limit, assumed)) = limit.filter(|_| needed > 0.0) else {
        return (None, None);
    };
    let note = assumed.as_ref().map(|why| {
        format!(
            "quota {} ({}): {why}; AWS's default quota was assumed",
            quota.name, quota.code
        )
    });
    let problem = (used + needed > limit).then(|| {
        format!(
            "quota {} ({}, service {}): {limit} allowed{}, {used} in use, this environment needs {needed} more; ask for more in the Service Quotas console or with `aws service-quotas request-service-quota-increase --service-code {} --quota-code {} --desired-value {}`",
            quota.name,
            quota.code,
            quota.service,
            if assumed.is_some() { " (AWS's default)" } else { "" },
            quota.service,
            quota.code,
            used + needed
        )
    });
    (problem, note)
}

/// The vCPUs of each instance type, from EC2.
async fn vcpus(ctx: &Ctx, types: &BTreeSet<String>) -> anyhow::Result<BTreeMap<String, f64>> {
    let ec2 = &ctx.aws.ec2;
    let out = aws::call("DescribeInstanceTypes", &Policy::standard(), || {
        ec2.describe_instance_types()
            .set_instance_types(Some(
                types
                    .iter()
                    .map(|t| InstanceType::from(t.as_str()))
                    .collect(),
            ))
            .send()
    })
    .await?;
    Ok(out
        .instance_types()
        .iter()
        .filter_map(|t| {
            let name = t.instance_type()?.as_str().to_string();
            let count = t.v_cpu_info()?.default_v_cpus()?;
            Some((name, f64::from(count)))
        })
        .collect())
}

fn standard(instance_type: &str) -> bool {
    instance_type
        .chars()
        .next()
        .is_some_and(|c| STANDARD_FAMILIES.contains(c))
}

/// Problems with the quotas the resources in `to_create` (and the VMs the hand-off starts after
/// them) draw on, and warnings where AWS's defaults stood in.
pub async fn problems(
    ctx: &Ctx,
    to_create: &BTreeSet<Key>,
    hand_off: HandOffMode,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let creates = |key: Key| to_create.contains(&key);
    let needs = |key: Key| if creates(key) { 1.0 } else { 0.0 };
    let needed_addresses = [Key::NatEip, Key::BastionEip]
        .into_iter()
        .filter(|k| creates(*k))
        .count();
    let progress = ctx.state.snapshot().bootstrap;
    let planned = Planned {
        bastion: if creates(Key::Bastion) {
            vec![(&ctx.settings.bastion_instance_type, 1.0)]
        } else {
            Vec::new()
        },
        phases: hand_off_phases(&ctx.settings.bootstrap, hand_off, &progress),
    };
    let counted = [
        (&VPCS, creates(Key::Vpc)),
        (&INTERNET_GATEWAYS, creates(Key::InternetGateway)),
        (&NAT_GATEWAYS, creates(Key::NatGateway)),
        (&CLASSIC_LOAD_BALANCERS, creates(Key::MasterLoadBalancer)),
        (&STANDARD_VCPUS, planned.starts_standard_vms()),
    ];
    // A quota's value does not depend on the usage: the values are asked in the usage's round.
    let (usage, addresses, limits) = futures::try_join!(
        usage(ctx, creates(Key::NatGateway)),
        address_room(ctx, needed_addresses),
        async { Ok(futures::future::join_all(counted.map(|(q, c)| limit(ctx, q, c))).await) },
    )?;
    let (used_vcpus, needed_vcpus) = vcpu_demand(ctx, &usage.running_types, &planned).await?;
    let checks = [
        (usage.vpcs, needs(Key::Vpc)),
        (usage.internet_gateways, needs(Key::InternetGateway)),
        (usage.nat_gateways_in_zone, needs(Key::NatGateway)),
        (usage.load_balancers, needs(Key::MasterLoadBalancer)),
        (used_vcpus, needed_vcpus),
    ];
    let (problems, defaults): (Vec<_>, Vec<_>) = counted
        .iter()
        .zip(limits)
        .zip(checks)
        .map(|(((quota, _), limit), (used, needed))| judge(quota, limit, used, needed))
        .unzip();
    Ok((
        problems
            .into_iter()
            .flatten()
            .chain(address_room_problem(addresses))
            .collect(),
        defaults.into_iter().flatten().collect(),
    ))
}

/// What the bastion and the hand-off will start.
struct Planned<'a> {
    bastion: Vms<'a>,
    /// The VMs that run at once in each phase of the hand-off.
    phases: Vec<Vms<'a>>,
}

impl Planned<'_> {
    /// Whether any VM to start draws on the standard vCPU quota.
    fn starts_standard_vms(&self) -> bool {
        self.bastion
            .iter()
            .chain(self.phases.iter().flatten())
            .any(|(t, n)| *n > 0.0 && standard(t))
    }
}

/// What the region holds now of what the quotas count.
struct Usage {
    vpcs: f64,
    internet_gateways: f64,
    nat_gateways_in_zone: f64,
    load_balancers: f64,
    /// The instance type of each instance pending or running.
    running_types: Vec<String>,
}

/// Reads the region's usage, the listings at once. The NAT gateways in the environment's zone are
/// only counted when one is to be created.
async fn usage(ctx: &Ctx, counting_nat_gateways: bool) -> anyhow::Result<Usage> {
    let ec2 = &ctx.aws.ec2;
    let elb = &ctx.aws.elb;
    let policy = Policy::standard();
    let (vpcs, gateways, nats, balancers, running) = futures::try_join!(
        ec2::matching::<Vpc>(ec2, Vec::new(), &policy),
        ec2::matching::<InternetGateway>(ec2, Vec::new(), &policy),
        ec2::matching::<NatGateway>(
            ec2,
            vec![filter("state", ["pending", "available"])],
            &policy
        ),
        aws::call("DescribeLoadBalancers", &policy, || {
            elb.describe_load_balancers().send()
        }),
        ec2::matching::<Instance>(
            ec2,
            vec![filter("instance-state-name", ["pending", "running"])],
            &policy
        ),
    )?;
    let nat_gateways_in_zone = if counting_nat_gateways {
        nat_gateways_in_zone(ctx, &nats).await?
    } else {
        0.0
    };
    Ok(Usage {
        vpcs: vpcs.len() as f64,
        internet_gateways: gateways.len() as f64,
        nat_gateways_in_zone,
        load_balancers: balancers.load_balancer_descriptions().len() as f64,
        running_types: running
            .iter()
            .filter_map(|i| i.instance_type().map(|t| t.as_str().to_string()))
            .collect(),
    })
}

/// NAT gateways count per zone: those of `nats` in the environment's zone, by their subnets.
async fn nat_gateways_in_zone(ctx: &Ctx, nats: &[NatGateway]) -> anyhow::Result<f64> {
    let nat_subnets: Vec<String> = nats
        .iter()
        .filter_map(|g| g.subnet_id().map(str::to_string))
        .collect();
    if nat_subnets.is_empty() {
        return Ok(0.0);
    }
    let subnets: Vec<Subnet> =
        ec2::by_ids(&ctx.aws.ec2, nat_subnets.clone(), &Policy::standard()).await?;
    let in_zone: BTreeSet<&str> = subnets
        .iter()
        .filter(|s| s.availability_zone() == Some(ctx.settings.zone.as_str()))
        .filter_map(|s| s.subnet_id())
        .collect();
    Ok(nat_subnets
        .iter()
        .filter(|s| in_zone.contains(s.as_str()))
        .count() as f64)
}

/// Standard vCPUs: (those running now, those `planned` will start).
async fn vcpu_demand(
    ctx: &Ctx,
    running_types: &[String],
    planned: &Planned<'_>,
) -> anyhow::Result<(f64, f64)> {
    let types: BTreeSet<String> = running_types
        .iter()
        .map(String::as_str)
        .chain(
            planned
                .bastion
                .iter()
                .chain(planned.phases.iter().flatten())
                .map(|(t, _)| *t),
        )
        .filter(|t| standard(t))
        .map(str::to_string)
        .collect();
    let cpus = if types.is_empty() {
        BTreeMap::new()
    } else {
        vcpus(ctx, &types).await?
    };
    let cpus_of = |t: &str| {
        if standard(t) {
            cpus.get(t).copied().unwrap_or(0.0)
        } else {
            0.0
        }
    };
    let running: Vms = running_types.iter().map(|t| (t.as_str(), 1.0)).collect();
    // The bastion runs before the hand-off starts anything, and throughout.
    let needed = vcpus_of(&planned.bastion, cpus_of)
        + planned
            .phases
            .iter()
            .map(|vms| vcpus_of(vms, cpus_of))
            .fold(0.0, f64::max);
    Ok((vcpus_of(&running, cpus_of), needed))
}

/// (addresses the environment needs, the account's limit, addresses in use).
type AddressRoom = Option<(usize, usize, usize)>;

async fn address_room(ctx: &Ctx, needed: usize) -> anyhow::Result<AddressRoom> {
    if needed == 0 {
        return Ok(None);
    }
    let ec2 = &ctx.aws.ec2;
    let policy = Policy::standard();
    let attributes = aws::call("DescribeAccountAttributes", &policy, || {
        ec2.describe_account_attributes()
            .attribute_names(aws_sdk_ec2::types::AccountAttributeName::from(
                "vpc-max-elastic-ips",
            ))
            .send()
    });
    let addresses = ec2::matching::<Address>(ec2, vec![filter("domain", ["vpc"])], &policy);
    let (attributes, addresses) = futures::try_join!(attributes, addresses)?;
    let limit = attributes
        .account_attributes()
        .iter()
        .filter(|a| a.attribute_name() == Some("vpc-max-elastic-ips"))
        .flat_map(|a| a.attribute_values())
        .find_map(|v| v.attribute_value()?.parse::<usize>().ok());
    Ok(limit.map(|limit| (needed, limit, addresses.len())))
}

fn address_room_problem(room: AddressRoom) -> Option<String> {
    let (needed, limit, used) = room?;
    (used + needed > limit).then(|| {
        format!(
            "elastic IPs: the region allows {limit} and {used} are allocated, so the {needed} this environment needs do not fit; release some or raise the quota"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StepStatus;

    /// The peak vCPUs of the hand-off, each type's vCPUs being its size's digit: t3.2 has 2.
    fn peak(boot: &BootstrapSettings, mode: HandOffMode, progress: &BootstrapProgress) -> f64 {
        let cpus_of = |t: &str| t.rsplit('.').next().unwrap().parse::<f64>().unwrap();
        hand_off_phases(boot, mode, progress)
            .iter()
            .map(|vms| vcpus_of(vms, cpus_of))
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_hand_off_counts_its_peak_for_its_mode() {
        let boot = BootstrapSettings {
            director_instance_type: "t3.2".into(),
            small_instance_type: "t3.1".into(),
            small_highmem_instance_type: "t3.4".into(),
            worker_count: 1,
            ..BootstrapSettings::default()
        };
        let fresh = BootstrapProgress::default();
        assert_eq!(peak(&boot, HandOffMode::NoBootstrap, &fresh), 0.0);
        assert_eq!(peak(&boot, HandOffMode::DirectorOnly, &fresh), 2.0);
        // Compilation (2 × 4) outweighs the cluster (master 1, worker 4, errand 1).
        assert_eq!(peak(&boot, HandOffMode::Full, &fresh), 10.0);
        let three = BootstrapSettings {
            worker_count: 3,
            ..boot.clone()
        };
        assert_eq!(
            peak(&three, HandOffMode::Full, &fresh),
            2.0 + 1.0 + 12.0 + 1.0
        );

        // What steps already done started is running, not to come.
        let mut progress = BootstrapProgress::default();
        progress.steps.insert(Step::DeployBosh, StepStatus::Done);
        assert_eq!(peak(&boot, HandOffMode::DirectorOnly, &progress), 0.0);
        progress
            .steps
            .insert(Step::DeployKubernetes, StepStatus::Done);
        assert_eq!(peak(&boot, HandOffMode::Full, &progress), 1.0, "the errand");
        // Begun is not done: the step runs again.
        progress
            .steps
            .insert(Step::DeployKubernetes, StepStatus::Started);
        assert_eq!(peak(&boot, HandOffMode::Full, &progress), 8.0);
    }

    #[test]
    fn compilation_workers_are_the_cloud_configs() {
        let cloud_config = include_str!("../templates/bundle/cloud-config.yml");
        let compilation = cloud_config.split("\ncompilation:").nth(1).unwrap();
        let workers = compilation
            .lines()
            .find_map(|l| l.trim().strip_prefix("workers: "))
            .unwrap();
        assert_eq!(workers.parse::<f64>().unwrap(), COMPILATION_WORKERS);
        assert!(compilation.contains("vm_type: small-highmem"));
    }

    #[test]
    fn addresses_must_fit_the_quota() {
        assert_eq!(address_room_problem(None), None);
        assert_eq!(address_room_problem(Some((2, 5, 3))), None);
        let problem = address_room_problem(Some((2, 5, 4))).unwrap();
        assert!(
            problem.contains("allows 5 and 4 are allocated"),
            "{problem}"
        );
    }

    #[test]
    fn standard_families_are_the_quotas() {
        assert!(standard("t3.large") && standard("m5.large") && standard("c6i.xlarge"));
        assert!(!standard("g5.xlarge") && !standard("p4d.24xlarge") && !standard("x2idn.large"));
    }
}
