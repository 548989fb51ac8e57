//! ECS reads and writes: service counts, tasks (with task protection), container instances,
//! and `UpdateService`. The capacity provider lives in `cp.rs`. The reads come for one service
//! and, to cut the calls per tick, for several services of one cluster at once
//! (`describe_services`, `cluster_tasks`); `batch.rs` decides which to use.
//!
//! Each function converts SDK shapes into small plain structs with units in their names. Lists
//! are read to the end (`nextToken`) and described in batches of the API's limit (100 for
//! DescribeTasks, DescribeContainerInstances and GetTaskProtection, 10 for DescribeServices), up to `MAX_PAGES`
//! pages: a read cut short is an error (the field stays unknown), never a short list that
//! looks complete. Task descriptions that can no longer change are kept between ticks
//! (`TaskCache`) and not asked for again. Deciding what the numbers mean is the core's job.

use super::{AwsError, call};
use crate::core::model::ServiceCounts;
use aws_sdk_ecs::types::{ContainerInstanceStatus, DesiredStatus};
use std::collections::HashMap;

/// One page: ListTasks and ListContainerInstances return at most 100 ARNs per call, and
/// DescribeTasks and DescribeContainerInstances take at most 100.
const PAGE: usize = 100;

/// GetTaskProtection batch: the API takes up to 100 tasks per call (UpdateTaskProtection, the
/// workers' write, only 10).
pub const PROTECTION_BATCH: usize = 100;

/// Most pages one list read follows (1,000 items). A GPU service this large is far beyond what
/// one controller is built for; past it the read counts as failed, not as complete.
pub const MAX_PAGES: usize = 10;

const CLUSTER_FIX: &str = "check services[].cluster (and the region)";

pub(crate) fn missing_cluster(e: AwsError, cluster: &str) -> AwsError {
    e.not_found_if(&["ClusterNotFound"], "ECS cluster", cluster, CLUSTER_FIX)
}

/// Most services one `DescribeServices` call takes (ECS's limit).
pub const SERVICES_PER_CALL: usize = 10;

/// `DescribeServices` counts. A missing or deleted service is `NotFound`.
pub async fn service_counts(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: &str,
) -> Result<ServiceCounts, AwsError> {
    describe_services(client, endpoint, cluster, &[service])
        .await?
        .pop()
        .unwrap_or_else(|| Err(service_not_found(cluster, service, "no answer".into())))
}

fn service_not_found(cluster: &str, service: &str, message: String) -> AwsError {
    AwsError::NotFound {
        api: "ecs:DescribeServices",
        what: "ECS service",
        name: format!("{cluster}/{service}"),
        message,
        fix: "check services[].service and services[].cluster",
    }
}

/// The last `/`-separated part of a name or ARN (`arn:...:service/cluster/NAME` → `NAME`).
pub(crate) fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

