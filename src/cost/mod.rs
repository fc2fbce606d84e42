//! What an environment costs a month, as configured: the AWS resources `pave` creates and what the
//! hand-off runs (the director, the masters and the workers with their disks). The prices come from
//! the AWS Price List API when it answers (price_list.rs), for any region; otherwise from a price
//! table built into the binary — per region, dated, with its sources — so that `plan` can say it
//! offline. A price neither knows is unknown (`null`), never 0. Charges that depend on traffic (per
//! GB) are stated, not guessed. docs/cost.md says how the table is refreshed.

mod price_list;
mod prices;

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::config::Settings;
use crate::hand_off::HandOffMode;
use prices::Prices;

/// When the table's prices were taken, and from where.
pub const PRICES_AS_OF: &str = "2026-11";
/// AWS's list prices as 2026 pricing guides quote them; AWS's own pages could not be read where
/// the table was made, so docs/cost.md says to check them against the Price List API.
pub const PRICES_SOURCE: &str = "AWS On-Demand list prices (EC2 Linux, NAT gateway, public IPv4, Classic Load Balancer, EBS gp3) as quoted by 2026 pricing guides; check with the AWS Price List API";

/// How long `plan` gives the Price List API, retries included, before it prices with the table:
/// the estimate must never make `plan` slow, let alone fail it.
const PRICE_LIST_BUDGET: Duration = Duration::from_secs(10);

/// Hours in AWS's billing month.
const HOURS_A_MONTH: f64 = 730.0;

/// One group of regions' prices in the built-in table, in US dollars.
struct Table {
    regions: &'static [&'static str],
    nat_gateway_hour: f64,
    nat_gateway_gb: f64,
    classic_elb_hour: f64,
    classic_elb_gb: f64,
    public_ipv4_hour: f64,
    gp3_gb_month: f64,
    /// On-Demand Linux, per hour.
    instances: &'static [(&'static str, f64)],
}

const TABLE: [Table; 1] = [Table {
    regions: &["us-east-1", "us-east-2"],
    nat_gateway_hour: 0.045,
    nat_gateway_gb: 0.045,
    classic_elb_hour: 0.025,
    classic_elb_gb: 0.008,
    public_ipv4_hour: 0.005,
    gp3_gb_month: 0.08,
    instances: &[
        ("t3.nano", 0.0052),
        ("t3.micro", 0.0104),
        ("t3.small", 0.0208),
        ("t3.medium", 0.0416),
        ("t3.large", 0.0832),
        ("t3.xlarge", 0.1664),
        ("t3.2xlarge", 0.3328),
        ("t2.micro", 0.0116),
        ("t2.small", 0.023),
        ("t2.medium", 0.0464),
        ("m4.large", 0.10),
        ("m5.large", 0.096),
    ],
}];

impl Table {
    fn prices(&self) -> Prices {
        Prices {
            nat_gateway_hour: Some(self.nat_gateway_hour),
            nat_gateway_gb: Some(self.nat_gateway_gb),
            classic_elb_hour: Some(self.classic_elb_hour),
            classic_elb_gb: Some(self.classic_elb_gb),
            public_ipv4_hour: Some(self.public_ipv4_hour),
            gp3_gb_month: Some(self.gp3_gb_month),
            instances: self
                .instances
                .iter()
                .map(|(kind, usd)| (kind.to_string(), *usd))
                .collect(),
        }
    }
}

/// The bastion's root volume (Canonical's images), the director's disks (bosh-deployment's
/// `aws/cpi.yml` ephemeral and `bosh.yml` persistent disk), and the cluster's (kubo's AWS cloud
/// config's ephemeral disks, cfcr.yml's persistent disks), in GB.
const BASTION_ROOT_GB: f64 = 8.0;
const DIRECTOR_DISKS_GB: f64 = 25.0 + 64.0;
const MASTER_DISKS_GB: f64 = 25.0 + 5.0;
const WORKER_DISKS_GB: f64 = 100.0 + 10.0;

/// Where an estimate's prices came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PricesFrom {
    PriceListApi,
    Table,
}

/// The prices an estimate is made with, and what to say about them.
struct Quote {
    prices: Prices,
    /// `None` when neither source has the region's prices.
    from: Option<PricesFrom>,
    as_of: Option<String>,
    source: String,
    /// Why there are no prices at all, if so.
    unavailable: Option<String>,
}

