//! The second-owner check: does Application Auto Scaling also own this service's desired count?
//!
//! One `DescribeScalableTargets` call per service at start-up, and again every ten minutes
//! while running (a stack update can add a target later). If a scalable target exists, its
//! policies and preheat would overwrite each other's `desiredCount`; the caller (`preheat run`)
//! decides whether to refuse, warn or go on (`--share-with-aas`); the later checks log and set
//! `preheat_second_owner`. Nothing here writes.

use super::{AwsClients, AwsError, call};
use crate::core::config::ServiceConfig;
use crate::telemetry::SharedMetrics;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

const API: &str = "application-autoscaling:DescribeScalableTargets";

/// A scalable target registered on the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalableTarget {
    pub resource_id: String,
    pub min_capacity: i32,
    pub max_capacity: i32,
    /// True when dynamic scaling in and out are both suspended (then it will not fight).
    pub suspended: bool,
}

/// `service/CLUSTER/SERVICE`, the resource id Application Auto Scaling uses for ECS services.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

/// The scalable target on `ecs:service:DesiredCount` of the service, if any.
pub async fn scalable_target(
    client: &aws_sdk_applicationautoscaling::Client,
    endpoint: &str,
    cluster: &str,
    service: &str,
) -> Result<Option<ScalableTarget>, AwsError> {
    let id = resource_id(cluster, service);
    let req = client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount);
    let out = call(API, endpoint, req.send()).await?;
    Ok(out.scalable_targets().first().map(|t| {
        let suspended = t.suspended_state().is_some_and(|s| {
            s.dynamic_scaling_in_suspended() == Some(true)
                && s.dynamic_scaling_out_suspended() == Some(true)
        });
        ScalableTarget {
            resource_id: t.resource_id().to_string(),
            min_capacity: t.min_capacity(),
            max_capacity: t.max_capacity(),
            suspended,
        }
    }))
}

/// How often the running controller looks for a second owner again.
pub const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Look for a scalable target on every service every `every`, forever: log an error and set
/// `preheat_second_owner` when one appears (it did not exist, or was allowed, at start-up).
pub async fn watch_owners(
    clients: AwsClients,
    services: Vec<ServiceConfig>,
    metrics: SharedMetrics,
    every: std::time::Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        for (i, s) in services.iter().enumerate() {
            let found = match scalable_target(
                &clients.aas,
                &clients.endpoint,
                &s.cluster,
                &s.service,
            )
            .await
            {
                Ok(t) => t.filter(|t| !t.suspended),
                Err(e) => {
                    tracing::warn!(service = %s.name, error = %e, "second-owner check failed");
                    continue;
                }
            };
            if let Some(t) = &found {
                tracing::error!(
                    service = %s.name,
                    target = %t.resource_id,
                    "Application Auto Scaling now also owns desiredCount: its policies and \
                     preheat overwrite each other; deregister the target or stop preheat"
                );
            }
            let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(g) = m.services.get_mut(i) {
                g.second_owner = Some(found.is_some());
            }
        }
    }
}
