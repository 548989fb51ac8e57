//! ECS reads and writes for one service: counts, tasks, container instances, the capacity
//! provider's `scaleInAfter`, task protection, and the two writes (`UpdateService`,
//! `UpdateCapacityProvider`).
//!
//! Each function is one thin wrapper (at most two calls: list then describe, or read then
//! write) that converts SDK shapes into small plain structs with units in their names. Paging
//! is deliberately cut at one page (100 items): a tick must cost a fixed number of calls, and a
//! GPU service with more than 100 tasks is beyond what preheat is built for. Deciding what the
//! numbers mean is the core's job; rate-limiting capacity-provider writes is `AwsWorld`'s.

use super::{AwsError, classify};
use crate::core::model::ServiceCounts;
use aws_sdk_ecs::types::{
    ContainerInstanceStatus, InfrastructureOptimization, InstanceLaunchTemplate,
    InstanceLaunchTemplateUpdate, ManagedInstancesProvider,
    UpdateManagedInstancesProviderConfiguration,
};
use std::collections::HashMap;

/// One page: DescribeTasks and DescribeContainerInstances take at most 100 ARNs.
const PAGE: i32 = 100;

const CLUSTER_FIX: &str = "check services[].cluster (and the region)";

fn missing_cluster(e: AwsError, cluster: &str) -> AwsError {
    e.not_found_if(&["ClusterNotFound"], "ECS cluster", cluster, CLUSTER_FIX)
}

/// `DescribeServices` counts. A missing or deleted service is `NotFound`.
pub async fn service_counts(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: &str,
) -> Result<ServiceCounts, AwsError> {
    const API: &str = "ecs:DescribeServices";
    let out = client
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| missing_cluster(classify(API, endpoint, e), cluster))?;
    let not_found = |message: String| AwsError::NotFound {
        api: API,
        what: "ECS service",
        name: format!("{cluster}/{service}"),
        message,
        fix: "check services[].service and services[].cluster",
    };
    // ECS reports a missing service as a failure entry, not as an error.
    if let Some(f) = out.failures().first() {
        return Err(not_found(format!(
            "{} {}",
            f.reason().unwrap_or("failure"),
            f.detail().unwrap_or("")
        )));
    }
    let Some(s) = out.services().first() else {
        return Err(not_found("no service in the answer".into()));
    };
    if s.status() == Some("INACTIVE") {
        return Err(not_found("the service is INACTIVE (deleted)".into()));
    }
    let count = |v: i32| u32::try_from(v).unwrap_or(0);
    Ok(ServiceCounts {
        desired: count(s.desired_count()),
        running: count(s.running_count()),
        pending: count(s.pending_count()),
    })
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

/// `ListTasks` + `DescribeTasks` of the service (first page only).
pub async fn service_tasks(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    service: &str,
) -> Result<Vec<EcsTask>, AwsError> {
    let list = client
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .max_results(PAGE)
        .send()
        .await
        .map_err(|e| missing_cluster(classify("ecs:ListTasks", endpoint, e), cluster))?;
    let arns = list.task_arns();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let out = client
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| missing_cluster(classify("ecs:DescribeTasks", endpoint, e), cluster))?;
    // Keep only this service's tasks: the `group` is "service:NAME" (and some emulators ignore
    // the serviceName filter of ListTasks).
    let group = format!("service:{service}");
    Ok(out
        .tasks()
        .iter()
        .filter(|t| t.group().is_none_or(|g| g == group))
        .filter_map(|t| {
            Some(EcsTask {
                arn: t.task_arn()?.to_string(),
                last_status: t.last_status().unwrap_or("").to_string(),
                created_at_s: t.created_at().map(|d| d.as_secs_f64()),
                started_at_s: t.started_at().map(|d| d.as_secs_f64()),
                container_instance_arn: t.container_instance_arn().map(str::to_string),
            })
        })
        .collect())
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

/// `ListContainerInstances` (ACTIVE) + `DescribeContainerInstances` (first page only).
pub async fn container_instances(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
) -> Result<Vec<EcsInstance>, AwsError> {
    let list = client
        .list_container_instances()
        .cluster(cluster)
        .status(ContainerInstanceStatus::Active)
        .max_results(PAGE)
        .send()
        .await
        .map_err(|e| {
            missing_cluster(classify("ecs:ListContainerInstances", endpoint, e), cluster)
        })?;
    let arns = list.container_instance_arns();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let out = client
        .describe_container_instances()
        .cluster(cluster)
        .set_container_instances(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| {
            missing_cluster(
                classify("ecs:DescribeContainerInstances", endpoint, e),
                cluster,
            )
        })?;
    Ok(out
        .container_instances()
        .iter()
        .filter_map(|i| {
            Some(EcsInstance {
                arn: i.container_instance_arn()?.to_string(),
                capacity_provider: i.capacity_provider_name().map(str::to_string),
                registered_at_s: i.registered_at().map(|d| d.as_secs_f64()),
                running_tasks: i.running_tasks_count(),
                pending_tasks: i.pending_tasks_count(),
            })
        })
        .collect())
}

