//! The ECS Managed Instances capacity provider: read its `scaleInAfter`, `updateStatus` and
//! whole configuration, and write `scaleInAfter` back by read-modify-write.
//!
//! An MI update must resend the infrastructure role and the whole launch template, so a write
//! is only as safe as the read behind it. This file refuses to write while the provider is
//! being changed by someone else (`updateStatus` not `*_COMPLETE`), and when the provider
//! carries fields the compiled SDK does not model (it drops them on parsing, so resending what
//! it parsed would delete them); it names those fields. Rate-limiting the writes is
//! `AwsWorld`'s job, deciding the value the core's.

use super::ecs::missing_cluster;
use super::{AwsError, call};
use aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::error::BoxError;
use aws_sdk_ecs::types::{
    InfrastructureOptimization, InstanceLaunchTemplate, InstanceLaunchTemplateUpdate,
    ManagedInstancesProvider, UpdateManagedInstancesProviderConfiguration,
};
use std::sync::{Arc, Mutex};

/// What the observation carries for `scaleInAfter: null` (the ECS default, whose value is
/// unpublished): a number no wanted value equals, so the core sees "not what I want" and
/// writes, instead of "unknown" and never tuning it.
pub const SCALE_IN_AFTER_UNSET_S: i32 = i32::MIN;

/// The JSON members of `managedInstancesProvider` this build's SDK models (and resends).
const MODELED_PROVIDER: &[&str] = &[
    "infrastructureRoleArn",
    "instanceLaunchTemplate",
    "propagateTags",
    "infrastructureOptimization",
    "autoRepairConfiguration",
];

/// The JSON members of `instanceLaunchTemplate` this build's SDK models.
const MODELED_TEMPLATE: &[&str] = &[
    "ec2InstanceProfileArn",
    "networkConfiguration",
    "storageConfiguration",
    "localStorageConfiguration",
    "monitoring",
    "capacityOptionType",
    "instanceMetadataTagsPropagation",
    "instanceRequirements",
    "fipsEnabled",
    "capacityReservations",
];

const MODELED_OPTIMIZATION: &[&str] = &["scaleInAfter"];

/// What preheat reads from an MI capacity provider.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityProviderState {
    /// `infrastructureOptimization.scaleInAfter` in seconds; `None` = null (the ECS default).
    pub scale_in_after_s: Option<i32>,
    /// `updateStatus` as ECS spells it (`UPDATE_COMPLETE`, `UPDATE_IN_PROGRESS`, ...), if any.
    pub update_status: Option<String>,
    /// The whole MI configuration, to resend on update.
    pub managed_instances: Option<ManagedInstancesProvider>,
    /// Members of the answer the SDK does not model (dotted paths), which a resend would drop.
    pub unmodeled: Vec<String>,
}

impl CapacityProviderState {
    /// The value for `Observation::scale_in_after_s`.
    pub fn observed_scale_in_after_s(&self) -> i32 {
        self.scale_in_after_s.unwrap_or(SCALE_IN_AFTER_UNSET_S)
    }
}

/// Keeps the raw body of the answer, to compare with what the SDK parsed.
#[derive(Debug, Clone, Default)]
struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "preheat-raw-body"
    }
    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Non-streaming answers are in memory once deserialized.
        if let Some(b) = ctx.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(b.to_vec());
        }
        Ok(())
    }
}

/// Dotted paths of the members of the first provider's MI configuration that the SDK does not
/// model (two levels deep, plus `infrastructureOptimization`).
pub fn unmodeled_fields(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    v.pointer("/capacityProviders/0")
        .map(unmodeled_in)
        .unwrap_or_default()
}

/// `unmodeled_fields` for the provider named `name` of an answer already parsed (a batched
/// answer holds several; parsing it once per provider made a tick's CPU grow with the square of
/// the providers, issue #11).
fn unmodeled_fields_of(answer: &serde_json::Value, name: &str) -> Vec<String> {
    answer
        .get("capacityProviders")
        .and_then(|a| a.as_array())
        .and_then(|a| {
            a.iter()
                .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name))
        })
        .map(unmodeled_in)
        .unwrap_or_default()
}

