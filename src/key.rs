//! What names a resource of an environment, below everything that refers to one: the state records
//! resources by [`Key`], the graph walks them, reports name them. Kept in a leaf module (as
//! Terraform keeps its addresses in `internal/addrs`) so that the layers above run one way.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies one resource of an environment: its node in the graph and its entry in the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    BastionImage,
    DeployerKeyPair,
    Vpc,
    InternetGateway,
    PublicSubnet,
    PrivateSubnet,
    PublicRouteTable,
    PublicRoute,
    NatEip,
    NatGateway,
    PrivateRouteTable,
    PrivateRoute,
    NodeAccessSecurityGroup,
    ApiAccessSecurityGroup,
    MasterLoadBalancer,
    MasterRole,
    MasterInstanceProfile,
    WorkerRole,
    WorkerInstanceProfile,
    DirectorRole,
    DirectorPolicy,
    DirectorInstanceProfile,
    DirectorUser,
    Bastion,
    BastionEip,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self).expect("keys serialise");
        f.write_str(text.as_str().expect("keys serialise as strings"))
    }
}

/// How the private subnet reaches the internet. Decided by the first pave and kept in the state, so
/// that later runs (when the subnet routes through the environment's own NAT gateway) build the
/// same inventory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivateEgress {
    /// Through the environment's NAT gateway and route table.
    #[default]
    OwnNatGateway,
    /// Through the adopted private subnet's own default route (a NAT gateway or instance of the
    /// operator's): the environment adds none.
    Existing,
}
