//! NAT gateways, and what their states mean to the waits for them.

use aws_sdk_ec2::types::{NatGateway, NatGatewayState};

use super::{Status, described};

described! {
    NatGateway,
    operation: "DescribeNatGateways",
    request: describe_nat_gateways,
    ids: set_nat_gateway_ids,
    filters: set_filter,
    answer: |o| o.nat_gateways,
    id: nat_gateway_id,
    tags: tags,
    id_filter: "nat-gateway-id",
}

/// Pending or available: there, or on its way. (A deleted or failed gateway stays visible for an
/// hour.)
pub fn is_live(gateway: &NatGateway) -> bool {
    matches!(
        gateway.state(),
        Some(NatGatewayState::Pending | NatGatewayState::Available)
    )
}

/// Pending, available or deleting: it still holds its address and its subnet.
pub fn holds(gateway: &NatGateway) -> bool {
    is_live(gateway) || gateway.state() == Some(&NatGatewayState::Deleting)
}

/// The wait for a new gateway: done once available, on while pending or not visible yet. Any other
/// state is final: AWS gives up on a gateway it cannot start.
pub fn available(gateway: Option<&NatGateway>) -> Status {
    let Some((gateway, state)) = gateway.and_then(|g| Some((g, g.state()?))) else {
        return Status::Pending;
    };
    match state {
        NatGatewayState::Available => Status::Done,
        NatGatewayState::Pending => Status::Pending,
        other => Status::Failed(format!(
            "{}: {}: {}",
            other.as_str(),
            gateway.failure_code().unwrap_or("no failure code"),
            gateway.failure_message().unwrap_or("no failure message")
        )),
    }
}

/// The wait for a deleted gateway: done once deleted or failed, or unknown to AWS.
pub fn gone(gateway: Option<&NatGateway>) -> bool {
    matches!(
        gateway.and_then(|g| g.state()),
        None | Some(NatGatewayState::Deleted | NatGatewayState::Failed)
    )
}
