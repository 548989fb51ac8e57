//! One writer per service: a lease in DynamoDB, taken and renewed by conditional writes.
//!
//! Each service has one item, keyed `CLUSTER/SERVICE`, holding the holder's id and the lease's
//! expiry (Unix milliseconds). A controller takes the lease when the item is missing, expired
//! or already its own, and renews it every third of its duration (the heartbeat); only the
//! holder writes the service (`Leased`), the others observe and decide, so they are warm when
//! they take over. A holder that dies stops renewing and the lease expires; one that stops
//! cleanly deletes its item so the next one takes over at once. Leases are per service, so
//! several controllers can split many services between them.
//!
//! Expiry compares the writers' own clocks: they must agree to well within a lease (NTP-synced
//! hosts and Fargate do). This file holds no policy: the loop and the core do not know leases
//! exist, and `Leased` drops a non-holder's writes the way `DryRun` drops all of them.

use super::{AwsError, classify, stats};
use crate::core::model::Action;
use crate::telemetry::SharedMetrics;
use crate::world::{ApplyError, World};
use aws_sdk_dynamodb::types::AttributeValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Who holds the lease of one service now, as far as this process knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStatus {
    /// This process, until the given Unix milliseconds.
    Mine { until_ms: u64 },
    /// Someone else (their id, until their expiry), or an unreadable item.
    Theirs { holder: String, until_ms: u64 },
}

/// One service's lease.
#[derive(Debug, Clone)]
pub struct Lease {
    client: aws_sdk_dynamodb::Client,
    endpoint: String,
    table: String,
    /// `CLUSTER/SERVICE`.
    pub key: String,
    holder: String,
    duration_ms: u64,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An id for this process: host, pid and start time (two processes on one host differ).
pub fn holder_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "preheat".to_string());
    format!("{host}/{}/{}", std::process::id(), unix_ms())
}

