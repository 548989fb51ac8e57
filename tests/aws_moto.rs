//! The AWS edge against a real AWS-compatible server: moto, started by `./scripts/test` (which
//! exports PREHEAT_MOTO_ENDPOINT). Each test makes its own uniquely named queue, cluster and
//! service, so they run in parallel on one server. All traffic goes to 127.0.0.1 with dummy
//! credentials.
//!
//! moto cannot hold an ECS Managed Instances capacity provider (HTTP 500) and never starts
//! service tasks, so `UpdateCapacityProvider` is checked against a capture server in this file
//! that records the exact request the SDK sends.

use preheat::aws::fixture::Emulator;
use preheat::aws::{AwsClients, AwsWorld};
use preheat::core::config::{Config, ServiceConfig};
use preheat::core::decide::Preheat;
use preheat::core::model::{Action, Policy, QueueDepth, Reason, ReasonCode};
use preheat::world::World;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn endpoint() -> String {
    std::env::var("PREHEAT_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "PREHEAT_MOTO_ENDPOINT is not set. These tests need a local moto server: run \
             ./scripts/test (it starts one), or `source scripts/moto --source` before cargo test"
        )
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("preheat-aws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn config_yaml(cluster: &str, service: &str, queue_url: &str, extra: &str) -> String {
    format!(
        "tick: 15s\nservices:\n  - name: {service}\n    cluster: {cluster}\n    service: {service}\n    \
         queue_url: {queue_url}\n    min_tasks: 0\n    max_tasks: 4\n    \
         slo: {{max_wait: 10m, attainment: 0.95}}\n{extra}"
    )
}

fn write_config(cluster: &str, service: &str, queue_url: &str) -> PathBuf {
    let p = tmp(&format!("{service}.yaml"));
    std::fs::write(&p, config_yaml(cluster, service, queue_url, "")).unwrap();
    p
}

fn service_config(yaml: &str) -> ServiceConfig {
    Config::parse(yaml, "test").unwrap().services.remove(0)
}

/// The real binary with dummy credentials and nothing from the developer's AWS setup.
fn preheat_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_preheat"));
    c.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("RUST_LOG");
    c
}

fn preheat(args: &[&str]) -> Output {
    preheat_cmd(args).output().expect("run preheat")
}

/// One tick of `preheat run` with `cfg` against `ep`, plus `extra` flags.
fn run_once(cfg: &std::path::Path, ep: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--once",
        "--endpoint-url",
        ep,
    ];
    args.extend_from_slice(extra);
    preheat(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A queue holding `messages` visible messages and a service with `desired` tasks.
fn setup(tag: &str, messages: u32, desired: i32) -> (String, String, String) {
    let ep = endpoint();
    let cluster = unique(tag);
    let service = format!("{cluster}-svc");
    let queue_url = rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let q = emu.create_queue(&cluster).await.unwrap();
        emu.send(&q, messages, 0).await.unwrap();
        emu.create_service(&cluster, &service, desired)
            .await
            .unwrap();
        q
    });
    (cluster, service, queue_url)
}

fn desired_now(cluster: &str, service: &str) -> u32 {
    rt().block_on(async {
        let emu = Emulator::connect(&endpoint()).await.unwrap();
        emu.service_counts(cluster, service).await.unwrap().desired
    })
}

#[test]
fn observes_real_queue_counts_and_service() {
    let ep = endpoint();
    let cluster = unique("observe");
    let service = format!("{cluster}-svc");
    rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let q = emu.create_queue(&cluster).await.unwrap();
        emu.send(&q, 3, 0).await.unwrap();
        assert_eq!(emu.receive(&q, 1, 60).await.unwrap(), 1);
        emu.send(&q, 1, 30).await.unwrap();
        emu.create_service(&cluster, &service, 2).await.unwrap();
        let cfg = service_config(&config_yaml(&cluster, &service, &q, ""));
        let mut world = AwsWorld::new(emu.clients.clone(), vec![cfg]);
        assert!(world.check_resources().await.is_empty());
        let obs = world.observe(0, 0.0).await;
        assert_eq!(
            obs.queue,
            Some(QueueDepth {
                visible: 2,
                in_flight: 1,
                delayed: 1
            })
        );
        assert_eq!(obs.service.map(|s| s.desired), Some(2));
        assert_eq!(
            obs.tasks.as_ref().map(Vec::len),
            Some(0),
            "moto starts no tasks"
        );
        assert_eq!(obs.instances.map(|i| i.total), Some(0));
        assert_eq!(
            obs.scale_in_after_s, None,
            "no capacity provider configured"
        );
    });
}

