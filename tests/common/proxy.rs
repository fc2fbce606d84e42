//! A fault-injecting HTTP proxy between cfcr-aws and LocalStack (the tool's `AWS_ENDPOINT_URL`
//! points at it). It logs every exchange with its timing, and on command kills the tool after the
//! N-th request (once LocalStack has acted on it, before the tool sees the answer), answers with
//! throttling, server errors or given AWS error codes, resets the connection, adds a fixed latency
//! to every request, or makes the NAT gateway and instances look `pending` for a while, as on AWS.
//! It can also stand in for the Price List API (GetProducts), answering from given products.
//! With a [`Realism`] model switched on, it behaves like AWS throughout (see realism.rs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::realism::{self, Realism, Verdict, World};

/// What to do instead of (or after) forwarding a request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// EC2-style `RequestLimitExceeded` (503) or query-style `Throttling` (400).
    Throttle,
    /// HTTP 503 with no AWS error code.
    ServiceUnavailable,
    /// An AWS error with this code and HTTP status, e.g. an eventual-consistency `NotFound`.
    Error {
        code: &'static str,
        status: u16,
        message: &'static str,
    },
    /// Close the connection after reading the request, sending nothing.
    Reset,
    /// Forward the request, then send back only half of LocalStack's answer and close: AWS acted,
    /// the tool saw a broken response.
    Truncate,
    /// Hold the request this long, then forward it.
    Delay(std::time::Duration),
    /// S3's answer for a bucket of another region: 301 naming the bucket's region.
    BucketElsewhere(&'static str),
    /// A JSON-protocol service's answer (Service Quotas), 200 with this body.
    Json(&'static str),
    /// The Price List API's answer to GetProducts from these products (Price List documents):
    /// those of the request's service that match all its filters.
    PriceList(Vec<serde_json::Value>),
}

/// Injects `fault` into the first `times` requests whose Action is `action` (any when `None`).
#[derive(Clone, Debug)]
pub struct Rule {
    pub action: Option<&'static str>,
    pub times: usize,
    pub fault: Fault,
}

/// One request and its answer, as the proxy saw them.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub action: String,
    /// When the request had arrived in full.
    pub started: Instant,
    /// When the answer had been sent.
    pub finished: Instant,
}

impl Exchange {
    /// Whether the request can change anything: every action but Describe*, List* and Get*.
    pub fn mutating(&self) -> bool {
        !["Describe", "List", "Get", "S3:GET", "S3:HEAD"]
            .iter()
            .any(|read| self.action.starts_with(read))
    }
}

/// How long AWS's slow states last, counted from the create call's answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlowStates {
    /// A new NAT gateway is reported `pending` this long.
    pub nat_gateway: Duration,
    /// A new instance is reported `pending` this long.
    pub instance: Duration,
}

#[derive(Default)]
struct Plan {
    /// Each rule with how many of its matching requests still pass untouched before it applies.
    rules: Vec<(usize, Rule)>,
    kill_after: Option<usize>,
    actions: Vec<String>,
    /// `service:Action` as IAM names them, from each request's signature and line.
    iam_actions: Vec<String>,
    /// Stalled requests whose client gave up (closed the connection) before the stall ended.
    abandoned_stalls: usize,
    /// The actions of the requests the realism layer stalled.
    stalled: Vec<String>,
    /// Every error the realism layer answered with, as `Action: message`.
    refusals: Vec<String>,
    latency: Duration,
    log: Vec<Exchange>,
    slow: SlowStates,
    nat_gateway_created: Option<Instant>,
    instance_launched: Option<Instant>,
    world: Option<World>,
}

pub struct Proxy {
    pub url: String,
    plan: Arc<Mutex<Plan>>,
    requests: Arc<AtomicUsize>,
    /// The tool's pid, for `kill_after`.
    pub pid: Arc<AtomicU32>,
}

