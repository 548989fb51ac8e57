//! The twin's ECS endpoint (AWS JSON 1.1): the reads and writes `aws::ecs` and `aws::cp` make,
//! answered from the tick's `WireView` of the simulated world, with ECS's limits (100 ARNs per
//! list page and per describe, `nextToken` pagination) and its error shapes (`__type` in the
//! body and `x-amzn-ErrorType`).
//!
//! The one service, its cluster and its MI capacity provider are those of the service config;
//! any other name is "not found" the way ECS says it. What the numbers mean is the edge's and
//! the policy's business.

use super::{Answer, TwinState, WireError};
use crate::core::model::{Action, Reason, ReasonCode};
use serde_json::{Value, json};

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// ECS's page and batch limit (ListTasks, ListContainerInstances, DescribeTasks,
/// DescribeContainerInstances, GetTaskProtection).
pub const MAX_RESULTS: usize = 100;

/// An AWS JSON error answer in `content_type`.
pub fn json_error(content_type: &'static str, e: &WireError) -> Answer {
    Answer {
        status: e.status,
        content_type,
        headers: vec![("x-amzn-errortype", e.code.to_string())],
        body: serde_json::to_vec(&json!({"__type": e.code, "message": e.message}))
            .unwrap_or_default(),
    }
}

/// Describe-style answers: each asked ARN rendered when `find` knows it, or listed in
/// `failures` as MISSING, as ECS does.
fn each_found<T>(
    asked: Vec<String>,
    find: impl Fn(&str) -> Option<T>,
    render: impl Fn(T) -> Value,
) -> (Vec<Value>, Vec<Value>) {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in asked {
        match find(&arn) {
            Some(t) => found.push(render(t)),
            None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
        }
    }
    (found, failures)
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::client("InvalidParameterException", message)
}

/// Answer one ECS operation.
pub fn answer(st: &mut TwinState, op: &str, body: &[u8]) -> Answer {
    super::json_answer(
        body,
        JSON_1_1,
        "SerializationException",
        |req| dispatch(st, op, req),
        |e| json_error(JSON_1_1, e),
    )
}

fn text<'a>(req: &'a Value, key: &str) -> Option<&'a str> {
    req.get(key).and_then(Value::as_str)
}

fn strings(req: &Value, key: &str) -> Vec<String> {
    req.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The cluster named by a request (a name or an ARN) must be the twin's.
fn check_cluster(st: &TwinState, req: &Value) -> Result<(), WireError> {
    let c = text(req, "cluster").unwrap_or("default");
    let name = c.rsplit('/').next().unwrap_or(c);
    if name == st.names.cluster {
        Ok(())
    } else {
        Err(WireError::client(
            "ClusterNotFoundException",
            format!("Cluster not found: {c}"),
        ))
    }
}

/// `maxResults` and `nextToken` of a list call: the first index and the page size.
fn page(req: &Value) -> Result<(usize, usize), WireError> {
    let max = match req.get("maxResults") {
        None => MAX_RESULTS,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_RESULTS as u64).contains(&n) => n as usize,
            _ => return Err(invalid(format!("maxResults must be 1..=100, got {v}"))),
        },
    };
    let start = match text(req, "nextToken") {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("twin-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| invalid(format!("nextToken {t:?} was not issued by this endpoint")))?,
    };
    Ok((start, max))
}

/// One page of `items` and its `nextToken`.
fn paged(items: Vec<String>, start: usize, max: usize) -> (Vec<String>, Option<String>) {
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| format!("twin-{end}"));
    (
        items
            .get(start..end)
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
        next,
    )
}

/// The world's task number from an ARN the twin issued (or a bare id).
fn task_id(st: &TwinState, arn: &str) -> Option<usize> {
    let tail = arn.rsplit('/').next()?;
    let id = usize::from_str_radix(tail, 16).ok()?;
    (st.names.task_arn(id) == arn || tail == arn).then_some(id)
}

fn at_most_100(what: &str, n: usize) -> Result<(), WireError> {
    if n > MAX_RESULTS {
        Err(invalid(format!("{what}: at most 100 per call, got {n}")))
    } else {
        Ok(())
    }
}

