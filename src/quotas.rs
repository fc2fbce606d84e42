//! The account's quotas against what `pave` (and the hand-off after it) will use, read through the
//! Service Quotas API before anything is created. Where that API does not answer (not allowed, not
//! offered — LocalStack's community edition has none), AWS's default quota is used, and the finding
//! says so. A shortfall names the quota, its code, the usage, and where to ask for more.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, InstanceType};

use crate::aws::{self, Policy};
use crate::resources::{Ctx, Key};

/// One quota the environment draws on.
struct Quota {
    service: &'static str,
    code: &'static str,
    name: &'static str,
    /// AWS's default, used when Service Quotas does not answer.
    default: f64,
}

const VPCS: Quota = Quota {
    service: "vpc",
    code: "L-F678F1CE",
    name: "VPCs per Region",
    default: 5.0,
};
const INTERNET_GATEWAYS: Quota = Quota {
    service: "vpc",
    code: "L-A4707A72",
    name: "Internet gateways per Region",
    default: 5.0,
};
const NAT_GATEWAYS: Quota = Quota {
    service: "vpc",
    code: "L-FE5A380F",
    name: "NAT gateways per Availability Zone",
    default: 5.0,
};
const CLASSIC_LOAD_BALANCERS: Quota = Quota {
    service: "elasticloadbalancing",
    code: "L-E9E9831D",
    name: "Classic Load Balancers per Region",
    default: 20.0,
};
const STANDARD_VCPUS: Quota = Quota {
    service: "ec2",
    code: "L-1216C47A",
    name: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (vCPUs)",
    default: 5.0,
};

/// The instance families the standard vCPU quota covers.
const STANDARD_FAMILIES: &str = "acdhimrtz";

/// The quota's value, and whether it is the default (Service Quotas did not answer).
async fn value(ctx: &Ctx, quota: &Quota) -> (f64, Option<String>) {
    let client = &ctx.aws.quotas;
    let answer = aws::call("GetServiceQuota", &Policy::optional(), || {
        client
            .get_service_quota()
            .service_code(quota.service)
            .quota_code(quota.code)
            .send()
    })
    .await;
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
    }
}

/// A problem when `used + needed` does not fit `quota`, and a note when the default was assumed.
async fn check(
    ctx: &Ctx,
    quota: &Quota,
    used: f64,
    needed: f64,
) -> (Option<String>, Option<String>) {
    if needed == 0.0 {
        return (None, None);
    }
    let (limit, assumed) = value(ctx, quota).await;
    let note = assumed
        .as_ref()
        .map(|why| format!("{} ({}): {why}", quota.name, quota.code));
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

/// Problems with the quotas the resources in `to_create` (and, with `hand_off`, the VMs the
/// hand-off starts) draw on, and notes where AWS's defaults stood in.
pub async fn problems(
    ctx: &Ctx,
    to_create: &BTreeSet<Key>,
    hand_off: bool,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let ec2 = &ctx.aws.ec2;
    let elb = &ctx.aws.elb;
    let needs = |key: Key| if to_create.contains(&key) { 1.0 } else { 0.0 };
    let policy = Policy::standard();
    let (vpcs, gateways, nats, balancers, running) = futures::try_join!(
        aws::call("DescribeVpcs", &policy, || ec2.describe_vpcs().send()),
        aws::call("DescribeInternetGateways", &policy, || {
            ec2.describe_internet_gateways().send()
        }),
        aws::call("DescribeNatGateways", &policy, || {
            ec2.describe_nat_gateways()
                .filter(
                    Filter::builder()
                        .name("state")
                        .values("pending")
                        .values("available")
                        .build(),
                )
                .send()
        }),
        aws::call("DescribeLoadBalancers", &policy, || {
            elb.describe_load_balancers().send()
        }),
        aws::call("DescribeInstances", &policy, || {
            ec2.describe_instances()
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .build(),
                )
                .send()
        }),
    )?;
    // NAT gateways count per zone: those in the environment's zone, by their subnets.
    let nat_subnets: Vec<String> = nats
        .nat_gateways()
        .iter()
        .filter_map(|g| g.subnet_id().map(str::to_string))
        .collect();
    let nats_in_zone = if nat_subnets.is_empty() || needs(Key::NatGateway) == 0.0 {
        0.0
    } else {
        let subnets = aws::call("DescribeSubnets", &policy, || {
            ec2.describe_subnets()
                .set_subnet_ids(Some(nat_subnets.clone()))
                .send()
        })
        .await?;
        let in_zone: BTreeSet<&str> = subnets
            .subnets()
            .iter()
            .filter(|s| s.availability_zone() == Some(ctx.settings.zone.as_str()))
            .filter_map(|s| s.subnet_id())
            .collect();
        nat_subnets
            .iter()
            .filter(|s| in_zone.contains(s.as_str()))
            .count() as f64
    };
    // Standard vCPUs: what runs now, and what the bastion and the hand-off will start.
    let running_types: Vec<String> = running
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_type().map(|t| t.as_str().to_string()))
        .collect();
    let boot = &ctx.settings.bootstrap;
    let mut planned: Vec<(String, f64)> = Vec::new();
    if to_create.contains(&Key::Bastion) {
        planned.push((ctx.settings.bastion_instance_type.clone(), 1.0));
    }
    if hand_off {
        planned.push((boot.director_instance_type.clone(), 1.0));
        planned.push((boot.small_instance_type.clone(), 1.0));
        planned.push((
            boot.small_highmem_instance_type.clone(),
            f64::from(boot.worker_count),
        ));
    }
    let types: BTreeSet<String> = running_types
        .iter()
        .cloned()
        .chain(planned.iter().map(|(t, _)| t.clone()))
        .filter(|t| standard(t))
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
    // Folded from 0.0: an empty f64 sum is -0.0, which prints as "-0".
    let used_vcpus = running_types
        .iter()
        .map(|t| cpus_of(t))
        .fold(0.0, |a, b| a + b);
    let needed_vcpus = planned
        .iter()
        .map(|(t, n)| n * cpus_of(t))
        .fold(0.0, |a, b| a + b);

    let checks = [
        (&VPCS, vpcs.vpcs().len() as f64, needs(Key::Vpc)),
        (
            &INTERNET_GATEWAYS,
            gateways.internet_gateways().len() as f64,
            needs(Key::InternetGateway),
        ),
        (&NAT_GATEWAYS, nats_in_zone, needs(Key::NatGateway)),
        (
            &CLASSIC_LOAD_BALANCERS,
            balancers.load_balancer_descriptions().len() as f64,
            needs(Key::MasterLoadBalancer),
        ),
        (&STANDARD_VCPUS, used_vcpus, needed_vcpus),
    ];
    // The quotas are independent reads: asked at once.
    let found = futures::future::join_all(
        checks
            .iter()
            .map(|(quota, used, needed)| check(ctx, quota, *used, *needed)),
    )
    .await;
    let (problems, defaults): (Vec<_>, Vec<_>) = found.into_iter().unzip();
    Ok((
        problems.into_iter().flatten().collect(),
        defaults.into_iter().flatten().collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_families_are_the_quotas() {
        assert!(standard("t3.large") && standard("m5.large") && standard("c6i.xlarge"));
        assert!(!standard("g5.xlarge") && !standard("p4d.24xlarge") && !standard("x2idn.large"));
    }
}
