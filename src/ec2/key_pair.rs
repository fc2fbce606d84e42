//! Key pairs, known by their names.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{KeyPairInfo, Tag};

use super::{Described, Query};
use crate::aws::retry::AwsError;
use crate::aws::{self, Policy};

impl Described for KeyPairInfo {
    const ID_FILTER: &str = "key-pair-id";

    /// One call: DescribeKeyPairs has no pages. The ids are names, as the tool knows its pair (its
    /// tags are kept under its id, which [`Described::ID_FILTER`] names).
    async fn describe(
        ec2: &Client,
        query: &Query,
        policy: &Policy,
    ) -> Result<Vec<KeyPairInfo>, AwsError> {
        let out = aws::call("DescribeKeyPairs", policy, || {
            ec2.describe_key_pairs()
                .set_key_names(query.id_list())
                .set_filters(query.filter_list())
                .send()
        })
        .await?;
        Ok(out.key_pairs.unwrap_or_default())
    }

    fn id(&self) -> Option<&str> {
        self.key_name()
    }

    fn tag_list(&self) -> &[Tag] {
        self.tags()
    }
}
