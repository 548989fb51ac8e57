//! The twin's ECS endpoint (AWS JSON 1.1): the reads and writes `aws::ecs` and `aws::cp` make,
//! answered from the tick's `WireView` of the simulated world, with ECS's limits (100 ARNs per
//! list page and per describe, `nextToken` pagination) and its error shapes (`__type` in the
//! body and `x-amzn-ErrorType`).
//!
//! The services (one, or several of one cluster), their cluster and their MI capacity providers
//! are those the twin was built with (`Names`); each request is answered from the world of the
//! service, task, instance or provider it names, and any other name is "not found" the way ECS
//! says it. What the numbers mean is the edge's and the policy's business.

use super::{Answer, Names, ServiceWorld, TwinState, WireError};
use crate::core::model::{Action, Reason, ReasonCode};
use crate::sim::world::wire::{WireTask, WireView};
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
    if name == st.cluster() {
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

/// The service and the world's task (or instance) number of an ARN the twin issued (or a
/// bare id), if that service exists and `arn_of` gives that ARN back.
fn owner(
    st: &TwinState,
    arn: &str,
    arn_of: impl Fn(&Names, usize) -> String,
) -> Option<(usize, usize)> {
    let (k, id) = super::split_id(arn)?;
    let w = st.worlds.get(k)?;
    (arn_of(&w.names, id) == arn || !arn.contains('/')).then_some((k, id))
}

/// The view of service `k`'s tasks, or unavailable when its world fails that read this tick.
fn task_view<'a>(st: &'a TwinState, k: usize, api: &str) -> Result<&'a WireView, WireError> {
    let v = st.worlds[k].view(api)?;
    if v.obs.tasks.is_none() {
        return Err(WireError::unavailable(api));
    }
    Ok(v)
}

/// The services whose worlds hold the asked tasks (the first service when none is asked, so
/// an empty call still answers as the tick does).
fn services_of(st: &TwinState, asked: &[String]) -> Vec<usize> {
    let mut ks: Vec<usize> = asked
        .iter()
        .filter_map(|arn| owner(st, arn, Names::task_arn).map(|(k, _)| k))
        .collect();
    if ks.is_empty() {
        ks.push(0);
    }
    ks.sort_unstable();
    ks.dedup();
    ks
}

