//! The bastion `P-bosh-bastion`: Ubuntu in the public subnet, running with the director's instance
//! profile, its SSH host key pinned through cloud-init.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    HttpTokensState, IamInstanceProfileSpecification, Instance, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceNetworkInterfaceSpecification, InstanceType,
    ResourceType,
};
use base64::Engine;

use super::resource::{Ctx, FRESH, Need, Needs, Resource, fresh};
use super::snapshot::{Health, Observed};
use crate::aws::{self, ErrorClass, Policy, Tolerate};
use crate::config::Settings;
use crate::ec2::{self, filters, instance};
use crate::key::Key;
use crate::state::Record;

pub struct Bastion;

pub const PRIVATE_IP: &str = "private_ip";
const NAME: &str = "bosh-bastion";
const BOOT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// A new instance profile, or the role just added to it, can take this long before RunInstances
/// accepts it: the Terraform AWS provider's `iamPropagationTimeout` (2 minutes).
const PROFILE_PROPAGATION: Duration = Duration::from_secs(120);

#[async_trait]
impl Resource for Bastion {
    fn key(&self) -> Key {
        Key::Bastion
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(NAME)
    }

    fn needs(&self) -> Needs {
        Needs {
            // The profile must hold its role when the instance starts; the key pair must exist.
            create: vec![
                Need::Id(Key::BastionImage),
                Need::Id(Key::PublicSubnet),
                Need::Id(Key::NodeAccessSecurityGroup),
                Need::Ready(Key::DeployerKeyPair),
                Need::Ready(Key::DirectorInstanceProfile),
            ],
            // Ready means reachable: its subnet routed to the internet, its rules in place.
            complete: vec![
                Need::Ready(Key::PublicRouteTable),
                Need::Ready(Key::PublicRoute),
                Need::Ready(Key::NodeAccessSecurityGroup),
            ],
            // Routes do not hold instances, nor instances routes.
            delete_independently: vec![Key::PublicRouteTable, Key::PublicRoute],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let found: Vec<Instance> = ec2::owned_named(
            &ctx.aws.ec2,
            ctx.env(),
            &ctx.name(NAME),
            Some(filters::not_terminated()),
            &Policy::standard(),
        )
        .await?;
        Ok(found.iter().find_map(|i| {
            Some(
                Record::new(i.instance_id()?)
                    .with(PRIVATE_IP, i.private_ip_address().unwrap_or_default()),
            )
        }))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let ec2 = &ctx.aws.ec2;
        let state = ctx.state.snapshot();
        let name = ctx.name(NAME);
        let user_data = ctx
            .templates
            .bastion_user_data(&name, &state.bastion_host_key)?;
        let user_data = base64::engine::general_purpose::STANDARD.encode(user_data);
        let network = InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .subnet_id(ctx.id(Key::PublicSubnet)?)
            .groups(ctx.id(Key::NodeAccessSecurityGroup)?)
            .associate_public_ip_address(true)
            .build();
        let profile = IamInstanceProfileSpecification::builder()
            .name(ctx.id(Key::DirectorInstanceProfile)?)
            .build();
        let image = ctx.id(Key::BastionImage)?;
        let key_name = ctx.id(Key::DeployerKeyPair)?;
        // Same token on a retry after a crash: AWS returns the instance it already launched.
        let token = format!("{}-bastion-{}", ctx.env(), state.cluster_tag);
        // Not retried in transit even with the token: emulators ignore it, and the graph looks first.
        let policy = Policy::create()
            .tolerate(Tolerate::Message(
                "Invalid IAM Instance Profile",
                PROFILE_PROPAGATION,
            ))
            .tolerate(Tolerate::Message(
                "has no associated IAM Roles",
                PROFILE_PROPAGATION,
            ))
            .tolerate(Tolerate::Class(ErrorClass::NotFound, FRESH));
        // IMDSv2 only; a hop limit of 2 lets what runs in containers on it reach the service.
        let imdsv2 = InstanceMetadataOptionsRequest::builder()
            .http_tokens(HttpTokensState::Required)
            .http_put_response_hop_limit(2)
            .http_endpoint(InstanceMetadataEndpointState::Enabled)
            .build();
        let out = aws::call("RunInstances", &policy, || {
            ec2.run_instances()
                .image_id(&image)
                .instance_type(InstanceType::from(
                    ctx.settings.bastion_instance_type.as_str(),
                ))
                .min_count(1)
                .max_count(1)
                .key_name(&key_name)
                .network_interfaces(network.clone())
                .iam_instance_profile(profile.clone())
                .user_data(&user_data)
                .metadata_options(imdsv2.clone())
                .client_token(&token)
                .tag_specifications(ctx.ec2_tags(ResourceType::Instance, &name))
                .send()
        })
        .await?;
        let instance = out
            .instances()
            .first()
            .ok_or_else(|| anyhow::anyhow!("RunInstances returned no instance"))?;
        Ok(
            Record::new(instance.instance_id().unwrap_or_default()).with(
                PRIVATE_IP,
                instance.private_ip_address().unwrap_or_default(),
            ),
        )
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let what = format!("bastion {} to be running", record.id);
        // Right after the launch, AWS may not know the instance yet.
        ec2::wait_until(
            &ctx.aws.ec2,
            &record.id,
            &fresh(),
            &what,
            BOOT_TIMEOUT,
            |found| {
                instance::running(found).polled(|state| {
                    anyhow!(
                        "bastion {} is {state} instead of running; unpave and pave again",
                        record.id
                    )
                })
            },
        )
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let found = ctx.described::<Instance>(&record.id).await?;
        Ok(found.is_some_and(|i| instance::is_live(&i)))
    }

    fn tag_id(&self, record: &Record) -> Option<String> {
        Some(record.id.clone())
    }

    fn observe(&self, ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        // An instance without a state is taken for gone.
        let live = seen
            .instances
            .get(&record.id)
            .is_some_and(|i| instance::state(i).is_some() && instance::is_live(i));
        if !live {
            return Some(Health::Missing);
        }
        ctx.tagged_health(seen, &record.id, &self.name(&ctx.settings))
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let ec2 = &ctx.aws.ec2;
        aws::absent_ok(
            aws::call("TerminateInstances", &Policy::standard(), || {
                ec2.terminate_instances().instance_ids(&record.id).send()
            })
            .await,
        )?;
        let what = format!("bastion {} to terminate", record.id);
        let policy = Policy::standard();
        ec2::wait_until(ec2, &record.id, &policy, &what, BOOT_TIMEOUT, |found| {
            Ok(found.is_none_or(instance::terminated).then_some(()))
        })
        .await
    }
}
