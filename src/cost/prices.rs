//! One region's prices, from either source.

use std::collections::BTreeMap;

/// One region's prices, in US dollars; `None` where the source has none.
#[derive(Debug, Default)]
pub(super) struct Prices {
    pub(super) nat_gateway_hour: Option<f64>,
    pub(super) nat_gateway_gb: Option<f64>,
    pub(super) classic_elb_hour: Option<f64>,
    pub(super) classic_elb_gb: Option<f64>,
    pub(super) public_ipv4_hour: Option<f64>,
    pub(super) gp3_gb_month: Option<f64>,
    /// On-Demand Linux, per hour, by instance type.
    pub(super) instances: BTreeMap<String, f64>,
}

impl Prices {
    pub(super) fn is_empty(&self) -> bool {
        [
            self.nat_gateway_hour,
            self.nat_gateway_gb,
            self.classic_elb_hour,
            self.classic_elb_gb,
            self.public_ipv4_hour,
            self.gp3_gb_month,
        ]
        .iter()
        .all(Option::is_none)
            && self.instances.is_empty()
    }
}