/// The IAM action a request needs: the signing service and the query Action, or, for S3's REST
/// requests, the action its method and address amount to.
fn iam_action(head: &[u8], action: &str) -> String {
    let head = String::from_utf8_lossy(head);
    let service = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .and_then(|l| l.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    if service != "s3" {
        return format!("{service}:{action}");
    }
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // Path-style addresses: /bucket, /bucket/ or /bucket/key.
    let object = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let name = match (method, object, query.contains("versioning")) {
        (_, false, true) if method == "GET" => "GetBucketVersioning",
        (_, false, true) => "PutBucketVersioning",
        ("HEAD" | "GET", false, _) => "ListBucket",
        ("PUT", false, _) => "CreateBucket",
        ("GET" | "HEAD", true, _) => "GetObject",
        ("PUT", true, _) => "PutObject",
        ("DELETE", true, _) => "DeleteObject",
        _ => "Unknown",
    };
    format!("s3:{name}")
}

/// The query protocol's `Action` (EC2, ELB, IAM); the JSON protocol's `X-Amz-Target` operation
/// (Service Quotas); for S3's REST requests, `S3:<method>`.
fn action_of(head: &[u8], body: &[u8]) -> String {
    let head_text = String::from_utf8_lossy(head);
    if let Some(target) = head_text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("x-amz-target:"))
        .and_then(|l| l.split('.').next_back())
    {
        return target.trim().to_string();
    }
    if let Some(action) = String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        return action.to_string();
    }
    let method = String::from_utf8_lossy(head)
        .split(' ')
        .next()
        .unwrap_or("?")
        .to_string();
    format!("S3:{method}")
}

fn read_request(stream: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
        // One request per connection: the answer comes back with the connection closed.
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// How a request's errors are written.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    /// EC2's `<Response><Errors>`.
    Ec2,
    /// The query protocol's `<ErrorResponse>` (IAM, ELB).
    Query,
    /// The JSON protocol's `{"__type": ...}` (Service Quotas, the Price List API).
    Json,
}

/// An AWS error in the request's protocol.
fn error_response(protocol: Protocol, status: u16, code: &str, message: &str) -> Vec<u8> {
    let body = match (code.is_empty(), protocol) {
        (true, _) => String::new(),
        (false, Protocol::Ec2) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy-injected</RequestID></Response>"
        ),
        (false, Protocol::Query) => format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy-injected</RequestId></ErrorResponse>"
        ),
        (false, Protocol::Json) => {
            serde_json::json!({"__type": code, "message": message}).to_string()
        }
    };
    let content_type = match protocol {
        Protocol::Json => "application/x-amz-json-1.1",
        _ => "text/xml",
    };
    format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: proxy-injected\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A JSON-protocol answer: 200 with `body`.