/// `DescribeServices` for several services of one cluster, at most `SERVICES_PER_CALL` per
/// call. The outer error is a failed call (every service it would have covered is unknown);
/// inside, one result per asked service in the order asked: a service the answer lists as a
/// failure, leaves out, or reports INACTIVE is `NotFound` on its own.
pub async fn describe_services(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    services: &[&str],
) -> Result<Vec<Result<ServiceCounts, AwsError>>, AwsError> {
    const API: &str = "ecs:DescribeServices";
    let mut found: Vec<aws_sdk_ecs::types::Service> = Vec::new();
    let mut failures: Vec<aws_sdk_ecs::types::Failure> = Vec::new();
    for batch in services.chunks(SERVICES_PER_CALL) {
        let req = client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(batch.iter().map(|s| s.to_string()).collect()));
        let out = call(API, endpoint, req.send())
            .await
            .map_err(|e| missing_cluster(e, cluster))?;
        found.extend(out.services().iter().cloned());
        failures.extend(out.failures().iter().cloned());
    }
    let count = |v: i32| u32::try_from(v).unwrap_or(0);
    Ok(services
        .iter()
        .map(|&asked| {
            let short = short_name(asked);
            // ECS reports a missing service as a failure entry, not as an error.
            if let Some(f) = failures.iter().find(|f| {
                f.arn()
                    .is_some_and(|a| a == asked || short_name(a) == short)
            }) {
                return Err(service_not_found(
                    cluster,
                    asked,
                    format!(
                        "{} {}",
                        f.reason().unwrap_or("failure"),
                        f.detail().unwrap_or("")
                    ),
                ));
            }
            let Some(s) = found
                .iter()
                .find(|s| s.service_name() == Some(short) || s.service_arn() == Some(asked))
            else {
                return Err(service_not_found(
                    cluster,
                    asked,
                    "no service in the answer".into(),
                ));
            };
            if s.status() == Some("INACTIVE") {
                return Err(service_not_found(
                    cluster,
                    asked,
                    "the service is INACTIVE (deleted)".into(),
                ));
            }
            Ok(ServiceCounts {
                desired: count(s.desired_count()),
                running: count(s.running_count()),
                pending: count(s.pending_count()),
            })
        })
        .collect())
}

/// One task of the service, as far as the core cares.
#[derive(Debug, Clone, PartialEq)]
pub struct EcsTask {
    pub arn: String,
    pub last_status: String,
    pub created_at_s: Option<f64>,
    pub started_at_s: Option<f64>,
    pub container_instance_arn: Option<String>,
}

/// A list read that ran past `MAX_PAGES`.
fn truncated(api: &'static str, what: &str) -> AwsError {
    AwsError::BadAnswer {
        api,
        message: format!(
            "more than {} {what}: the read is cut short and left unknown (preheat never \
             takes a partial list for the whole)",
            MAX_PAGES * PAGE
        ),
    }
}

/// Every task ARN with the given desired status, of one service (`Some`) or of the whole
/// cluster (`None`), following `nextToken`.
async fn list_task_arns(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: Option<&str>,
    desired: DesiredStatus,
) -> Result<Vec<String>, AwsError> {
    const API: &str = "ecs:ListTasks";
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let req = client
            .list_tasks()
            .cluster(cluster)
            .set_service_name(service.map(str::to_string))
            .desired_status(desired.clone())
            .max_results(PAGE as i32)
            .set_next_token(token.take());
        let out = call(API, endpoint, req.send())
            .await
            .map_err(|e| missing_cluster(e, cluster))?;
        arns.extend(out.task_arns().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(arns),
        }
    }
    Err(truncated(API, "tasks"))
}

/// Task descriptions no later `DescribeTasks` could change while the task stays on the list
/// it was found on, kept between ticks per read (cluster, and service for a one-service read):
/// a task RUNNING on the wanted-RUNNING list (ECS takes a task past RUNNING only after its
/// desired status turns STOPPED, which moves it to the other list), and a task STOPPED on
/// either list (STOPPED is final). Every other field read (ARN, group, creation and start
/// times, instance) is fixed once the task is RUNNING. So a steady cluster describes only its
/// new and stopping tasks: fewer and far smaller answers (a real ECS task description with
/// containers and attachments runs to several KB). Only tasks on the latest lists are kept, so
/// the cache never outgrows the cluster.
#[derive(Debug, Default)]
pub struct TaskCache {
    /// Per read (cluster, service of a one-service read): task ARN → (group, description).
    reads: HashMap<ReadKey, HashMap<String, GroupedTask>>,
}

/// A task read: its cluster, and its service when the read was for one service only.
type ReadKey = (String, Option<String>);

/// A task as described, with its `group` (`service:NAME`).
type GroupedTask = (Option<String>, EcsTask);

