//! EBS volumes.

use aws_sdk_ec2::types::Volume;

use super::described;

described! {
    Volume,
    operation: "DescribeVolumes",
    request: describe_volumes,
    ids: set_volume_ids,
    filters: set_filters,
    answer: |o| o.volumes,
    id: volume_id,
    tags: tags,
    id_filter: "volume-id",
}
