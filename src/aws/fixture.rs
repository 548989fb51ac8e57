//! Throwaway resources on a local AWS emulator (moto), for the integration tests and the
//! `preheat footprint` benchmark: queues with messages, a cluster and services.
//!
//! It refuses any endpoint that is not on the loopback interface, so it can never create
//! anything in a real account. It uses fixed dummy credentials, region us-east-1 and no retries
//! (emulator errors should surface at once). It knows nothing about decisions.

use super::{AwsClients, AwsError, classify};
use crate::core::model::ServiceCounts;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ecs::config::Credentials;
use aws_sdk_ecs::types::ContainerDefinition;

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error(
        "{0:?} is not a loopback endpoint; fixtures only talk to a local emulator \
         (write e.g. http://127.0.0.1:5000)"
    )]
    NotLoopback(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// True for `http://127.0.0.1:PORT`, `http://localhost:PORT` and `http://[::1]:PORT`.
pub fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or("");
    let host = rest.split('/').next().unwrap_or("");
    host.starts_with("127.0.0.1:")
        || host == "127.0.0.1"
        || host.starts_with("localhost:")
        || host == "localhost"
        || host.starts_with("[::1]")
}

/// SDK clients bound to a local emulator.
pub struct Emulator {
    pub clients: AwsClients,
}

impl Emulator {
    pub async fn connect(endpoint: &str) -> Result<Self, FixtureError> {
        if !is_loopback(endpoint) {
            return Err(FixtureError::NotLoopback(endpoint.to_string()));
        }
        let cfg = aws_config::defaults(BehaviorVersion::latest())
            .http_client(super::http_client())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "fixture",
            ))
            .retry_config(RetryConfig::disabled())
            .endpoint_url(endpoint)
            .load()
            .await;
        Ok(Emulator {
            clients: AwsClients::new(&cfg),
        })
    }

    fn ep(&self) -> &str {
        &self.clients.endpoint
    }

    /// Create (or reuse) a standard queue; returns its URL.
    pub async fn create_queue(&self, name: &str) -> Result<String, FixtureError> {
        let out = self
            .clients
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| classify("sqs:CreateQueue", self.ep(), e))?;
        Ok(out.queue_url().unwrap_or_default().to_string())
    }

    /// Send `n` messages, each delayed by `delay_s` seconds (0 = visible at once).
    pub async fn send(&self, queue_url: &str, n: u32, delay_s: i32) -> Result<(), FixtureError> {
        for k in 0..n {
            self.clients
                .sqs
                .send_message()
                .queue_url(queue_url)
                .message_body(format!("{{\"job\":{k}}}"))
                .delay_seconds(delay_s)
                .send()
                .await
                .map_err(|e| classify("sqs:SendMessage", self.ep(), e))?;
        }
        Ok(())
    }

    /// Receive up to `n` messages and keep them in flight for `visibility_s`.
    pub async fn receive(
        &self,
        queue_url: &str,
        n: i32,
        visibility_s: i32,
    ) -> Result<usize, FixtureError> {
        let out = self
            .clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(n)
            .visibility_timeout(visibility_s)
            .send()
            .await
            .map_err(|e| classify("sqs:ReceiveMessage", self.ep(), e))?;
        Ok(out.messages().len())
    }

    /// Create the cluster (idempotent), a task definition and a service with `desired` tasks.
    pub async fn create_service(
        &self,
        cluster: &str,
        service: &str,
        desired: i32,
    ) -> Result<(), FixtureError> {
        let ecs = &self.clients.ecs;
        ecs.create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .map_err(|e| classify("ecs:CreateCluster", self.ep(), e))?;
        let container = ContainerDefinition::builder()
            .name("worker")
            .image("public.ecr.aws/docker/library/busybox:latest")
            .memory(128)
            .build();
        let td = ecs
            .register_task_definition()
            .family(format!("{service}-td"))
            .container_definitions(container)
            .send()
            .await
            .map_err(|e| classify("ecs:RegisterTaskDefinition", self.ep(), e))?;
        let td_arn = td
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .unwrap_or_default()
            .to_string();
        ecs.create_service()
            .cluster(cluster)
            .service_name(service)
            .task_definition(td_arn)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| classify("ecs:CreateService", self.ep(), e))?;
        Ok(())
    }

    /// The service's counts as the emulator holds them now.
    pub async fn service_counts(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceCounts, FixtureError> {
        Ok(super::ecs::service_counts(&self.clients.ecs, self.ep(), cluster, service).await?)
    }

    /// Create the writer-lease table as the CloudFormation stack does (key `lease_key`).
    pub async fn create_lease_table(&self, name: &str) -> Result<(), FixtureError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let bad = |e: aws_sdk_dynamodb::error::BuildError| AwsError::BadAnswer {
            api: "dynamodb:CreateTable",
            message: e.to_string(),
        };
        self.clients
            .ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("lease_key")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(bad)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("lease_key")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(bad)?,
            )
            .send()
            .await
            .map_err(|e| classify("dynamodb:CreateTable", self.ep(), e))?;
        Ok(())
    }

    /// Set the service's desired count directly (what another writer would do).
    pub async fn set_desired(
        &self,
        cluster: &str,
        service: &str,
        desired: u32,
    ) -> Result<(), FixtureError> {
        Ok(
            super::ecs::update_desired(&self.clients.ecs, self.ep(), cluster, service, desired)
                .await?,
        )
    }

    /// Register an Application Auto Scaling target on the service (a second owner).
    pub async fn register_scalable_target(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<(), FixtureError> {
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
        self.clients
            .aas
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(super::aas::resource_id(cluster, service))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(0)
            .max_capacity(4)
            .send()
            .await
            .map_err(|e| {
                classify(
                    "application-autoscaling:RegisterScalableTarget",
                    self.ep(),
                    e,
                )
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_pass() {
        assert!(is_loopback("http://127.0.0.1:5000"));
        assert!(is_loopback("http://localhost:5000/"));
        assert!(is_loopback("http://[::1]:5000"));
        assert!(!is_loopback("https://ecs.us-east-1.amazonaws.com"));
        assert!(!is_loopback("http://127.0.0.1.example.com:5000"));
    }
}