/// The asked tasks the twin knows, rendered by `render`, and the others as ECS's MISSING
/// failures; unavailable if a world holding one of them fails its task read this tick.
fn describe_tasks(
    st: &TwinState,
    asked: Vec<String>,
    api: &str,
    render: impl Fn(&ServiceWorld, &WireView, &WireTask) -> Value,
) -> Result<(Vec<Value>, Vec<Value>), WireError> {
    for k in services_of(st, &asked) {
        task_view(st, k, api)?;
    }
    Ok(each_found(
        asked,
        |arn| {
            let (k, id) = owner(st, arn, Names::task_arn)?;
            let w = &st.worlds[k];
            let v = w.view.as_ref()?;
            v.tasks.iter().find(|t| t.id == id).map(|t| (w, v, t))
        },
        |(w, v, t)| render(w, v, t),
    ))
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
            // Before the first tick every read is unavailable, whichever service it names.
            st.worlds[0].view(&api)?;
            let mut services = Vec::new();
            let mut failures = Vec::new();
            for s in strings(req, "services") {
                match st.by_service(&s) {
                    Some(k) => {
                        let w = &st.worlds[k];
                        let counts = w
                            .view(&api)?
                            .obs
                            .service
                            .ok_or_else(|| WireError::unavailable(&api))?;
                        services.push(service_json(
                            w,
                            counts.desired,
                            counts.running,
                            counts.pending,
                        ));
                    }
                    None => failures.push(json!({"arn": s, "reason": "MISSING"})),
                }
            }
            Ok(json!({"services": services, "failures": failures}))
        }
        "UpdateService" => {
            check_cluster(st, req)?;
            let name = text(req, "service").unwrap_or("");
            let Some(k) = st.by_service(name) else {
                return Err(WireError::client(
                    "ServiceNotFoundException",
                    format!("Service not found: {name}"),
                ));
            };
            let Some(n) = req.get("desiredCount").and_then(Value::as_u64) else {
                return Err(invalid(
                    "desiredCount (a whole number ≥ 0) is required here",
                ));
            };
            let w = &mut st.worlds[k];
            w.view(&api)?;
            let now = w.apply_at_s;
            let action = Action::SetDesired {
                desired: n.min(u64::from(u32::MAX)) as u32,
                reason: Reason::new(ReasonCode::Forecast, "UpdateService through the twin"),
            };
            w.sim
                .apply_now(&action, now)
                .map_err(WireError::from_apply)?;
            // ECS shows a new desiredCount to the next DescribeServices; the view frozen
            // before the write would show the old one until the next refresh (about a second
            // when serving live) and draw the same UpdateService again every tick.
            let desired = w.sim.desired();
            if let Some(s) = w.view.as_mut().and_then(|v| v.obs.service.as_mut()) {
                s.desired = desired;
            }
            let v = w.view(&api)?;
            let (running, pending) = v.obs.service.map_or((0, 0), |s| (s.running, s.pending));
            Ok(json!({"service": service_json(w, desired, running, pending)}))
        }
        "ListTasks" => {
            check_cluster(st, req)?;
            let (start, max) = page(req)?;
            let wanted = text(req, "desiredStatus").unwrap_or("RUNNING");
            // One service's tasks, or the whole cluster's; an unknown service has none.
            let ks: Vec<usize> = match text(req, "serviceName") {
                Some(s) => st.by_service(s).into_iter().collect(),
                None => (0..st.worlds.len()).collect(),
            };
            task_view(st, ks.first().copied().unwrap_or(0), &api)?;
            let mut arns = Vec::new();
            for k in ks {
                let v = task_view(st, k, &api)?;
                // Every task the world holds is wanted RUNNING by the service; stopped ones
                // are gone from the world at once.
                if wanted == "RUNNING" {
                    let n = &st.worlds[k].names;
                    arns.extend(v.tasks.iter().map(|t| n.task_arn(t.id)));
                }
            }
            let (page, next) = paged(arns, start, max);
            Ok(json!({"taskArns": page, "nextToken": next}))
        }
        "DescribeTasks" => {
            check_cluster(st, req)?;
            let asked = strings(req, "tasks");
            at_most_100("tasks", asked.len())?;
            let (tasks, failures) = describe_tasks(st, asked, &api, |w, _, t| {
                let n = &w.names;
                let mut o = json!({
                    "taskArn": n.task_arn(t.id),
                    "clusterArn": n.cluster_arn(),
                    "lastStatus": t.last_status,
                    "desiredStatus": "RUNNING",
                    "createdAt": t.created_s,
                    "group": format!("service:{}", n.service),
                    "launchType": "MANAGED_INSTANCES",
                });
                if let Some(s) = t.started_s {
                    o["startedAt"] = json!(s);
                }
                if let Some(i) = t.instance {
                    o["containerInstanceArn"] = json!(n.instance_arn(i));
                }
                if let Some(cp) = &n.capacity_provider {
                    o["capacityProviderName"] = json!(cp);
                }
                o
            })?;
            Ok(json!({"tasks": tasks, "failures": failures}))
        }
        "GetTaskProtection" => {
            check_cluster(st, req)?;
            let asked = strings(req, "tasks");
            at_most_100("tasks", asked.len())?;
            let (protected, failures) = describe_tasks(st, asked, &api, |w, v, t| {
                let mut o = json!({
                    "taskArn": w.names.task_arn(t.id),
                    "protectionEnabled": t.protected,
                });
                if t.protected {
                    // ECS's default protection period: 2 hours.
                    o["expirationDate"] = json!(v.now_s + 7200.0);
                }
                o
            })?;
            Ok(json!({"protectedTasks": protected, "failures": failures}))
        }
        "ListContainerInstances" => {
            check_cluster(st, req)?;
            let (start, max) = page(req)?;
            // Instances belong to the cluster: every service's, service by service.
            let mut arns = Vec::new();
            for w in &st.worlds {
                let v = w.view(&api)?;
                if v.obs.instances.is_none() {
                    return Err(WireError::unavailable(&api));
                }
                if text(req, "status").is_none_or(|s| s == "ACTIVE") {
                    arns.extend(v.instances.iter().map(|i| w.names.instance_arn(i.id)));
                }
            }
            let (page, next) = paged(arns, start, max);
            Ok(json!({"containerInstanceArns": page, "nextToken": next}))
        }
        "DescribeContainerInstances" => {
            check_cluster(st, req)?;
            let asked = strings(req, "containerInstances");
            at_most_100("containerInstances", asked.len())?;
            for w in &st.worlds {
                if w.view(&api)?.obs.instances.is_none() {
                    return Err(WireError::unavailable(&api));
                }
            }
            let (out, failures) = each_found(
                asked,
                |arn| {
                    let (k, id) = owner(st, arn, Names::instance_arn)?;
                    let w = &st.worlds[k];
                    let i = w.view.as_ref()?.instances.iter().find(|i| i.id == id)?;
                    Some((w, i))
                },
                |(w, i)| {
                    let mut o = json!({
                        "containerInstanceArn": w.names.instance_arn(i.id),
                        "ec2InstanceId": format!("i-{:017x}", i.id),
                        "status": "ACTIVE",
                        "agentConnected": true,
                        "registeredAt": i.registered_s,
                        "runningTasksCount": i.running_tasks,
                        "pendingTasksCount": i.pending_tasks,
                    });
                    if let Some(cp) = &w.names.capacity_provider {
                        o["capacityProviderName"] = json!(cp);
                    }
                    o
                },
            );
            Ok(json!({"containerInstances": out, "failures": failures}))
        }
        "DescribeCapacityProviders" => {
            st.worlds[0].view(&api)?;
            let mut providers = Vec::new();
            let mut failures = Vec::new();
            for name in strings(req, "capacityProviders") {
                match st.by_capacity_provider(&name) {
                    Some(k) => {
                        check_cluster(st, req)?;
                        let w = &st.worlds[k];
                        let sia = w
                            .view(&api)?
                            .obs
                            .scale_in_after_s
                            .ok_or_else(|| WireError::unavailable(&api))?;
                        providers.push(provider_json(w, &name, sia));
                    }
                    None => failures.push(json!({"arn": name, "reason": "MISSING"})),
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

fn service_json(w: &ServiceWorld, desired: u32, running: u32, pending: u32) -> Value {
    let n = &w.names;
    let mut s = json!({
        "serviceName": n.service,
        "serviceArn": format!("arn:aws:ecs:{}:{}:service/{}/{}", super::REGION, super::ACCOUNT,
            n.cluster, n.service),
        "clusterArn": n.cluster_arn(),
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": pending,
    });
    if let Some(cp) = &n.capacity_provider {
        s["capacityProviderStrategy"] = json!([{"capacityProvider": cp, "weight": 1, "base": 0}]);
    }
    s
}

/// The MI provider as ECS describes it: only members the SDK models, so the edge's
/// read-modify-write may proceed.
fn provider_json(w: &ServiceWorld, name: &str, scale_in_after_s: i32) -> Value {
    json!({
        "capacityProviderArn": format!("arn:aws:ecs:{}:{}:capacity-provider/{name}",
            super::REGION, super::ACCOUNT),
        "name": name,
        "cluster": w.names.cluster,
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
    let Some(k) = st.by_capacity_provider(name) else {
        return Err(invalid(format!(
            "The specified capacity provider {name} does not exist"
        )));
    };
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
    let w = &mut st.worlds[k];
    w.view(api)?;
    let now = w.apply_at_s;
    let action = Action::SetScaleInAfter {
        seconds: sia as i32,
        reason: Reason::new(
            ReasonCode::Forecast,
            "UpdateCapacityProvider through the twin",
        ),
    };
    w.sim
        .apply_now(&action, now)
        .map_err(WireError::from_apply)?;
    let mut p = provider_json(w, name, w.sim.scale_in_after_s());
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