impl TaskCache {
    /// Tasks held across all reads (for tests and the footprint report).
    pub fn len(&self) -> usize {
        self.reads.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The tasks wanted RUNNING and those wanted STOPPED (tasks being stopped still hold their
/// instance and may still hold a job), of one service or of the whole cluster, every page,
/// then `DescribeTasks` in batches of 100 for those `cache` cannot answer (none: no call).
/// Tasks come with their `group` (`service:NAME`), in list order. A failed call leaves the
/// cache as it was: what it holds stays true.
async fn read_tasks(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: Option<&str>,
    cache: &mut TaskCache,
) -> Result<Vec<(Option<String>, EcsTask)>, AwsError> {
    let running =
        list_task_arns(client, endpoint, cluster, service, DesiredStatus::Running).await?;
    let mut seen: std::collections::HashSet<String> = running.iter().cloned().collect();
    let mut arns: Vec<(String, bool)> = running.into_iter().map(|a| (a, true)).collect();
    for a in list_task_arns(client, endpoint, cluster, service, DesiredStatus::Stopped).await? {
        if seen.insert(a.clone()) {
            arns.push((a, false));
        }
    }
    let key = (cluster.to_string(), service.map(str::to_string));
    let old = cache.reads.get(&key);
    let settled = |arn: &str, wanted_running: bool| {
        let (_, t) = old?.get(arn)?;
        let still = t.last_status == "STOPPED" || (wanted_running && t.last_status == "RUNNING");
        still.then_some(())
    };
    let cached: Vec<bool> = arns.iter().map(|(a, r)| settled(a, *r).is_some()).collect();
    let ask: Vec<String> = arns
        .iter()
        .zip(&cached)
        .filter(|(_, c)| !**c)
        .map(|((a, _), _)| a.clone())
        .collect();
    let mut described: HashMap<String, (Option<String>, EcsTask)> = HashMap::new();
    for batch in ask.chunks(PAGE) {
        let req = client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()));
        let out = call("ecs:DescribeTasks", endpoint, req.send())
            .await
            .map_err(|e| missing_cluster(e, cluster))?;
        // MISSING = the task was expunged between the list and the describe: it is gone. Any
        // other failure leaves a task unknown, so the whole read is.
        if let Some(f) = out
            .failures()
            .iter()
            .find(|f| f.reason() != Some("MISSING"))
        {
            return Err(AwsError::BadAnswer {
                api: "ecs:DescribeTasks",
                message: format!(
                    "{}: {} {}",
                    f.arn().unwrap_or("?"),
                    f.reason().unwrap_or("failure"),
                    f.detail().unwrap_or("")
                ),
            });
        }
        described.extend(out.tasks().iter().filter_map(|t| {
            let arn = t.task_arn()?.to_string();
            let task = EcsTask {
                arn: arn.clone(),
                last_status: t.last_status().unwrap_or("").to_string(),
                created_at_s: t.created_at().map(|d| d.as_secs_f64()),
                started_at_s: t.started_at().map(|d| d.as_secs_f64()),
                container_instance_arn: t.container_instance_arn().map(str::to_string),
            };
            Some((arn, (t.group().map(str::to_string), task)))
        }));
    }
    let mut old = cache.reads.remove(&key).unwrap_or_default();
    let mut tasks = Vec::with_capacity(arns.len());
    let mut kept = HashMap::with_capacity(arns.len());
    for ((arn, _), cached) in arns.into_iter().zip(cached) {
        // Settled in the cache, else described this tick; asked and not described = MISSING
        // (expunged between the list and the describe): gone.
        let t = if cached {
            old.remove(&arn)
        } else {
            described.remove(&arn)
        };
        let Some(t) = t else { continue };
        tasks.push(t.clone());
        kept.insert(arn, t);
    }
    cache.reads.insert(key, kept);
    Ok(tasks)
}

/// The service's tasks (`ListTasks` with `serviceName`, then `DescribeTasks`). Tasks already
/// STOPPED are dropped by the caller.
pub async fn service_tasks(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: &str,
    cache: &mut TaskCache,
) -> Result<Vec<EcsTask>, AwsError> {
    let group = format!("service:{}", short_name(service));
    let tasks = read_tasks(client, endpoint, cluster, Some(service), cache).await?;
    // Keep only this service's tasks: the `group` is "service:NAME" (and some emulators
    // ignore the serviceName filter of ListTasks).
    Ok(tasks
        .into_iter()
        .filter(|(g, _)| g.as_deref().is_none_or(|g| g == group))
        .map(|(_, t)| t)
        .collect())
}

/// The tasks of several services of one cluster from one cluster-wide read (`ListTasks`
/// without `serviceName`, then `DescribeTasks`), split by `group` (`service:NAME`); one list
/// per asked service, in the order asked. Two list calls and one describe per 100 tasks of the
/// cluster, instead of two lists and a describe per service; tasks of other services and
/// standalone tasks are described and dropped. A failed call fails every service's read.
pub async fn cluster_tasks(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    services: &[&str],
    cache: &mut TaskCache,
) -> Result<Vec<Vec<EcsTask>>, AwsError> {
    let tasks = read_tasks(client, endpoint, cluster, None, cache).await?;
    Ok(split_by_group(tasks, services))
}

/// One list per asked service (name or ARN) of the tasks whose `group` is `service:NAME`.
/// Tasks of other services, standalone tasks (`family:...`) and tasks without a group belong
/// to none; a service named twice gets its tasks twice.
fn split_by_group(tasks: Vec<(Option<String>, EcsTask)>, services: &[&str]) -> Vec<Vec<EcsTask>> {
    let groups: Vec<String> = services
        .iter()
        .map(|s| format!("service:{}", short_name(s)))
        .collect();
    let mut out = vec![Vec::new(); services.len()];
    for (g, t) in tasks {
        let Some(g) = g else { continue };
        for (k, want) in groups.iter().enumerate() {
            if *want == g {
                out[k].push(t.clone());
            }
        }
    }
    out
}

/// One ACTIVE container instance of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct EcsInstance {
    pub arn: String,
    pub capacity_provider: Option<String>,
    pub registered_at_s: Option<f64>,
    pub running_tasks: i32,
    pub pending_tasks: i32,
}

