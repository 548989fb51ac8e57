//! `preheat twin`: a local stand-in for the part of SQS, ECS and CloudWatch that preheat's AWS
//! edge (`crate::aws`) calls, backed by the simulated ECS MI world (`sim::world`).
//!
//! It serves on a loopback socket, over HTTP/1.1 (hyper), the wire protocols the pinned SDK
//! crates speak: AWS JSON 1.1 for ECS (`X-Amz-Target: AmazonEC2ContainerServiceV20141113.*`),
//! AWS JSON 1.0 for SQS (`X-Amz-Target: AmazonSQS.*`, query-compatible error codes) and Smithy
//! RPC v2 CBOR for CloudWatch (`/service/GraniteServiceVersion20100801/operation/*`). Each
//! answer is built from the tick's `WireView` (what the world shows, with its staleness, delays
//! and injected read faults); writes go to the world through the same `apply` as `simulate`.
//! A request without an `Authorization` header is refused, so a client that lost its
//! credentials is not hidden.
//!
//! One twin serves one service or several of one cluster, each service with its own world
//! (`ServiceWorld`), found by the names a request carries. This file holds the shared state,
//! the server and the routing; `ecs.rs`, `sqs.rs` and
//! `cloudwatch.rs` answer each service; `lockstep.rs` runs the real edge against the twin on a
//! virtual clock. Deciding anything is left to the policy on the other side of the wire.

pub mod cloudwatch;
pub mod dynamodb;
pub mod ecs;
pub mod faults;
pub mod live;
pub mod lockstep;
pub mod sqs;

use crate::core::config::ServiceConfig;
use crate::sim::world::SimWorld;
use crate::sim::world::wire::WireView;
use crate::world::ApplyError;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;

/// The account and region every ARN the twin hands out names.
pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";

/// Requests larger than this are refused (the edge's largest, a 100-task DescribeTasks, is a
/// few kB).
const MAX_BODY: usize = 1 << 20;

/// A refusal the twin sends back: HTTP status, the error code the SDK maps to its typed errors,
/// and a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} (HTTP {status}): {message}")]
pub struct WireError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl WireError {
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        WireError {
            status: 400,
            code,
            message: message.into(),
        }
    }

    /// A read the world made fail this tick (an injected fault): a transient 5xx, as AWS
    /// answers when a service is briefly unavailable.
    pub fn unavailable(api: &str) -> Self {
        WireError {
            status: 503,
            code: "ServiceUnavailable",
            message: format!("{api} is unavailable (fault injected by the simulated world)"),
        }
    }

    /// A write the world refused (an injected fault).
    pub fn from_apply(e: ApplyError) -> Self {
        match e {
            ApplyError::Throttled { message, .. } => {
                WireError::client("ThrottlingException", message)
            }
            ApplyError::Denied { message, .. } => {
                WireError::client("AccessDeniedException", message)
            }
            ApplyError::Failed { message, .. } => WireError {
                status: 500,
                code: "ServerException",
                message,
            },
        }
    }
}

/// The names one service of the twin answers to (from the service config).
#[derive(Debug, Clone)]
pub struct Names {
    pub cluster: String,
    pub service: String,
    /// The queue name (last segment of the configured queue URL).
    pub queue: String,
    pub capacity_provider: Option<String>,
    /// The service's number in the twin (0 for the first): the high hex digits of the task and
    /// instance ids in its ARNs, so two services' ARNs never collide in their shared cluster.
    pub index: usize,
}

/// ARN ids are 32 hex digits: the service's number in the first 8, the world's own id in the
/// last 24 (so the first service's ARNs are those a one-service twin has always handed out).
const ID_DIGITS: usize = 24;

impl Names {
    pub fn of(s: &ServiceConfig) -> Self {
        Names::nth(s, 0)
    }

    /// The names of service `k` of a twin built from one service config: the first keeps the
    /// configured names, the others add `-k` to the service, the queue and the capacity
    /// provider (all share the cluster). `preheat footprint` names its services the same way.
    pub fn nth(s: &ServiceConfig, k: usize) -> Self {
        let suffix = |name: &str| {
            if k == 0 {
                name.to_string()
            } else {
                format!("{name}-{k}")
            }
        };
        Names {
            cluster: s.cluster.clone(),
            service: suffix(&s.service),
            queue: suffix(crate::aws::cloudwatch::queue_name(&s.queue_url)),
            capacity_provider: s.capacity_provider.as_deref().map(suffix),
            index: k,
        }
    }

