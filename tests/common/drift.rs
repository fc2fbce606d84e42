//! Drift made behind the tool's back, straight at LocalStack: what the tests of `status`, `plan`
//! and pave's repairs change so that the tool has something to find.

use aws_sdk_ec2::types::{IpPermission, IpRange, Tag};

use super::{Aws, Env};

/// Removes the tag `key` from the EC2 resource `id`.
pub async fn untag(aws: &Aws, id: &str, key: &str) {
    aws.ec2
        .delete_tags()
        .resources(id)
        .tags(Tag::builder().key(key).build())
        .send()
        .await
        .unwrap();
}

/// Revokes the rule that lets SSH in from anywhere on the security group `group`.
pub async fn revoke_ssh(aws: &Aws, group: &str) {
    let ssh = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    aws.ec2
        .revoke_security_group_ingress()
        .group_id(group)
        .ip_permissions(ssh)
        .send()
        .await
        .unwrap();
}

/// Deletes the environment's worker instance profile, taking its role out first as IAM requires.
pub async fn delete_worker_profile(aws: &Aws, env: &Env) {
    let profile = env.id("worker_instance_profile");
    aws.iam
        .remove_role_from_instance_profile()
        .instance_profile_name(&profile)
        .role_name(env.id("worker_role"))
        .send()
        .await
        .unwrap();
    aws.iam
        .delete_instance_profile()
        .instance_profile_name(&profile)
        .send()
        .await
        .unwrap();
}
