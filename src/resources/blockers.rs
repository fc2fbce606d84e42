//! What holds a resource that AWS will not delete. A delete that keeps answering
//! `DependencyViolation` for more than a short while is usually blocked by something: a network
//! interface in the subnet, with the group, or in the VPC, or another group's rule. Instead of
//! waiting out the whole release window in silence, the delete finds the holders and names them in
//! the progress ("waiting: subnet-… is used by eni-… (ELB k8s-…)"), deletes those the environment or
//! its cluster owns (a load balancer's leftover interfaces), waits for those AWS is releasing (the
//! environment's own instance or NAT gateway going away), and stops on anything else, naming it and
//! what to do: an operator's Lambda function or VPC endpoint is not ours to delete.

use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, NetworkInterface, NetworkInterfaceType};

use super::load_balancer::delete_interfaces as delete_load_balancer_interfaces;
use super::resource::Ctx;
use crate::aws::retry::AwsError;
use crate::aws::{self, ErrorClass, Policy, Tolerate};
use crate::ec2::filters::filter;
use crate::ec2::tags::{CLUSTER_TAG, has_tag, owned_by};
use crate::ec2::{self, security_group};
use crate::key::Key;
use crate::report;

/// How long a delete may meet `DependencyViolation` before its holders are looked for: AWS
/// releases what it owns (a terminated instance's interface, a deleted NAT gateway's) in seconds.
const SHORT_WHILE: Duration = Duration::from_secs(30);

/// What a delete is blocked in.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    Subnet(&'a str),
    Group(&'a str),
    Vpc(&'a str),
}

impl Scope<'_> {
    fn id(&self) -> &str {
        match self {
            Scope::Subnet(id) | Scope::Group(id) | Scope::Vpc(id) => id,
        }
    }

    fn filter(&self) -> Filter {
        let name = match self {
            Scope::Subnet(_) => "subnet-id",
            Scope::Group(_) => "group-id",
            Scope::Vpc(_) => "vpc-id",
        };
        filter(name, [self.id()])
    }

    fn holds(&self, interface: &NetworkInterface) -> bool {
        match self {
            Scope::Subnet(id) => interface.subnet_id() == Some(id),
            Scope::Group(id) => interface.groups().iter().any(|g| g.group_id() == Some(id)),
            Scope::Vpc(id) => interface.vpc_id() == Some(id),
        }
    }
}

/// One thing that holds a resource.
#[derive(Debug)]
struct Holder {
    /// The interface's or group's id, and what it belongs to, for people.
    name: String,
    fate: Fate,
}

#[derive(Debug, PartialEq, Eq)]
enum Fate {
    /// A load balancer's interface of the environment or its cluster: deleted here.
    DeleteLoadBalancerInterfaces(String),
    /// The environment's own, and AWS is releasing it: waited for.
    Releasing,
    /// Someone else's: the operator decides.
    Foreign,
}

/// Deletes with `delete` (given the policy to send under), finding and naming what holds the
/// resource when AWS keeps refusing. A resource already gone counts as deleted.
pub async fn delete_when_free<F, Fut, T>(
    ctx: &Ctx,
    scope: Scope<'_>,
    delete: F,
) -> anyhow::Result<()>
where
    F: Fn(Policy) -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let short = Policy::standard().tolerate(Tolerate::Class(
        ErrorClass::DependencyViolation,
        SHORT_WHILE,
    ));
    match aws::absent_ok(delete(short).await) {
        Err(e) if e.is(ErrorClass::DependencyViolation) => {}
        other => return other.map(drop).map_err(Into::into),
    }
    let holders = holders(ctx, scope).await?;
    if !holders.is_empty() {
        let names: Vec<&str> = holders.iter().map(|h| h.name.as_str()).collect();
        report::note(&format!(
            "waiting: {} is used by {}",
            scope.id(),
            names.join(", ")
        ));
    }
    let foreign: Vec<&str> = holders
        .iter()
        .filter(|h| h.fate == Fate::Foreign)
        .map(|h| h.name.as_str())
        .collect();
    if !foreign.is_empty() {
        anyhow::bail!(
            "{} cannot be deleted: it is used by {}, which this environment did not create. Delete or detach them (or, if they are yours to keep, move them out of the environment's VPC), then run unpave again",
            scope.id(),
            foreign.join(", ")
        );
    }
    for holder in &holders {
        if let Fate::DeleteLoadBalancerInterfaces(name) = &holder.fate {
            delete_load_balancer_interfaces(ctx, name).await?;
        }
    }
    aws::absent_ok(delete(Policy::releasing()).await)?;
    Ok(())
}