    /// The service config a controller uses for service `k` of a twin built from `base`:
    /// `base` with the service, queue URL and capacity provider of `Names::nth(base, k)`.
    pub fn config(base: &ServiceConfig, k: usize) -> ServiceConfig {
        let n = Names::nth(base, k);
        let mut s = base.clone();
        let dir = base
            .queue_url
            .rsplit_once('/')
            .map_or(base.queue_url.as_str(), |(d, _)| d);
        s.queue_url = format!("{dir}/{}", n.queue);
        s.name = n.service.clone();
        s.service = n.service;
        s.capacity_provider = n.capacity_provider;
        s
    }

    pub fn cluster_arn(&self) -> String {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{}", self.cluster)
    }

    pub fn task_arn(&self, id: usize) -> String {
        format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT}:task/{}/{:08x}{id:0w$x}",
            self.cluster,
            self.index,
            w = ID_DIGITS
        )
    }

    pub fn instance_arn(&self, id: usize) -> String {
        format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{}/{:08x}{id:0w$x}",
            self.cluster,
            self.index,
            w = ID_DIGITS
        )
    }
}

/// The service number and the world's id in the last segment of a task or instance ARN the
/// twin issued (or a bare id): `None` if it is not hex.
pub fn split_id(arn: &str) -> Option<(usize, usize)> {
    let tail = arn.rsplit('/').next()?;
    if !tail.is_ascii() {
        return None;
    }
    let cut = tail.len().saturating_sub(ID_DIGITS);
    let (k, id) = tail.split_at(cut);
    let k = if k.is_empty() {
        0
    } else {
        usize::from_str_radix(k, 16).ok()?
    };
    Some((k, usize::from_str_radix(id, 16).ok()?))
}

/// One service the twin serves: its simulated world, its names and the tick being served.
pub struct ServiceWorld {
    pub sim: SimWorld,
    pub names: Names,
    /// The tick being served (`None` before the first tick: every read answers unavailable).
    /// Its times are those the client sees (the world's own in lockstep, wall-clock seconds
    /// when serving live).
    pub view: Option<WireView>,
    /// The world's time at which a write is applied (the tick's in lockstep, now when live).
    pub apply_at_s: f64,
}

impl ServiceWorld {
    /// The tick's view, or the error every read answers before the first tick.
    pub fn view(&self, api: &str) -> Result<&WireView, WireError> {
        self.view
            .as_ref()
            .ok_or_else(|| WireError::unavailable(api))
    }

    /// Serve the world as it is at `now_s` (its own clock), writes applied then too.
    pub fn freeze(&mut self, now_s: f64) {
        self.view = Some(self.sim.wire_view(now_s));
        self.apply_at_s = now_s;
    }
}

/// What the server shares with whoever advances the worlds.
pub struct TwinState {
    /// One per service, all in one cluster (`worlds[k].names.index == k`); never empty.
    pub worlds: Vec<ServiceWorld>,
    /// Requests answered, per operation (`ecs:ListTasks`, ...), refusals included.
    pub calls: BTreeMap<String, u64>,
    /// Faults injected at the wire, and how many of each were.
    pub wire_faults: faults::WireFaults,
    pub wire_fault_counts: BTreeMap<&'static str, u64>,
    /// DynamoDB items (the writer leases), by table and `lease_key`.
    pub items: BTreeMap<(String, String), serde_json::Map<String, serde_json::Value>>,
}

pub type Shared = Arc<Mutex<TwinState>>;

impl TwinState {
    /// A twin serving one service.
    pub fn new(sim: SimWorld, names: Names) -> Shared {
        TwinState::many(vec![(sim, names)])
    }

    /// A twin serving several services of one cluster, each with its own world (service `k`
    /// named `Names::nth(.., k)`). Panics on an empty list: a twin serves at least one.
    pub fn many(worlds: Vec<(SimWorld, Names)>) -> Shared {
        assert!(!worlds.is_empty(), "a twin serves at least one service");
        Arc::new(Mutex::new(TwinState {
            worlds: worlds
                .into_iter()
                .map(|(sim, names)| ServiceWorld {
                    sim,
                    names,
                    view: None,
                    apply_at_s: f64::NEG_INFINITY,
                })
                .collect(),
            calls: BTreeMap::new(),
            wire_faults: faults::WireFaults::default(),
            wire_fault_counts: BTreeMap::new(),
            items: BTreeMap::new(),
        }))
    }

    /// The cluster every service is in.
    pub fn cluster(&self) -> &str {
        &self.worlds[0].names.cluster
    }

