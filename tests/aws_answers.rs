//! The AWS edge against scripted 127.0.0.1 answer servers, for what moto cannot show: ECS
//! lists that span several pages (moto answers in one), task protection (moto has no
//! GetTaskProtection), and lists that never end. Each test's server answers by X-Amz-Target
//! and counts the calls; nothing leaves the machine.

use preheat::aws::ecs;
use preheat::aws::fixture::Emulator;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Calls seen, by lower-cased operation name (the part of X-Amz-Target after the dot).
type Calls = Arc<Mutex<BTreeMap<String, u32>>>;

/// Serves `answer(operation, request body)` for every request, one per connection.
fn answer_server(
    answer: impl Fn(&str, &serde_json::Value) -> String + Send + 'static,
) -> (String, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut op, mut len) = (String::new(), 0usize);
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
                    op = v.trim().rsplit('.').next().unwrap_or("").to_string();
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let body: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            *seen.lock().unwrap().entry(op.clone()).or_default() += 1;
            let payload = answer(&op, &body);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    });
    (addr, calls)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn arn(i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/c/{i:04}")
}

/// 150 running tasks over two ListTasks pages, and one task being stopped (desired STOPPED).
fn paged_ecs(op: &str, body: &serde_json::Value) -> String {
    let list = |r: std::ops::Range<usize>| -> Vec<String> { r.map(arn).collect() };
    match op {
        "listtasks" => {
            let stopped = body["desiredStatus"] == "STOPPED";
            let page2 = body["nextToken"] == "page-2";
            let v = match (stopped, page2) {
                (true, _) => serde_json::json!({"taskArns": list(150..151)}),
                (false, false) => {
                    serde_json::json!({"taskArns": list(0..100), "nextToken": "page-2"})
                }
                (false, true) => serde_json::json!({"taskArns": list(100..150)}),
            };
            v.to_string()
        }
        "describetasks" => {
            let tasks: Vec<serde_json::Value> = body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let stopping = a.as_str() == Some(arn(150).as_str());
                    serde_json::json!({
                        "taskArn": a, "group": "service:s",
                        "lastStatus": if stopping { "STOPPING" } else { "RUNNING" },
                        "createdAt": 1.7e9, "startedAt": 1.7e9 + 60.0
                    })
                })
                .collect();
            serde_json::json!({"tasks": tasks, "failures": []}).to_string()
        }
        "gettaskprotection" => {
            let p: Vec<serde_json::Value> = body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| serde_json::json!({"taskArn": a, "protectionEnabled": true}))
                .collect();
            serde_json::json!({"protectedTasks": p, "failures": []}).to_string()
        }
        _ => "{}".into(),
    }
}

/// Issue #10: ListTasks read one page, DescribeTasks was capped at 100 ids, STOPPING tasks were
/// never listed, and GetTaskProtection took up to 100 tasks (10 is the batch here).
#[test]
fn lists_are_read_to_the_end_and_described_in_batches() {
    let (ep, calls) = answer_server(paged_ecs);
    let (tasks, protection) = rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let c = &emu.clients;
        let tasks = ecs::service_tasks(
            &c.ecs,
            &c.endpoint,
            "c",
            "s",
            &mut ecs::TaskCache::default(),
        )
        .await
        .unwrap();
        let running: Vec<String> = tasks
            .iter()
            .filter(|t| t.last_status == "RUNNING")
            .map(|t| t.arn.clone())
            .collect();
        let p = ecs::task_protection(&c.ecs, &c.endpoint, "c", &running)
            .await
            .unwrap();
        (tasks, p)
    });
    assert_eq!(tasks.len(), 151);
    assert_eq!(
        tasks.iter().filter(|t| t.last_status == "STOPPING").count(),
        1,
        "the task being stopped is listed too"
    );
    assert_eq!(protection.len(), 150);
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls["listtasks"], 3,
        "two RUNNING pages + one STOPPED: {calls:?}"
    );
    assert_eq!(
        calls["describetasks"], 2,
        "151 ids in batches of 100: {calls:?}"
    );
    assert_eq!(
        calls["gettaskprotection"],
        150_u32.div_ceil(ecs::PROTECTION_BATCH as u32),
        "150 tasks in batches of {}: {calls:?}",
        ecs::PROTECTION_BATCH
    );
}

