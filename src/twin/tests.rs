//! The twin through the real edge functions (`aws::ecs`, `aws::cp`, `aws::sqs`) over loopback
//! HTTP: what moto cannot do (more than 100 tasks, the MI capacity provider, task protection),
//! request signing, and the error shapes the edge classifies.

use super::*;
use crate::aws::{AwsError, cp, ecs, sqs};
use crate::core::config::{Config, DEFAULT_CONFIG_YAML, SimConfig};
use crate::core::job::Job;
use crate::core::model::{Action, Reason, ReasonCode};
use crate::sim::world::SimService;

fn service(max_tasks: u32) -> SimService {
    SimService::for_tests(max_tasks)
}

fn names() -> Names {
    let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
    Names::of(&cfg.services[0])
}

/// A twin serving `world` on a fresh loopback port; returns the endpoint.
async fn start(state: &Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, state.clone()));
    endpoint
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn set_desired(state: &Shared, n: u32, at_s: f64) {
    let mut st = lock(state);
    let a = Action::SetDesired {
        desired: n,
        reason: Reason::new(ReasonCode::Forecast, "test"),
    };
    st.worlds[0].sim.apply_now(&a, at_s).unwrap();
}

fn freeze(state: &Shared, at_s: f64) {
    lock(state).worlds[0].freeze(at_s);
}

/// 250 tasks: ListTasks pages (100 + 100 + 50), DescribeTasks in batches of 100 and
/// GetTaskProtection for all of them, every page followed; the container instances too.
#[test]
fn more_than_100_tasks_are_read_whole() {
    let jobs: Vec<Job> = (0..40)
        .map(|i| Job {
            arrival_s: 1.0 + f64::from(i),
            service_s: 50_000.0,
        })
        .collect();
    let world = SimWorld::new(service(300), SimConfig::default(), &jobs, 0.0, false);
    let state = TwinState::new(world, names());
    set_desired(&state, 250, 0.0);
    freeze(&state, 1800.0);
    let n = names();
    rt().block_on(async {
        let ep = start(&state).await;
        let c = lockstep::clients(&ep).await;
        let tasks = ecs::service_tasks(
            &c.ecs,
            &ep,
            &n.cluster,
            &n.service,
            &mut ecs::TaskCache::default(),
        )
        .await
        .unwrap();
        assert_eq!(tasks.len(), 250);
        assert!(tasks.iter().all(|t| t.last_status == "RUNNING"));
        let arns: Vec<String> = tasks.iter().map(|t| t.arn.clone()).collect();
        let prot = ecs::task_protection(&c.ecs, &ep, &n.cluster, &arns)
            .await
            .unwrap();
        assert_eq!(prot.len(), 250);
        assert_eq!(
            prot.values().filter(|&&p| p).count(),
            40,
            "one per held job"
        );
        let inst = ecs::container_instances(&c.ecs, &ep, &n.cluster)
            .await
            .unwrap();
        assert_eq!(inst.len(), 250);
        assert!(inst.iter().all(|i| i.running_tasks == 1));
    });
    let calls = &lock(&state).calls;
    assert_eq!(
        calls["ecs:ListTasks"],
        3 + 1,
        "three RUNNING pages, one STOPPED"
    );
    assert_eq!(calls["ecs:DescribeTasks"], 3);
    assert_eq!(
        calls["ecs:GetTaskProtection"],
        250_u64.div_ceil(ecs::PROTECTION_BATCH as u64)
    );
    assert_eq!(calls["ecs:ListContainerInstances"], 3);
}