fn json_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// GetProducts as the Price List API answers it: the products of the request's service whose
/// product family or attribute equals each filter's value (TERM_MATCH), each as a JSON string.
fn price_list_answer(products: &[serde_json::Value], request: &[u8]) -> String {
    let request: serde_json::Value = serde_json::from_slice(request).unwrap_or_default();
    let filters = request["Filters"].as_array().cloned().unwrap_or_default();
    let matching: Vec<String> = products
        .iter()
        .filter(|p| p["serviceCode"] == request["ServiceCode"])
        .filter(|p| {
            filters.iter().all(|filter| {
                let product = &p["product"];
                let actual = match filter["Field"].as_str().unwrap_or_default() {
                    "productFamily" => &product["productFamily"],
                    field => &product["attributes"][field],
                };
                *actual == filter["Value"]
            })
        })
        .map(|p| p.to_string())
        .collect();
    serde_json::json!({"FormatVersion": "aws_v1", "PriceList": matching}).to_string()
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let plan = Arc::new(Mutex::new(Plan::default()));
        let requests = Arc::new(AtomicUsize::new(0));
        let pid = Arc::new(AtomicU32::new(0));
        let (plan2, requests2, pid2) = (plan.clone(), requests.clone(), pid.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (plan, requests, pid, upstream) = (
                    plan2.clone(),
                    requests2.clone(),
                    pid2.clone(),
                    upstream.clone(),
                );
                std::thread::spawn(move || serve(stream, &upstream, &plan, &requests, &pid));
            }
        });
        Proxy {
            url,
            plan,
            requests,
            pid,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every error the realism layer answered with so far, as `Action: message`.
    pub fn refusals(&self) -> Vec<String> {
        self.plan.lock().unwrap().refusals.clone()
    }

    /// How many stalled requests the client abandoned (timed out) rather than waited out.
    pub fn abandoned_stalls(&self) -> usize {
        self.plan.lock().unwrap().abandoned_stalls
    }

    /// The actions of the requests the realism layer stalled.
    pub fn stalled(&self) -> Vec<String> {
        self.plan.lock().unwrap().stalled.clone()
    }

    /// Every request so far as the IAM action it needs (`ec2:CreateVpc`, `s3:PutObject`).
    pub fn iam_actions(&self) -> Vec<String> {
        self.plan.lock().unwrap().iam_actions.clone()
    }

    /// The Action of every request so far, in arrival order.
    pub fn actions(&self) -> Vec<String> {
        self.plan.lock().unwrap().actions.clone()
    }

    /// Every exchange so far, in the order their answers were sent.
    pub fn log(&self) -> Vec<Exchange> {
        self.plan.lock().unwrap().log.clone()
    }

    pub fn reset_count(&self) {
        self.requests.store(0, Ordering::SeqCst);
        let mut plan = self.plan.lock().unwrap();
        plan.actions.clear();
        plan.iam_actions.clear();
        plan.log.clear();
    }

    /// Holds every request this long before forwarding it: a distant region's round trip.
    pub fn set_latency(&self, latency: Duration) {
        self.plan.lock().unwrap().latency = latency;
    }

    pub fn set_slow_states(&self, slow: SlowStates) {
        let mut plan = self.plan.lock().unwrap();
        plan.slow = slow;
        plan.nat_gateway_created = None;
        plan.instance_launched = None;
    }

    /// Behaves like AWS from now on, as `realism` models it.
    pub fn set_realism(&self, realism: Realism) {
        self.plan.lock().unwrap().world = Some(World::new(realism));
    }

    /// Asks the realism layer's world (see realism.rs); `None` without one.
    pub fn world<T>(&self, ask: impl FnOnce(&World) -> T) -> Option<T> {
        self.plan.lock().unwrap().world.as_ref().map(ask)
    }

    pub fn add_rule(&self, rule: Rule) {
        self.add_rule_after(0, rule);
    }

    /// Lets `skip` matching requests through untouched, then applies `rule`.
    pub fn add_rule_after(&self, skip: usize, rule: Rule) {
        self.plan.lock().unwrap().rules.push((skip, rule));
    }

    pub fn clear_rules(&self) {
        self.plan.lock().unwrap().rules.clear();
    }

    /// Kill the tool (SIGKILL, pid from `self.pid`) right after LocalStack answers request `n`.
    pub fn kill_after(&self, n: Option<usize>) {
        self.plan.lock().unwrap().kill_after = n;
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    plan: &Mutex<Plan>,
    requests: &AtomicUsize,
    pid: &AtomicU32,
) {
    let Some((head, body)) = read_request(&mut client) else {
        return;
    };
    let started = Instant::now();
    let action = action_of(&head, &body);
    let protocol = if String::from_utf8_lossy(&body).contains("Version=2016-11-15") {
        Protocol::Ec2
    } else if String::from_utf8_lossy(&head)
        .to_ascii_lowercase()
        .contains("x-amz-target:")
    {
        Protocol::Json
    } else {
        Protocol::Query
    };
    let number = requests.fetch_add(1, Ordering::SeqCst) + 1;
    // S3's REST requests are left as LocalStack answers them: the model is of EC2, ELB and IAM.
    let params = realism::parse_params(&body);
    let modelled = !action.starts_with("S3:");
    let (fault, kill, mut latency, mut verdict) = {
        let mut plan = plan.lock().unwrap();
        plan.actions.push(action.clone());
        plan.iam_actions.push(iam_action(&head, &action));
        let mut fault = None;
        for (skip, rule) in plan.rules.iter_mut() {
            if rule.times == 0 || rule.action.is_some_and(|a| a != action) {
                continue;
            }
            if *skip > 0 {
                *skip -= 1;
                continue;
            }
            rule.times -= 1;
            fault = Some(rule.fault.clone());
            break;
        }
        let latency = plan.latency;
        let (extra, verdict) = match plan.world.as_mut().filter(|_| modelled) {
            Some(world) => (world.latency(), world.before(&action, &params)),
            None => (Duration::ZERO, Verdict::Forward),
        };
        (
            fault,
            plan.kill_after == Some(number),
            latency + extra,
            verdict,
        )
    };
    let fault = match fault {
        Some(Fault::Delay(pause)) => {
            latency += pause;
            None
        }
        other => other,
    };
    std::thread::sleep(latency);
    if matches!(verdict, Verdict::Forward) && fault.is_none() {
        verdict = check_dependents(upstream, plan, &action, &params, &head);
    }
    if let Verdict::Refuse(_, _, message) = &verdict {
        plan.lock()
            .unwrap()
            .refusals
            .push(format!("{action}: {message}"));
    }
    let truncate = matches!(fault, Some(Fault::Truncate));
    let mut stall = None;
    let response = match (fault, verdict) {
        (Some(Fault::Reset), _) => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        (Some(Fault::Throttle), _) if protocol == Protocol::Ec2 => error_response(
            protocol,
            503,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ),
        (Some(Fault::Throttle), _) => error_response(protocol, 400, "Throttling", "Rate exceeded"),
        (Some(Fault::ServiceUnavailable), _) => error_response(protocol, 503, "", ""),
        (
            Some(Fault::Error {
                code,
                status,
                message,
            }),
            _,
        ) => error_response(protocol, status, code, message),
        (None, Verdict::Refuse(status, "RequestLimitExceeded", message))
            if protocol != Protocol::Ec2 =>
        {
            error_response(protocol, status.min(400), "Throttling", &message)
        }
        (None, Verdict::Refuse(status, code, message)) => {
            error_response(protocol, status, code, &message)
        }
        (Some(Fault::BucketElsewhere(region)), _) => format!(
            "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: {region}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
        (Some(Fault::Json(body)), _) => json_response(body),
        (Some(Fault::PriceList(products)), _) => {
            json_response(&price_list_answer(&products, &body))
        }
        (None, Verdict::Answer(body)) => ok_response(&body),
        (Some(Fault::Delay(_) | Fault::Truncate) | None, verdict) => {
            if let Verdict::Stall(lasts) = verdict {
                stall = Some(lasts);
                plan.lock().unwrap().stalled.push(action.clone());
            }
            match forward(upstream, &head, &body) {
                Some(response) => response,
                None => return,
            }
        }
    };
    if kill {
        let target = pid.load(Ordering::SeqCst);
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &target.to_string()])
            .status();
        return;
    }
    let response = slow_down(plan, &action, response);
    // The model learns from every answer AWS gave, sent or not (a stalled create made something).
    let response = {
        let mut plan = plan.lock().unwrap();
        match plan.world.as_mut().filter(|_| modelled) {
            Some(world) if response.starts_with(b"HTTP/1.1 200") => {
                replace_body(&response, |text| world.after(&action, &params, text))
            }
            _ => response,
        }
    };
    if let Some(lasts) = stall {
        // AWS acted and never answered: the connection stays open, silent, until the client gives
        // up (which the tests want to see) or the stall ends.
        let until = Instant::now() + lasts;
        let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
        let mut byte = [0u8; 1];
        while Instant::now() < until {
            if let Ok(0) = client.read(&mut byte) {
                plan.lock().unwrap().abandoned_stalls += 1;
                return;
            }
        }
        return;
    }
    let sent = if truncate {
        response.len() / 2
    } else {
        response.len()
    };
    let _ = client.write_all(&response[..sent]);
    plan.lock().unwrap().log.push(Exchange {
        action,
        started,
        finished: Instant::now(),
    });
}

