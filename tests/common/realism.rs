//! The realism layer: the proxy's model of how real AWS differs from LocalStack, in real time,
//! driven by a seed. LocalStack answers at once and forgives everything; AWS shows new resources
//! late, propagates IAM slowly, keeps NAT gateways and instances in slow states for minutes, leaves a
//! deleted load balancer's interfaces behind, refuses to delete what something else still uses,
//! throttles in bursts, and now and then never answers. Every behaviour is keyed by the ids and
//! names that create answers returned, and each duration is drawn from the range the model gives
//! it. docs/testing.md has the table of behaviours, durations and their sources.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A duration range `[min, max]`; zero turns the behaviour off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span(pub Duration, pub Duration);

impl Span {
    pub fn secs(min: u64, max: u64) -> Span {
        Span(Duration::from_secs(min), Duration::from_secs(max))
    }

    pub fn millis(min: u64, max: u64) -> Span {
        Span(Duration::from_millis(min), Duration::from_millis(max))
    }

    fn draw(&self, rng: &mut fastrand::Rng) -> Duration {
        let (min, max) = (self.0.as_millis() as u64, self.1.as_millis() as u64);
        Duration::from_millis(if max <= min { min } else { rng.u64(min..=max) })
    }
}

/// Which request stalls: the n-th (drawn from the seed in `nth`) of those whose action is `action`
/// (of all requests when `None`), silent for `lasts`.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    pub action: Option<&'static str>,
    pub nth: (usize, usize),
    pub lasts: Duration,
}

/// The model's parameters. [`Realism::aws`] is AWS as documented; tests that prove one fix switch
/// on one behaviour with short durations from [`Realism::off`].
#[derive(Clone, Debug, Default)]
pub struct Realism {
    pub seed: u64,
    /// Describe, modify, tag and create calls naming an id this young answer "not found".
    pub read_after_create: Span,
    /// ...and with this probability, the id stays unknown for the tail instead.
    pub read_after_create_tail: (f64, Span),
    /// Only ids starting with this are kept unknown (all when `None`).
    pub read_after_create_of: Option<&'static str>,
    /// Tag-filtered Describe* and IAM List* omit resources this young.
    pub listing_lag: Span,
    /// RunInstances refuses an instance profile this young ("Invalid IAM Instance Profile name").
    pub iam_propagation: Span,
    /// ...and one whose role was added this recently ("has no associated IAM Roles").
    pub role_propagation: Span,
    /// DeleteRole answers DeleteConflict this long after the role left its profile.
    pub role_release: Span,
    pub nat_pending: Span,
    pub nat_deleting: Span,
    /// The NAT gateway ends `failed` instead of `available`.
    pub nat_fails: bool,
    pub instance_pending: Span,
    pub instance_shutting_down: Span,
    /// A deleted classic load balancer's interfaces stay this long unless deleted.
    pub elb_interfaces_linger: Span,
    /// A security group referenced by another group's rule cannot be deleted.
    pub referenced_groups: bool,
    /// A subnet, security group or VPC that holds a detached network interface (someone else's:
    /// LocalStack's own, made by a test) cannot be deleted.
    pub interfaces_block: bool,
    /// The share of requests throttled, in bursts of `throttle_burst` requests.
    pub throttle_share: f64,
    pub throttle_burst: (u32, u32),
    /// The share of requests answered 503.
    pub unavailable_share: f64,
    /// A request AWS accepts and acts on but never answers.
    pub stall: Option<Stall>,
    /// Added to every request.
    pub latency: Span,
}

impl Realism {
    /// Nothing but what a test switches on.
    pub fn off(seed: u64) -> Realism {
        Realism {
            seed,
            throttle_burst: (3, 10),
            ..Realism::default()
        }
    }

    /// AWS as its documentation and the Terraform AWS provider describe it (docs/testing.md).
    pub fn aws(seed: u64) -> Realism {
        Realism {
            seed,
            read_after_create: Span::secs(1, 10),
            read_after_create_tail: (0.1, Span::secs(10, 30)),
            read_after_create_of: None,
            listing_lag: Span::secs(1, 5),
            iam_propagation: Span::secs(5, 15),
            role_propagation: Span::secs(5, 15),
            role_release: Span::secs(1, 5),
            nat_pending: Span::secs(60, 180),
            nat_deleting: Span::secs(60, 120),
            nat_fails: false,
            instance_pending: Span::secs(20, 60),
            instance_shutting_down: Span::secs(30, 90),
            elb_interfaces_linger: Span::secs(120, 480),
            referenced_groups: true,
            interfaces_block: true,
            throttle_share: 0.02,
            throttle_burst: (3, 10),
            unavailable_share: 0.005,
            stall: Some(Stall {
                action: None,
                nth: (20, 60),
                lasts: Duration::from_secs(600),
            }),
            latency: Span::millis(30, 150),
        }
    }
}