/// The interfaces in `scope` and, for a group, the other groups whose rules name it.
async fn holders(ctx: &Ctx, scope: Scope<'_>) -> anyhow::Result<Vec<Holder>> {
    let interfaces: Vec<NetworkInterface> =
        ec2::matching(&ctx.aws.ec2, vec![scope.filter()], &Policy::standard()).await?;
    let mut holders: Vec<Holder> = interfaces
        .iter()
        // Matched here too: emulators may ignore the filter.
        .filter(|i| scope.holds(i))
        .map(|i| judge(ctx, i))
        .collect();
    if let Scope::Group(group) = scope {
        holders.extend(referencing_groups(ctx, group).await?);
    }
    Ok(holders)
}

/// Whose an interface is, from what AWS says made it.
fn judge(ctx: &Ctx, interface: &NetworkInterface) -> Holder {
    let id = interface.network_interface_id().unwrap_or("an interface");
    let description = interface.description().unwrap_or_default();
    let cluster_tag = ctx.state.snapshot().cluster_tag;
    let tags = interface.tag_set();
    let tagged = owned_by(tags, &ctx.settings.prefix) || has_tag(tags, CLUSTER_TAG, &cluster_tag);
    let recorded = |key: Key| ctx.state.get(key).map(|r| r.id);
    let mut name = String::from(id);
    let fate = if let Some(lb) = description.strip_prefix("ELB ") {
        let _ = write!(name, " (ELB {lb})");
        // The master's. (Kubernetes' load balancers and their interfaces are deleted by unpave
        // before the network; any other load balancer in the VPC is someone else's.)
        if recorded(Key::MasterLoadBalancer).as_deref() == Some(lb) {
            Fate::DeleteLoadBalancerInterfaces(lb.to_string())
        } else {
            Fate::Foreign
        }
    } else if let Some(instance) = interface.attachment().and_then(|a| a.instance_id()) {
        let _ = write!(name, " (instance {instance})");
        if recorded(Key::Bastion).as_deref() == Some(instance) {
            Fate::Releasing
        } else {
            Fate::Foreign
        }
    } else if interface.interface_type() == Some(&NetworkInterfaceType::NatGateway) {
        let ours = recorded(Key::NatGateway).is_some_and(|nat| description.contains(&nat));
        let _ = write!(name, " ({description})");
        if ours { Fate::Releasing } else { Fate::Foreign }
    } else {
        let what = match interface.interface_type() {
            Some(NetworkInterfaceType::Lambda) => "a Lambda function's",
            Some(NetworkInterfaceType::VpcEndpoint) => "a VPC endpoint's",
            _ if description.is_empty() => "no description",
            _ => description,
        };
        let _ = write!(name, " ({what})");
        if tagged {
            Fate::Releasing
        } else {
            Fate::Foreign
        }
    };
    Holder { name, fate }
}

/// Groups in the VPC, other than `group` and the environment's own, whose rules name `group`.
async fn referencing_groups(ctx: &Ctx, group: &str) -> anyhow::Result<Vec<Holder>> {
    let Ok(vpc_id) = ctx.id(Key::Vpc) else {
        return Ok(Vec::new());
    };
    let ours = [Key::NodeAccessSecurityGroup, Key::ApiAccessSecurityGroup]
        .map(|k| ctx.state.get(k).map(|r| r.id));
    let policy = Policy::standard();
    let referencing = security_group::referencing(&ctx.aws.ec2, &vpc_id, group, &policy).await?;
    Ok(referencing
        .iter()
        .filter(|g| {
            !ours
                .iter()
                .flatten()
                .any(|o| Some(o.as_str()) == g.group_id())
        })
        .map(|g| Holder {
            name: format!(
                "a rule of security group {} ({})",
                g.group_id().unwrap_or_default(),
                g.group_name().unwrap_or_default()
            ),
            fate: Fate::Foreign,
        })
        .collect())
}