/// Sends the request to LocalStack and reads its whole answer.
fn forward(upstream: &str, head: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let mut server = match TcpStream::connect(upstream) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("proxy: cannot reach {upstream}: {e}");
            return None;
        }
    };
    let _ = server.write_all(head);
    let _ = server.write_all(body);
    let mut response = Vec::new();
    let _ = server.read_to_end(&mut response);
    Some(response)
}

/// Deletes AWS refuses while something depends on the resource, which only LocalStack knows: a
/// detached interface in the subnet, with the group or in the VPC, and a group another group's rule
/// references. LocalStack is asked with the request's own headers and another body.
fn check_dependents(
    upstream: &str,
    plan: &Mutex<Plan>,
    action: &str,
    params: &realism::Params,
    head: &[u8],
) -> Verdict {
    let asks = plan
        .lock()
        .unwrap()
        .world
        .as_ref()
        .is_some_and(|w| w.checks_references(action));
    let group = params
        .iter()
        .find(|(k, _)| k == "GroupId")
        .map(|(_, v)| v.clone());
    if let Some(verdict) = check_interfaces(upstream, plan, action, params, head) {
        return verdict;
    }
    let (true, Some(group)) = (asks, group) else {
        return Verdict::Forward;
    };
    let Some(answer) = ask(
        upstream,
        head,
        "Action=DescribeSecurityGroups&Version=2016-11-15",
    ) else {
        return Verdict::Forward;
    };
    let referenced = plan
        .lock()
        .unwrap()
        .world
        .as_ref()
        .is_some_and(|w| w.referenced(&group, &answer));
    if referenced {
        Verdict::Refuse(
            400,
            "DependencyViolation",
            format!("resource {group} has a dependent object"),
        )
    } else {
        Verdict::Forward
    }
}