/// One line of the estimate.
#[derive(Debug, Serialize)]
pub struct Line {
    pub what: String,
    /// `None` when no price is known for it.
    pub monthly_usd: Option<f64>,
}

/// The estimate for an environment.
#[derive(Debug, Serialize)]
pub struct Estimate {
    pub region: String,
    /// Why there are no figures (neither the Price List API nor the table has the region's), if so.
    pub unavailable: Option<String>,
    pub lines: Vec<Line>,
    /// The sum of the lines; `None` when a line has no price (a partial sum would understate it).
    pub total_monthly_usd: Option<f64>,
    /// Charges per GB of traffic, stated rather than guessed.
    pub per_gb: Vec<String>,
    /// `None` when no source has the region's prices.
    pub prices_from: Option<PricesFrom>,
    /// The Price List's publication date, or the table's date.
    pub prices_as_of: Option<String>,
    pub source: String,
}

fn round(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// The instance types the environment runs.
fn instance_types(settings: &Settings) -> BTreeSet<String> {
    let boot = &settings.bootstrap;
    [
        &settings.bastion_instance_type,
        &boot.director_instance_type,
        &boot.small_instance_type,
        &boot.small_highmem_instance_type,
    ]
    .into_iter()
    .cloned()
    .collect()
}

/// The monthly cost of the environment as configured, everything running all month, priced by the
/// Price List API when it answers within its budget, else by the table (a warning says why);
/// `nat_gateway` says whether it has its own (not when an adopted private subnet gets out through
/// the operator's); `hand_off`, which of the director and the cluster run.
pub async fn estimate(
    pricing: &aws_sdk_pricing::Client,
    settings: &Settings,
    nat_gateway: bool,
    hand_off: HandOffMode,
) -> Estimate {
    let region = &settings.region;
    let read = tokio::time::timeout(
        PRICE_LIST_BUDGET,
        price_list::read(pricing, region, &instance_types(settings)),
    )
    .await;
    let why = match read {
        Ok(Ok(found)) if !found.prices.is_empty() => {
            return priced(settings, nat_gateway, hand_off, from_price_list(found));
        }
        Ok(Ok(_)) => format!("the AWS Price List API has no prices for {region}"),
        Ok(Err(e)) => format!(
            "the AWS Price List API could not be read (it needs the permission pricing:GetProducts): {e}"
        ),
        Err(_) => format!(
            "the AWS Price List API did not answer within {} s",
            PRICE_LIST_BUDGET.as_secs()
        ),
    };
    let quote = from_table(region, &why);
    let instead = match &quote.from {
        Some(_) => format!("the built-in price table ({PRICES_AS_OF}) is used"),
        None => "the built-in price table has none either: the cost is unknown".to_string(),
    };
    crate::report::warning(&format!("cost: {why}; {instead}"));
    priced(settings, nat_gateway, hand_off, quote)
}

/// The Price List API's prices.
fn from_price_list(found: price_list::Found) -> Quote {
    Quote {
        prices: found.prices,
        from: Some(PricesFrom::PriceListApi),
        source: format!(
            "AWS Price List API (GetProducts), On-Demand, published {}",
            found.published.as_deref().unwrap_or("on an unstated date")
        ),
        as_of: found.published,
        unavailable: None,
    }
}

/// The table's prices for `region`, used because of `why_not_api`.
fn from_table(region: &str, why_not_api: &str) -> Quote {
    match TABLE.iter().find(|t| t.regions.contains(&region)) {
        Some(table) => Quote {
            prices: table.prices(),
            from: Some(PricesFrom::Table),
            as_of: Some(PRICES_AS_OF.to_string()),
            source: PRICES_SOURCE.to_string(),
            unavailable: None,
        },
        None => {
            let known: Vec<&str> = TABLE
                .iter()
                .flat_map(|t| t.regions.iter().copied())
                .collect();
            Quote {
                prices: Prices::default(),
                from: None,
                as_of: None,
                source: "neither the AWS Price List API nor the built-in table".to_string(),
                unavailable: Some(format!(
                    "{why_not_api}, and the built-in price table has no prices for {region} (it has {}); see docs/cost.md",
                    known.join(", ")
                )),
            }
        }
    }
}

/// The estimate of `settings`' environment with `quote`'s prices.
fn priced(settings: &Settings, nat_gateway: bool, hand_off: HandOffMode, quote: Quote) -> Estimate {
    let prices = &quote.prices;
    let hourly = |usd_an_hour: Option<f64>| usd_an_hour.map(|usd| round(usd * HOURS_A_MONTH));
    let instance = |kind: &str| prices.instances.get(kind).map(|usd| usd * HOURS_A_MONTH);
    let boot = &settings.bootstrap;
    let workers = f64::from(boot.worker_count);
    let vm = |what: String, kind: &str, count: f64, disk_gb: f64| Line {
        what,
        monthly_usd: instance(kind)
            .zip(prices.gp3_gb_month)
            .map(|(usd, gb_month)| round(count * (usd + disk_gb * gb_month))),
    };
    let nat_lines = nat_gateway.then(|| Line {
        what: "NAT gateway (hours)".into(),
        monthly_usd: hourly(prices.nat_gateway_hour),
    });
    let (addresses, whose) = if nat_gateway {
        (3.0, "the NAT gateway's, the bastion's, the load balancer's")
    } else {
        (2.0, "the bastion's, the load balancer's")
    };
    let lines: Vec<Line> = nat_lines
        .into_iter()
        .chain([
            Line {
                what: "classic load balancer (hours)".into(),
                monthly_usd: hourly(prices.classic_elb_hour),
            },
            Line {
                what: format!("{addresses} public IPv4 addresses ({whose})"),
                monthly_usd: hourly(prices.public_ipv4_hour.map(|usd| addresses * usd)),
            },
            vm(
                format!(
                    "bastion ({}, {BASTION_ROOT_GB} GB gp3)",
                    settings.bastion_instance_type
                ),
                &settings.bastion_instance_type,
                1.0,
                BASTION_ROOT_GB,
            ),
        ])
        .chain((hand_off != HandOffMode::NoBootstrap).then(|| {
            vm(
                format!(
                    "BOSH director ({}, {DIRECTOR_DISKS_GB} GB gp3)",
                    boot.director_instance_type
                ),
                &boot.director_instance_type,
                1.0,
                DIRECTOR_DISKS_GB,
            )
        }))
        .chain(
            (hand_off == HandOffMode::Full)
                .then(|| {
                    [
                        vm(
                            format!(
                                "1 Kubernetes master ({}, {MASTER_DISKS_GB} GB gp3)",
                                boot.small_instance_type
                            ),
                            &boot.small_instance_type,
                            1.0,
                            MASTER_DISKS_GB,
                        ),
                        vm(
                            format!(
                                "{} Kubernetes worker(s) ({}, {WORKER_DISKS_GB} GB gp3 each)",
                                boot.worker_count, boot.small_highmem_instance_type
                            ),
                            &boot.small_highmem_instance_type,
                            workers,
                            WORKER_DISKS_GB,
                        ),
                    ]
                })
                .into_iter()
                .flatten(),
        )
        .collect();
    let total = lines
        .iter()
        .map(|l| l.monthly_usd)
        .sum::<Option<f64>>()
        .map(round);
    let per_gb = |what: &str, usd: Option<f64>| match usd {
        Some(usd) => format!("{what}: ${usd} per GB processed"),
        None => format!("{what}: per-GB price unknown"),
    };
    Estimate {
        region: settings.region.clone(),
        unavailable: quote.unavailable,
        lines,
        total_monthly_usd: total,
        per_gb: nat_gateway
            .then(|| per_gb("NAT gateway", prices.nat_gateway_gb))
            .into_iter()
            .chain([per_gb("classic load balancer", prices.classic_elb_gb)])
            .collect(),
        prices_from: quote.from,
        prices_as_of: quote.as_of,
        source: quote.source,
    }
}

impl Estimate {
    /// The estimate as `plan` prints it.
    pub fn text(&self) -> String {
        if let Some(why) = &self.unavailable {
            return format!("Monthly cost: not estimated: {why}.\n");
        }
        let as_of = self.prices_as_of.as_deref().unwrap_or("an unstated date");
        let from = match self.prices_from {
            Some(PricesFrom::PriceListApi) => {
                format!("from the AWS Price List API, published {as_of}")
            }
            _ => format!("from the built-in table, as of {as_of}"),
        };
        let mut text = format!(
            "Monthly cost in {}, everything running all month (On-Demand prices {from}):\n",
            self.region
        );
        for line in &self.lines {
            let usd = line
                .monthly_usd
                .map_or_else(|| "no price known".to_string(), |u| format!("${u:.2}"));
            text.push_str(&format!("  {:<84} {usd}\n", line.what));
        }
        let total = self.total_monthly_usd.map_or_else(
            || "unknown: a line has no price".to_string(),
            |u| format!("${u:.2}"),
        );
        text.push_str(&format!("  {:<84} {total}\n", "total (without traffic)"));
        text.push_str(&format!("  plus traffic: {}\n", self.per_gb.join("; ")));
        text.push_str(&format!("  source: {}\n", self.source));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigValues;

    fn settings(region: &str) -> Settings {
        Settings::validate(
            ConfigValues {
                prefix: Some("dev".into()),
                region: Some(region.into()),
                worker_count: Some(2),
                ..ConfigValues::default()
            },
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_default_environment_in_us_east_1() {
        let offline = |nat| {
            priced(
                &settings("us-east-1"),
                nat,
                HandOffMode::Full,
                from_table("us-east-1", "offline"),
            )
        };
        let e = offline(true);
        let usd: Vec<f64> = e.lines.iter().map(|l| l.monthly_usd.unwrap()).collect();
        // NAT 0.045 × 730; CLB 0.025 × 730; 3 × 0.005 × 730; t3.micro + 8 GB; t3.large + 89 GB;
        // t3.micro + 30 GB; 2 × (t3.medium + 110 GB).
        assert_eq!(usd, [32.85, 18.25, 10.95, 8.23, 67.86, 9.99, 78.34]);
        assert_eq!(e.total_monthly_usd, Some(226.47));
        assert_eq!(e.prices_from, Some(PricesFrom::Table));
        assert!(e.per_gb[0].contains("0.045"));
        assert!(
            e.text().contains("built-in table, as of 2026-11"),
            "{}",
            e.text()
        );
        // An adopted private subnet that gets out on its own: no NAT gateway, one address less.
        let e = offline(false);
        let usd: Vec<f64> = e.lines.iter().map(|l| l.monthly_usd.unwrap()).collect();
        assert_eq!(usd, [18.25, 7.3, 8.23, 67.86, 9.99, 78.34]);
        assert!(e.per_gb.iter().all(|g| !g.contains("NAT")));
        // What the mode runs: the director alone, or no hand-off at all.
        let mode = |hand_off| {
            let e = priced(
                &settings("us-east-1"),
                true,
                hand_off,
                from_table("us-east-1", "offline"),
            );
            e.lines.len()
        };
        assert_eq!(mode(HandOffMode::DirectorOnly), 5);
        assert_eq!(mode(HandOffMode::NoBootstrap), 4);
    }

    #[test]
    fn a_region_without_prices_says_so_with_nulls() {
        let e = priced(
            &settings("eu-west-1"),
            true,
            HandOffMode::Full,
            from_table("eu-west-1", "the AWS Price List API did not answer"),
        );
        assert!(e.lines.iter().all(|l| l.monthly_usd.is_none()));
        let text = e.text();
        assert!(text.contains("did not answer, and"), "{text}");
        assert!(text.contains("no prices for eu-west-1"), "{text}");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["total_monthly_usd"], serde_json::Value::Null);
        assert_eq!(json["lines"][0]["monthly_usd"], serde_json::Value::Null);
        assert_eq!(json["prices_from"], serde_json::Value::Null);
    }

    #[test]
    fn an_unpriced_line_leaves_the_total_unknown() {
        let mut quote = from_table("us-east-1", "offline");
        quote.prices.instances.remove("t3.medium");
        let e = priced(&settings("us-east-1"), true, HandOffMode::Full, quote);
        assert_eq!(e.lines[6].monthly_usd, None);
        assert_eq!(e.total_monthly_usd, None);
        let text = e.text();
        assert!(text.contains("no price known"), "{text}");
        assert!(text.contains("unknown: a line has no price"), "{text}");
    }
}