/// What the layer decided for one request before it reaches LocalStack.
pub enum Verdict {
    /// Answer with this AWS error instead: (HTTP status, code, message).
    Refuse(u16, &'static str, String),
    /// Answer with this body (the request's effect is the layer's own: interfaces it models).
    Answer(String),
    /// Forward; after the answer, send nothing for this long and close.
    Stall(Duration),
    Forward,
}

struct NatGateway {
    subnet: String,
    allocation: String,
    available_at: Instant,
    deleted_at: Option<Instant>,
    fails: bool,
}

impl NatGateway {
    /// Holding its address and subnet: not failed, not (yet) deleted.
    fn holds(&self, now: Instant) -> bool {
        let failed = self.fails && now >= self.available_at;
        !failed && self.deleted_at.is_none_or(|t| now < t)
    }
}

struct Instance {
    subnet: String,
    groups: Vec<String>,
    running_at: Instant,
    terminated_at: Option<Instant>,
}

struct Interface {
    id: String,
    attachment: String,
    load_balancer: String,
    subnet: String,
    group: String,
    vpc: String,
    /// When a detach finishes; `None` while attached.
    detached_at: Option<Instant>,
    /// When AWS releases it by itself (set when its load balancer is deleted).
    released_at: Option<Instant>,
    deleted: bool,
}

impl Interface {
    fn live(&self, now: Instant) -> bool {
        !self.deleted && self.released_at.is_none_or(|t| now < t)
    }

    fn attached(&self, now: Instant) -> bool {
        self.detached_at.is_none_or(|t| now < t)
    }
}

/// What the layer knows of the account, from the requests and answers it saw.
pub struct World {
    realism: Realism,
    rng: fastrand::Rng,
    /// Id or name -> (visible to reads from, listed from).
    created: BTreeMap<String, (Instant, Instant)>,
    subnet_vpc: BTreeMap<String, String>,
    /// Instance profile -> (usable from, its role usable from).
    profiles: BTreeMap<String, (Instant, Option<Instant>)>,
    /// Role -> DeleteRole refused until.
    roles_leaving: BTreeMap<String, Instant>,
    nat_gateways: BTreeMap<String, NatGateway>,
    instances: BTreeMap<String, Instance>,
    /// The network interfaces of instances and NAT gateways, from their answers.
    instance_interfaces: std::collections::BTreeSet<String>,
    interfaces: Vec<Interface>,
    throttled_left: u32,
    /// Requests that could stall, so far.
    requests: usize,
    stall_at: Option<usize>,
}

/// A request's form parameters, decoded.
pub type Params = Vec<(String, String)>;

pub fn parse_params(body: &[u8]) -> Params {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The text of the first `<tag>...</tag>` in `body`.
fn xml_value<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(&body[start..end])
}

/// The "not found" error code AWS gives for an id or name of this shape.
fn not_found_code(id: &str, action: &str) -> &'static str {
    let prefixes = [
        ("vpc-", "InvalidVpcID.NotFound"),
        ("subnet-", "InvalidSubnetID.NotFound"),
        ("igw-", "InvalidInternetGatewayID.NotFound"),
        ("rtb-", "InvalidRouteTableID.NotFound"),
        ("eipalloc-", "InvalidAllocationID.NotFound"),
        ("nat-", "NatGatewayNotFound"),
        ("sg-", "InvalidGroup.NotFound"),
        ("i-", "InvalidInstanceID.NotFound"),
        ("key-", "InvalidKeyPair.NotFound"),
    ];
    if let Some((_, code)) = prefixes.iter().find(|(p, _)| id.starts_with(p)) {
        return code;
    }
    if action == "ConfigureHealthCheck" || action.contains("LoadBalancer") {
        return "LoadBalancerNotFound";
    }
    "NoSuchEntity"
}