fn dispatch(st: &mut TwinState, op: &str, req: &Value) -> Result<Value, WireError> {
    let api = format!("ecs:{op}");
    match op {
        "DescribeServices" => {
            check_cluster(st, req)?;
            let v = st.view(&api)?;
            let counts = v.obs.service.ok_or_else(|| WireError::unavailable(&api))?;
            let mut services = Vec::new();
            let mut failures = Vec::new();
            for s in strings(req, "services") {
                let name = s.rsplit('/').next().unwrap_or(&s);
                if name == st.names.service {
                    services.push(service_json(
                        st,
                        counts.desired,
                        counts.running,
                        counts.pending,
                    ));
                } else {
                    failures.push(json!({"arn": s, "reason": "MISSING"}));
                }
            }
            Ok(json!({"services": services, "failures": failures}))
        }
        "UpdateService" => {
            check_cluster(st, req)?;
            let name = text(req, "service").unwrap_or("");
            if name.rsplit('/').next() != Some(st.names.service.as_str()) {
                return Err(WireError::client(
                    "ServiceNotFoundException",
                    format!("Service not found: {name}"),
                ));
            }
            let Some(n) = req.get("desiredCount").and_then(Value::as_u64) else {
                return Err(invalid(
                    "desiredCount (a whole number ≥ 0) is required here",
                ));
            };
            st.view(&api)?;
            let now = st.apply_at_s;
            let action = Action::SetDesired {
                desired: n.min(u64::from(u32::MAX)) as u32,
                reason: Reason::new(ReasonCode::Forecast, "UpdateService through the twin"),
            };
            st.sim
                .apply_now(&action, now)
                .map_err(WireError::from_apply)?;
            let v = st.view(&api)?;
            let (running, pending) = v.obs.service.map_or((0, 0), |s| (s.running, s.pending));
            Ok(json!({"service": service_json(st, st.sim.desired(), running, pending)}))
        }
        "ListTasks" => {
            check_cluster(st, req)?;
            let (start, max) = page(req)?;
            let v = st.view(&api)?;
            if v.obs.tasks.is_none() {
                return Err(WireError::unavailable(&api));
            }
            let wanted = text(req, "desiredStatus").unwrap_or("RUNNING");
            let service_ok = text(req, "serviceName")
                .is_none_or(|s| s.rsplit('/').next() == Some(st.names.service.as_str()));
            // Every task the world holds is wanted RUNNING by the service; stopped ones are
            // gone from the world at once.
            let arns: Vec<String> = if wanted == "RUNNING" && service_ok {
                v.tasks.iter().map(|t| st.names.task_arn(t.id)).collect()
            } else {
                Vec::new()
            };
            let (page, next) = paged(arns, start, max);
            Ok(json!({"taskArns": page, "nextToken": next}))
        }
        "DescribeTasks" => {
            check_cluster(st, req)?;
            let asked = strings(req, "tasks");
            at_most_100("tasks", asked.len())?;
            let v = st.view(&api)?;
            if v.obs.tasks.is_none() {
                return Err(WireError::unavailable(&api));
            }
            let (tasks, failures) = each_found(
                asked,
                |arn| task_id(st, arn).and_then(|id| v.tasks.iter().find(|t| t.id == id)),
                |t| {
                    let mut o = json!({
                        "taskArn": st.names.task_arn(t.id),
                        "clusterArn": st.names.cluster_arn(),
                        "lastStatus": t.last_status,
                        "desiredStatus": "RUNNING",
                        "createdAt": t.created_s,
                        "group": format!("service:{}", st.names.service),
                        "launchType": "MANAGED_INSTANCES",
                    });
                    if let Some(s) = t.started_s {
                        o["startedAt"] = json!(s);
                    }
                    if let Some(i) = t.instance {
                        o["containerInstanceArn"] = json!(st.names.instance_arn(i));
                    }
                    if let Some(cp) = &st.names.capacity_provider {
                        o["capacityProviderName"] = json!(cp);
                    }
                    o
                },
            );
            Ok(json!({"tasks": tasks, "failures": failures}))
        }
        "GetTaskProtection" => {
            check_cluster(st, req)?;
            let asked = strings(req, "tasks");
            at_most_100("tasks", asked.len())?;
            let v = st.view(&api)?;
            if v.obs.tasks.is_none() {
                return Err(WireError::unavailable(&api));
            }
            let (protected, failures) = each_found(
                asked,
                |arn| task_id(st, arn).and_then(|id| v.tasks.iter().find(|t| t.id == id)),
                |t| {
                    let mut o = json!({
                        "taskArn": st.names.task_arn(t.id),
                        "protectionEnabled": t.protected,
                    });
                    if t.protected {
                        // ECS's default protection period: 2 hours.
                        o["expirationDate"] = json!(v.now_s + 7200.0);
                    }
                    o
                },
            );
            Ok(json!({"protectedTasks": protected, "failures": failures}))
        }
        "ListContainerInstances" => {
            check_cluster(st, req)?;
            let (start, max) = page(req)?;
            let v = st.view(&api)?;
            if v.obs.instances.is_none() {
                return Err(WireError::unavailable(&api));
            }
            let active = text(req, "status").is_none_or(|s| s == "ACTIVE");
            let arns: Vec<String> = if active {
                v.instances
                    .iter()
                    .map(|i| st.names.instance_arn(i.id))
                    .collect()
            } else {
                Vec::new()
            };
            let (page, next) = paged(arns, start, max);
            Ok(json!({"containerInstanceArns": page, "nextToken": next}))
        }
        "DescribeContainerInstances" => {
            check_cluster(st, req)?;
            let asked = strings(req, "containerInstances");
            at_most_100("containerInstances", asked.len())?;
            let v = st.view(&api)?;
            if v.obs.instances.is_none() {
                return Err(WireError::unavailable(&api));
            }
            let mut out = Vec::new();
            let mut failures = Vec::new();
            for arn in asked {
                let found = v
                    .instances
                    .iter()
                    .find(|i| st.names.instance_arn(i.id) == arn);
                match found {
                    Some(i) => {
                        let mut o = json!({
                            "containerInstanceArn": arn,
                            "ec2InstanceId": format!("i-{:017x}", i.id),
                            "status": "ACTIVE",
                            "agentConnected": true,
                            "registeredAt": i.registered_s,
                            "runningTasksCount": i.running_tasks,
                            "pendingTasksCount": i.pending_tasks,
                        });
                        if let Some(cp) = &st.names.capacity_provider {
                            o["capacityProviderName"] = json!(cp);
                        }
                        out.push(o);
                    }
                    None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
                }
            }
            Ok(json!({"containerInstances": out, "failures": failures}))
        }
        "DescribeCapacityProviders" => {
            let v = st.view(&api)?;
            let mut providers = Vec::new();
            let mut failures = Vec::new();
            for name in strings(req, "capacityProviders") {
                if st.names.capacity_provider.as_deref() == Some(name.as_str()) {
                    check_cluster(st, req)?;
                    let sia = v
                        .obs
                        .scale_in_after_s
                        .ok_or_else(|| WireError::unavailable(&api))?;
                    providers.push(provider_json(st, &name, sia));
                } else {
                    failures.push(json!({"arn": name, "reason": "MISSING"}));
                }
            }
            Ok(json!({"capacityProviders": providers, "failures": failures}))
        }
        "UpdateCapacityProvider" => update_capacity_provider(st, req, &api),
        other => Err(WireError::client(
            "UnknownOperationException",
            format!("the twin does not serve ECS {other} (preheat never calls it)"),
        )),
    }
}

