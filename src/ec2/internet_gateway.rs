//! Internet gateways, and the one attached to a VPC.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::InternetGateway;

use super::{described, filters, matching};
use crate::aws::Policy;
use crate::aws::retry::AwsError;

described! {
    InternetGateway,
    operation: "DescribeInternetGateways",
    request: describe_internet_gateways,
    ids: set_internet_gateway_ids,
    filters: set_filters,
    answer: |o| o.internet_gateways,
    id: internet_gateway_id,
    tags: tags,
    id_filter: "internet-gateway-id",
}

/// The id of the internet gateway attached to `vpc_id`, if any.
pub async fn attached_to(
    ec2: &Client,
    vpc_id: &str,
    policy: &Policy,
) -> Result<Option<String>, AwsError> {
    let found: Vec<InternetGateway> = matching(
        ec2,
        vec![filters::filter("attachment.vpc-id", [vpc_id])],
        policy,
    )
    .await?;
    // Matched here too: emulators may ignore the filter.
    Ok(found
        .iter()
        .filter(|g| g.attachments().iter().any(|a| a.vpc_id() == Some(vpc_id)))
        .find_map(|g| g.internet_gateway_id().map(str::to_string)))
}
