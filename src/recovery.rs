//! An environment whose state is lost, rebuilt from AWS for `unpave`: everything carrying its
//! ownership tag (the census), each resource of its inventory found by its own tags and name, the
//! VPC it was paved into when that is the operator's, the cluster tag's value from its own security
//! groups, and the adopted subnets that carry that value. What AWS cannot say stays unknown: the
//! rebuilt state is marked `recovered` and only `unpave` acts on it. Nothing is written to the state
//! store here: the caller does, once the operator has confirmed.

use aws_sdk_ec2::types::{Instance, NatGateway, Subnet, Vpc};

use crate::aws::{self, Clients, Policy};
use crate::census::{self, Found};
use crate::config::{DirectorCredentials, Settings};
use crate::ec2::tags::{CLUSTER_TAG, CLUSTER_VALUE_TAG, OWNER_TAG, has_tag, owned_by};
use crate::ec2::{self, filters, security_group};
use crate::key::PrivateEgress;
use crate::keys::KeyMaterial;
use crate::resources::{Ctx, inventory};
use crate::state::{SCHEMA_VERSION, State, StateStore};
use crate::templates::Templates;
use crate::{graph, report};

/// What AWS holds of a lost environment.
pub struct Recovered {
    /// The rebuilt state, for the inventory's resources that were found.
    pub state: State,
    /// Everything carrying the environment's tag or under its IAM path.
    pub census: Vec<Found>,
}

/// Rebuilds the state of `env` from AWS; `None` when AWS holds nothing of it. `settings` are the
/// defaults for the environment's name and region: the rest is learnt here or stays a default that
/// nothing but unpave will read.
pub async fn recover(
    aws: Clients,
    mut settings: Settings,
    templates: Templates,
) -> anyhow::Result<Option<Recovered>> {
    let env = settings.prefix.clone();
    report::note(&format!(
        "no state for {env:?}: looking for what it owns in {} by its tag ({OWNER_TAG}) and IAM path",
        settings.region
    ));
    let census = census::owned(&aws, &env).await?;
    if census.is_empty() {
        return Ok(None);
    }
    // The access-key mode's user is looked for too: the mode was lost with the state.
    settings.director_credentials = DirectorCredentials::AccessKey;
    if settings.vpc_id.is_none()
        && let Some(vpc_id) = adopted_vpc(&aws, &env).await?
    {
        report::note(&format!(
            "its security groups are in VPC {vpc_id}, which is not its own: that VPC is kept"
        ));
        settings.vpc_id = Some(vpc_id);
        settings.vpc_cidr = None;
    }
    let cluster_tag = cluster_tag(&aws, &settings).await?;
    if let Some(vpc_id) = settings.vpc_id.clone()
        && !cluster_tag.is_empty()
    {
        adopt_tagged_subnets(&aws, &mut settings, &vpc_id, &cluster_tag).await?;
    }
    // Written to a scratch file only: the state store is the caller's, after confirmation.
    let scratch = tempfile::tempdir()?;
    let ctx = Ctx {
        aws,
        templates,
        state: StateStore::create(
            scratch.path().join("recovered.json"),
            recovered_state(&settings, cluster_tag),
        )?,
        settings,
    };
    // Every kind is looked for: a NAT gateway the environment may not have is simply not found.
    graph::discover(
        &ctx,
        &inventory(&ctx.settings, PrivateEgress::OwnNatGateway),
    )
    .await?;
    Ok(Some(Recovered {
        state: ctx.state.snapshot(),
        census,
    }))
}