/// The unmodeled members of one provider object of the answer.
fn unmodeled_in(provider: &serde_json::Value) -> Vec<String> {
    let Some(mi) = provider
        .get("managedInstancesProvider")
        .and_then(|m| m.as_object())
    else {
        return Vec::new();
    };
    let extra = |obj: Option<&serde_json::Value>, known: &[&str], prefix: &str| -> Vec<String> {
        obj.and_then(|o| o.as_object())
            .map(|o| {
                o.keys()
                    .filter(|k| !known.contains(&k.as_str()))
                    .map(|k| format!("{prefix}{k}"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let p = "managedInstancesProvider.";
    let mut out: Vec<String> = mi
        .keys()
        .filter(|k| !MODELED_PROVIDER.contains(&k.as_str()))
        .map(|k| format!("{p}{k}"))
        .collect();
    out.extend(extra(
        mi.get("instanceLaunchTemplate"),
        MODELED_TEMPLATE,
        &format!("{p}instanceLaunchTemplate."),
    ));
    out.extend(extra(
        mi.get("infrastructureOptimization"),
        MODELED_OPTIMIZATION,
        &format!("{p}infrastructureOptimization."),
    ));
    out
}

/// Most capacity providers one `DescribeCapacityProviders` call is sent (ECS describes up to
/// 100 per call).
pub const PROVIDERS_PER_CALL: usize = 100;

/// `DescribeCapacityProviders` for one (cluster-scoped) MI capacity provider.
pub async fn capacity_provider(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    name: &str,
) -> Result<CapacityProviderState, AwsError> {
    capacity_providers(client, endpoint, cluster, &[name])
        .await?
        .pop()
        .unwrap_or_else(|| Err(provider_not_found(cluster, name, "no answer".into())))
}

fn provider_not_found(cluster: &str, name: &str, message: String) -> AwsError {
    AwsError::NotFound {
        api: "ecs:DescribeCapacityProviders",
        what: "ECS capacity provider",
        name: format!("{cluster}/{name}"),
        message,
        fix: "check services[].capacity_provider, or drop the key to leave scaleInAfter alone",
    }
}

/// `DescribeCapacityProviders` for several MI capacity providers of one cluster in one call
/// (per `PROVIDERS_PER_CALL`). The outer error is a failed call (every provider it covered is
/// unknown); inside, one result per asked name in the order asked, `NotFound` for a name the
/// answer lists as a failure or leaves out.
pub async fn capacity_providers(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    names: &[&str],
) -> Result<Vec<Result<CapacityProviderState, AwsError>>, AwsError> {
    const API: &str = "ecs:DescribeCapacityProviders";
    let mut results = Vec::with_capacity(names.len());
    for batch in names.chunks(PROVIDERS_PER_CALL) {
        let raw = RawBody::default();
        let req = client
            .describe_capacity_providers()
            .cluster(cluster)
            .set_capacity_providers(Some(batch.iter().map(|n| n.to_string()).collect()))
            .customize()
            .interceptor(raw.clone());
        let out = call(API, endpoint, req.send())
            .await
            .map_err(|e| missing_cluster(e, cluster))?;
        // Parsed once for the whole batch; an unreadable body finds nothing unmodeled, as the
        // SDK's own parse of it succeeded.
        let answer = raw
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        for &name in batch {
            let short = super::ecs::short_name(name);
            if let Some(f) = out.failures().iter().find(|f| {
                f.arn()
                    .is_some_and(|a| a == name || super::ecs::short_name(a) == short)
            }) {
                results.push(Err(provider_not_found(
                    cluster,
                    name,
                    f.reason().unwrap_or("failure").to_string(),
                )));
                continue;
            }
            let Some(cp) = out
                .capacity_providers()
                .iter()
                .find(|p| p.name() == Some(short) || p.capacity_provider_arn() == Some(name))
            else {
                results.push(Err(provider_not_found(
                    cluster,
                    name,
                    "no capacity provider in the answer".into(),
                )));
                continue;
            };
            let mi = cp.managed_instances_provider().cloned();
            let unmodeled = answer
                .as_ref()
                .map(|a| unmodeled_fields_of(a, cp.name().unwrap_or(short)))
                .unwrap_or_default();
            results.push(Ok(CapacityProviderState {
                scale_in_after_s: mi
                    .as_ref()
                    .and_then(|m| m.infrastructure_optimization())
                    .and_then(|o| o.scale_in_after()),
                update_status: cp.update_status().map(|s| s.as_str().to_string()),
                managed_instances: mi,
                unmodeled,
            }));
        }
    }
    Ok(results)
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

/// Why a read-modify-write may not go ahead, or `None` when it may.
pub fn refuse_write(state: &CapacityProviderState) -> Option<String> {
    if let Some(s) = &state.update_status
        && !s.ends_with("_COMPLETE")
    {
        return Some(format!(
            "updateStatus is {s}: another change (CloudFormation, the console) is in progress \
             or failed; preheat writes only when it is *_COMPLETE and will try again later"
        ));
    }
    if !state.unmodeled.is_empty() {
        return Some(format!(
            "the provider carries fields this build's AWS SDK does not model ({}); resending \
             the configuration would drop them, so preheat leaves scaleInAfter alone. Upgrade \
             preheat, or drop services[].capacity_provider",
            state.unmodeled.join(", ")
        ));
    }
    None
}

/// Read-modify-write of `infrastructureOptimization.scaleInAfter`. An MI update must resend
/// the infrastructure role and the whole launch template, so this reads the provider first and
/// sends back everything it read with only `scaleInAfter` changed (2 calls), unless
/// `refuse_write` says no.
pub async fn update_scale_in_after(
    client: &aws_sdk_ecs::Client,
    endpoint: &str,
    cluster: &str,
    name: &str,
    seconds: i32,
) -> Result<(), AwsError> {
    const API: &str = "ecs:UpdateCapacityProvider";
    let state = capacity_provider(client, endpoint, cluster, name).await?;
    if let Some(why) = refuse_write(&state) {
        return Err(AwsError::NotSent {
            api: API,
            message: format!("{cluster}/{name}: {why}"),
        });
    }
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
    let req = client
        .update_capacity_provider()
        .cluster(cluster)
        .name(name)
        .managed_instances_provider(update);
    call(API, endpoint, req.send())
        .await
        .map_err(|e| missing_cluster(e, cluster))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Option<&str>, unmodeled: &[&str]) -> CapacityProviderState {
        CapacityProviderState {
            scale_in_after_s: None,
            update_status: status.map(str::to_string),
            managed_instances: None,
            unmodeled: unmodeled.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn writes_only_when_complete_and_fully_modeled() {
        assert_eq!(refuse_write(&state(None, &[])), None);
        assert_eq!(refuse_write(&state(Some("UPDATE_COMPLETE"), &[])), None);
        assert_eq!(refuse_write(&state(Some("CREATE_COMPLETE"), &[])), None);
        for s in ["UPDATE_IN_PROGRESS", "UPDATE_FAILED", "CREATE_IN_PROGRESS"] {
            let why = refuse_write(&state(Some(s), &[])).expect(s);
            assert!(why.contains(s), "{why}");
        }
        let why = refuse_write(&state(
            Some("UPDATE_COMPLETE"),
            &["managedInstancesProvider.newThing"],
        ))
        .unwrap();
        assert!(why.contains("managedInstancesProvider.newThing"), "{why}");
    }

    #[test]
    fn finds_members_the_sdk_does_not_model() {
        let body = br#"{"capacityProviders":[{"name":"gpu","managedInstancesProvider":{
            "infrastructureRoleArn":"arn:r","propagateTags":"NONE","drainPolicy":{"x":1},
            "instanceLaunchTemplate":{"ec2InstanceProfileArn":"arn:p","gpuSharing":true},
            "infrastructureOptimization":{"scaleInAfter":null,"headroom":2}}}]}"#;
        assert_eq!(
            unmodeled_fields(body),
            [
                "managedInstancesProvider.drainPolicy",
                "managedInstancesProvider.instanceLaunchTemplate.gpuSharing",
                "managedInstancesProvider.infrastructureOptimization.headroom"
            ]
        );
        assert!(unmodeled_fields(b"not json").is_empty());
    }

    /// A batched answer (one call for every provider of a cluster, parsed once) gives each
    /// provider its own unmodeled members, not its neighbour's.
    #[test]
    fn a_batched_answer_gives_each_provider_its_own_unmodeled_members() {
        let body = br#"{"capacityProviders":[
            {"name":"a","managedInstancesProvider":{"infrastructureRoleArn":"arn:r","drainPolicy":1}},
            {"name":"b","managedInstancesProvider":{"infrastructureRoleArn":"arn:r",
                "instanceLaunchTemplate":{"gpuSharing":true}}},
            {"name":"c","managedInstancesProvider":{"infrastructureRoleArn":"arn:r"}}]}"#;
        let answer: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            unmodeled_fields_of(&answer, "a"),
            ["managedInstancesProvider.drainPolicy"]
        );
        assert_eq!(
            unmodeled_fields_of(&answer, "b"),
            ["managedInstancesProvider.instanceLaunchTemplate.gpuSharing"]
        );
        assert!(unmodeled_fields_of(&answer, "c").is_empty());
        assert!(unmodeled_fields_of(&answer, "missing").is_empty());
    }

    /// Regression (issue #10): `scaleInAfter: null` read as unknown, so the core never tuned
    /// it. Now it reads as a value no wanted one equals, and the core writes.
    #[test]
    fn null_scale_in_after_gets_tuned() {
        use crate::core::config::{Config, DEFAULT_CONFIG_YAML};
        use crate::core::decide::{CoreState, decide};
        use crate::core::model::{Action, Observation, QueueDepth, ServiceCounts};
        let s = state(Some("UPDATE_COMPLETE"), &[]);
        let c = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap().services[0].clone();
        let obs = Observation {
            queue: Some(QueueDepth::default()),
            service: Some(ServiceCounts::default()),
            tasks: Some(Vec::new()),
            scale_in_after_s: Some(s.observed_scale_in_after_s()),
            ..Observation::default()
        };
        let d = decide(&c, 15.0, &mut CoreState::new(&c), &obs, 0.0);
        assert!(
            d.actions
                .iter()
                .any(|a| matches!(a, Action::SetScaleInAfter { .. })),
            "{d:?}"
        );
    }
}
