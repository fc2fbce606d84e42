//! Elastic IP addresses.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Address, Tag};

use super::{Described, Query};
use crate::aws::retry::AwsError;
use crate::aws::{self, Policy};

impl Described for Address {
    const ID_FILTER: &str = "allocation-id";

    /// One call: DescribeAddresses has no pages.
    async fn describe(
        ec2: &Client,
        query: &Query,
        policy: &Policy,
    ) -> Result<Vec<Address>, AwsError> {
        let out = aws::call("DescribeAddresses", policy, || {
            ec2.describe_addresses()
                .set_allocation_ids(query.id_list())
                .set_filters(query.filter_list())
                .send()
        })
        .await?;
        Ok(out.addresses.unwrap_or_default())
    }

    /// The allocation id.
    fn id(&self) -> Option<&str> {
        self.allocation_id()
    }

    fn tag_list(&self) -> &[Tag] {
        self.tags()
    }
}