/// `GetTaskProtection` for up to 10 tasks: ARN → protection enabled (the worker holds a job).
pub async fn task_protection(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    task_arns: &[String],
) -> Result<HashMap<String, bool>, AwsError> {
    let out = client
        .get_task_protection()
        .cluster(cluster)
        .set_tasks(Some(task_arns.to_vec()))
        .send()
        .await
        .map_err(|e| classify("ecs:GetTaskProtection", endpoint, e))?;
    Ok(out
        .protected_tasks()
        .iter()
        .filter_map(|p| Some((p.task_arn()?.to_string(), p.protection_enabled())))
        .collect())
}

/// What preheat reads from an MI capacity provider.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityProviderState {
    /// `infrastructureOptimization.scaleInAfter` in seconds; `None` = unset (ECS default).
    pub scale_in_after_s: Option<i32>,
    /// The whole MI configuration, to resend on update.
    pub managed_instances: Option<ManagedInstancesProvider>,
}

/// `DescribeCapacityProviders` for one (cluster-scoped) MI capacity provider.
pub async fn capacity_provider(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    name: &str,
) -> Result<CapacityProviderState, AwsError> {
    const API: &str = "ecs:DescribeCapacityProviders";
    let out = client
        .describe_capacity_providers()
        .cluster(cluster)
        .capacity_providers(name)
        .send()
        .await
        .map_err(|e| missing_cluster(classify(API, endpoint, e), cluster))?;
    let not_found = |message: String| AwsError::NotFound {
        api: API,
        what: "ECS capacity provider",
        name: format!("{cluster}/{name}"),
        message,
        fix: "check services[].capacity_provider, or drop the key to leave scaleInAfter alone",
    };
    if let Some(f) = out.failures().first() {
        return Err(not_found(f.reason().unwrap_or("failure").to_string()));
    }
    let Some(cp) = out.capacity_providers().first() else {
        return Err(not_found("no capacity provider in the answer".into()));
    };
    let mi = cp.managed_instances_provider().cloned();
    Ok(CapacityProviderState {
        scale_in_after_s: mi
            .as_ref()
            .and_then(|m| m.infrastructure_optimization())
            .and_then(|o| o.scale_in_after()),
        managed_instances: mi,
    })
}

/// The update shape of a launch template: every field the update API accepts, copied from what
/// was read. Create-only fields (capacity option type, FIPS) cannot be sent and are left out.
fn launch_template_update(t: &InstanceLaunchTemplate) -> InstanceLaunchTemplateUpdate {
    InstanceLaunchTemplateUpdate::builder()
        .ec2_instance_profile_arn(t.ec2_instance_profile_arn())
        .set_network_configuration(t.network_configuration().cloned())
        .set_storage_configuration(t.storage_configuration().cloned())
        .set_instance_metadata_tags_propagation(t.instance_metadata_tags_propagation())
        .set_local_storage_configuration(t.local_storage_configuration().cloned())
        .set_monitoring(t.monitoring().cloned())
        .set_instance_requirements(t.instance_requirements().cloned())
        .set_capacity_reservations(t.capacity_reservations().cloned())
        .build()
}

/// Read-modify-write of `infrastructureOptimization.scaleInAfter`. An MI update must resend
/// the infrastructure role and the whole launch template, so this reads the provider first and
/// sends back everything it read with only `scaleInAfter` changed (2 calls).
pub async fn update_scale_in_after(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    name: &str,
    seconds: i32,
) -> Result<(), AwsError> {
    const API: &str = "ecs:UpdateCapacityProvider";
    let state = capacity_provider(client, endpoint, cluster, name).await?;
    let bad = |message: &str| AwsError::BadAnswer {
        api: "ecs:DescribeCapacityProviders",
        message: format!("{cluster}/{name}: {message}; is it a Managed Instances provider?"),
    };
    let mi = state
        .managed_instances
        .ok_or_else(|| bad("no managedInstancesProvider"))?;
    let role = mi
        .infrastructure_role_arn()
        .ok_or_else(|| bad("no infrastructureRoleArn"))?;
    let template = mi
        .instance_launch_template()
        .ok_or_else(|| bad("no instanceLaunchTemplate"))?;
    let update = UpdateManagedInstancesProviderConfiguration::builder()
        .infrastructure_role_arn(role)
        .instance_launch_template(launch_template_update(template))
        .set_propagate_tags(mi.propagate_tags().cloned())
        .set_auto_repair_configuration(mi.auto_repair_configuration().cloned())
        .infrastructure_optimization(
            InfrastructureOptimization::builder()
                .scale_in_after(seconds)
                .build(),
        )
        .build()
        .map_err(|e| AwsError::BadAnswer {
            api: API,
            message: format!("cannot build the update: {e}"),
        })?;
    client
        .update_capacity_provider()
        .cluster(cluster)
        .name(name)
        .managed_instances_provider(update)
        .send()
        .await
        .map_err(|e| missing_cluster(classify(API, endpoint, e), cluster))?;
    Ok(())
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
    client
        .update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(desired)
        .send()
        .await
        .map_err(|e| {
            missing_cluster(classify(API, endpoint, e), cluster).not_found_if(
                &["ServiceNotFound", "ServiceNotActive"],
                "ECS service",
                &format!("{cluster}/{service}"),
                "check services[].service",
            )
        })?;
    Ok(())
}
