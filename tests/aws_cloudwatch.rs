//! The CloudWatch edge on the wire. moto cannot speak CloudWatch's Smithy RPC v2 CBOR protocol,
//! so these tests run a 127.0.0.1 answer server that decodes the CBOR request the SDK sends
//! and answers in CBOR, as CloudWatch would: a success with late and missing datapoints,
//! AccessDenied (→ SQS-only, no further calls), and a server failure followed by recovery.
//! The server also answers the SQS and ECS calls of a whole `AwsWorld` tick with an error, to
//! count that one tick makes one `GetMetricData` call for all services. No moto needed.

use preheat::aws::AwsWorld;
use preheat::aws::cloudwatch::{MetricsReader, ReaderState};
use preheat::aws::fixture::Emulator;
use preheat::core::config::Config;
use preheat::core::model::MinuteSums;
use preheat::world::World;
use std::sync::{Arc, Mutex};

mod common;
use common::cloudwatch::*;

/// Now: 12:00:30 on some day; the last complete minute starts at 11:59.
const NOW_S: f64 = 1_767_268_830.0;
const LAST_MIN_S: i64 = 1_767_268_740;

#[test]
fn one_call_reads_every_queue_and_keeps_only_published_minutes() {
    let answer: Answer = Arc::new(|_req| {
        let mut o = Out::default();
        o.head(5, 2).text("MetricDataResults").head(4, 4);
        // Queue 0: minute −2 complete; minute −1 has its sent sum but not yet its deleted sum
        // (late): only minute −2 is a minute. A datapoint of the running minute is ignored.
        result(
            &mut o,
            "sent0",
            &[
                (LAST_MIN_S - 60, 3.0),
                (LAST_MIN_S, 1.0),
                (LAST_MIN_S + 60, 9.0),
            ],
        );
        result(&mut o, "deleted0", &[(LAST_MIN_S - 60, 2.0)]);
        // Queue 1: nothing published (an idle queue).
        result(&mut o, "sent1", &[]);
        result(&mut o, "deleted1", &[]);
        o.text("Messages").head(4, 0);
        (200, o.0)
    });
    let (ep, seen) = answer_server(answer);
    let got = rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let mut r = MetricsReader::default();
        r.read(&emu.clients.cw, &ep, &["jobs-a", "jobs-b"], NOW_S)
            .await
    });
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one GetMetricData for both queues");
    let c = &calls[0];
    assert_eq!(
        c.path,
        "/service/GraniteServiceVersion20100801/operation/GetMetricData"
    );
    assert_eq!(c.smithy_protocol, "rpc-v2-cbor");
    assert!(c.signed, "the SDK signs every call");
    // Complete minutes of the last 20 minutes only.
    assert_eq!(
        c.body.get("EndTime").unwrap().epoch_s(),
        (LAST_MIN_S + 60) as f64
    );
    assert_eq!(
        c.body.get("StartTime").unwrap().epoch_s(),
        (LAST_MIN_S + 60 - 1200) as f64
    );
    let queries = c.body.get("MetricDataQueries").unwrap().items();
    assert_eq!(queries.len(), 4);
    for (q, (id, metric, queue)) in queries.iter().zip([
        ("sent0", "NumberOfMessagesSent", "jobs-a"),
        ("deleted0", "NumberOfMessagesDeleted", "jobs-a"),
        ("sent1", "NumberOfMessagesSent", "jobs-b"),
        ("deleted1", "NumberOfMessagesDeleted", "jobs-b"),
    ]) {
        assert_eq!(q.get("Id").unwrap().text(), id);
        let stat = q.get("MetricStat").unwrap();
        assert_eq!(stat.get("Stat").unwrap().text(), "Sum");
        assert_eq!(stat.get("Period").unwrap().number(), 60.0);
        let m = stat.get("Metric").unwrap();
        assert_eq!(m.get("Namespace").unwrap().text(), "AWS/SQS");
        assert_eq!(m.get("MetricName").unwrap().text(), metric);
        let d = &m.get("Dimensions").unwrap().items()[0];
        assert_eq!(d.get("Name").unwrap().text(), "QueueName");
        assert_eq!(d.get("Value").unwrap().text(), queue);
    }
    let a = got[0].as_ref().expect("queue 0 read");
    assert_eq!(
        a.minutes,
        vec![MinuteSums {
            minute_start_s: LAST_MIN_S - 60,
            sent: 3,
            deleted: 2
        }]
    );
    assert_eq!(got[1].as_ref().expect("queue 1 read").minutes, vec![]);
}