    /// The service named `name` (a name or an ARN).
    pub fn by_service(&self, name: &str) -> Option<usize> {
        let name = name.rsplit('/').next().unwrap_or(name);
        self.worlds.iter().position(|w| w.names.service == name)
    }

    /// The service whose queue is named `queue`.
    pub fn by_queue(&self, queue: &str) -> Option<usize> {
        self.worlds.iter().position(|w| w.names.queue == queue)
    }

    /// The service whose MI capacity provider is named `name`.
    pub fn by_capacity_provider(&self, name: &str) -> Option<usize> {
        self.worlds
            .iter()
            .position(|w| w.names.capacity_provider.as_deref() == Some(name))
    }

    /// The world's time the wire faults are drawn at (the first service's: every service is
    /// advanced to the same time).
    fn now_s(&self) -> f64 {
        self.worlds[0].apply_at_s
    }
}

/// Lock the state; a handler that panicked cannot leave it half-changed in a way the next tick
/// cares about, so a poisoned lock is taken over.
pub fn lock(s: &Shared) -> MutexGuard<'_, TwinState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which protocol a request speaks, from its target header or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ecs(String),
    Sqs(String),
    CloudWatch(String),
    /// Application Auto Scaling: `run` asks whether a scalable target also owns the service.
    Aas(String),
    /// DynamoDB: the writer lease.
    Dynamo(String),
}

pub fn route(target: Option<&str>, path: &str) -> Option<Route> {
    if let Some(t) = target {
        if let Some(op) = t.strip_prefix("AmazonEC2ContainerServiceV20141113.") {
            return Some(Route::Ecs(op.to_string()));
        }
        if let Some(op) = t.strip_prefix("AmazonSQS.") {
            return Some(Route::Sqs(op.to_string()));
        }
        if let Some(op) = t.strip_prefix("AnyScaleFrontendService.") {
            return Some(Route::Aas(op.to_string()));
        }
        if let Some(op) = t.strip_prefix("DynamoDB_20120810.") {
            return Some(Route::Dynamo(op.to_string()));
        }
        return None;
    }
    path.strip_prefix("/service/GraniteServiceVersion20100801/operation/")
        .map(|op| Route::CloudWatch(op.to_string()))
}

/// An AWS JSON protocol request: the body parsed as an object and handed to `dispatch`, whose
/// value is answered with 200 in `content_type`, and whose error (or a body that is not an
/// object, as `bad_body_code`) goes through the protocol's own `error` shape.
pub(crate) fn json_answer(
    body: &[u8],
    content_type: &'static str,
    bad_body_code: &'static str,
    dispatch: impl FnOnce(&serde_json::Value) -> Result<serde_json::Value, WireError>,
    error: impl Fn(&WireError) -> Answer,
) -> Answer {
    let req = match serde_json::from_slice(body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            return error(&WireError::client(
                bad_body_code,
                "the body is not a JSON object",
            ));
        }
    };
    match dispatch(&req) {
        Ok(v) => Answer {
            status: 200,
            content_type,
            headers: Vec::new(),
            body: serde_json::to_vec(&v).unwrap_or_default(),
        },
        Err(e) => error(&e),
    }
}

