//! The AWS resources of a CFCR environment: one module per kind, all behind the same small
//! [`Resource`] interface, and [`inventory`], the list of what an environment is made of.
//!
//! A resource knows how to find itself in AWS (by ownership tag or name, to adopt what a crashed run
//! created but did not record), create itself, finish its follow-up steps, check that it still exists,
//! and delete itself. It does not know the order: that is [`crate::graph`]'s job, from `needs`.

mod ami;
mod blockers;
mod elastic_ip;
mod iam;
mod instance;
mod internet_gateway;
mod key_pair;
mod load_balancer;
mod nat_gateway;
mod resource;
mod route;
mod route_table;
mod security_group;
mod snapshot;
mod subnet;
mod vpc;

pub use iam::{iam_path, listing as iam_listing};
pub use load_balancer::delete_interfaces as delete_load_balancer_interfaces;
pub use resource::{Ctx, NameTaken, Need, NotInState, Resource};
pub use snapshot::{Health, Observed};

use crate::config::{DirectorCredentials, Settings};
use crate::key::PrivateEgress;

/// Everything an environment is made of, for its settings and the private subnet's way out.
pub fn inventory(settings: &Settings, egress: PrivateEgress) -> Vec<Box<dyn Resource>> {
    let mut all: Vec<Box<dyn Resource>> = vec![
        Box::new(ami::BastionImage),
        Box::new(key_pair::DeployerKeyPair),
    ];
    match &settings.vpc_id {
        Some(id) => {
            all.push(Box::new(vpc::ExistingVpc::new(id)));
            all.push(Box::new(internet_gateway::ExistingInternetGateway));
        }
        None => {
            all.push(Box::new(vpc::Vpc));
            all.push(Box::new(internet_gateway::InternetGateway));
        }
    }
    match &settings.public_subnet_id {
        // An existing public subnet already routes to the internet gateway (preflight checks).
        Some(id) => all.push(Box::new(subnet::ExistingSubnet::public(id))),
        None => {
            all.push(Box::new(subnet::Subnet::public()));
            all.push(Box::new(route_table::RouteTable::public()));
            all.push(Box::new(route::DefaultRoute::public()));
        }
    }
    match &settings.private_subnet_id {
        Some(id) => all.push(Box::new(subnet::ExistingSubnet::private(id))),
        None => all.push(Box::new(subnet::Subnet::private())),
    }
    if egress == PrivateEgress::OwnNatGateway {
        all.push(Box::new(elastic_ip::ElasticIp::nat()));
        all.push(Box::new(nat_gateway::NatGateway));
        all.push(Box::new(route_table::RouteTable::private()));
        all.push(Box::new(route::DefaultRoute::private()));
    }
    all.extend([
        Box::new(security_group::SecurityGroup::node_access()) as Box<dyn Resource>,
        Box::new(security_group::SecurityGroup::api_access()),
        Box::new(load_balancer::MasterLoadBalancer),
        Box::new(iam::Role::master()),
        Box::new(iam::InstanceProfile::master()),
        Box::new(iam::Role::worker()),
        Box::new(iam::InstanceProfile::worker()),
        Box::new(iam::Role::director()),
        Box::new(iam::DirectorPolicy),
        Box::new(iam::InstanceProfile::director()),
        Box::new(instance::Bastion),
        Box::new(elastic_ip::ElasticIp::bastion()),
    ]);
    if settings.director_credentials == DirectorCredentials::AccessKey {
        all.push(Box::new(iam::DirectorUser));
    }
    all
}