/// A list that never ends is cut at `MAX_PAGES` and read as failed, never as complete.
#[test]
fn a_list_cut_short_is_an_error_not_a_short_list() {
    let (ep, calls) = answer_server(|op, _| {
        match op {
        "listtasks" => r#"{"taskArns":["arn:aws:ecs:us-east-1:1:task/c/x"],"nextToken":"more"}"#
            .into(),
        "listcontainerinstances" => {
            r#"{"containerInstanceArns":["arn:aws:ecs:us-east-1:1:container-instance/c/i"],"nextToken":"more"}"#
                .into()
        }
        _ => r#"{"tasks":[],"containerInstances":[],"failures":[]}"#.into(),
    }
    });
    let (tasks, instances) = rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let c = &emu.clients;
        (
            ecs::service_tasks(
                &c.ecs,
                &c.endpoint,
                "c",
                "s",
                &mut ecs::TaskCache::default(),
            )
            .await,
            ecs::container_instances(&c.ecs, &c.endpoint, "c").await,
        )
    });
    let e = tasks
        .expect_err("an endless task list is unknown")
        .to_string();
    assert!(e.contains("cut short"), "{e}");
    let e = instances
        .expect_err("an endless instance list is unknown")
        .to_string();
    assert!(e.contains("cut short"), "{e}");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls["listtasks"] as usize, ecs::MAX_PAGES, "{calls:?}");
    assert!(!calls.contains_key("describetasks"), "{calls:?}");
}

/// Issue #11: every tick described every task of the cluster again, though a task RUNNING on
/// the wanted-RUNNING list and a STOPPED task cannot change. Now only tasks whose
/// description can still change are described; the others come from the cache, and a task
/// that moves to the wanted-STOPPED list is described again until it is STOPPED.
#[test]
fn a_task_settled_as_running_or_stopped_is_not_described_again() {
    // Task 0 runs, then is being stopped, then stopped; task 1 starts PENDING, then runs.
    let phase = Arc::new(Mutex::new(0u32));
    let asked: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let (p, a) = (phase.clone(), asked.clone());
    let (ep, _) = answer_server(move |op, body| {
        let phase = *p.lock().unwrap();
        match op {
            "listtasks" => {
                let stopped = body["desiredStatus"] == "STOPPED";
                let arns: Vec<String> = match (stopped, phase >= 2) {
                    (false, false) => vec![arn(0), arn(1)],
                    (false, true) => vec![arn(1)],
                    (true, false) => vec![],
                    (true, true) => vec![arn(0)],
                };
                serde_json::json!({ "taskArns": arns }).to_string()
            }
            "describetasks" => {
                let ids: Vec<String> = body["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                a.lock().unwrap().push(ids.clone());
                let tasks: Vec<serde_json::Value> = ids
                    .iter()
                    .map(|id| {
                        let status = match (id == &arn(0), phase) {
                            (true, 0 | 1) => "RUNNING",
                            (true, 2) => "STOPPING",
                            (true, _) => "STOPPED",
                            (false, 0) => "PENDING",
                            (false, _) => "RUNNING",
                        };
                        serde_json::json!({
                            "taskArn": id, "group": "service:s", "lastStatus": status,
                            "createdAt": 1.7e9, "startedAt": 1.7e9 + 60.0
                        })
                    })
                    .collect();
                serde_json::json!({"tasks": tasks, "failures": []}).to_string()
            }
            _ => "{}".into(),
        }
    });
    let mut cache = ecs::TaskCache::default();
    let mut statuses = Vec::new();
    rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let c = &emu.clients;
        for ph in [0, 0, 1, 1, 2, 3, 3] {
            *phase.lock().unwrap() = ph;
            let tasks = ecs::service_tasks(&c.ecs, &c.endpoint, "c", "s", &mut cache)
                .await
                .unwrap();
            let s: Vec<(String, String)> =
                tasks.into_iter().map(|t| (t.arn, t.last_status)).collect();
            statuses.push(s);
        }
    });
    let st = |v: &[(usize, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(i, s)| (arn(*i), s.to_string())).collect()
    };
    assert_eq!(
        statuses,
        vec![
            st(&[(0, "RUNNING"), (1, "PENDING")]),
            st(&[(0, "RUNNING"), (1, "PENDING")]),
            st(&[(0, "RUNNING"), (1, "RUNNING")]),
            st(&[(0, "RUNNING"), (1, "RUNNING")]),
            st(&[(1, "RUNNING"), (0, "STOPPING")]),
            st(&[(1, "RUNNING"), (0, "STOPPED")]),
            st(&[(1, "RUNNING"), (0, "STOPPED")]),
        ],
        "each read shows what ECS would describe"
    );
    assert_eq!(
        *asked.lock().unwrap(),
        vec![
            vec![arn(0), arn(1)],
            vec![arn(1)],
            vec![arn(1)],
            vec![arn(0)],
            vec![arn(0)],
        ],
        "described: both, then the PENDING one until it runs, nothing while both run, then \
         the one being stopped until it is STOPPED, nothing after"
    );
    assert_eq!(cache.len(), 2, "only tasks on the latest lists are kept");
}