/// One answer: status, content type, extra headers, body.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Answer one request (synchronously: the world never waits); `None` = drop the connection
/// without an answer (an injected fault).
pub fn answer(
    state: &Shared,
    target: Option<&str>,
    path: &str,
    authorized: bool,
    body: &[u8],
) -> Option<Answer> {
    let Some(r) = route(target, path) else {
        return Some(ecs::json_error(
            "application/x-amz-json-1.1",
            &WireError::client(
                "UnknownOperationException",
                format!(
                    "the twin serves ECS, SQS and CloudWatch only (target {target:?}, path {path})"
                ),
            ),
        ));
    };
    let mut st = lock(state);
    let key = match &r {
        Route::Ecs(op) => format!("ecs:{op}"),
        Route::Sqs(op) => format!("sqs:{op}"),
        Route::CloudWatch(op) => format!("cloudwatch:{op}"),
        Route::Aas(op) => format!("application-autoscaling:{op}"),
        Route::Dynamo(op) => format!("dynamodb:{op}"),
    };
    let n = st.calls.entry(key.clone()).or_default();
    *n += 1;
    let n = *n;
    let now_s = st.now_s();
    let fault = st.wire_faults.pick(now_s, &key, n);
    if let Some(f) = fault {
        *st.wire_fault_counts.entry(f.name()).or_default() += 1;
    }
    let garble = |a: Answer| Answer {
        status: 200,
        body: if matches!(r, Route::CloudWatch(_)) {
            vec![0xff, 0x00, 0x13]
        } else {
            b"{\"garbled".to_vec()
        },
        ..a
    };
    let mut denied = (!authorized).then(|| {
        WireError::client(
            "MissingAuthenticationTokenException",
            "no Authorization header: the request was not signed (are credentials set?)",
        )
    });
    match fault {
        Some(faults::WireFault::Dropped) => return None,
        Some(faults::WireFault::Denied) => {
            denied = Some(WireError::client(
                "AccessDeniedException",
                format!("not authorized to perform {key} (fault injected at the wire)"),
            ));
        }
        _ => {}
    }
    let garbled = fault == Some(faults::WireFault::Garbled);
    let a = match r.clone() {
        Route::Ecs(op) => match denied {
            Some(e) => ecs::json_error("application/x-amz-json-1.1", &e),
            None => ecs::answer(&mut st, &op, body),
        },
        Route::Sqs(op) => match denied {
            Some(e) => sqs::error(&e),
            None => sqs::answer(&st, &op, body),
        },
        Route::CloudWatch(op) => match denied {
            Some(e) => cloudwatch::error(&e),
            None => cloudwatch::answer(&st, &op, body),
        },
        Route::Dynamo(op) => match denied {
            Some(e) => dynamodb::error(&e),
            None => dynamodb::answer(&mut st, &op, body),
        },
        // No scalable target owns the twin's service: preheat is its only scaler.
        Route::Aas(op) => match (denied, op.as_str()) {
            (Some(e), _) => ecs::json_error("application/x-amz-json-1.1", &e),
            (None, "DescribeScalableTargets") => Answer {
                status: 200,
                content_type: "application/x-amz-json-1.1",
                headers: Vec::new(),
                body: br#"{"ScalableTargets":[]}"#.to_vec(),
            },
            (None, other) => ecs::json_error(
                "application/x-amz-json-1.1",
                &WireError::client(
                    "UnknownOperationException",
                    format!("the twin does not serve Application Auto Scaling {other}"),
                ),
            ),
        },
    };
    Some(if garbled { garble(a) } else { a })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn handle(state: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, BoxError> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let authorized = req.headers().contains_key("authorization");
    let path = req.uri().path().to_string();
    // Read at most MAX_BODY bytes: a larger body is refused without being buffered whole.
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes());
    let a = if let Err(e) = &body {
        ecs::json_error(
            "application/x-amz-json-1.1",
            &WireError::client(
                "RequestEntityTooLarge",
                format!("request body unreadable or over 1 MiB: {e}"),
            ),
        )
    } else {
        let body = body.unwrap_or_default();
        match answer(&state, target.as_deref(), &path, authorized, &body) {
            Some(a) => a,
            // An error from the service makes hyper close the connection unanswered.
            None => return Err("connection dropped (fault injected at the wire)".into()),
        }
    };
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", a.content_type);
    for (k, v) in a.headers {
        resp = resp.header(k, v);
    }
    Ok(resp
        .body(Full::new(Bytes::from(a.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// Serve `state` on `listener` until the task is dropped (keep-alive connections, one task per
/// connection).
pub async fn serve(listener: TcpListener, state: Shared) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // E.g. out of file descriptors: wait a little rather than spin.
                tracing::warn!(error = %e, "twin: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await
            {
                tracing::debug!(error = %e, "twin: connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod route_tests {
    use super::*;

    #[test]
    fn routes_by_target_then_path() {
        assert_eq!(
            route(Some("AmazonEC2ContainerServiceV20141113.ListTasks"), "/"),
            Some(Route::Ecs("ListTasks".into()))
        );
        assert_eq!(
            route(Some("AmazonSQS.GetQueueAttributes"), "/"),
            Some(Route::Sqs("GetQueueAttributes".into()))
        );
        assert_eq!(
            route(
                None,
                "/service/GraniteServiceVersion20100801/operation/GetMetricData"
            ),
            Some(Route::CloudWatch("GetMetricData".into()))
        );
        assert_eq!(
            route(Some("DynamoDB_20120810.GetItem"), "/"),
            Some(Route::Dynamo("GetItem".into()))
        );
        assert_eq!(route(Some("AWSKMS.Decrypt"), "/"), None);
        assert_eq!(route(None, "/"), None);
    }
}

#[cfg(test)]
mod tests;
