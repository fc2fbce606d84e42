//! Subnets.

use aws_sdk_ec2::types::Subnet;

use super::described;

described! {
    Subnet,
    operation: "DescribeSubnets",
    request: describe_subnets,
    ids: set_subnet_ids,
    filters: set_filters,
    answer: |o| o.subnets,
    id: subnet_id,
    tags: tags,
    id_filter: "subnet-id",
}