/// The MI capacity provider: read, then the read-modify-write of `scaleInAfter`, which the
/// world applies (moto answers HTTP 500 to both).
#[test]
fn capacity_provider_read_modify_write_reaches_the_world() {
    let world = SimWorld::new(service(8), SimConfig::default(), &[], 0.0, false);
    let state = TwinState::new(world, names());
    freeze(&state, 0.0);
    let n = names();
    let cp_name = n.capacity_provider.clone().unwrap();
    rt().block_on(async {
        let ep = start(&state).await;
        let c = lockstep::clients(&ep).await;
        let s = cp::capacity_provider(&c.ecs, &ep, &n.cluster, &cp_name)
            .await
            .unwrap();
        assert_eq!(s.scale_in_after_s, Some(300));
        assert!(s.unmodeled.is_empty(), "{:?}", s.unmodeled);
        assert_eq!(cp::refuse_write(&s), None);
        cp::update_scale_in_after(&c.ecs, &ep, &n.cluster, &cp_name, 120)
            .await
            .unwrap();
        let err = cp::capacity_provider(&c.ecs, &ep, "other-cluster", &cp_name)
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::NotFound { .. }), "{err}");
    });
    assert_eq!(lock(&state).worlds[0].sim.scale_in_after_s(), 120);
}

