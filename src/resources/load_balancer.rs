//! The classic ELB `P-cfcr-api` in front of the Kubernetes masters: internet-facing, in the public
//! subnet, TCP passthrough to the API server. BOSH registers the masters with it (`master-lb`).

use async_trait::async_trait;
use aws_sdk_ec2::types::AttachmentStatus;
use aws_sdk_elasticloadbalancing::types::{HealthCheck, Listener, Tag};

use super::resource::{Ctx, NameTaken, Need, Needs, Resource, fresh, fresh_create};
use super::snapshot::{Health, Observed};
use crate::aws::{self, Policy};
use crate::config::Settings;
use crate::ec2::network_interface;
use crate::ec2::tags::OWNER_TAG;
use crate::key::Key;
use crate::report;
use crate::state::Record;

pub struct MasterLoadBalancer;

/// The port the Kubernetes API server listens on, behind the ELB.
pub const API_SERVER_PORT: u16 = 8443;

pub const DNS_NAME: &str = "dns_name";
const NAME: &str = "cfcr-api";

fn tag(key: &str, value: &str) -> anyhow::Result<Tag> {
    Ok(Tag::builder().key(key).value(value).build()?)
}

#[async_trait]
impl Resource for MasterLoadBalancer {
    fn key(&self) -> Key {
        Key::MasterLoadBalancer
    }

    fn name(&self, settings: &Settings) -> String {
        settings.name(NAME)
    }

    fn needs(&self) -> Needs {
        Needs {
            // An internet-facing load balancer needs the VPC's internet gateway attached.
            create: vec![
                Need::Id(Key::PublicSubnet),
                Need::Id(Key::ApiAccessSecurityGroup),
                Need::Ready(Key::InternetGateway),
            ],
            ..Needs::default()
        }
    }

    async fn find(&self, ctx: &Ctx) -> anyhow::Result<Option<Record>> {
        let elb = &ctx.aws.elb;
        let name = ctx.name(NAME);
        let Some(found) = aws::absent_ok(
            aws::call("DescribeLoadBalancers", &Policy::standard(), || {
                elb.describe_load_balancers()
                    .load_balancer_names(&name)
                    .send()
            })
            .await,
        )?
        else {
            return Ok(None);
        };
        let Some(dns_name) = found
            .load_balancer_descriptions()
            .first()
            .map(|d| d.dns_name().unwrap_or_default().to_string())
        else {
            return Ok(None);
        };
        let tags = aws::call("DescribeTags", &Policy::standard(), || {
            elb.describe_tags().load_balancer_names(&name).send()
        })
        .await?;
        let ours = tags
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .any(|t| t.key() == OWNER_TAG && t.value() == Some(ctx.env()));
        if !ours {
            return Err(NameTaken {
                what: "load balancer",
                name,
                env: ctx.env().to_string(),
            }
            .into());
        }
        Ok(Some(Record::new(name).with(DNS_NAME, dns_name)))
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<Record> {
        let elb = &ctx.aws.elb;
        let name = ctx.name(NAME);
        let subnet_id = ctx.id(Key::PublicSubnet)?;
        let group_id = ctx.id(Key::ApiAccessSecurityGroup)?;
        let listener = Listener::builder()
            .protocol("TCP")
            .load_balancer_port(i32::from(ctx.settings.kubernetes_master_port))
            .instance_protocol("TCP")
            .instance_port(i32::from(API_SERVER_PORT))
            .build()?;
        let tags = [tag("Name", &name)?, tag(OWNER_TAG, ctx.env())?];
        let out = aws::call("CreateLoadBalancer", &fresh_create(), || {
            elb.create_load_balancer()
                .load_balancer_name(&name)
                .listeners(listener.clone())
                .subnets(&subnet_id)
                .security_groups(&group_id)
                .set_tags(Some(tags.to_vec()))
                .send()
        })
        .await?;
        Ok(Record::new(name).with(DNS_NAME, out.dns_name().unwrap_or_default()))
    }

    async fn complete(&self, ctx: &Ctx, record: Record) -> anyhow::Result<Record> {
        let elb = &ctx.aws.elb;
        let check = HealthCheck::builder()
            .target(format!("TCP:{API_SERVER_PORT}"))
            .healthy_threshold(2)
            .unhealthy_threshold(2)
            .timeout(2)
            .interval(5)
            .build()?;
        aws::call("ConfigureHealthCheck", &fresh(), || {
            elb.configure_health_check()
                .load_balancer_name(&record.id)
                .health_check(check.clone())
                .send()
        })
        .await?;
        Ok(record)
    }

    async fn exists(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<bool> {
        let elb = &ctx.aws.elb;
        let out = aws::absent_ok(
            aws::call("DescribeLoadBalancers", &Policy::standard(), || {
                elb.describe_load_balancers()
                    .load_balancer_names(&record.id)
                    .send()
            })
            .await,
        )?;
        Ok(out.is_some_and(|o| !o.load_balancer_descriptions().is_empty()))
    }

    fn observe(&self, _ctx: &Ctx, record: &Record, seen: &Observed) -> Option<Health> {
        Some(if seen.load_balancers.contains_key(&record.id) {
            Health::Present
        } else {
            Health::Missing
        })
    }

    async fn delete(&self, ctx: &Ctx, record: &Record) -> anyhow::Result<()> {
        let elb = &ctx.aws.elb;
        // Deleting a load balancer that is already gone succeeds.
        aws::call("DeleteLoadBalancer", &Policy::standard(), || {
            elb.delete_load_balancer()
                .load_balancer_name(&record.id)
                .send()
        })
        .await?;
        delete_interfaces(ctx, &record.id).await
    }
}

/// Deletes a deleted classic load balancer's network interfaces. AWS releases them by itself, but
/// only minutes later, and until then they hold the security group, the subnet, the internet
/// gateway's detachment and the VPC. The Terraform AWS provider deletes them the same way: the
/// interfaces owned by `amazon-elb` whose description is `ELB <name>`, detached by force first.
pub async fn delete_interfaces(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let ec2 = &ctx.aws.ec2;
    let interfaces =
        network_interface::of_classic_load_balancer(ec2, name, &Policy::standard()).await?;
    for interface in &interfaces {
        let Some(id) = interface.network_interface_id() else {
            continue;
        };
        let attachment = interface
            .attachment()
            .filter(|a| a.status() != Some(&AttachmentStatus::Detached))
            .and_then(|a| a.attachment_id());
        if let Some(attachment) = attachment {
            aws::absent_ok(
                aws::call("DetachNetworkInterface", &Policy::standard(), || {
                    ec2.detach_network_interface()
                        .attachment_id(attachment)
                        .force(true)
                        .send()
                })
                .await,
            )?;
        }
        // Detaching takes a moment, during which the interface is still in use.
        aws::absent_ok(
            aws::call("DeleteNetworkInterface", &Policy::releasing(), || {
                ec2.delete_network_interface()
                    .network_interface_id(id)
                    .send()
            })
            .await,
        )?;
        report::note(&format!(
            "deleted   network interface {id} of load balancer {name}"
        ));
    }
    Ok(())
}
