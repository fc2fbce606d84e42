//! Network interfaces: a load balancer's, and the one holding an address.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::NetworkInterface;

use super::filters::filter;
use super::{described, matching};
use crate::aws::Policy;
use crate::aws::retry::AwsError;

/// The owner AWS gives a classic load balancer's network interfaces.
const ELB_OWNER: &str = "amazon-elb";

described! {
    NetworkInterface,
    operation: "DescribeNetworkInterfaces",
    request: describe_network_interfaces,
    ids: set_network_interface_ids,
    filters: set_filters,
    answer: |o| o.network_interfaces,
    id: network_interface_id,
    tags: tag_set,
    id_filter: "network-interface-id",
}

/// Classic load balancer `name`'s interfaces: owned by `amazon-elb`, described `ELB <name>`.
pub async fn of_classic_load_balancer(
    ec2: &Client,
    name: &str,
    policy: &Policy,
) -> Result<Vec<NetworkInterface>, AwsError> {
    let description = format!("ELB {name}");
    let wanted = vec![
        filter("attachment.instance-owner-id", [ELB_OWNER]),
        filter("description", [description.as_str()]),
    ];
    let found: Vec<NetworkInterface> = matching(ec2, wanted, policy).await?;
    // Matched here too: emulators may ignore either filter.
    Ok(found
        .into_iter()
        .filter(|i| i.description() == Some(description.as_str()))
        .collect())
}

/// The interface holding private address `address` in `subnet`, if any.
pub async fn holding(
    ec2: &Client,
    subnet: &str,
    address: &str,
    policy: &Policy,
) -> Result<Option<NetworkInterface>, AwsError> {
    let wanted = vec![
        filter("subnet-id", [subnet]),
        filter("addresses.private-ip-address", [address]),
    ];
    let found: Vec<NetworkInterface> = matching(ec2, wanted, policy).await?;
    // Matched here too: emulators may ignore the filters.
    Ok(found
        .into_iter()
        .filter(|i| i.subnet_id() == Some(subnet))
        .find(|i| {
            i.private_ip_addresses()
                .iter()
                .any(|a| a.private_ip_address() == Some(address))
        }))
}