/// Unsigned requests are refused; unknown names and injected faults come back in the shapes
/// the edge classifies (not found, transient, throttled).
#[test]
fn errors_have_the_shapes_the_edge_classifies() {
    let mut sim = SimConfig::default();
    sim.faults.throttle_rate = 1.0;
    let world = SimWorld::new(service(8), sim, &[], 0.0, false);
    let state = TwinState::new(world, names());
    freeze(&state, 0.0);
    let n = names();
    rt().block_on(async {
        let ep = start(&state).await;
        let c = lockstep::clients(&ep).await;
        // Every read of this tick was made to fail by the world: transient, so the loop waits.
        let e = ecs::service_counts(&c.ecs, &ep, &n.cluster, &n.service)
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
        let e = sqs::queue_depth(&c.sqs, &ep, "https://sqs.us-east-1.amazonaws.com/1/nope")
            .await
            .unwrap_err();
        assert!(matches!(e, AwsError::NotFound { .. }), "{e}");
        // A throttled write is a ThrottlingException.
        let e = ecs::update_desired(&c.ecs, &ep, &n.cluster, &n.service, 2)
            .await
            .unwrap_err();
        assert!(
            matches!(e, AwsError::Throttled { ref code, .. } if code == "ThrottlingException"),
            "{e}"
        );
        let e = ecs::update_desired(&c.ecs, &ep, &n.cluster, "other", 2)
            .await
            .unwrap_err();
        assert!(matches!(e, AwsError::NotFound { .. }), "{e}");
        // No Authorization header: refused, whatever the operation.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(ep.trim_start_matches("http://"))
            .await
            .unwrap();
        let body = r#"{"cluster":"gpu-cluster","services":["whisper-worker"]}"#;
        let req = format!(
            "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: \
             AmazonEC2ContainerServiceV20141113.DescribeServices\r\ncontent-type: \
             application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(out.contains("MissingAuthenticationTokenException"), "{out}");
    });
}

/// Regression: with CloudWatch denied (an SQS-only simulation), the edge's reader must stop
/// calling after the first AccessDenied. It kept calling every tick because the classified
/// error is `AccessDenied`, which the reader's check did not look at.
#[test]
fn cloudwatch_denied_turns_the_edge_sqs_only() {
    let sim = SimConfig {
        cloudwatch_metrics: false,
        ..SimConfig::default()
    };
    let world = SimWorld::new(service(8), sim, &[], 0.0, false);
    let state = TwinState::new(world, names());
    let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
    rt().block_on(async {
        let ep = start(&state).await;
        let mut edge =
            crate::aws::AwsWorld::new(lockstep::clients(&ep).await, vec![cfg.services[0].clone()]);
        for t in [0.0, 15.0, 30.0] {
            freeze(&state, t);
            let obs = crate::world::World::observe(&mut edge, 0, t).await;
            assert_eq!(obs.metrics, None);
            assert!(obs.queue.is_some());
        }
        assert!(!edge.reads_cloudwatch());
    });
    assert_eq!(lock(&state).calls["cloudwatch:GetMetricData"], 1);
}

/// Lease contention through the real lease code: one holder at a time; a second controller
/// sees the first as the holder until it releases; a release by a non-holder changes nothing.
#[test]
fn two_controllers_contend_for_one_lease() {
    use crate::aws::lease::{Lease, LeaseStatus};
    let world = SimWorld::new(service(8), SimConfig::default(), &[], 0.0, false);
    let state = TwinState::new(world, names());
    rt().block_on(async {
        let ep = start(&state).await;
        let c = lockstep::clients(&ep).await;
        let lease = |holder: &str| {
            Lease::new(
                c.ddb.clone(),
                &ep,
                "preheat-leases",
                "gpu-cluster",
                "whisper-worker",
                holder,
                60.0,
            )
        };
        let (a, b) = (lease("a"), lease("b"));
        assert!(matches!(
            a.acquire().await.unwrap(),
            LeaseStatus::Mine { .. }
        ));
        assert!(
            matches!(a.acquire().await.unwrap(), LeaseStatus::Mine { .. }),
            "renewal"
        );
        match b.acquire().await.unwrap() {
            LeaseStatus::Theirs { holder, .. } => assert_eq!(holder, "a"),
            other => panic!("b took a held lease: {other:?}"),
        }
        b.release().await.unwrap();
        assert!(matches!(
            b.acquire().await.unwrap(),
            LeaseStatus::Theirs { .. }
        ));
        a.release().await.unwrap();
        assert!(matches!(
            b.acquire().await.unwrap(),
            LeaseStatus::Mine { .. }
        ));
    });
    assert_eq!(lock(&state).items.len(), 1);
}

/// A twin serving three services of the bundled config's cluster; service `k` runs `k + 1`
/// tasks (all RUNNING by t = 1800 s) and had `k + 1` jobs arrive at 15 min (within the
/// edge's CloudWatch look-back at 30 min).
fn three_services() -> (Shared, Vec<crate::core::config::ServiceConfig>) {
    let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
    let base = &cfg.services[0];
    let worlds = (0..3)
        .map(|k| {
            let jobs: Vec<Job> = (0..=k)
                .map(|i| Job {
                    arrival_s: 900.0 + i as f64,
                    service_s: 50_000.0,
                })
                .collect();
            let world = SimWorld::new(service(8), SimConfig::default(), &jobs, 0.0, false);
            (world, Names::nth(base, k))
        })
        .collect();
    let state = TwinState::many(worlds);
    for k in 0..3 {
        let mut st = lock(&state);
        let a = Action::SetDesired {
            desired: k as u32 + 1,
            reason: Reason::new(ReasonCode::Forecast, "test"),
        };
        st.worlds[k].sim.apply_now(&a, 0.0).unwrap();
        st.worlds[k].freeze(1800.0);
    }
    let configs = (0..3).map(|k| Names::config(base, k)).collect();
    (state, configs)
}

/// Each request reaches the world of the service, queue, task, instance or capacity provider
/// it names; the cluster's lists hold every service's; writes change only the named world.
#[test]
fn several_services_are_routed_by_their_names() {
    let (state, cfgs) = three_services();
    let cluster = cfgs[0].cluster.clone();
    rt().block_on(async {
        let ep = start(&state).await;
        let c = lockstep::clients(&ep).await;
        let mut all_arns = Vec::new();
        for (k, s) in cfgs.iter().enumerate() {
            let counts = ecs::service_counts(&c.ecs, &ep, &cluster, &s.service)
                .await
                .unwrap();
            assert_eq!(counts.desired, k as u32 + 1, "{}", s.service);
            let tasks = ecs::service_tasks(
                &c.ecs,
                &ep,
                &cluster,
                &s.service,
                &mut ecs::TaskCache::default(),
            )
            .await
            .unwrap();
            assert_eq!(tasks.len(), k + 1, "{}", s.service);
            assert!(tasks.iter().all(|t| split_id(&t.arn).unwrap().0 == k));
            all_arns.extend(tasks.into_iter().map(|t| t.arn));
            let cp_name = s.capacity_provider.clone().unwrap();
            let p = cp::capacity_provider(&c.ecs, &ep, &cluster, &cp_name)
                .await
                .unwrap();
            assert_eq!(p.scale_in_after_s, Some(300));
            sqs::queue_depth(&c.sqs, &ep, &s.queue_url).await.unwrap();
        }
        // ARNs are unique across services, and one call finds tasks of several.
        let distinct: std::collections::BTreeSet<&String> = all_arns.iter().collect();
        assert_eq!(distinct.len(), 6);
        let prot = ecs::task_protection(&c.ecs, &ep, &cluster, &all_arns)
            .await
            .unwrap();
        assert_eq!(prot.len(), 6);
        assert_eq!(
            prot.values().filter(|&&p| p).count(),
            6,
            "one held job each"
        );
        // Instances are the cluster's: every service's, each with its own provider.
        let inst = ecs::container_instances(&c.ecs, &ep, &cluster)
            .await
            .unwrap();
        assert_eq!(inst.len(), 6);
        for (k, s) in cfgs.iter().enumerate() {
            let mine = inst
                .iter()
                .filter(|i| i.capacity_provider == s.capacity_provider)
                .count();
            assert_eq!(mine, k + 1, "{:?}", s.capacity_provider);
        }
        // Writes reach only the named world.
        ecs::update_desired(&c.ecs, &ep, &cluster, &cfgs[1].service, 5)
            .await
            .unwrap();
        let cp2 = cfgs[2].capacity_provider.clone().unwrap();
        cp::update_scale_in_after(&c.ecs, &ep, &cluster, &cp2, 60)
            .await
            .unwrap();
    });
    let st = lock(&state);
    let desired: Vec<u32> = st.worlds.iter().map(|w| w.sim.desired()).collect();
    assert_eq!(desired, [1, 5, 3]);
    let sia: Vec<i32> = st.worlds.iter().map(|w| w.sim.scale_in_after_s()).collect();
    assert_eq!(sia, [300, 300, 60]);
}

/// The footprint's set-up: one `AwsWorld` with one client set for every service reads each
/// service's own world (its tasks, its queue, its CloudWatch sums from the one batched call).
#[test]
fn one_edge_reads_each_service_from_its_own_world() {
    let (state, cfgs) = three_services();
    rt().block_on(async {
        let ep = start(&state).await;
        let mut edge = crate::aws::AwsWorld::new(lockstep::clients(&ep).await, cfgs);
        for k in 0..3 {
            let obs = crate::world::World::observe(&mut edge, k, 1800.0).await;
            assert_eq!(obs.tasks.as_ref().map(Vec::len), Some(k + 1), "service {k}");
            assert_eq!(obs.service.map(|s| s.desired), Some(k as u32 + 1));
            assert!(obs.queue.is_some());
            let sent: u64 = obs
                .metrics
                .as_ref()
                .map_or(0, |m| m.minutes.iter().map(|s| s.sent).sum());
            assert_eq!(sent, k as u64 + 1, "service {k}'s jobs");
        }
    });
    assert_eq!(lock(&state).calls["cloudwatch:GetMetricData"], 1);
}

/// Names no service has get the answers ECS and SQS give: QueueDoesNotExist,
/// ServiceNotFoundException, MISSING failures for services, tasks and capacity providers, an
/// invalid parameter for an unknown provider's update, and a foreign cluster not found.
#[test]
fn unknown_names_in_a_multi_service_twin_get_aws_errors() {
    let (state, cfgs) = three_services();
    let cluster = cfgs[0].cluster.clone();
    let ecs_call = |op: &str, body: serde_json::Value| {
        let target = format!("AmazonEC2ContainerServiceV20141113.{op}");
        let a = answer(
            &state,
            Some(&target),
            "/",
            true,
            body.to_string().as_bytes(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        (a.status, v)
    };
    let (status, v) = ecs_call(
        "DescribeServices",
        serde_json::json!({"cluster": cluster, "services": ["whisper-worker-3", cfgs[2].service]}),
    );
    assert_eq!(status, 200);
    assert_eq!(v["failures"][0]["reason"], "MISSING", "{v}");
    assert_eq!(v["services"][0]["serviceName"], cfgs[2].service.as_str());
    let (status, v) = ecs_call(
        "UpdateService",
        serde_json::json!({"cluster": cluster, "service": "whisper-worker-3", "desiredCount": 1}),
    );
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("ServiceNotFoundException"))
    );
    // A task ARN of a service the twin does not have (number 7), and one never issued.
    let n7 = Names::nth(
        &Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap().services[0],
        7,
    );
    let (status, v) = ecs_call(
        "DescribeTasks",
        serde_json::json!({"cluster": cluster, "tasks": [n7.task_arn(0), "arn:aws:ecs:x:task/zz"]}),
    );
    assert_eq!(status, 200);
    assert_eq!(v["failures"].as_array().map(Vec::len), Some(2), "{v}");
    let (_, v) = ecs_call(
        "DescribeCapacityProviders",
        serde_json::json!({"cluster": cluster, "capacityProviders": ["gpu-mi-9"]}),
    );
    assert_eq!(v["failures"][0]["reason"], "MISSING", "{v}");
    let (status, v) = ecs_call(
        "UpdateCapacityProvider",
        serde_json::json!({"cluster": cluster, "name": "gpu-mi-9"}),
    );
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("InvalidParameterException"))
    );
    let (status, v) = ecs_call(
        "ListTasks",
        serde_json::json!({"cluster": "another-cluster", "serviceName": cfgs[1].service}),
    );
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("ClusterNotFoundException"))
    );
    rt().block_on(async {
        let ep = start(&state).await;
        let c = lockstep::clients(&ep).await;
        let e = sqs::queue_depth(
            &c.sqs,
            &ep,
            "https://sqs.us-east-1.amazonaws.com/1/transcribe-jobs-3",
        )
        .await
        .unwrap_err();
        assert!(matches!(e, AwsError::NotFound { .. }), "{e}");
        let e = ecs::service_counts(&c.ecs, &ep, &cluster, "whisper-worker-3")
            .await
            .unwrap_err();
        assert!(matches!(e, AwsError::NotFound { .. }), "{e}");
    });
}

