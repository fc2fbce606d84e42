//! Prices from the AWS Price List Query API (`GetProducts`), for any region. Each request narrows one
//! service's products in the region with exact-match filters; each product comes back as a JSON
//! document (`product.attributes`, `terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD`), and the
//! one meant is picked by its usage type, which outside us-east-1 carries the region's prefix
//! (`EU-NatGateway-Hours`). docs/cost.md lists the filters and where they come from.

use std::collections::BTreeSet;

use aws_sdk_pricing::types::{Filter, FilterType};
use serde_json::Value;

use super::prices::Prices;
use crate::aws::retry::AwsError;
use crate::aws::{self, Policy};

/// What the Price List API said: its prices for the region, and when the newest was published.
pub struct Found {
    pub prices: Prices,
    pub published: Option<String>,
}

/// The prices of the environment's parts in `region`, for instances of `instance_types`. Any
/// failed request fails the whole: prices from two sources in one estimate could not be dated.
pub async fn read(
    client: &aws_sdk_pricing::Client,
    region: &str,
    instance_types: &BTreeSet<String>,
) -> Result<Found, AwsError> {
    let instances = futures::future::try_join_all(instance_types.iter().map(|kind| async move {
        let filters = [
            ("instanceType", kind.as_str()),
            ("operatingSystem", "Linux"),
            ("tenancy", "Shared"),
            ("preInstalledSw", "NA"),
            // Not the unused part of a capacity reservation.
            ("capacitystatus", "Used"),
        ];
        products(client, "AmazonEC2", region, &filters).await
    }));
    let (nat, elb, ipv4, gp3, instances) = futures::try_join!(
        products(
            client,
            "AmazonEC2",
            region,
            &[("productFamily", "NAT Gateway")]
        ),
        // The classic load balancer; the others are `Load Balancer-Application` and so on.
        products(
            client,
            "AWSELB",
            region,
            &[("productFamily", "Load Balancer")]
        ),
        // Public IPv4 addresses have been AmazonVPC's since 2024, with no product family.
        products(
            client,
            "AmazonVPC",
            region,
            &[("group", "VPCPublicIPv4Address")]
        ),
        products(
            client,
            "AmazonEC2",
            region,
            &[("productFamily", "Storage"), ("volumeApiName", "gp3")]
        ),
        instances,
    )?;
    let prices = Prices {
        nat_gateway_hour: price(&nat, "NatGateway-Hours", "Hrs"),
        nat_gateway_gb: price(&nat, "NatGateway-Bytes", "GB"),
        classic_elb_hour: price(&elb, "LoadBalancerUsage", "Hrs"),
        classic_elb_gb: price(&elb, "DataProcessing-Bytes", "GB"),
        public_ipv4_hour: price(&ipv4, "PublicIPv4:InUseAddress", "Hrs"),
        gp3_gb_month: price(&gp3, "EBS:VolumeUsage.gp3", "GB-Mo"),
        instances: instance_types
            .iter()
            .zip(&instances)
            .filter_map(|(kind, found)| {
                Some((
                    kind.clone(),
                    price(found, &format!("BoxUsage:{kind}"), "Hrs")?,
                ))
            })
            .collect(),
    };
    let published = [&nat, &elb, &ipv4, &gp3]
        .into_iter()
        .chain(&instances)
        .flatten()
        .filter_map(|p| p["publicationDate"].as_str())
        .max()
        .map(|date| date.get(..10).unwrap_or(date).to_string());
    Ok(Found { prices, published })
}

/// The products of `service` in `region` matching `filters`, as Price List documents.
async fn products(
    client: &aws_sdk_pricing::Client,
    service: &str,
    region: &str,
    filters: &[(&str, &str)],
) -> Result<Vec<Value>, AwsError> {
    let filters: Vec<Filter> = [("regionCode", region)]
        .iter()
        .chain(filters)
        .map(|(field, value)| {
            Filter::builder()
                .r#type(FilterType::TermMatch)
                .field(*field)
                .value(*value)
                .build()
                .expect("a filter with its type, field and value")
        })
        .collect();
    // Optional: the table stands in, so a failure is not retried; throttling is, within the budget.
    let pages = aws::all_pages(
        "GetProducts",
        &Policy::optional(),
        |token| {
            client
                .get_products()
                .service_code(service)
                .set_filters(Some(filters.clone()))
                .format_version("aws_v1")
                .max_results(100)
                .set_next_token(token)
                .send()
        },
        |page| page.next_token(),
    )
    .await?;
    Ok(pages
        .iter()
        .flat_map(|page| page.price_list())
        .filter_map(|doc| serde_json::from_str(doc).ok())
        .collect())
}

/// The On-Demand price in US dollars per `unit` (its first tier) of the product among `products`
/// whose usage type is `usage`.
fn price(products: &[Value], usage: &str, unit: &str) -> Option<f64> {
    products
        .iter()
        .filter(|p| {
            p["product"]["attributes"]["usagetype"]
                .as_str()
                .is_some_and(|u| is_usage(u, usage))
        })
        .find_map(|p| on_demand(p, unit))
}