fn recovered_state(settings: &Settings, cluster_tag: String) -> State {
    State {
        schema_version: SCHEMA_VERSION,
        env: settings.prefix.clone(),
        region: settings.region.clone(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        settings: settings.clone(),
        cluster_tag,
        deployer_key: KeyMaterial::default(),
        bastion_host_key: KeyMaterial::default(),
        director_access_key: None,
        resources: Default::default(),
        creating: Default::default(),
        private_egress: PrivateEgress::OwnNatGateway,
        bootstrap: Default::default(),
        recovered: true,
    }
}

/// The VPC holding the environment's security groups when it is not the environment's own: the
/// operator's VPC it was paved into.
async fn adopted_vpc(aws: &Clients, env: &str) -> anyhow::Result<Option<String>> {
    let policy = Policy::standard();
    let groups = security_group::owned_by(&aws.ec2, env, None, &policy).await?;
    let Some(vpc_id) = groups.iter().find_map(|g| g.vpc_id()) else {
        return Ok(None);
    };
    let own = ec2::by_id::<Vpc>(&aws.ec2, vpc_id, &policy)
        .await?
        .is_some_and(|v| owned_by(v.tags(), env));
    Ok((!own).then(|| vpc_id.to_string()))
}

/// The environment's cluster tag: kept on its own security groups; for environments paved before
/// that, on its own subnets, or on the adopted ones the configuration names. Empty when none
/// carries it.
async fn cluster_tag(aws: &Clients, settings: &Settings) -> anyhow::Result<String> {
    let env = &settings.prefix;
    let ec2 = &aws.ec2;
    let policy = Policy::standard();
    let groups = security_group::owned_by(ec2, env, None, &policy).await?;
    let kept = groups
        .iter()
        .flat_map(|g| g.tags())
        .find(|t| t.key() == Some(CLUSTER_VALUE_TAG))
        .and_then(|t| t.value());
    if let Some(value) = kept {
        return Ok(value.to_string());
    }
    let owned: Vec<Subnet> = ec2::matching(ec2, vec![filters::owner(env)], &policy).await?;
    let named: Vec<String> = [&settings.public_subnet_id, &settings.private_subnet_id]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let adopted: Vec<Subnet> = if named.is_empty() {
        Vec::new()
    } else {
        aws::absent_ok(ec2::by_ids(ec2, named, &policy).await)?.unwrap_or_default()
    };
    let ours = owned.iter().filter(|s| owned_by(s.tags(), env));
    Ok(ours
        .chain(&adopted)
        .flat_map(|s| s.tags())
        .find(|t| t.key() == Some(CLUSTER_TAG))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string())
}

/// The subnets of the adopted VPC that carry the environment's cluster tag but are not its own:
/// the adopted ones, whose tag unpave takes back. The one the bastion, the NAT gateway or the load
/// balancer lives in is the public one.
async fn adopt_tagged_subnets(
    aws: &Clients,
    settings: &mut Settings,
    vpc_id: &str,
    cluster_tag: &str,
) -> anyhow::Result<()> {
    if settings.public_subnet_id.is_some() || settings.private_subnet_id.is_some() {
        return Ok(());
    }
    let env = settings.prefix.clone();
    let wanted = vec![filters::vpc(vpc_id), filters::tag(CLUSTER_TAG, cluster_tag)];
    let found: Vec<Subnet> = ec2::matching(&aws.ec2, wanted, &Policy::standard()).await?;
    let tagged: Vec<String> = found
        .iter()
        // Matched here too: emulators may ignore the filters.
        .filter(|s| s.vpc_id() == Some(vpc_id) && !owned_by(s.tags(), &env))
        .filter(|s| has_tag(s.tags(), CLUSTER_TAG, cluster_tag))
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    let public = public_subnets(aws, &env).await?;
    for id in tagged {
        let slot = if public.contains(&id) || settings.private_subnet_id.is_some() {
            &mut settings.public_subnet_id
        } else {
            &mut settings.private_subnet_id
        };
        if slot.is_none() {
            report::note(&format!(
                "subnet {id} of VPC {vpc_id} carries the environment's cluster tag: adopted, its tag is taken back"
            ));
            *slot = Some(id);
        }
    }
    Ok(())
}

/// The subnets the environment's bastion and NAT gateway run in: public ones.
async fn public_subnets(aws: &Clients, env: &str) -> anyhow::Result<Vec<String>> {
    let ec2 = &aws.ec2;
    let policy = Policy::standard();
    let (instances, gateways) = futures::try_join!(
        ec2::matching::<Instance>(ec2, vec![filters::owner(env)], &policy),
        ec2::matching::<NatGateway>(ec2, vec![filters::owner(env)], &policy),
    )?;
    let bastions = instances
        .iter()
        .filter(|i| owned_by(i.tags(), env))
        .filter_map(|i| i.subnet_id());
    let nats = gateways
        .iter()
        .filter(|g| owned_by(g.tags(), env))
        .filter_map(|g| g.subnet_id());
    Ok(bastions.chain(nats).map(str::to_string).collect())
}