/// The calls the twin answered between two snapshots of its counters, per operation.
fn calls_since(before: &BTreeMap<String, u64>, state: &Shared) -> BTreeMap<String, u64> {
    lock(state)
        .calls
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Observe every service of `cfgs` in one tick through one `AwsWorld` (batched reads).
async fn observe_all(
    ep: &str,
    cfgs: &[crate::core::config::ServiceConfig],
) -> Vec<crate::core::model::Observation> {
    use crate::world::World;
    let mut w = crate::aws::AwsWorld::new(lockstep::clients(ep).await, cfgs.to_vec());
    let mut out = Vec::new();
    for i in 0..cfgs.len() {
        out.push(w.observe(i, 1800.0).await);
    }
    out
}

/// Issue #11 (footprint): several services read in one tick get the same observations as each
/// read alone, from one call per cluster for each ECS read instead of one per service.
#[test]
fn batched_reads_match_one_by_one_in_fewer_calls() {
    let (state, cfgs) = three_services();
    let sqs_counted = || {
        crate::aws::stats::snapshot()
            .into_iter()
            .find(|(api, _)| *api == "sqs:GetQueueAttributes")
            .map_or(0, |(_, c)| c.calls)
    };
    let sqs0 = sqs_counted();
    let (batched, alone, calls) = rt().block_on(async {
        let ep = start(&state).await;
        let before = lock(&state).calls.clone();
        let batched = observe_all(&ep, &cfgs).await;
        let calls = calls_since(&before, &state);
        let mut alone = Vec::new();
        for s in &cfgs {
            alone.extend(observe_all(&ep, std::slice::from_ref(s)).await);
        }
        (batched, alone, calls)
    });
    assert_eq!(batched, alone);
    for (k, o) in batched.iter().enumerate() {
        assert!(o.complete_for_scale_in(), "service {k}: {o:?}");
        assert_eq!(o.tasks.as_ref().map(Vec::len), Some(k + 1), "service {k}");
        assert!(o.scale_in_after_s.is_some(), "service {k}");
    }
    for api in [
        "ecs:DescribeServices",
        "ecs:DescribeTasks",
        "ecs:GetTaskProtection",
        "ecs:DescribeCapacityProviders",
        "ecs:ListContainerInstances",
        "ecs:DescribeContainerInstances",
    ] {
        assert_eq!(calls.get(api), Some(&1), "{api}: {calls:?}");
    }
    assert_eq!(
        calls.get("ecs:ListTasks"),
        Some(&2),
        "RUNNING and STOPPED, cluster-wide: {calls:?}"
    );
    // Regression: the queue reads went around the per-API counters, so `preheat footprint`
    // left them out of its SDK calls per tick (counters are global: other tests add to them).
    assert!(
        sqs_counted() >= sqs0 + 2 * cfgs.len() as u64,
        "one GetQueueAttributes per service, batched and alone, counted"
    );
}

/// A service the batched answer lists as a failure is unknown on its own; the services beside
/// it in the same calls are read as if it were not there.
#[test]
fn a_failure_entry_for_one_service_leaves_the_others_intact() {
    let (state, cfgs) = three_services();
    let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
    let mut with_ghost = cfgs.clone();
    // A fourth service (and provider) the twin does not have: DescribeServices and
    // DescribeCapacityProviders answer it as a MISSING failure entry.
    with_ghost.insert(1, Names::config(&cfg.services[0], 7));
    let (three, four) = rt().block_on(async {
        let ep = start(&state).await;
        (
            observe_all(&ep, &cfgs).await,
            observe_all(&ep, &with_ghost).await,
        )
    });
    let ghost = &four[1];
    assert_eq!(ghost.service, None);
    assert_eq!(
        ghost.tasks, None,
        "no service, no task list taken for empty"
    );
    assert_eq!(ghost.scale_in_after_s, None);
    assert!(!ghost.complete_for_scale_in());
    assert_eq!(
        [&four[0], &four[2], &four[3]],
        [&three[0], &three[1], &three[2]]
    );
}

/// A batched call that fails (here DescribeServices, unavailable because one world's service
/// read fails) leaves that field unknown for every service it covered, and only that field.
#[test]
fn a_failed_batched_call_marks_every_covered_service_missing() {
    let (state, cfgs) = three_services();
    if let Some(v) = lock(&state).worlds[2].view.as_mut() {
        v.obs.service = None;
    }
    let obs = rt().block_on(async {
        let ep = start(&state).await;
        observe_all(&ep, &cfgs).await
    });
    for (k, o) in obs.iter().enumerate() {
        assert_eq!(o.service, None, "service {k}");
        assert!(!o.complete_for_scale_in(), "service {k}: no scale-in");
        assert_eq!(o.tasks.as_ref().map(Vec::len), Some(k + 1), "service {k}");
        assert!(o.queue.is_some() && o.scale_in_after_s.is_some(), "{o:?}");
    }
}

/// Regression (issue #11, footprint): a DescribeServices after an UpdateService showed the
/// desired count of the view frozen before the write, so a live twin (refreshed about once a
/// second) drew the same UpdateService from every tick until the refresh.
#[test]
fn describe_services_shows_the_desired_count_just_written() {
    let (state, cfgs) = three_services();
    let cluster = cfgs[0].cluster.clone();
    let (before, after) = rt().block_on(async {
        let ep = start(&state).await;
        let c = lockstep::clients(&ep).await;
        let s = &cfgs[1].service;
        let before = ecs::service_counts(&c.ecs, &ep, &cluster, s).await.unwrap();
        ecs::update_desired(&c.ecs, &ep, &cluster, s, before.desired + 3)
            .await
            .unwrap();
        let after = ecs::service_counts(&c.ecs, &ep, &cluster, s).await.unwrap();
        (before, after)
    });
    assert_eq!(after.desired, before.desired + 3);
    assert_eq!(
        (after.running, after.pending),
        (before.running, before.pending),
        "the tasks are the world's until it moves"
    );
}
