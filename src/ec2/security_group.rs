//! Security groups, and the groups whose rules name another.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::SecurityGroup;

use super::tags;
use super::{described, filters, matching};
use crate::aws::Policy;
use crate::aws::retry::AwsError;

described! {
    SecurityGroup,
    operation: "DescribeSecurityGroups",
    request: describe_security_groups,
    ids: set_group_ids,
    filters: set_filters,
    answer: |o| o.security_groups,
    id: group_id,
    tags: tags,
    id_filter: "group-id",
}

/// Environment `env`'s groups (by ownership tag), in any VPC or in `vpc_id`: how a lost state's
/// remains are found in an adopted VPC, which carries no ownership tag itself.
pub async fn owned_by(
    ec2: &Client,
    env: &str,
    vpc_id: Option<&str>,
    policy: &Policy,
) -> Result<Vec<SecurityGroup>, AwsError> {
    let mut wanted = vec![filters::owner(env)];
    wanted.extend(vpc_id.map(filters::vpc));
    let found: Vec<SecurityGroup> = matching(ec2, wanted, policy).await?;
    // Matched here too: emulators may ignore the filters.
    Ok(found
        .into_iter()
        .filter(|g| tags::owned_by(g.tags(), env))
        .filter(|g| vpc_id.is_none_or(|vpc| g.vpc_id() == Some(vpc)))
        .collect())
}

/// The groups in `vpc_id`, other than `group` itself, whose ingress rules name `group` as their
/// source: AWS deletes no group another group's rule references.
pub async fn referencing(
    ec2: &Client,
    vpc_id: &str,
    group: &str,
    policy: &Policy,
) -> Result<Vec<SecurityGroup>, AwsError> {
    let in_vpc: Vec<SecurityGroup> = matching(ec2, vec![filters::vpc(vpc_id)], policy).await?;
    Ok(in_vpc
        .into_iter()
        .filter(|g| g.group_id() != Some(group))
        .filter(|g| {
            g.ip_permissions()
                .iter()
                .flat_map(|p| p.user_id_group_pairs())
                .any(|pair| pair.group_id() == Some(group))
        })
        .collect())
}