/// Whether `usagetype` is `usage`, bare (us-east-1) or after a region's prefix (`EU-`, `APN1-`):
/// `EU-RegionalNatGateway-Hours` and `Outposts-LoadBalancerUsage` are other products.
fn is_usage(usagetype: &str, usage: &str) -> bool {
    usagetype == usage
        || usagetype.split_once('-').is_some_and(|(prefix, rest)| {
            rest == usage
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// A product document's On-Demand price per `unit`, from the dimension that starts at 0.
fn on_demand(product: &Value, unit: &str) -> Option<f64> {
    product["terms"]["OnDemand"]
        .as_object()?
        .values()
        .filter_map(|term| term["priceDimensions"].as_object())
        .flat_map(|dimensions| dimensions.values())
        .find(|d| d["unit"] == unit && d["beginRange"].as_str().is_none_or(|b| b == "0"))
        .and_then(|d| d["pricePerUnit"]["USD"].as_str()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The products of tests/fixtures' Price List answers that `filters` match, as GetProducts
    /// picks them.
    fn products(filters: &[(&str, &str)]) -> Vec<Value> {
        let all: Vec<Value> = serde_json::from_str(include_str!(
            "../../tests/fixtures/price-list/eu-west-1.json"
        ))
        .unwrap();
        all.into_iter()
            .filter(|p| {
                filters.iter().all(|(field, value)| {
                    let product = &p["product"];
                    match *field {
                        "productFamily" => product["productFamily"] == *value,
                        _ => product["attributes"][field] == *value,
                    }
                })
            })
            .collect()
    }

    #[test]
    fn each_price_is_read_off_its_product() {
        let eu = |filter: (&str, &str)| products(&[("regionCode", "eu-west-1"), filter]);
        let nat = eu(("productFamily", "NAT Gateway"));
        assert_eq!(price(&nat, "NatGateway-Hours", "Hrs"), Some(0.048));
        assert_eq!(price(&nat, "NatGateway-Bytes", "GB"), Some(0.048));
        let elb = eu(("productFamily", "Load Balancer"));
        assert_eq!(price(&elb, "LoadBalancerUsage", "Hrs"), Some(0.028));
        assert_eq!(price(&elb, "DataProcessing-Bytes", "GB"), Some(0.008));
        let ipv4 = eu(("group", "VPCPublicIPv4Address"));
        assert_eq!(price(&ipv4, "PublicIPv4:InUseAddress", "Hrs"), Some(0.005));
        let gp3 = eu(("volumeApiName", "gp3"));
        assert_eq!(price(&gp3, "EBS:VolumeUsage.gp3", "GB-Mo"), Some(0.088));
        // The On-Demand term, not the reserved one beside it (0.0071).
        let micro = eu(("instanceType", "t3.micro"));
        assert_eq!(price(&micro, "BoxUsage:t3.micro", "Hrs"), Some(0.0114));
        // us-east-1's usage types carry no prefix.
        let virginia = products(&[("regionCode", "us-east-1"), ("instanceType", "t3.micro")]);
        assert_eq!(price(&virginia, "BoxUsage:t3.micro", "Hrs"), Some(0.0104));
        assert_eq!(price(&micro, "BoxUsage:t3.large", "Hrs"), None);
    }

    #[test]
    fn usage_types_are_matched_whole_after_the_region_prefix() {
        assert!(is_usage("NatGateway-Hours", "NatGateway-Hours"));
        assert!(is_usage("EU-NatGateway-Hours", "NatGateway-Hours"));
        assert!(is_usage("APN1-BoxUsage:t3.micro", "BoxUsage:t3.micro"));
        assert!(!is_usage("EU-RegionalNatGateway-Hours", "NatGateway-Hours"));
        assert!(!is_usage("RegionalNatGateway-Hours", "NatGateway-Hours"));
        assert!(!is_usage("Outposts-LoadBalancerUsage", "LoadBalancerUsage"));
        assert!(!is_usage("EU-UnusedBox:t3.micro", "BoxUsage:t3.micro"));
        assert!(!is_usage("EU-BoxUsage:t3.micro", "BoxUsage:t3.micr"));
    }

    #[test]
    fn the_first_tier_in_dollars_or_none() {
        let product = |dimensions: Value| {
            json!({
                "product": {"attributes": {"usagetype": "EU-DataTransfer-Out-Bytes"}},
                "terms": {"OnDemand": {"SKU.T": {"priceDimensions": dimensions}}},
            })
        };
        let tiers = product(json!({
            "SKU.T.B": {"unit": "GB", "beginRange": "10240", "pricePerUnit": {"USD": "0.085"}},
            "SKU.T.A": {"unit": "GB", "beginRange": "0", "pricePerUnit": {"USD": "0.09"}},
        }));
        assert_eq!(on_demand(&tiers, "GB"), Some(0.09));
        assert_eq!(on_demand(&tiers, "Hrs"), None);
        let yuan = product(json!({
            "SKU.T.A": {"unit": "GB", "beginRange": "0", "pricePerUnit": {"CNY": "0.933"}},
        }));
        assert_eq!(on_demand(&yuan, "GB"), None);
        assert_eq!(on_demand(&json!({"terms": {}}), "GB"), None);
    }
}