#[test]
fn access_denied_degrades_to_sqs_only_and_stops_calling() {
    let answer: Answer = Arc::new(|_| (400, error_body("AccessDeniedException")));
    let (ep, seen) = answer_server(answer);
    rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let mut r = MetricsReader::default();
        for _ in 0..3 {
            let got = r.read(&emu.clients.cw, &ep, &["jobs"], NOW_S).await;
            assert_eq!(got, vec![None]);
        }
        assert_eq!(r.state, ReaderState::Denied);
    });
    assert_eq!(seen.lock().unwrap().len(), 1, "no calls after a denial");
}

#[test]
fn a_failing_call_is_none_for_the_tick_and_recovers() {
    let calls = Arc::new(Mutex::new(0u32));
    let n = calls.clone();
    let answer: Answer = Arc::new(move |_| {
        let mut k = n.lock().unwrap();
        *k += 1;
        if *k <= 2 {
            (500, error_body("InternalServiceError"))
        } else {
            let mut o = Out::default();
            o.head(5, 1).text("MetricDataResults").head(4, 2);
            result(&mut o, "sent0", &[(LAST_MIN_S, 4.0)]);
            result(&mut o, "deleted0", &[(LAST_MIN_S, 4.0)]);
            (200, o.0)
        }
    });
    let (ep, _seen) = answer_server(answer);
    rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let mut r = MetricsReader::default();
        assert_eq!(
            r.read(&emu.clients.cw, &ep, &["jobs"], NOW_S).await,
            vec![None]
        );
        assert_eq!(r.state, ReaderState::Failing);
        assert_eq!(
            r.read(&emu.clients.cw, &ep, &["jobs"], NOW_S).await,
            vec![None]
        );
        let got = r.read(&emu.clients.cw, &ep, &["jobs"], NOW_S).await;
        assert_eq!(got[0].as_ref().unwrap().minutes.len(), 1);
        assert_eq!(r.state, ReaderState::Reading);
    });
}

/// `preheat run`'s world: one tick over two services makes one GetMetricData call, and each
/// service's observation carries its own queue's minutes.
#[test]
fn a_world_tick_makes_one_call_for_all_services() {
    let answer: Answer = Arc::new(|_| {
        let mut o = Out::default();
        o.head(5, 1).text("MetricDataResults").head(4, 4);
        result(&mut o, "sent0", &[(LAST_MIN_S, 1.0)]);
        result(&mut o, "deleted0", &[(LAST_MIN_S, 0.0)]);
        result(&mut o, "sent1", &[(LAST_MIN_S, 7.0)]);
        result(&mut o, "deleted1", &[(LAST_MIN_S, 5.0)]);
        (200, o.0)
    });
    let (ep, seen) = answer_server(answer);
    let yaml = format!(
        "tick: 15s\nservices:\n  - name: a\n    cluster: c\n    service: a\n    queue_url: {ep}/1/qa\n    max_tasks: 4\n    slo: {{max_wait: 10m, attainment: 0.95}}\n  - name: b\n    cluster: c\n    service: b\n    queue_url: {ep}/1/qb\n    max_tasks: 4\n    slo: {{max_wait: 10m, attainment: 0.95}}\n"
    );
    let services = Config::parse(&yaml, "test").unwrap().services;
    let (a, b) = rt().block_on(async {
        let emu = Emulator::connect(&ep).await.unwrap();
        let mut world = AwsWorld::new(emu.clients.clone(), services);
        let a = world.observe(0, NOW_S).await;
        let b = world.observe(1, NOW_S).await;
        (a, b)
    });
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one GetMetricData per tick");
    let ids: Vec<_> = calls[0]
        .body
        .get("MetricDataQueries")
        .unwrap()
        .items()
        .iter()
        .map(|q| {
            let m = q.get("MetricStat").unwrap().get("Metric").unwrap();
            m.get("Dimensions").unwrap().items()[0]
                .get("Value")
                .unwrap()
                .text()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["qa", "qa", "qb", "qb"]);
    assert_eq!(a.metrics.unwrap().minutes[0].sent, 1);
    let bm = b.metrics.unwrap().minutes[0];
    assert_eq!((bm.sent, bm.deleted), (7, 5));
    // The SQS and ECS reads failed on this server: those fields are unknown, not guessed.
    assert!(a.queue.is_none() && a.service.is_none());
}