/// Parameters that name the resource a create call makes (not one it refers to).
fn names_itself(action: &str, key: &str) -> bool {
    let made = action
        .strip_prefix("Create")
        .or(action.strip_prefix("Import"));
    made.is_some_and(|kind| key == format!("{kind}Name"))
}

/// Calls that read, change or refer to a resource (a delete of one not yet visible is another
/// matter, left to LocalStack).
fn reads_or_refers(action: &str) -> bool {
    ![
        "Delete",
        "Terminate",
        "Release",
        "Detach",
        "Disassociate",
        "Remove",
        "Revoke",
    ]
    .iter()
    .any(|p| action.starts_with(p))
}

/// Keeps the top-level `<element>` items of a listing that `keep` accepts.
fn filter_items(body: &str, element: &str, keep: impl Fn(&str) -> bool) -> String {
    map_items(body, element, |item| {
        if keep(item) {
            item.to_string()
        } else {
            String::new()
        }
    })
}

/// Rewrites each top-level item.
fn map_items(body: &str, element: &str, change: impl Fn(&str) -> String) -> String {
    let (open, close) = (format!("<{element}>"), format!("</{element}>"));
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find(&open) {
        out.push_str(&rest[..start]);
        let mut depth = 0usize;
        let mut at = start;
        let end = loop {
            let next_open = rest[at..].find(&open).map(|i| i + at);
            let next_close = rest[at..].find(&close).map(|i| i + at);
            match (next_open, next_close) {
                (Some(o), Some(c)) if o < c => {
                    depth += 1;
                    at = o + open.len();
                }
                (_, Some(c)) => {
                    depth -= 1;
                    at = c + close.len();
                    if depth == 0 {
                        break at;
                    }
                }
                _ => return body.to_string(),
            }
        };
        out.push_str(&change(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces the text of the first `<tag>` in `item`.
fn set_value(item: &str, tag: &str, value: &str) -> String {
    let open = format!("<{tag}>");
    let Some(start) = item.find(&open).map(|i| i + open.len()) else {
        return item.to_string();
    };
    let Some(end) = item[start..].find(&format!("</{tag}>")).map(|i| i + start) else {
        return item.to_string();
    };
    format!("{}{value}{}", &item[..start], &item[end..])
}

fn ec2_answer(action: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>realism-layer</requestId>{inner}</{action}Response>"
    )
}

impl World {
    pub fn new(realism: Realism) -> World {
        let mut rng = fastrand::Rng::with_seed(realism.seed);
        let stall_at = realism
            .stall
            .map(|stall| rng.usize(stall.nth.0..=stall.nth.1));
        World {
            realism,
            rng,
            created: BTreeMap::new(),
            subnet_vpc: BTreeMap::new(),
            profiles: BTreeMap::new(),
            roles_leaving: BTreeMap::new(),
            nat_gateways: BTreeMap::new(),
            instances: BTreeMap::new(),
            instance_interfaces: std::collections::BTreeSet::new(),
            interfaces: Vec::new(),
            throttled_left: 0,
            requests: 0,
            stall_at,
        }
    }

    /// How long to hold this request before anything else (the network's round trip).
    pub fn latency(&mut self) -> Duration {
        self.realism.latency.draw(&mut self.rng)
    }

    /// Decides what happens to a request (`action`, its form `params`) before LocalStack sees it.
    pub fn before(&mut self, action: &str, params: &Params) -> Verdict {
        let now = Instant::now();
        if let Some(verdict) = self.rate_limits() {
            return verdict;
        }
        if let Some(verdict) = self.not_yet_visible(action, params, now) {
            return verdict;
        }
        if let Some(verdict) = self.in_use(action, params, now) {
            return verdict;
        }
        if let Some(verdict) = self.interfaces_before(action, params, now) {
            return verdict;
        }
        let Some(stall) = self
            .realism
            .stall
            .filter(|s| s.action.is_none_or(|a| a == action))
        else {
            return Verdict::Forward;
        };
        self.requests += 1;
        if self.stall_at == Some(self.requests) {
            Verdict::Stall(stall.lasts)
        } else {
            Verdict::Forward
        }
    }

    fn rate_limits(&mut self) -> Option<Verdict> {
        let (min, max) = self.realism.throttle_burst;
        let mean = f64::from(min + max) / 2.0;
        if self.throttled_left == 0
            && self.realism.throttle_share > 0.0
            && self.rng.f64() < self.realism.throttle_share / mean
        {
            self.throttled_left = self.rng.u32(min..=max);
        }
        if self.throttled_left > 0 {
            self.throttled_left -= 1;
            return Some(Verdict::Refuse(
                503,
                "RequestLimitExceeded",
                "Request limit exceeded.".into(),
            ));
        }
        (self.rng.f64() < self.realism.unavailable_share)
            .then(|| Verdict::Refuse(503, "", String::new()))
    }

    fn not_yet_visible(&mut self, action: &str, params: &Params, now: Instant) -> Option<Verdict> {
        if !reads_or_refers(action) {
            return None;
        }
        let young = params.iter().find(|(key, value)| {
            !key.starts_with("Filter.")
                && !names_itself(action, key)
                && self.created.get(value).is_some_and(|(seen, _)| now < *seen)
        })?;
        let id = &young.1;
        let status = if not_found_code(id, action) == "NoSuchEntity" {
            404
        } else {
            400
        };
        Some(Verdict::Refuse(
            status,
            not_found_code(id, action),
            format!("The resource '{id}' does not exist"),
        ))
    }

    /// Deletes AWS refuses while something still uses the resource.
    fn in_use(&mut self, action: &str, params: &Params, now: Instant) -> Option<Verdict> {
        let named = |key: &str| param(params, key).unwrap_or_default().to_string();
        let violation = |what: String| {
            Some(Verdict::Refuse(
                400,
                "DependencyViolation",
                format!("The {what} has dependencies and cannot be deleted."),
            ))
        };
        match action {
            "ReleaseAddress" => {
                let allocation = named("AllocationId");
                let held = self
                    .nat_gateways
                    .values()
                    .any(|g| g.allocation == allocation && g.holds(now));
                held.then(|| {
                    Verdict::Refuse(
                        400,
                        "InvalidIPAddress.InUse",
                        format!("Address {allocation} is in use."),
                    )
                })
            }
            "DeleteSubnet" => {
                let subnet = named("SubnetId");
                let nat = self
                    .nat_gateways
                    .values()
                    .any(|g| g.subnet == subnet && g.holds(now));
                let instance = self
                    .instances
                    .values()
                    .any(|i| i.subnet == subnet && i.terminated_at.is_none_or(|t| now < t));
                let interface = self
                    .interfaces
                    .iter()
                    .any(|i| i.subnet == subnet && i.live(now));
                if nat || instance || interface {
                    violation(format!("subnet '{subnet}'"))
                } else {
                    None
                }
            }
            "DeleteSecurityGroup" => {
                let group = named("GroupId");
                let instance = self
                    .instances
                    .values()
                    .any(|i| i.groups.contains(&group) && i.terminated_at.is_none_or(|t| now < t));
                let interface = self
                    .interfaces
                    .iter()
                    .any(|i| i.group == group && i.live(now));
                if instance || interface {
                    Some(Verdict::Refuse(
                        400,
                        "DependencyViolation",
                        format!("resource {group} has a dependent object"),
                    ))
                } else {
                    None
                }
            }
            "DetachInternetGateway" => {
                let vpc = named("VpcId");
                self.interfaces
                    .iter()
                    .any(|i| i.vpc == vpc && i.live(now))
                    .then(|| {
                        Verdict::Refuse(
                            400,
                            "DependencyViolation",
                            format!("Network {vpc} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."),
                        )
                    })
            }
            "DeleteVpc" => {
                let vpc = named("VpcId");
                if self.interfaces.iter().any(|i| i.vpc == vpc && i.live(now)) {
                    violation(format!("vpc '{vpc}'"))
                } else {
                    None
                }
            }
            "AssociateAddress" => {
                let instance = named("InstanceId");
                self.instances
                    .get(&instance)
                    .is_some_and(|i| now < i.running_at)
                    .then(|| {
                        Verdict::Refuse(
                            400,
                            "IncorrectInstanceState",
                            format!("The instance '{instance}' is not in a valid state for this operation."),
                        )
                    })
            }
            "RunInstances" => {
                let profile = param(params, "IamInstanceProfile.Name")
                    .map(str::to_string)
                    .or_else(|| {
                        param(params, "IamInstanceProfile.Arn")
                            .and_then(|arn| arn.rsplit('/').next())
                            .map(str::to_string)
                    })?;
                let (usable, role_usable) = *self.profiles.get(&profile)?;
                if now < usable {
                    return Some(Verdict::Refuse(
                        400,
                        "InvalidParameterValue",
                        format!(
                            "Value ({profile}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
                        ),
                    ));
                }
                match role_usable {
                    Some(t) if now < t => Some(Verdict::Refuse(
                        400,
                        "InvalidParameterValue",
                        format!(
                            "IAM Instance Profile \"arn:aws:iam::000000000000:instance-profile/{profile}\" has no associated IAM Roles"
                        ),
                    )),
                    _ => None,
                }
            }
            "DeleteRole" => {
                let role = named("RoleName");
                self.roles_leaving
                    .get(&role)
                    .is_some_and(|until| now < *until)
                    .then(|| {
                        Verdict::Refuse(
                            409,
                            "DeleteConflict",
                            "Cannot delete entity, must remove roles from instance profile first."
                                .into(),
                        )
                    })
            }
            _ => None,
        }
    }

    /// The load balancers' interfaces are the layer's own: LocalStack's classic ELB has none.
    fn interfaces_before(
        &mut self,
        action: &str,
        params: &Params,
        now: Instant,
    ) -> Option<Verdict> {
        match action {
            "DetachNetworkInterface" => {
                let attachment = param(params, "AttachmentId")?;
                let settle = Span::secs(1, 3).draw(&mut self.rng);
                let interface = self
                    .interfaces
                    .iter_mut()
                    .find(|i| i.attachment == attachment)?;
                if interface.released_at.is_none() {
                    return Some(Verdict::Refuse(
                        400,
                        "OperationNotPermitted",
                        format!("You are not allowed to manage '{attachment}' attachments."),
                    ));
                }
                interface.detached_at.get_or_insert(now + settle);
                Some(Verdict::Answer(ec2_answer(action, "<return>true</return>")))
            }
            "DeleteNetworkInterface" => {
                let id = param(params, "NetworkInterfaceId")?;
                let interface = self.interfaces.iter_mut().find(|i| i.id == id)?;
                if !interface.live(now) {
                    return Some(Verdict::Refuse(
                        400,
                        "InvalidNetworkInterfaceID.NotFound",
                        format!("The networkInterface ID '{id}' does not exist"),
                    ));
                }
                if interface.attached(now) {
                    return Some(Verdict::Refuse(
                        400,
                        "InvalidNetworkInterface.InUse",
                        format!("The network interface '{id}' is currently in use."),
                    ));
                }
                interface.deleted = true;
                Some(Verdict::Answer(ec2_answer(action, "<return>true</return>")))
            }
            _ => None,
        }
    }

    /// Whether DeleteSecurityGroup must be refused because another group's rule names `group`:
    /// the proxy asks LocalStack for every group, `groups` is its answer.
    pub fn referenced(&self, group: &str, groups: &str) -> bool {
        if !self.realism.referenced_groups {
            return false;
        }
        let others = filter_items(groups, "item", |item| {
            xml_value(item, "groupId") != Some(group)
        });
        others.contains(&format!("<groupId>{group}</groupId>"))
    }

    pub fn checks_references(&self, action: &str) -> bool {
        self.realism.referenced_groups && action == "DeleteSecurityGroup"
    }

    /// The filter (name, parameter) for the interfaces that block this delete, if the model checks.
    pub fn blocking_interfaces(&self, action: &str) -> Option<(&'static str, &'static str)> {
        if !self.realism.interfaces_block {
            return None;
        }
        match action {
            "DeleteSubnet" => Some(("subnet-id", "SubnetId")),
            "DeleteSecurityGroup" => Some(("group-id", "GroupId")),
            "DeleteVpc" => Some(("vpc-id", "VpcId")),
            _ => None,
        }
    }

    /// Whether LocalStack's answer to DescribeNetworkInterfaces holds a detached interface that
    /// is not an instance's or a NAT gateway's: AWS deletes those with their owner, LocalStack
    /// keeps them.
    pub fn detached_interface(&self, interfaces: &str) -> bool {
        let blocking = filter_items(interfaces, "item", |item| {
            xml_value(item, "networkInterfaceId")
                .is_some_and(|id| !self.instance_interfaces.contains(id))
                && item.contains("<status>available</status>")
        });
        blocking.contains("<networkInterfaceId>")
    }

    /// Learns from a successful answer, and makes a listing's answer look as AWS's would now.
    pub fn after(&mut self, action: &str, params: &Params, body: &str) -> String {
        let now = Instant::now();
        self.learn(action, params, body, now);
        let filtered =
            action.starts_with("Describe") && params.iter().any(|(k, _)| k.starts_with("Filter."));
        let listed = |world: &World, item: &str| {
            world
                .created
                .iter()
                .all(|(id, (_, listed))| now >= *listed || !item.contains(&format!(">{id}<")))
        };
        let mut body = body.to_string();
        if (filtered || action == "DescribeTags") && !self.created.is_empty() {
            body = filter_items(&body, "item", |item| listed(self, item));
        }
        if action.starts_with("List") && !self.created.is_empty() {
            body = filter_items(&body, "member", |item| listed(self, item));
        }
        match action {
            "DescribeNatGateways" => self.nat_states(&body, now),
            "DescribeInstances" => self.instance_states(&body, now),
            "DescribeNetworkInterfaces" => self.with_interfaces(&body, params, now),
            _ => body,
        }
    }

    /// When the slowest creation AWS imposes ends: the NAT gateway available, instances running.
    pub fn slowest_ready(&self) -> Option<Instant> {
        let nat = self.nat_gateways.values().map(|g| g.available_at);
        let instances = self.instances.values().map(|i| i.running_at);
        nat.chain(instances).max()
    }

    /// When the slowest deletion AWS imposes ends: the NAT gateway deleted, instances terminated.
    pub fn slowest_gone(&self) -> Option<Instant> {
        let nat = self.nat_gateways.values().filter_map(|g| g.deleted_at);
        let instances = self.instances.values().filter_map(|i| i.terminated_at);
        nat.chain(instances).max()
    }

    fn note_created(&mut self, id: &str, now: Instant) {
        if self
            .realism
            .read_after_create_of
            .is_some_and(|prefix| !id.starts_with(prefix))
        {
            let listed = self.realism.listing_lag.draw(&mut self.rng);
            self.created.insert(id.to_string(), (now, now + listed));
            return;
        }
        let mut read = self.realism.read_after_create.draw(&mut self.rng);
        let (share, tail) = self.realism.read_after_create_tail;
        if share > 0.0 && self.rng.f64() < share {
            read = tail.draw(&mut self.rng);
        }
        let listed = self.realism.listing_lag.draw(&mut self.rng);
        self.created
            .insert(id.to_string(), (now + read, now + listed));
    }

    fn learn(&mut self, action: &str, params: &Params, body: &str, now: Instant) {
        // AWS deletes instances' and NAT gateways' interfaces with them; LocalStack keeps them.
        let owns_interfaces = [
            "RunInstances",
            "DescribeInstances",
            "CreateNatGateway",
            "DescribeNatGateways",
        ];
        if owns_interfaces.contains(&action) {
            let mut rest = body;
            while let Some(at) = rest.find("<networkInterfaceId>") {
                rest = &rest[at..];
                if let Some(id) = xml_value(rest, "networkInterfaceId") {
                    self.instance_interfaces.insert(id.to_string());
                }
                rest = &rest["<networkInterfaceId>".len()..];
            }
        }
        let named = |key: &str| param(params, key).unwrap_or_default().to_string();
        let ids: Vec<String> = match action {
            "CreateVpc" => xml_value(body, "vpcId")
                .into_iter()
                .map(str::to_string)
                .collect(),
            "CreateSubnet" => {
                let subnet = xml_value(body, "subnetId").unwrap_or_default().to_string();
                self.subnet_vpc.insert(subnet.clone(), named("VpcId"));
                vec![subnet]
            }
            "CreateInternetGateway" => vec![
                xml_value(body, "internetGatewayId")
                    .unwrap_or_default()
                    .to_string(),
            ],
            "CreateRouteTable" => vec![
                xml_value(body, "routeTableId")
                    .unwrap_or_default()
                    .to_string(),
            ],
            "AllocateAddress" => vec![
                xml_value(body, "allocationId")
                    .unwrap_or_default()
                    .to_string(),
            ],
            "CreateSecurityGroup" => {
                vec![xml_value(body, "groupId").unwrap_or_default().to_string()]
            }
            "ImportKeyPair" | "CreateKeyPair" => vec![named("KeyName")],
            "CreateNatGateway" => {
                let id = xml_value(body, "natGatewayId")
                    .unwrap_or_default()
                    .to_string();
                let pending = self.realism.nat_pending.draw(&mut self.rng);
                self.nat_gateways.insert(
                    id.clone(),
                    NatGateway {
                        subnet: named("SubnetId"),
                        allocation: named("AllocationId"),
                        available_at: now + pending,
                        deleted_at: None,
                        fails: self.realism.nat_fails,
                    },
                );
                vec![id]
            }
            "DeleteNatGateway" => {
                let deleting = self.realism.nat_deleting.draw(&mut self.rng);
                if let Some(g) = self.nat_gateways.get_mut(&named("NatGatewayId")) {
                    g.deleted_at.get_or_insert(now + deleting);
                }
                Vec::new()
            }
            "RunInstances" => {
                let id = xml_value(body, "instanceId")
                    .unwrap_or_default()
                    .to_string();
                let pending = self.realism.instance_pending.draw(&mut self.rng);
                let groups = params
                    .iter()
                    .filter(|(k, _)| k.contains("SecurityGroupId"))
                    .map(|(_, v)| v.clone())
                    .collect();
                let subnet = param(params, "NetworkInterface.1.SubnetId")
                    .or(param(params, "SubnetId"))
                    .unwrap_or_default()
                    .to_string();
                self.instances.insert(
                    id.clone(),
                    Instance {
                        subnet,
                        groups,
                        running_at: now + pending,
                        terminated_at: None,
                    },
                );
                vec![id]
            }
            "TerminateInstances" => {
                for (_, id) in params.iter().filter(|(k, _)| k.starts_with("InstanceId.")) {
                    let down = self.realism.instance_shutting_down.draw(&mut self.rng);
                    if let Some(i) = self.instances.get_mut(id) {
                        i.terminated_at.get_or_insert(now + down);
                    }
                }
                Vec::new()
            }
            "CreateLoadBalancer" => {
                let name = named("LoadBalancerName");
                let subnet = named("Subnets.member.1");
                let vpc = self.subnet_vpc.get(&subnet).cloned().unwrap_or_default();
                for _ in 0..2 {
                    let n = self.rng.u32(..);
                    self.interfaces.push(Interface {
                        id: format!("eni-{n:08x}realism"),
                        attachment: format!("ela-attach-{n:08x}"),
                        load_balancer: name.clone(),
                        subnet: subnet.clone(),
                        group: named("SecurityGroups.member.1"),
                        vpc: vpc.clone(),
                        detached_at: None,
                        released_at: None,
                        deleted: false,
                    });
                }
                vec![name]
            }
            "DeleteLoadBalancer" => {
                let name = named("LoadBalancerName");
                for i in 0..self.interfaces.len() {
                    let linger = self.realism.elb_interfaces_linger.draw(&mut self.rng);
                    let interface = &mut self.interfaces[i];
                    if interface.load_balancer == name {
                        interface.released_at.get_or_insert(now + linger);
                    }
                }
                Vec::new()
            }
            "CreateRole" => vec![named("RoleName")],
            "CreateUser" => vec![named("UserName")],
            "CreatePolicy" => vec![xml_value(body, "Arn").unwrap_or_default().to_string()],
            "CreateInstanceProfile" => {
                let name = named("InstanceProfileName");
                let usable = self.realism.iam_propagation.draw(&mut self.rng);
                self.profiles.insert(name.clone(), (now + usable, None));
                vec![name]
            }
            "AddRoleToInstanceProfile" => {
                let usable = self.realism.role_propagation.draw(&mut self.rng);
                let profile = self
                    .profiles
                    .entry(named("InstanceProfileName"))
                    .or_insert((now, None));
                profile.1 = Some(now + usable);
                Vec::new()
            }
            "RemoveRoleFromInstanceProfile" => {
                let release = self.realism.role_release.draw(&mut self.rng);
                self.roles_leaving.insert(named("RoleName"), now + release);
                Vec::new()
            }
            _ => Vec::new(),
        };
        for id in ids.into_iter().filter(|id| !id.is_empty()) {
            self.note_created(&id, now);
        }
    }

    fn nat_states(&self, body: &str, now: Instant) -> String {
        map_items(body, "item", |item| {
            let Some(gateway) =
                xml_value(item, "natGatewayId").and_then(|id| self.nat_gateways.get(id))
            else {
                return item.to_string();
            };
            let state = match gateway.deleted_at {
                Some(t) if now < t => "deleting",
                Some(_) => "deleted",
                None if now < gateway.available_at => "pending",
                None if gateway.fails => "failed",
                None => "available",
            };
            let item = set_value(item, "state", state);
            if state == "failed" && !item.contains("<failureCode>") {
                let failure = "<failureCode>InternalError</failureCode><failureMessage>Network interface created and used internally by this NAT gateway is in an invalid state. Please try again.</failureMessage>";
                return item.replacen("</natGatewayId>", &format!("</natGatewayId>{failure}"), 1);
            }
            item
        })
    }

    fn instance_states(&self, body: &str, now: Instant) -> String {
        map_items(body, "item", |reservation| {
            let Some(instance) =
                xml_value(reservation, "instanceId").and_then(|id| self.instances.get(id))
            else {
                return reservation.to_string();
            };
            let (code, name) = match instance.terminated_at {
                Some(t) if now < t => ("32", "shutting-down"),
                Some(_) => ("48", "terminated"),
                None if now < instance.running_at => ("0", "pending"),
                None => return reservation.to_string(),
            };
            let Some(start) = reservation.find("<instanceState>") else {
                return reservation.to_string();
            };
            let Some(end) = reservation[start..]
                .find("</instanceState>")
                .map(|i| i + start)
            else {
                return reservation.to_string();
            };
            format!(
                "{}<instanceState><code>{code}</code><name>{name}</name>{}",
                &reservation[..start],
                &reservation[end..]
            )
        })
    }

    /// Adds the live interfaces of load balancers that match the request's filters.
    fn with_interfaces(&self, body: &str, params: &Params, now: Instant) -> String {
        let filters: Vec<(&str, Vec<&str>)> = params
            .iter()
            .filter(|(k, _)| k.starts_with("Filter.") && k.ends_with(".Name"))
            .map(|(k, name)| {
                let prefix = k.trim_end_matches("Name");
                let values = params
                    .iter()
                    .filter(|(vk, _)| vk.starts_with(&format!("{prefix}Value")))
                    .map(|(_, v)| v.as_str())
                    .collect();
                (name.as_str(), values)
            })
            .collect();
        let ids: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k.starts_with("NetworkInterfaceId."))
            .map(|(_, v)| v.as_str())
            .collect();
        let items: String = self
            .interfaces
            .iter()
            .filter(|i| i.live(now))
            .filter(|i| ids.is_empty() || ids.contains(&i.id.as_str()))
            .filter(|i| {
                filters.iter().all(|(name, values)| {
                    let description = format!("ELB {}", i.load_balancer);
                    let value = match *name {
                        "description" => description.as_str(),
                        "attachment.instance-owner-id" | "requester-id" => "amazon-elb",
                        "vpc-id" => i.vpc.as_str(),
                        "subnet-id" => i.subnet.as_str(),
                        "group-id" => i.group.as_str(),
                        _ => return true,
                    };
                    values.contains(&value)
                })
            })
            .map(|i| {
                let attachment = if i.attached(now) {
                    format!(
                        "<attachment><attachmentId>{}</attachmentId><instanceOwnerId>amazon-elb</instanceOwnerId><deviceIndex>1</deviceIndex><status>{}</status><deleteOnTermination>false</deleteOnTermination></attachment>",
                        i.attachment,
                        if i.detached_at.is_some() { "detaching" } else { "attached" }
                    )
                } else {
                    String::new()
                };
                format!(
                    "<item><networkInterfaceId>{}</networkInterfaceId><subnetId>{}</subnetId><vpcId>{}</vpcId><description>ELB {}</description><ownerId>000000000000</ownerId><requesterId>amazon-elb</requesterId><requesterManaged>true</requesterManaged><status>{}</status><interfaceType>interface</interfaceType><groupSet><item><groupId>{}</groupId></item></groupSet>{attachment}<tagSet/></item>",
                    i.id,
                    i.subnet,
                    i.vpc,
                    i.load_balancer,
                    if i.attached(now) { "in-use" } else { "available" },
                    i.group
                )
            })
            .collect();
        if items.is_empty() {
            return body.to_string();
        }
        for empty in ["<networkInterfaceSet/>", "<networkInterfaceSet />"] {
            if body.contains(empty) {
                return body.replacen(
                    empty,
                    &format!("<networkInterfaceSet>{items}</networkInterfaceSet>"),
                    1,
                );
            }
        }
        body.replacen(
            "</networkInterfaceSet>",
            &format!("{items}</networkInterfaceSet>"),
            1,
        )
    }
}