fn service_json(st: &TwinState, desired: u32, running: u32, pending: u32) -> Value {
    let mut s = json!({
        "serviceName": st.names.service,
        "serviceArn": format!("arn:aws:ecs:{}:{}:service/{}/{}", super::REGION, super::ACCOUNT,
            st.names.cluster, st.names.service),
        "clusterArn": st.names.cluster_arn(),
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": pending,
    });
    if let Some(cp) = &st.names.capacity_provider {
        s["capacityProviderStrategy"] = json!([{"capacityProvider": cp, "weight": 1, "base": 0}]);
    }
    s
}

/// The MI provider as ECS describes it: only members the SDK models, so the edge's
/// read-modify-write may proceed.
fn provider_json(st: &TwinState, name: &str, scale_in_after_s: i32) -> Value {
    json!({
        "capacityProviderArn": format!("arn:aws:ecs:{}:{}:capacity-provider/{name}",
            super::REGION, super::ACCOUNT),
        "name": name,
        "cluster": st.names.cluster,
        "status": "ACTIVE",
        "type": "MANAGED_INSTANCES",
        "updateStatus": "UPDATE_COMPLETE",
        "managedInstancesProvider": {
            "infrastructureRoleArn": format!("arn:aws:iam::{}:role/ecsInfrastructureRole", super::ACCOUNT),
            "instanceLaunchTemplate": {
                "ec2InstanceProfileArn": format!("arn:aws:iam::{}:instance-profile/ecsInstanceRole", super::ACCOUNT),
                "networkConfiguration": {"subnets": ["subnet-0twin"], "securityGroups": ["sg-0twin"]},
                "instanceRequirements": {
                    "vCpuCount": {"min": 4},
                    "memoryMiB": {"min": 16384},
                    "acceleratorTypes": ["gpu"],
                    "acceleratorCount": {"min": 1}
                }
            },
            "propagateTags": "NONE",
            "infrastructureOptimization": {"scaleInAfter": scale_in_after_s}
        }
    })
}

