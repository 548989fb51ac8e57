//! One tick's ECS reads for every service at once, batched per cluster so that the number of
//! SDK calls grows with the clusters, not with the services: one `DescribeServices` per 10
//! services, one `DescribeCapacityProviders` for all their providers, one container-instance
//! read, one cluster-wide task read (`ListTasks` without `serviceName` when the cluster has
//! several configured services; `DescribeTasks` only for tasks whose description can still
//! change, see `ecs::TaskCache`) and `GetTaskProtection` for up to 100 tasks per call.
//!
//! Safety is per field and per service, as with one-by-one reads: a failed, throttled or
//! denied call makes its field an error for every service it covered, and a service the
//! answer lists as a failure (or leaves out) is an error for that service only. Turning the
//! results into an `Observation`, logging the failures and the queue reads (SQS has no batched
//! form) are `AwsWorld::observe`'s job; deciding is the core's.

use super::{AwsClients, AwsError, cp, ecs};
use crate::core::config::ServiceConfig;
use crate::core::model::ServiceCounts;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A read's result for one service; the error is shared by every service the call covered.
pub(crate) type Shared<T> = Result<T, Arc<AwsError>>;

/// Every service's ECS reads of one tick (index = service index in the config).
#[derive(Debug)]
pub(crate) struct TickReads {
    pub now_s: f64,
    pub service: Vec<Shared<ServiceCounts>>,
    pub tasks: Vec<Shared<Vec<ecs::EcsTask>>>,
    /// `None` when not read (no worker protection configured, or the tasks are unknown).
    pub protection: Vec<Option<Shared<HashMap<String, bool>>>>,
    /// The service's cluster's ACTIVE instances (all providers); `None` if the read failed.
    pub instances: Vec<Option<Arc<Vec<ecs::EcsInstance>>>>,
    /// `None` when the service has no capacity provider configured.
    pub cp: Vec<Option<Shared<cp::CapacityProviderState>>>,
}

/// Spread one call's outcome over the services it covered: `Ok(per-asked results)` in order,
/// or the call's error shared by all.
fn spread<T>(r: Result<Vec<Result<T, AwsError>>, AwsError>, n: usize) -> Vec<Shared<T>> {
    match r {
        Ok(v) => v.into_iter().map(|x| x.map_err(Arc::new)).collect(),
        Err(e) => {
            let e = Arc::new(e);
            (0..n).map(|_| Err(Arc::clone(&e))).collect()
        }
    }
}

/// Read every service's ECS state for the tick at `now_s`, cluster by cluster.
pub(crate) async fn read_tick(
    c: &AwsClients,
    services: &[ServiceConfig],
    tasks_seen: &mut ecs::TaskCache,
    now_s: f64,
) -> TickReads {
    let n = services.len();
    fn unread<T>() -> Shared<T> {
        Err(Arc::new(AwsError::NotSent {
            api: "ecs",
            message: "not read this tick".into(),
        }))
    }
    let mut out = TickReads {
        now_s,
        service: (0..n).map(|_| unread()).collect(),
        tasks: (0..n).map(|_| unread()).collect(),
        protection: vec![None; n],
        instances: vec![None; n],
        cp: vec![None; n],
    };
    // BTreeMap: clusters are read in a fixed order (deterministic call sequences).
    let mut clusters: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in services.iter().enumerate() {
        clusters.entry(s.cluster.as_str()).or_default().push(i);
    }
    let ep = c.endpoint.as_str();
    for (cluster, idx) in clusters {
        let names: Vec<&str> = idx.iter().map(|&i| services[i].service.as_str()).collect();
        let mut providers: Vec<&str> = idx
            .iter()
            .filter_map(|&i| services[i].capacity_provider.as_deref())
            .collect();
        providers.sort_unstable();
        providers.dedup();
        // The reads are independent: issue them together so a tick costs one round trip.
        let (counts, tasks, instances, cps) = tokio::join!(
            ecs::describe_services(&c.ecs, ep, cluster, &names),
            async {
                // One service: its own listing is no more calls, and it keeps tasks whose
                // `group` an emulator leaves out. Several: one cluster-wide listing.
                if let [one] = names.as_slice() {
                    ecs::service_tasks(&c.ecs, ep, cluster, one, tasks_seen)
                        .await
                        .map(|t| vec![t])
                } else {
                    ecs::cluster_tasks(&c.ecs, ep, cluster, &names, tasks_seen).await
                }
            },
            ecs::container_instances(&c.ecs, ep, cluster),
            async {
                if providers.is_empty() {
                    Ok(Vec::new())
                } else {
                    cp::capacity_providers(&c.ecs, ep, cluster, &providers).await
                }
            },
        );
        for (&i, r) in idx.iter().zip(spread(counts, idx.len())) {
            out.service[i] = r;
        }
        let tasks: Vec<Shared<Vec<ecs::EcsTask>>> = match tasks {
            Ok(v) => v.into_iter().map(Ok).collect(),
            Err(e) => {
                let e = Arc::new(e);
                idx.iter().map(|_| Err(Arc::clone(&e))).collect()
            }
        };
        for (&i, r) in idx.iter().zip(tasks) {
            out.tasks[i] = match &out.service[i] {
                // A service ECS does not know has no tasks a cluster-wide listing could show;
                // its empty list would read as "no tasks", so it stays unknown with the service.
                Err(e) if matches!(**e, AwsError::NotFound { .. }) => Err(Arc::clone(e)),
                _ => r,
            };
        }
        let instances = match instances {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                tracing::warn!(cluster, read = "instances", error = %e,
                    denied = e.is_access_denied(), "read failed; field left unknown");
                None
            }
        };
        for &i in &idx {
            out.instances[i] = instances.clone();
        }
        let cps = spread(cps, providers.len());
        for &i in &idx {
            if let Some(p) = services[i].capacity_provider.as_deref() {
                let k = providers.iter().position(|q| *q == p);
                out.cp[i] = k.and_then(|k| cps.get(k).cloned());
            }
        }
        read_protection(c, cluster, &idx, services, &mut out).await;
    }
    out
}

/// `GetTaskProtection` for the RUNNING tasks of every service of the cluster that asks for it
/// (only RUNNING tasks can hold a job), 100 tasks per call; a failed call fails the read of
/// each service with a task in it.
async fn read_protection(
    c: &AwsClients,
    cluster: &str,
    idx: &[usize],
    services: &[ServiceConfig],
    out: &mut TickReads,
) {
    let mut owned: Vec<(String, usize)> = Vec::new();
    for &i in idx {
        if !services[i].worker_protection {
            continue;
        }
        let Ok(tasks) = &out.tasks[i] else { continue };
        owned.extend(
            tasks
                .iter()
                .filter(|t| t.last_status == "RUNNING")
                .map(|t| (t.arn.clone(), i)),
        );
        out.protection[i] = Some(Ok(HashMap::new()));
    }
    for chunk in owned.chunks(ecs::PROTECTION_BATCH) {
        let arns: Vec<String> = chunk.iter().map(|(a, _)| a.clone()).collect();
        match ecs::task_protection(&c.ecs, &c.endpoint, cluster, &arns).await {
            Ok(map) => {
                for (arn, i) in chunk {
                    if let (Some(Ok(m)), Some(p)) = (&mut out.protection[*i], map.get(arn)) {
                        m.insert(arn.clone(), *p);
                    }
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (_, i) in chunk {
                    out.protection[*i] = Some(Err(Arc::clone(&e)));
                }
            }
        }
    }
}
