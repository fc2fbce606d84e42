//! What an environment costs a month, as configured: the AWS resources `pave` creates and what the
//! hand-off runs (the director, the masters and the workers with their disks), from a price table
//! built into the binary — per region, dated, with its sources — so that `plan` can say it without a
//! pricing API. Charges that depend on traffic (per GB) are stated, not guessed. docs/cost.md says how
//! the table is refreshed.

use serde::Serialize;

use crate::config::Settings;

/// When the prices below were taken, and from where.
pub const PRICES_AS_OF: &str = "2026-11";
/// AWS's list prices as 2026 pricing guides quote them; AWS's own pages could not be read where
/// the table was made, so docs/cost.md says to check them against the Price List API.
pub const PRICES_SOURCE: &str = "AWS On-Demand list prices (EC2 Linux, NAT gateway, public IPv4, Classic Load Balancer, EBS gp3) as quoted by 2026 pricing guides; check with the AWS Price List API";

/// Hours in AWS's billing month.
const HOURS_A_MONTH: f64 = 730.0;

/// One group of regions' prices, in US dollars.
struct Prices {
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

const TABLE: [Prices; 1] = [Prices {
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

/// The bastion's root volume (Canonical's images), the director's disks (bosh-deployment's
/// `aws/cpi.yml` ephemeral and `bosh.yml` persistent disk), and the cluster's (kubo's AWS cloud
/// config's ephemeral disks, cfcr.yml's persistent disks), in GB.
const BASTION_ROOT_GB: f64 = 8.0;
const DIRECTOR_DISKS_GB: f64 = 25.0 + 64.0;
const MASTER_DISKS_GB: f64 = 25.0 + 5.0;
const WORKER_DISKS_GB: f64 = 100.0 + 10.0;

/// One line of the estimate.
#[derive(Debug, Serialize)]
pub struct Line {
    pub what: String,
    /// `None` when the table has no price for it.
    pub monthly_usd: Option<f64>,
}

/// The estimate for an environment.
#[derive(Debug, Serialize)]
pub struct Estimate {
    pub region: String,
    /// Why there are no figures (a region the table lacks), if so.
    pub unavailable: Option<String>,
    pub lines: Vec<Line>,
    /// The sum of the priced lines.
    pub total_monthly_usd: f64,
    /// Charges per GB of traffic, stated rather than guessed.
    pub per_gb: Vec<String>,
    pub prices_as_of: &'static str,
    pub source: &'static str,
}

fn round(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// The monthly cost of `settings`' environment with everything running all month.
/// The monthly cost of the environment as configured; `nat_gateway` says whether it has its own
/// (not when an adopted private subnet gets out through the operator's).
pub fn estimate(settings: &Settings, nat_gateway: bool) -> Estimate {
    let region = settings.region.clone();
    let Some(prices) = TABLE.iter().find(|p| p.regions.contains(&region.as_str())) else {
        let known: Vec<&str> = TABLE
            .iter()
            .flat_map(|p| p.regions.iter().copied())
            .collect();
        return Estimate {
            unavailable: Some(format!(
                "the built-in price table has no prices for {region} (it has {}); see docs/cost.md to add them",
                known.join(", ")
            )),
            region,
            lines: Vec::new(),
            total_monthly_usd: 0.0,
            per_gb: Vec::new(),
            prices_as_of: PRICES_AS_OF,
            source: PRICES_SOURCE,
        };
    };
    let hourly = |usd_an_hour: f64| round(usd_an_hour * HOURS_A_MONTH);
    let disks = |gb: f64| gb * prices.gp3_gb_month;
    let instance = |kind: &str| {
        prices
            .instances
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, usd)| usd * HOURS_A_MONTH)
    };
    let boot = &settings.bootstrap;
    let workers = f64::from(boot.worker_count);
    let vm = |what: String, kind: &str, count: f64, disk_gb: f64| Line {
        what,
        monthly_usd: instance(kind).map(|usd| round(count * (usd + disks(disk_gb)))),
    };
    let nat_lines = nat_gateway.then(|| Line {
        what: "NAT gateway (hours)".into(),
        monthly_usd: Some(hourly(prices.nat_gateway_hour)),
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
                monthly_usd: Some(hourly(prices.classic_elb_hour)),
            },
            Line {
                what: format!("{addresses} public IPv4 addresses ({whose})"),
                monthly_usd: Some(hourly(addresses * prices.public_ipv4_hour)),
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
            vm(
                format!(
                    "BOSH director ({}, {DIRECTOR_DISKS_GB} GB gp3)",
                    boot.director_instance_type
                ),
                &boot.director_instance_type,
                1.0,
                DIRECTOR_DISKS_GB,
            ),
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
        ])
        .collect();
    let total = round(lines.iter().filter_map(|l| l.monthly_usd).sum());
    Estimate {
        region,
        unavailable: None,
        lines,
        total_monthly_usd: total,
        per_gb: nat_gateway
            .then(|| format!("NAT gateway: ${} per GB processed", prices.nat_gateway_gb))
            .into_iter()
            .chain([format!(
                "classic load balancer: ${} per GB processed",
                prices.classic_elb_gb
            )])
            .collect(),
        prices_as_of: PRICES_AS_OF,
        source: PRICES_SOURCE,
    }
}

impl Estimate {
    /// The estimate as `plan` prints it.
    pub fn text(&self) -> String {
        if let Some(why) = &self.unavailable {
            return format!("Monthly cost: not estimated: {why}.\n");
        }
        let mut text = format!(
            "Monthly cost in {}, everything running all month (On-Demand prices as of {}):\n",
            self.region, self.prices_as_of
        );
        for line in &self.lines {
            let usd = line.monthly_usd.map_or_else(
                || "no price in the table".to_string(),
                |u| format!("${u:.2}"),
            );
            text.push_str(&format!("  {:<84} {usd}\n", line.what));
        }
        text.push_str(&format!(
            "  {:<84} ${:.2}\n",
            "total (without traffic)", self.total_monthly_usd
        ));
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
        let e = estimate(&settings("us-east-1"), true);
        let usd: Vec<f64> = e.lines.iter().map(|l| l.monthly_usd.unwrap()).collect();
        // NAT 0.045 × 730; CLB 0.025 × 730; 3 × 0.005 × 730; t3.micro + 8 GB; t3.large + 89 GB;
        // t3.micro + 30 GB; 2 × (t3.medium + 110 GB).
        assert_eq!(usd, [32.85, 18.25, 10.95, 8.23, 67.86, 9.99, 78.34]);
        assert_eq!(e.total_monthly_usd, 226.47);
        assert!(e.per_gb[0].contains("0.045"));
        // An adopted private subnet that gets out on its own: no NAT gateway, one address less.
        let e = estimate(&settings("us-east-1"), false);
        let usd: Vec<f64> = e.lines.iter().map(|l| l.monthly_usd.unwrap()).collect();
        assert_eq!(usd, [18.25, 7.3, 8.23, 67.86, 9.99, 78.34]);
        assert!(e.per_gb.iter().all(|g| !g.contains("NAT")));
    }

    #[test]
    fn a_region_without_prices_says_so() {
        let e = estimate(&settings("eu-west-1"), true);
        assert!(e.lines.is_empty());
        assert!(e.text().contains("no prices for eu-west-1"), "{}", e.text());
    }
}