/// The MI update: ECS requires the infrastructure role and the launch template to be resent
/// (a partial update would be refused), and `scaleInAfter` within -1..=3600.
fn update_capacity_provider(
    st: &mut TwinState,
    req: &Value,
    api: &str,
) -> Result<Value, WireError> {
    let name = text(req, "name").unwrap_or("");
    if st.names.capacity_provider.as_deref() != Some(name) {
        return Err(invalid(format!(
            "The specified capacity provider {name} does not exist"
        )));
    }
    check_cluster(st, req)?;
    let Some(mi) = req.get("managedInstancesProvider") else {
        return Err(invalid(
            "managedInstancesProvider is required to update an MI provider",
        ));
    };
    for key in ["infrastructureRoleArn", "instanceLaunchTemplate"] {
        if mi.get(key).is_none() {
            return Err(invalid(format!(
                "managedInstancesProvider.{key} is required"
            )));
        }
    }
    let sia = mi
        .pointer("/infrastructureOptimization/scaleInAfter")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("infrastructureOptimization.scaleInAfter is required here"))?;
    if !(-1..=3600).contains(&sia) {
        return Err(invalid(format!(
            "scaleInAfter must be -1 or 0..=3600, got {sia}"
        )));
    }
    st.view(api)?;
    let now = st.apply_at_s;
    let action = Action::SetScaleInAfter {
        seconds: sia as i32,
        reason: Reason::new(
            ReasonCode::Forecast,
            "UpdateCapacityProvider through the twin",
        ),
    };
    st.sim
        .apply_now(&action, now)
        .map_err(WireError::from_apply)?;
    let mut p = provider_json(st, name, st.sim.scale_in_after_s());
    p["updateStatus"] = json!("UPDATE_COMPLETE");
    Ok(json!({"capacityProvider": p}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_at_most_100_with_tokens() {
        let items: Vec<String> = (0..250).map(|i| i.to_string()).collect();
        let (p, next) = paged(items.clone(), 0, 100);
        assert_eq!((p.len(), next.as_deref()), (100, Some("twin-100")));
        let (p, next) = paged(items.clone(), 200, 100);
        assert_eq!((p.len(), next), (50, None));
        assert_eq!(page(&json!({"nextToken": "twin-200"})).unwrap(), (200, 100));
        assert!(page(&json!({"maxResults": 101})).is_err());
        assert!(page(&json!({"nextToken": "forged"})).is_err());
    }
}