impl Lease {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        endpoint: &str,
        table: &str,
        cluster: &str,
        service: &str,
        holder: &str,
        duration_s: f64,
    ) -> Self {
        Lease {
            client,
            endpoint: endpoint.to_string(),
            table: table.to_string(),
            key: format!("{cluster}/{service}"),
            holder: holder.to_string(),
            duration_ms: (duration_s * 1000.0) as u64,
        }
    }

    fn missing_table(&self, e: AwsError) -> AwsError {
        e.not_found_if(
            &["ResourceNotFound"],
            "DynamoDB table",
            &self.table,
            "check aws.lease_table (the stack creates it), or drop the key to run without a lease",
        )
    }

    /// Take or renew the lease (one conditional PutItem): succeeds when the item is missing,
    /// expired or ours. A lost condition is `Theirs` (read back with one GetItem).
    pub async fn acquire(&self) -> Result<LeaseStatus, AwsError> {
        const API: &str = "dynamodb:PutItem";
        let now = unix_ms();
        let until_ms = now + self.duration_ms;
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("lease_key", AttributeValue::S(self.key.clone()))
            .item("holder", AttributeValue::S(self.holder.clone()))
            .item("expires_at_ms", AttributeValue::N(until_ms.to_string()))
            .condition_expression(
                "attribute_not_exists(lease_key) OR holder = :me OR expires_at_ms < :now",
            )
            .expression_attribute_values(":me", AttributeValue::S(self.holder.clone()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match r {
            Ok(_) => {
                stats::record(API, stats::Outcome::Ok);
                Ok(LeaseStatus::Mine { until_ms })
            }
            Err(e) => {
                let e = classify(API, &self.endpoint, e);
                if e.to_string().contains("ConditionalCheckFailed") {
                    // Someone else holds it: an answer, not a failure.
                    stats::record(API, stats::Outcome::Ok);
                    return self.read().await;
                }
                stats::record(
                    API,
                    if e.is_access_denied() {
                        stats::Outcome::Denied
                    } else if e.is_transient() {
                        stats::Outcome::Throttled
                    } else {
                        stats::Outcome::Failed
                    },
                );
                Err(self.missing_table(e))
            }
        }
    }

    /// Who holds the lease (one consistent GetItem).
    async fn read(&self) -> Result<LeaseStatus, AwsError> {
        let req = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("lease_key", AttributeValue::S(self.key.clone()))
            .consistent_read(true);
        let out = super::call("dynamodb:GetItem", &self.endpoint, req.send())
            .await
            .map_err(|e| self.missing_table(e))?;
        let item = out.item();
        let holder = item
            .and_then(|i| i.get("holder"))
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_else(|| "?".to_string());
        let until_ms = item
            .and_then(|i| i.get("expires_at_ms"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok(LeaseStatus::Theirs { holder, until_ms })
    }

    /// Give the lease up (a DeleteItem that only deletes our own item).
    pub async fn release(&self) -> Result<(), AwsError> {
        let req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("lease_key", AttributeValue::S(self.key.clone()))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.holder.clone()));
        match super::call("dynamodb:DeleteItem", &self.endpoint, req.send()).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("ConditionalCheckFailed") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Until when (Unix ms) this process holds each service's lease; 0 = not held. Shared by the
/// heartbeat task (writer) and `Leased` (reader).
#[derive(Debug, Clone)]
pub struct LeaseState {
    until_ms: Arc<Vec<AtomicU64>>,
    /// Stop writing this long before the lease ends: a write must land while we hold it.
    margin_ms: u64,
}

impl LeaseState {
    pub fn new(services: usize, duration_s: f64) -> Self {
        LeaseState {
            until_ms: Arc::new((0..services).map(|_| AtomicU64::new(0)).collect()),
            margin_ms: (duration_s * 1000.0 / 4.0) as u64,
        }
    }

    pub fn set(&self, i: usize, until_ms: u64) {
        self.until_ms[i].store(until_ms, Ordering::SeqCst);
    }

    /// True when this process holds service `i`'s lease with time to spare at `now_ms`.
    pub fn holds_at(&self, i: usize, now_ms: u64) -> bool {
        self.until_ms[i].load(Ordering::SeqCst) > now_ms + self.margin_ms
    }

    pub fn holds(&self, i: usize) -> bool {
        self.holds_at(i, unix_ms())
    }
}

/// Apply one acquire/renew answer to the shared state, the metrics and the log (only changes
/// are logged).
fn note(
    state: &LeaseState,
    metrics: &SharedMetrics,
    i: usize,
    lease: &Lease,
    r: &Result<LeaseStatus, AwsError>,
) {
    let was = state.holds(i);
    match r {
        Ok(LeaseStatus::Mine { until_ms }) => {
            state.set(i, *until_ms);
            if !was {
                tracing::info!(lease = %lease.key, holder = %lease.holder, "lease acquired: this controller writes the service");
            }
        }
        Ok(LeaseStatus::Theirs { holder, until_ms }) => {
            state.set(i, 0);
            if was {
                tracing::warn!(lease = %lease.key, holder = %holder, until_ms = *until_ms, "lease lost: another controller writes the service now");
            } else {
                tracing::debug!(lease = %lease.key, holder = %holder, "standby: the lease is held elsewhere");
            }
        }
        Err(e) => {
            // Keep what we had: it runs out by itself, and `holds` stops writes before then.
            tracing::warn!(lease = %lease.key, error = %e, "lease heartbeat failed");
        }
    }
    let held = state.holds(i);
    let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(g) = m.services.get_mut(i) {
        g.lease_held = Some(held);
    }
}

/// Take each lease once, now (before the first tick). Returns the first hard error (a missing
/// table, a denied call), which should stop the start-up.
pub async fn acquire_all(
    leases: &[Lease],
    state: &LeaseState,
    metrics: &SharedMetrics,
) -> Result<(), AwsError> {
    for (i, l) in leases.iter().enumerate() {
        let r = l.acquire().await;
        if let Err(e) = &r
            && !e.is_transient()
        {
            return Err(r.unwrap_err());
        }
        if let Ok(LeaseStatus::Theirs { holder, until_ms }) = &r {
            tracing::info!(lease = %l.key, holder = %holder, until_ms = *until_ms,
                "standby: another controller holds the lease; this one observes and decides \
                 but does not write until it takes the lease over");
        }
        note(state, metrics, i, l, &r);
    }
    Ok(())
}

/// The heartbeat: renew (or try to take) every lease each third of its duration until `stop`,
/// then release the ones held so a successor takes over at once.
pub async fn keep_leases(
    leases: Vec<Lease>,
    state: LeaseState,
    metrics: SharedMetrics,
    stop: impl std::future::Future<Output = ()>,
) {
    let every = Duration::from_millis(leases.first().map_or(10_000, |l| l.duration_ms / 3));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(every) => {}
        }
        for (i, l) in leases.iter().enumerate() {
            let r = l.acquire().await;
            note(&state, &metrics, i, l, &r);
        }
    }
    release_all(&leases, &state).await;
}

/// Release every lease this process holds.
pub async fn release_all(leases: &[Lease], state: &LeaseState) {
    for (i, l) in leases.iter().enumerate() {
        if state.holds_at(i, 0) {
            state.set(i, 0);
            match l.release().await {
                Ok(()) => tracing::info!(lease = %l.key, "lease released"),
                Err(e) => {
                    tracing::warn!(lease = %l.key, error = %e, "lease release failed; it expires by itself")
                }
            }
        }
    }
}

/// A world whose writes go through only for services whose lease this process holds; the
/// others observe and decide as usual and log what they leave to the holder.
pub struct Leased<W> {
    inner: W,
    state: LeaseState,
    names: Vec<String>,
}

impl<W: World> Leased<W> {
    pub fn new(inner: W, state: LeaseState, names: Vec<String>) -> Self {
        Leased {
            inner,
            state,
            names,
        }
    }
}

impl<W: World> World for Leased<W> {
    fn services(&self) -> usize {
        self.inner.services()
    }
    async fn observe(&mut self, service: usize, now_s: f64) -> crate::core::model::Observation {
        self.inner.observe(service, now_s).await
    }
    async fn apply(
        &mut self,
        service: usize,
        actions: &[Action],
        now_s: f64,
    ) -> Result<(), ApplyError> {
        if self.state.holds(service) {
            return self.inner.apply(service, actions, now_s).await;
        }
        let name = self.names.get(service).map(String::as_str).unwrap_or("?");
        for a in actions {
            tracing::info!(service = name, action = %a, "standby: another controller holds the lease; not writing");
        }
        Ok(())
    }
    fn finished(&self, now_s: f64) -> bool {
        self.inner.finished(now_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_only_with_time_to_spare() {
        let s = LeaseState::new(2, 40.0); // margin 10 s
        assert!(!s.holds_at(0, 1_000));
        s.set(0, 100_000);
        assert!(s.holds_at(0, 89_999));
        assert!(!s.holds_at(0, 90_000), "within the margin: stop writing");
        assert!(!s.holds_at(1, 0), "leases are per service");
    }
}
