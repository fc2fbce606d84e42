//! Machine images.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Image;

use super::filters::filter;
use super::{described, pages};
use crate::aws::Policy;
use crate::aws::retry::AwsError;

described! {
    Image,
    operation: "DescribeImages",
    request: describe_images,
    ids: set_image_ids,
    filters: set_filters,
    answer: |o| o.images,
    id: image_id,
    tags: tags,
    id_filter: "image-id",
}

/// `owner`'s hardware-virtual-machine images whose names match `pattern`, deprecated ones too: AWS
/// deprecates an image two years after it was made, and a pattern pinned to an older release must
/// still find it.
pub async fn named_like(
    ec2: &Client,
    owner: &str,
    pattern: &str,
    policy: &Policy,
) -> Result<Vec<Image>, AwsError> {
    let send = |token| {
        ec2.describe_images()
            .include_deprecated(true)
            .owners(owner)
            .filters(filter("name", [pattern]))
            .filters(filter("virtualization-type", ["hvm"]))
            .set_next_token(token)
            .send()
    };
    pages(
        "DescribeImages",
        policy,
        send,
        |o| o.next_token(),
        |o| o.images,
    )
    .await
}

/// Whether an image's deprecation time has passed (RFC 3339 timestamps compare as text).
pub fn deprecated(image: &Image) -> bool {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    image
        .deprecation_time()
        .is_some_and(|t| !t.is_empty() && t <= now.as_str())
}