/// Asks LocalStack `query` with the request's own headers: it does not check signatures.
fn ask(upstream: &str, head: &[u8], query: &str) -> Option<String> {
    let head: String = String::from_utf8_lossy(head)
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", query.len())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let answer = forward(upstream, head.as_bytes(), query.as_bytes())?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

/// A delete refused because a detached interface is still in the subnet, with the group, or in
/// the VPC, as AWS refuses it.
fn check_interfaces(
    upstream: &str,
    plan: &Mutex<Plan>,
    action: &str,
    params: &realism::Params,
    head: &[u8],
) -> Option<Verdict> {
    let (filter, key) = plan
        .lock()
        .unwrap()
        .world
        .as_ref()?
        .blocking_interfaces(action)?;
    let id = params.iter().find(|(k, _)| k == key)?.1.clone();
    let answer = ask(
        upstream,
        head,
        &format!(
            "Action=DescribeNetworkInterfaces&Version=2016-11-15&Filter.1.Name={filter}&Filter.1.Value.1={id}"
        ),
    )?;
    let blocked = plan
        .lock()
        .unwrap()
        .world
        .as_ref()
        .is_some_and(|w| w.detached_interface(&answer));
    blocked.then(|| {
        Verdict::Refuse(
            400,
            "DependencyViolation",
            format!("The {id} has dependencies and cannot be deleted."),
        )
    })
}

fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Notes when the NAT gateway and instances were created, and until their slow states are over,
/// rewrites LocalStack's (instant) `available` and `running` to `pending`.
fn slow_down(plan: &Mutex<Plan>, action: &str, response: Vec<u8>) -> Vec<u8> {
    let mut plan = plan.lock().unwrap();
    let now = Instant::now();
    let still = |since: Option<Instant>, lasts: Duration| since.is_some_and(|t| now < t + lasts);
    match action {
        "CreateNatGateway" => {
            plan.nat_gateway_created.get_or_insert(now);
            response
        }
        "RunInstances" => {
            plan.instance_launched.get_or_insert(now);
            response
        }
        "DescribeNatGateways" if still(plan.nat_gateway_created, plan.slow.nat_gateway) => rewrite(
            &response,
            "<state>available</state>",
            "<state>pending</state>",
        ),
        "DescribeInstances" if still(plan.instance_launched, plan.slow.instance) => rewrite(
            &response,
            "<instanceState><code>16</code><name>running</name>",
            "<instanceState><code>0</code><name>pending</name>",
        ),
        _ => response,
    }
}

/// Replaces text in an HTTP response's body.
fn rewrite(response: &[u8], from: &str, to: &str) -> Vec<u8> {
    replace_body(response, |body| body.replace(from, to))
}

/// Rewrites an HTTP response's body and fixes its Content-Length.
fn replace_body(response: &[u8], change: impl FnOnce(&str) -> String) -> Vec<u8> {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return response.to_vec();
    };
    let body = change(body);
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}
