//! Classic load balancers as the census and the removal of Kubernetes' leftovers read them: every
//! load balancer of the region (every page), and their tags, twenty names to a request (the API's
//! limit). Written once here, as EC2's finders are in [`crate::ec2`].

use aws_sdk_elasticloadbalancing::Client;
use aws_sdk_elasticloadbalancing::types::LoadBalancerDescription;

use crate::aws::retry::AwsError;
use crate::aws::{self, ErrorClass, Policy};

/// How many names one DescribeTags takes.
const NAMES_PER_REQUEST: usize = 20;

/// A load balancer's tags, as (key, value); a tag without a value has an empty one.
pub type Tags = Vec<(String, String)>;

/// Every load balancer of the region.
pub async fn every(elb: &Client) -> Result<Vec<LoadBalancerDescription>, AwsError> {
    let pages = aws::all_pages(
        "DescribeLoadBalancers",
        &Policy::standard(),
        |marker| elb.describe_load_balancers().set_marker(marker).send(),
        |page| page.next_marker(),
    )
    .await?;
    Ok(pages
        .into_iter()
        .flat_map(|page| page.load_balancer_descriptions.unwrap_or_default())
        .collect())
}

/// The tags of the load balancers `names`. One deleted since it was listed is left out: AWS fails a
/// request naming it, so that request's names are asked again one at a time.
pub async fn tags(elb: &Client, names: &[String]) -> Result<Vec<(String, Tags)>, AwsError> {
    let mut all = Vec::new();
    for chunk in names.chunks(NAMES_PER_REQUEST) {
        match tags_of(elb, chunk.to_vec()).await {
            Err(e) if e.is(ErrorClass::NotFound) && chunk.len() > 1 => {
                for name in chunk {
                    all.extend(
                        aws::absent_ok(tags_of(elb, vec![name.clone()]).await)?.unwrap_or_default(),
                    );
                }
            }
            other => all.extend(aws::absent_ok(other)?.unwrap_or_default()),
        }
    }
    Ok(all)
}

/// One DescribeTags.
async fn tags_of(elb: &Client, names: Vec<String>) -> Result<Vec<(String, Tags)>, AwsError> {
    let out = aws::call("DescribeTags", &Policy::standard(), || {
        elb.describe_tags()
            .set_load_balancer_names(Some(names.clone()))
            .send()
    })
    .await?;
    Ok(out
        .tag_descriptions()
        .iter()
        .filter_map(|d| {
            let tags = d
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            Some((d.load_balancer_name()?.to_string(), tags))
        })
        .collect())
}