/// `ListContainerInstances` (ACTIVE, every page) + `DescribeContainerInstances` in batches.
pub async fn container_instances(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
) -> Result<Vec<EcsInstance>, AwsError> {
    const LIST: &str = "ecs:ListContainerInstances";
    let mut arns: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut complete = false;
    for _ in 0..MAX_PAGES {
        let req = client
            .list_container_instances()
            .cluster(cluster)
            .status(ContainerInstanceStatus::Active)
            .max_results(PAGE as i32)
            .set_next_token(token.take());
        let out = call(LIST, endpoint, req.send())
            .await
            .map_err(|e| missing_cluster(e, cluster))?;
        arns.extend(out.container_instance_arns().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => {
                complete = true;
                break;
            }
        }
    }
    if !complete {
        return Err(truncated(LIST, "container instances"));
    }
    let mut instances = Vec::with_capacity(arns.len());
    for batch in arns.chunks(PAGE) {
        let req = client
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(batch.to_vec()));
        let out = call("ecs:DescribeContainerInstances", endpoint, req.send())
            .await
            .map_err(|e| missing_cluster(e, cluster))?;
        instances.extend(out.container_instances().iter().filter_map(|i| {
            Some(EcsInstance {
                arn: i.container_instance_arn()?.to_string(),
                capacity_provider: i.capacity_provider_name().map(str::to_string),
                registered_at_s: i.registered_at().map(|d| d.as_secs_f64()),
                running_tasks: i.running_tasks_count(),
                pending_tasks: i.pending_tasks_count(),
            })
        }));
    }
    Ok(instances)
}

