//! VPCs, and their DNS attributes.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Vpc, VpcAttributeName};

use super::described;
use crate::aws::retry::AwsError;
use crate::aws::{self, Policy};

described! {
    Vpc,
    operation: "DescribeVpcs",
    request: describe_vpcs,
    ids: set_vpc_ids,
    filters: set_filters,
    answer: |o| o.vpcs,
    id: vpc_id,
    tags: tags,
    id_filter: "vpc-id",
}

/// Whether the VPC's DNS support or DNS hostnames (`attribute`) is on. AWS answers one attribute per
/// call.
pub async fn dns_enabled(
    ec2: &Client,
    vpc_id: &str,
    attribute: VpcAttributeName,
    policy: &Policy,
) -> Result<bool, AwsError> {
    let out = aws::call("DescribeVpcAttribute", policy, || {
        ec2.describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(attribute.clone())
            .send()
    })
    .await?;
    let value = match attribute {
        VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
        _ => out.enable_dns_support(),
    };
    Ok(value.and_then(|v| v.value()) == Some(true))
}