/// Issue #11 (footprint): several services of one cluster observed in one tick (one batched
/// DescribeServices, one cluster-wide task read) give the same observations as each observed
/// alone; a service the answer lists as a failure is unknown on its own, the others intact.
#[test]
fn several_services_in_one_tick_match_one_by_one() {
    let ep = endpoint();
    let cluster = unique("batch");
    rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let mut cfgs = Vec::new();
        for k in 0..3 {
            let service = format!("{cluster}-svc{k}");
            let q = emu.create_queue(&service).await.unwrap();
            emu.send(&q, k + 1, 0).await.unwrap();
            emu.create_service(&cluster, &service, k as i32 + 1)
                .await
                .unwrap();
            cfgs.push(service_config(&config_yaml(&cluster, &service, &q, "")));
        }
        let batched = {
            let mut w = AwsWorld::new(emu.clients.clone(), cfgs.clone());
            let mut v = Vec::new();
            for i in 0..cfgs.len() {
                v.push(w.observe(i, 0.0).await);
            }
            v
        };
        for (k, cfg) in cfgs.iter().enumerate() {
            let mut alone = AwsWorld::new(emu.clients.clone(), vec![cfg.clone()]);
            assert_eq!(alone.observe(0, 0.0).await, batched[k], "service {k}");
            assert_eq!(batched[k].service.map(|s| s.desired), Some(k as u32 + 1));
            assert_eq!(batched[k].queue.map(|q| q.visible), Some(k as u64 + 1));
            assert_eq!(batched[k].tasks.as_ref().map(Vec::len), Some(0));
        }
        // A service the cluster does not have, between the others in the same calls.
        let ghost = format!("{cluster}-ghost");
        let mut with_ghost = cfgs.clone();
        with_ghost.insert(
            1,
            service_config(&config_yaml(&cluster, &ghost, &cfgs[0].queue_url, "")),
        );
        let mut w = AwsWorld::new(emu.clients.clone(), with_ghost.clone());
        let mut obs = Vec::new();
        for i in 0..with_ghost.len() {
            obs.push(w.observe(i, 0.0).await);
        }
        assert_eq!(obs[1].service, None, "missing service: unknown");
        assert_eq!(obs[1].tasks, None, "and so are its tasks");
        assert!(!obs[1].complete_for_scale_in());
        assert_eq!(
            [&obs[0], &obs[2], &obs[3]],
            [&batched[0], &batched[1], &batched[2]]
        );
    });
}