/// `GetTaskProtection` in batches of 10: ARN → protection enabled (the worker holds a job).
/// Tasks the answer lists as failures are left out (their state is unknown).
pub async fn task_protection(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    task_arns: &[String],
) -> Result<HashMap<String, bool>, AwsError> {
    let mut map = HashMap::new();
    for batch in task_arns.chunks(PROTECTION_BATCH) {
        let req = client
            .get_task_protection()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()));
        let out = call("ecs:GetTaskProtection", endpoint, req.send()).await?;
        map.extend(
            out.protected_tasks()
                .iter()
                .filter_map(|p| Some((p.task_arn()?.to_string(), p.protection_enabled()))),
        );
    }
    Ok(map)
}

/// Start-up permission probes: one call of each task and instance read the loop makes, with a
/// made-up task or instance id where the real list may be empty (an empty service never calls
/// DescribeTasks, yet will once it has tasks). Only a denial is a problem here: a "not found"
/// for the made-up id proves the call was allowed.
pub async fn probe_reads(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: &str,
    protection: bool,
) -> Vec<AwsError> {
    const PROBE_ID: &str = "preheat-permission-probe";
    let mut denied = Vec::new();
    let mut keep = |r: Result<(), AwsError>| {
        if let Err(e) = r
            && e.is_access_denied()
        {
            denied.push(e);
        }
    };
    keep(
        list_task_arns(
            client,
            endpoint,
            cluster,
            Some(service),
            DesiredStatus::Running,
        )
        .await
        .map(drop),
    );
    let req = client.describe_tasks().cluster(cluster).tasks(PROBE_ID);
    keep(
        call("ecs:DescribeTasks", endpoint, req.send())
            .await
            .map(drop),
    );
    if protection {
        let req = client
            .get_task_protection()
            .cluster(cluster)
            .tasks(PROBE_ID);
        keep(
            call("ecs:GetTaskProtection", endpoint, req.send())
                .await
                .map(drop),
        );
    }
    let req = client
        .list_container_instances()
        .cluster(cluster)
        .max_results(1);
    keep(
        call("ecs:ListContainerInstances", endpoint, req.send())
            .await
            .map(drop),
    );
    let req = client
        .describe_container_instances()
        .cluster(cluster)
        .container_instances(PROBE_ID);
    keep(
        call("ecs:DescribeContainerInstances", endpoint, req.send())
            .await
            .map(drop),
    );
    denied
}

/// `UpdateService(desiredCount)`; nothing else about the service is touched.
pub async fn update_desired(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: &str,
    desired: u32,
) -> Result<(), AwsError> {
    const API: &str = "ecs:UpdateService";
    let desired = i32::try_from(desired).unwrap_or(i32::MAX);
    let req = client
        .update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(desired);
    call(API, endpoint, req.send()).await.map_err(|e| {
        missing_cluster(e, cluster).not_found_if(
            &["ServiceNotFound", "ServiceNotActive"],
            "ECS service",
            &format!("{cluster}/{service}"),
            "check services[].service",
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(arn: &str) -> EcsTask {
        EcsTask {
            arn: arn.into(),
            last_status: "RUNNING".into(),
            created_at_s: Some(0.0),
            started_at_s: None,
            container_instance_arn: None,
        }
    }

    #[test]
    fn a_cluster_listing_is_split_by_service_group() {
        let g = |s: &str| Some(s.to_string());
        let tasks = vec![
            (g("service:a"), task("t1")),
            (g("service:b"), task("t2")),
            (g("service:a"), task("t3")),
            (g("service:other"), task("t4")),
            (g("family:batch-job"), task("t5")),
            (None, task("t6")),
        ];
        let arns = |v: &[EcsTask]| v.iter().map(|t| t.arn.clone()).collect::<Vec<_>>();
        let split = split_by_group(
            tasks,
            &["a", "arn:aws:ecs:us-east-1:1:service/c/b", "missing"],
        );
        assert_eq!(arns(&split[0]), ["t1", "t3"]);
        assert_eq!(arns(&split[1]), ["t2"], "a service named by its ARN");
        assert!(split[2].is_empty(), "no task of a service not running any");
    }
}
