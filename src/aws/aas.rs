//! The second-owner check: does Application Auto Scaling also own this service's desired count?
//!
//! One `DescribeScalableTargets` call per service at start-up. If a scalable target exists, its
//! policies and preheat would overwrite each other's `desiredCount`; the caller (`preheat run`)
//! decides whether to refuse, warn or go on (`--share-with-aas`). Nothing here writes.

use super::{AwsError, classify};
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
    let out = client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| classify(API, endpoint, e))?;
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