#[test]
fn run_once_updates_desired_count() {
    let (cluster, service, q) = setup("once", 5, 0);
    let cfg = write_config(&cluster, &service, &q);
    let o = run_once(&cfg, &endpoint(), &[]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("decision") && err.contains("reason"), "{err}");
    let d = desired_now(&cluster, &service);
    assert!(
        (1..=4).contains(&d),
        "5 queued jobs, max 4 tasks: got {d}\n{err}"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let (cluster, service, q) = setup("dry", 5, 0);
    let cfg = write_config(&cluster, &service, &q);
    let o = run_once(&cfg, &endpoint(), &["--dry-run", "--log-format", "json"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("dry-run: would apply"), "{err}");
    assert!(err.lines().all(|l| l.starts_with('{')), "json logs: {err}");
    assert_eq!(
        desired_now(&cluster, &service),
        0,
        "dry-run changed the service"
    );
}

#[test]
fn unknown_cluster_service_or_queue_is_named_and_fails() {
    let (cluster, service, q) = setup("missing", 0, 0);
    let missing_queue = q.replace(&cluster, "no-such-queue-xyz");
    for (c, s, url, named) in [
        (
            "no-such-cluster-xyz",
            service.as_str(),
            q.as_str(),
            "no-such-cluster-xyz",
        ),
        (
            cluster.as_str(),
            "no-such-service-xyz",
            q.as_str(),
            "no-such-service-xyz",
        ),
        (
            cluster.as_str(),
            service.as_str(),
            missing_queue.as_str(),
            "no-such-queue-xyz",
        ),
    ] {
        let cfg = tmp(&format!("missing-{named}.yaml"));
        std::fs::write(&cfg, config_yaml(c, s, url, "")).unwrap();
        let o = run_once(&cfg, &endpoint(), &[]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{named}: should fail\n{err}");
        assert!(err.contains(named), "{named} not named:\n{err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
    }
    assert_eq!(desired_now(&cluster, &service), 0);
}

#[test]
fn unreachable_endpoint_is_a_clear_error_and_no_scale_in() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cfg = write_config("c", "s", &format!("{closed}/123456789012/q"));
    let o = run_once(&cfg, &closed, &["--max-attempts", "1"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("cannot reach"), "{err}");
    assert!(err.contains(&closed), "{err}");

    // In the loop, the same failure leaves every field unknown and the core does not scale in.
    rt().block_on(async {
        let emu = Emulator::connect(&closed).await.unwrap();
        let yaml = config_yaml("c", "s", &format!("{closed}/1/q"), "");
        let cfg = service_config(&yaml);
        let mut world = AwsWorld::new(emu.clients.clone(), vec![cfg.clone()]);
        let obs = world.observe(0, 1000.0).await;
        assert!(obs.queue.is_none() && obs.service.is_none() && obs.tasks.is_none());
        let mut p = Preheat::new(cfg, 15.0);
        let d = p.decide(&obs, 1000.0);
        assert!(
            !d.actions
                .iter()
                .any(|a| matches!(a, Action::SetDesired { .. })),
            "no write on a failed read: {d:?}"
        );
    });
}

#[test]
fn application_auto_scaling_owner_blocks_writes_unless_shared() {
    let (cluster, service, q) = setup("aas", 5, 0);
    rt().block_on(async {
        let emu = Emulator::connect(&endpoint()).await.unwrap();
        emu.register_scalable_target(&cluster, &service)
            .await
            .unwrap();
    });
    let cfg = write_config(&cluster, &service, &q);
    let ep = endpoint();
    let o = run_once(&cfg, &ep, &[]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("Application Auto Scaling"), "{err}");
    assert!(err.contains("--share-with-aas"), "{err}");
    assert_eq!(desired_now(&cluster, &service), 0);

    let o = run_once(&cfg, &ep, &["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(desired_now(&cluster, &service), 0);

    let o = run_once(&cfg, &ep, &["--share-with-aas"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(desired_now(&cluster, &service) >= 1);
}

#[test]
fn serves_metrics_and_healthz_then_stops_on_sigterm() {
    let (cluster, service, q) = setup("serve", 2, 0);
    let cfg = write_config(&cluster, &service, &q);
    let (mut child, addr, _logs) = spawn_run(&cfg, &endpoint(), &["--dry-run"]);
    let health = wait_health(&addr, "HTTP/1.1 200", Duration::from_secs(30));
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let metrics = http_get(&addr, "/metrics");
    assert!(
        metrics.contains("preheat_queue_messages{service="),
        "{metrics}"
    );
    assert!(metrics.contains("state=\"visible\"} 2"), "{metrics}");
    assert!(metrics.contains("preheat_decisions_total{"), "{metrics}");
    assert!(metrics.contains("preheat_dry_run 1"), "{metrics}");
    // Two waiting jobs fit max_tasks: the SLO is within reach, and its target is exported
    // beside the estimate (which has no verdict yet this early).
    let unreachable = metrics
        .lines()
        .find(|l| l.starts_with("preheat_slo_unreachable{service="))
        .unwrap_or_else(|| panic!("no preheat_slo_unreachable in {metrics}"));
    assert!(unreachable.ends_with(" 0"), "{unreachable}");
    assert!(
        metrics.contains("preheat_slo_attainment_target{service="),
        "{metrics}"
    );

    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let stop_deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > stop_deadline {
            let _ = child.kill();
            panic!("preheat did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

fn http_get(addr: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A one-connection-at-a-time HTTP server that records each request's `X-Amz-Target` and body
/// and answers like ECS would for the two capacity-provider calls.
/// (X-Amz-Target, body) of each request the capture server saw.
type Captured = Arc<Mutex<Vec<(String, String)>>>;

fn capture_server() -> (String, Captured) {
    capture_server_with(DESCRIBE_CP.to_string())
}

/// The capture server answering DescribeCapacityProviders with `describe`.
fn capture_server_with(describe: String) -> (String, Captured) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut target = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("x-amz-target:") {
                    target = v.trim().to_string();
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let answer = if target.ends_with("describecapacityproviders") {
                describe.as_str()
            } else if target.ends_with("updatecapacityprovider") {
                r#"{"capacityProvider":{"name":"gpu-mi","status":"ACTIVE"}}"#
            } else {
                "{}"
            };
            log.lock().unwrap().push((target, body));
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (addr, seen)
}

const DESCRIBE_CP: &str = r#"{"capacityProviders":[{
  "capacityProviderArn":"arn:aws:ecs:us-east-1:123456789012:capacity-provider/gpu-mi",
  "name":"gpu-mi","status":"ACTIVE","type":"MANAGED_INSTANCES","cluster":"gpu-cluster",
  "managedInstancesProvider":{
    "infrastructureRoleArn":"arn:aws:iam::123456789012:role/ecsInfrastructure",
    "instanceLaunchTemplate":{
      "ec2InstanceProfileArn":"arn:aws:iam::123456789012:instance-profile/ecsInstance",
      "networkConfiguration":{"subnets":["subnet-0abc"],"securityGroups":["sg-0def"]},
      "storageConfiguration":{"storageSizeGiB":120},
      "capacityOptionType":"ON_DEMAND",
      "instanceRequirements":{"vCpuCount":{"min":4,"max":16},"memoryMiB":{"min":16384},
        "acceleratorManufacturers":["nvidia"],"acceleratorCount":{"min":1,"max":1}}},
    "propagateTags":"CAPACITY_PROVIDER",
    "infrastructureOptimization":{"scaleInAfter":300}}}],"failures":[]}"#;

#[test]
fn update_capacity_provider_resends_role_and_launch_template() {
    let (ep, seen) = capture_server();
    let yaml = config_yaml(
        "gpu-cluster",
        "whisper",
        &format!("{ep}/1/q"),
        "    capacity_provider: gpu-mi\n",
    );
    let cfg = service_config(&yaml);
    rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let clients: AwsClients = emu.clients.clone();
        let state = preheat::aws::cp::capacity_provider(
            &clients.ecs,
            &clients.endpoint,
            "gpu-cluster",
            "gpu-mi",
        )
        .await
        .unwrap();
        assert_eq!(state.scale_in_after_s, Some(300));
        assert!(state.unmodeled.is_empty(), "{:?}", state.unmodeled);
        let mut world = AwsWorld::new(clients, vec![cfg]);
        let set = |s| {
            vec![Action::SetScaleInAfter {
                seconds: s,
                reason: Reason::new(ReasonCode::ScaleInAfter, "test"),
            }]
        };
        world.apply(0, &set(900), 0.0).await.unwrap();
        // Same value again: no second write.
        world.apply(0, &set(900), 1.0).await.unwrap();
    });
    let calls = seen.lock().unwrap().clone();
    let updates: Vec<&(String, String)> = calls
        .iter()
        .filter(|(t, _)| t.ends_with("updatecapacityprovider"))
        .collect();
    assert_eq!(updates.len(), 1, "one write for one change: {calls:?}");
    let body: serde_json::Value = serde_json::from_str(&updates[0].1).unwrap();
    assert_eq!(body["name"], "gpu-mi");
    assert_eq!(body["cluster"], "gpu-cluster");
    let mi = &body["managedInstancesProvider"];
    assert_eq!(mi["infrastructureOptimization"]["scaleInAfter"], 900);
    assert_eq!(
        mi["infrastructureRoleArn"],
        "arn:aws:iam::123456789012:role/ecsInfrastructure"
    );
    let lt = &mi["instanceLaunchTemplate"];
    assert_eq!(
        lt["ec2InstanceProfileArn"],
        "arn:aws:iam::123456789012:instance-profile/ecsInstance"
    );
    assert_eq!(lt["networkConfiguration"]["subnets"][0], "subnet-0abc");
    assert_eq!(lt["networkConfiguration"]["securityGroups"][0], "sg-0def");
    assert_eq!(lt["storageConfiguration"]["storageSizeGiB"], 120);
    assert_eq!(lt["instanceRequirements"]["vCpuCount"]["min"], 4);
    assert_eq!(lt["instanceRequirements"]["acceleratorCount"]["max"], 1);
    assert!(
        lt.get("capacityOptionType").is_none(),
        "create-only field must not be sent: {lt}"
    );
    assert_eq!(mi["propagateTags"], "CAPACITY_PROVIDER");
}

/// What the fault proxy does with each connection.
const PASS: u8 = 0;
const REFUSE: u8 = 1;
const THROTTLE: u8 = 2;
const MALFORMED: u8 = 3;
/// Answer ListTasks with AccessDeniedException and pass every other call through.
const DENY_LIST_TASKS: u8 = 4;

/// A 127.0.0.1 proxy in front of moto that can, on command, pass traffic through, drop every
/// connection, answer every call with a throttling error, or answer 200 with a body that is not
/// JSON. It stands in for an AWS endpoint that goes away, throttles or misbehaves mid-run.
fn fault_proxy(upstream: &str) -> (String, Arc<std::sync::atomic::AtomicU8>) {
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mode = Arc::new(std::sync::atomic::AtomicU8::new(PASS));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let m = mode.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let (m, upstream) = (m.clone(), upstream.clone());
            std::thread::spawn(move || proxy_one(client, &upstream, m.load(Ordering::SeqCst)));
        }
    });
    (format!("http://{addr}"), mode)
}

fn proxy_one(mut client: TcpStream, upstream: &str, mode: u8) {
    match mode {
        PASS => {
            let Ok(server) = TcpStream::connect(upstream) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            let mut server = server;
            let _ = std::io::copy(&mut server, &mut client);
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = up.join();
        }
        REFUSE => drop(client),
        DENY_LIST_TASKS => deny_or_forward(client, upstream, ".listtasks"),
        _ => {
            // Read one request (headers, then Content-Length bytes) before answering.
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut len = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let l = line.trim().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let (status, payload) = if mode == THROTTLE {
                (
                    "400 Bad Request",
                    r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                )
            } else {
                ("200 OK", "<html>this is not what an AWS API answers</html>")
            };
            let _ = write!(
                client,
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    }
}

/// Reads one request; answers AccessDeniedException when its X-Amz-Target ends with `deny`,
/// else forwards it to `upstream` (one request per connection: both sides are told to close).
fn deny_or_forward(mut client: TcpStream, upstream: &str, deny: &str) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = String::new();
    let (mut len, mut target) = (0usize, String::new());
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        let l = line.trim().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = l.strip_prefix("x-amz-target:") {
            target = v.trim().to_string();
        }
        if !l.starts_with("connection:") {
            head.push_str(&line);
        }
        line.clear();
    }
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    if target.ends_with(deny) {
        let payload = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/preheat/task is not authorized to perform: ecs:ListTasks on resource: *"}"#;
        let _ = write!(
            client,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        );
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.write_all(head.as_bytes());
    let _ = server.write_all(b"Connection: close\r\n\r\n");
    let _ = server.write_all(&body);
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
}

/// Starts `preheat run` against `ep` and returns the child, its metrics address and a channel
/// of its log lines. The caller owns the child and kills and waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_run(
    cfg: &std::path::Path,
    ep: &str,
    extra: &[&str],
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    let mut args = vec![
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--endpoint-url",
        ep,
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut child = preheat_cmd(&args).stderr(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    // Lines logged before the listen address are read here; they go back on the channel so a
    // test still sees them (the standby's start-up line can come first under load).
    let tx_again = tx.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = l.split("address=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().to_string();
                for early in seen.lines() {
                    let _ = tx_again.send(early.to_string());
                }
                return (child, addr, rx);
            }
            seen.push_str(&l);
            seen.push('\n');
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no listen address logged:\n{seen}");
}

/// Polls `/healthz` until it starts with `want` or `within` passes; returns the last answer.
fn wait_health(addr: &str, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut last = String::new();
    while Instant::now() < deadline {
        last = http_get(addr, "/healthz");
        if last.starts_with(want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

/// Issue #5: the endpoint goes away, throttles every call and answers garbage, mid-run. The
/// loop must keep running and back off, hold capacity (no write while blind), report unhealthy,
/// and recover when the endpoint behaves again.
#[test]
fn endpoint_faults_mid_run_hold_capacity_and_recover() {
    let (cluster, service, q) = setup("faults", 3, 0);
    let yaml = config_yaml(&cluster, &service, &q, "").replace("tick: 15s", "tick: 1s");
    let cfg = tmp(&format!("{service}.yaml"));
    std::fs::write(&cfg, yaml).unwrap();
    let (proxy, mode) = fault_proxy(&endpoint());
    let (mut child, addr, rx) = spawn_run(&cfg, &proxy, &["--max-attempts", "1"]);

    // Healthy, and the backlog made it scale out.
    let h = wait_health(&addr, "HTTP/1.1 200", Duration::from_secs(30));
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while desired_now(&cluster, &service) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = desired_now(&cluster, &service);
    assert!(before >= 1, "3 waiting jobs should have started workers");

    for fault in [REFUSE, THROTTLE, MALFORMED] {
        mode.store(fault, Ordering::SeqCst);
        let h = wait_health(&addr, "HTTP/1.1 503", Duration::from_secs(30));
        assert!(h.starts_with("HTTP/1.1 503"), "fault {fault}: {h}");
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            child.try_wait().unwrap().is_none(),
            "fault {fault}: the loop must keep running"
        );
        assert_eq!(
            desired_now(&cluster, &service),
            before,
            "fault {fault}: capacity must hold while reads fail"
        );
        mode.store(PASS, Ordering::SeqCst);
        let h = wait_health(&addr, "HTTP/1.1 200", Duration::from_secs(60));
        assert!(
            h.starts_with("HTTP/1.1 200"),
            "fault {fault}: no recovery: {h}"
        );
    }
    let logs: Vec<String> = rx.try_iter().collect();
    assert!(
        logs.iter().any(|l| l.contains("read failed")),
        "the failed reads are logged:\n{}",
        logs.join("\n")
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue #10: the read-modify-write of the capacity provider must not overwrite a change in
/// progress, must not drop fields the SDK does not model (and must name them), and must read
/// `scaleInAfter: null` as a value to replace, not as unknown.
#[test]
fn capacity_provider_write_only_when_complete_and_fully_modeled() {
    let cases = [
        (
            DESCRIBE_CP.replace(
                r#""status":"ACTIVE","#,
                r#""status":"ACTIVE","updateStatus":"UPDATE_IN_PROGRESS","#,
            ),
            Some("UPDATE_IN_PROGRESS"),
        ),
        (
            DESCRIBE_CP.replace(
                r#""propagateTags""#,
                r#""futureKnob":{"on":true},"propagateTags""#,
            ),
            Some("managedInstancesProvider.futureKnob"),
        ),
        (
            DESCRIBE_CP
                .replace(
                    r#""status":"ACTIVE","#,
                    r#""status":"ACTIVE","updateStatus":"UPDATE_COMPLETE","#,
                )
                .replace(r#""scaleInAfter":300"#, r#""scaleInAfter":null"#),
            None,
        ),
    ];
    for (describe, refused) in cases {
        let (ep, seen) = capture_server_with(describe);
        let yaml = config_yaml(
            "gpu-cluster",
            "whisper",
            &format!("{ep}/1/q"),
            "    capacity_provider: gpu-mi\n",
        );
        let cfg = service_config(&yaml);
        let result = rt().block_on(async {
            let emu = Emulator::connect(&ep).await.unwrap();
            let mut world = AwsWorld::new(emu.clients.clone(), vec![cfg]);
            let act = vec![Action::SetScaleInAfter {
                seconds: 30,
                reason: Reason::new(ReasonCode::ScaleInAfter, "test"),
            }];
            world.apply(0, &act, 0.0).await
        });
        let writes = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.ends_with("updatecapacityprovider"))
            .count();
        match refused {
            Some(why) => {
                let e = result.expect_err(why).to_string();
                assert!(e.contains(why) && e.contains("not sent"), "{e}");
                assert_eq!(writes, 0, "{why}: nothing may be written");
            }
            None => {
                result.unwrap();
                assert_eq!(writes, 1, "null scaleInAfter is replaced");
            }
        }
    }
}

/// Issue #10: the shipped policy denied ListTasks and nothing said so. A start-up with a
/// denied read stops and names the permission.
#[test]
fn start_up_names_a_denied_read_and_exits() {
    let (cluster, service, q) = setup("denied-start", 0, 1);
    let cfg = write_config(&cluster, &service, &q);
    let (proxy, mode) = fault_proxy(&endpoint());
    mode.store(DENY_LIST_TASKS, Ordering::SeqCst);
    let out = run_once(&cfg, &proxy, &[]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("ecs:ListTasks was denied") && err.contains("grant the IAM action"),
        "{err}"
    );
    assert_eq!(desired_now(&cluster, &service), 1, "nothing written");
}

/// Issue #10: AccessDenied mid-run is reported as such (log line, metric, /healthz), and the
/// loop holds capacity and recovers when the permission comes back.
#[test]
fn access_denied_mid_run_is_reported_as_such() {
    let (cluster, service, q) = setup("denied-run", 0, 2);
    let yaml = config_yaml(&cluster, &service, &q, "").replace("tick: 15s", "tick: 1s");
    let cfg = tmp(&format!("{service}.yaml"));
    std::fs::write(&cfg, yaml).unwrap();
    let (proxy, mode) = fault_proxy(&endpoint());
    let (mut child, addr, rx) = spawn_run(&cfg, &proxy, &["--max-attempts", "1"]);
    let h = wait_health(&addr, "HTTP/1.1 200", Duration::from_secs(30));
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    let before = desired_now(&cluster, &service);

    mode.store(DENY_LIST_TASKS, Ordering::SeqCst);
    let h = wait_health(&addr, "HTTP/1.1 503", Duration::from_secs(30));
    assert!(
        h.starts_with("HTTP/1.1 503") && h.contains("AccessDenied on ecs:ListTasks"),
        "{h}"
    );
    let metrics = http_get(&addr, "/metrics");
    let denied = metrics
        .lines()
        .find(|l| l.starts_with("preheat_aws_access_denied_total{api=\"ecs:ListTasks\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok());
    assert!(denied.is_some_and(|n| n >= 1.0), "{metrics}");
    assert_eq!(desired_now(&cluster, &service), before, "holds while blind");

    mode.store(PASS, Ordering::SeqCst);
    let h = wait_health(&addr, "HTTP/1.1 200", Duration::from_secs(60));
    assert!(h.starts_with("HTTP/1.1 200"), "no recovery: {h}");
    let logs: Vec<String> = rx.try_iter().collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("AccessDenied") && l.contains("ecs:ListTasks")),
        "{}",
        logs.join("\n")
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The value of the first metric line starting with `prefix` on `addr`'s /metrics.
fn metric(addr: &str, prefix: &str) -> Option<f64> {
    http_get(addr, "/metrics")
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

/// Polls `cond` every 200 ms until it holds or `within` passes; returns whether it held.
fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    cond()
}

/// Issue #10: two controllers on one service. Only the lease holder writes desiredCount; when
/// it is killed (no clean release), the standby takes over once the lease has expired.
#[test]
fn one_writer_per_service_and_takeover_after_the_holder_dies() {
    let (cluster, service, q) = setup("lease", 4, 0);
    let table = unique("leases");
    rt().block_on(async {
        let emu = Emulator::connect(&endpoint()).await.unwrap();
        emu.create_lease_table(&table).await.unwrap();
    });
    let lease_s = 4;
    let yaml = config_yaml(&cluster, &service, &q, "").replace("tick: 15s", "tick: 1s")
        + &format!("aws:\n  lease_table: {table}\n  lease_duration: {lease_s}s\n");
    let cfg = tmp(&format!("{service}.yaml"));
    std::fs::write(&cfg, yaml).unwrap();
    let held = format!("preheat_lease_held{{service=\"{service}\"}}");
    let writes = "preheat_aws_calls_total{api=\"ecs:UpdateService\"}";

    let (mut a, a_addr, _a_logs) = spawn_run(&cfg, &endpoint(), &[]);
    assert!(
        wait_for(Duration::from_secs(30), || metric(&a_addr, &held)
            == Some(1.0)),
        "the first controller takes the lease"
    );
    let (mut b, b_addr, b_logs) = spawn_run(&cfg, &endpoint(), &[]);
    assert!(
        wait_for(Duration::from_secs(30), || {
            metric(&b_addr, "preheat_ticks_total").is_some_and(|t| t >= 2.0)
        }),
        "the second controller runs"
    );
    assert_eq!(
        metric(&b_addr, &held),
        Some(0.0),
        "only one holds the lease"
    );

    // Both want workers for the 4 waiting jobs; someone else keeps setting desired to 0.
    for _ in 0..2 {
        rt().block_on(async {
            let emu = Emulator::connect(&endpoint()).await.unwrap();
            emu.set_desired(&cluster, &service, 0).await.unwrap();
        });
        assert!(
            wait_for(Duration::from_secs(30), || desired_now(&cluster, &service)
                >= 1),
            "the holder scales out"
        );
    }
    assert!(metric(&a_addr, writes).is_some_and(|n| n >= 2.0));
    assert_eq!(
        metric(&b_addr, writes).unwrap_or(0.0),
        0.0,
        "the standby never writes"
    );
    let standby: Vec<String> = b_logs.try_iter().collect();
    assert!(
        standby.iter().any(|l| l.contains("standby")),
        "the standby says what it leaves to the holder:\n{}",
        standby.join("\n")
    );

    // The holder dies without releasing; the standby takes over after the lease expires.
    let _ = a.kill();
    let _ = a.wait();
    let killed = Instant::now();
    rt().block_on(async {
        let emu = Emulator::connect(&endpoint()).await.unwrap();
        emu.set_desired(&cluster, &service, 0).await.unwrap();
    });
    assert!(
        wait_for(Duration::from_secs(60), || metric(&b_addr, &held)
            == Some(1.0)),
        "the standby takes the lease"
    );
    eprintln!(
        "takeover {:.1} s after the kill (lease {lease_s} s, heartbeat every {:.1} s)",
        killed.elapsed().as_secs_f64(),
        f64::from(lease_s) / 3.0
    );
    assert!(
        wait_for(Duration::from_secs(30), || desired_now(&cluster, &service)
            >= 1),
        "the new holder writes"
    );
    assert!(metric(&b_addr, writes).is_some_and(|n| n >= 1.0));
    let _ = b.kill();
    let _ = b.wait();
}

/// Issue #10: JSON log fields are numbers (no "Some(3)"), and `--emf` prints CloudWatch
/// Embedded Metric Format lines on stdout.
#[test]
fn json_logs_are_numeric_and_emf_lines_are_metrics() {
    let (cluster, service, q) = setup("emf", 3, 0);
    let cfg = write_config(&cluster, &service, &q);
    let out = run_once(&cfg, &endpoint(), &["--log-format", "json", "--emf"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let decision: serde_json::Value = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "decision")
        .unwrap_or_else(|| panic!("no decision line:\n{err}"));
    let f = &decision["fields"];
    assert_eq!(f["visible"], 3, "{f}");
    assert_eq!(f["desired"], 0, "{f}");
    assert!(f["decided"].is_u64(), "{f}");
    assert!(!err.contains("Some("), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let emf: serde_json::Value = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no EMF line on stdout: {stdout}"));
    assert_eq!(emf["Service"], service.as_str());
    assert_eq!(emf["QueueVisible"], 3.0);
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Preheat");
}
