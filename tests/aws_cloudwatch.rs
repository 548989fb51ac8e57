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
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A decoded CBOR item (the subset the SDK sends: definite or indefinite maps and arrays).
#[derive(Debug, Clone, PartialEq)]
enum Cbor {
    Uint(u64),
    Neg(i64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
    Tag(u64, Box<Cbor>),
    Float(f64),
    Simple(u8),
}

impl Cbor {
    fn get(&self, key: &str) -> Option<&Cbor> {
        match self {
            Cbor::Map(kv) => kv
                .iter()
                .find(|(k, _)| *k == Cbor::Text(key.into()))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn text(&self) -> &str {
        match self {
            Cbor::Text(s) => s,
            other => panic!("not text: {other:?}"),
        }
    }

    fn items(&self) -> &[Cbor] {
        match self {
            Cbor::Array(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn number(&self) -> f64 {
        match self {
            Cbor::Uint(n) => *n as f64,
            Cbor::Neg(n) => *n as f64,
            Cbor::Float(f) => *f,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// Epoch seconds of a CBOR tag-1 timestamp.
    fn epoch_s(&self) -> f64 {
        match self {
            Cbor::Tag(1, v) => v.number(),
            other => panic!("not a timestamp: {other:?}"),
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let v = self.b[self.at];
        self.at += 1;
        v
    }

    fn uint(&mut self, n: usize) -> u64 {
        (0..n).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// The argument of an item head; `None` = indefinite length.
    fn arg(&mut self, info: u8) -> Option<u64> {
        match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(self.uint(1)),
            25 => Some(self.uint(2)),
            26 => Some(self.uint(4)),
            27 => Some(self.uint(8)),
            31 => None,
            _ => panic!("bad additional info {info}"),
        }
    }

    fn is_break(&self) -> bool {
        self.b[self.at] == 0xff
    }

    fn item(&mut self) -> Cbor {
        let ib = self.byte();
        let (major, info) = (ib >> 5, ib & 0x1f);
        if major == 7 {
            return match info {
                25 => Cbor::Float(half(self.uint(2) as u16)),
                26 => Cbor::Float(f64::from(f32::from_bits(self.uint(4) as u32))),
                27 => Cbor::Float(f64::from_bits(self.uint(8))),
                s => Cbor::Simple(s),
            };
        }
        let arg = self.arg(info);
        match major {
            0 => Cbor::Uint(arg.unwrap()),
            1 => Cbor::Neg(-1 - arg.unwrap() as i64),
            2 | 3 => {
                let bytes = match arg {
                    Some(n) => {
                        let v = self.b[self.at..self.at + n as usize].to_vec();
                        self.at += n as usize;
                        v
                    }
                    None => {
                        let mut v = Vec::new();
                        while !self.is_break() {
                            match self.item() {
                                Cbor::Bytes(p) => v.extend(p),
                                Cbor::Text(t) => v.extend(t.into_bytes()),
                                other => panic!("bad chunk {other:?}"),
                            }
                        }
                        self.at += 1;
                        v
                    }
                };
                if major == 2 {
                    Cbor::Bytes(bytes)
                } else {
                    Cbor::Text(String::from_utf8(bytes).unwrap())
                }
            }
            4 => {
                let mut v = Vec::new();
                match arg {
                    Some(n) => (0..n).for_each(|_| v.push(self.item())),
                    None => {
                        while !self.is_break() {
                            v.push(self.item());
                        }
                        self.at += 1;
                    }
                }
                Cbor::Array(v)
            }
            5 => {
                let mut v = Vec::new();
                match arg {
                    Some(n) => (0..n).for_each(|_| {
                        let k = self.item();
                        v.push((k, self.item()));
                    }),
                    None => {
                        while !self.is_break() {
                            let k = self.item();
                            v.push((k, self.item()));
                        }
                        self.at += 1;
                    }
                }
                Cbor::Map(v)
            }
            6 => Cbor::Tag(arg.unwrap(), Box::new(self.item())),
            _ => unreachable!(),
        }
    }
}

fn half(h: u16) -> f64 {
    let exp = (h >> 10) & 0x1f;
    let mant = f64::from(h & 0x3ff);
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 => f64::INFINITY,
        e => (1.0 + mant / 1024.0) * 2f64.powi(i32::from(e) - 15),
    };
    if h & 0x8000 != 0 { -v } else { v }
}

fn decode(b: &[u8]) -> Cbor {
    let mut r = Reader { b, at: 0 };
    let v = r.item();
    assert_eq!(r.at, b.len(), "trailing bytes in the request");
    v
}

/// Encodes the answers (definite lengths, doubles as float64, timestamps as tag 1).
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn head(&mut self, major: u8, n: u64) -> &mut Self {
        let m = major << 5;
        match n {
            0..=23 => self.0.push(m | n as u8),
            24..=0xff => self.0.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                self.0.push(m | 25);
                self.0.extend((n as u16).to_be_bytes());
            }
            _ => {
                self.0.push(m | 27);
                self.0.extend(n.to_be_bytes());
            }
        }
        self
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.0.extend(s.as_bytes());
        self
    }

    fn f64(&mut self, v: f64) -> &mut Self {
        self.0.push(0xfb);
        self.0.extend(v.to_bits().to_be_bytes());
        self
    }
}

/// One `MetricDataResults` entry.
fn result(o: &mut Out, id: &str, points: &[(i64, f64)]) {
    o.head(5, 4).text("Id").text(id).text("Timestamps");
    o.head(4, points.len() as u64);
    for (t, _) in points {
        o.head(6, 1).f64(*t as f64);
    }
    o.text("Values").head(4, points.len() as u64);
    for (_, v) in points {
        o.f64(*v);
    }
    o.text("StatusCode").text("Complete");
}

/// What the answer server saw of one CloudWatch call.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    smithy_protocol: String,
    signed: bool,
    body: Cbor,
}

type Answer = Arc<dyn Fn(&Cbor) -> (u16, Vec<u8>) + Send + Sync>;

/// A 127.0.0.1 server: CBOR calls are recorded and answered by `answer`; anything else (SQS,
/// ECS JSON calls) gets a JSON client error.
fn answer_server(answer: Answer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                continue;
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            let (mut len, mut proto, mut signed) = (0usize, String::new(), false);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = l.strip_prefix("smithy-protocol:") {
                    proto = v.trim().to_string();
                }
                signed |= l.starts_with("authorization:");
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let (status, ctype, out) = if path.starts_with("/service/") {
                let req = decode(&body);
                let (status, out) = answer(&req);
                log.lock().unwrap().push(Seen {
                    path: path.clone(),
                    smithy_protocol: proto,
                    signed,
                    body: req,
                });
                (status, "application/cbor", out)
            } else {
                let e = br#"{"__type":"InvalidAction","message":"not served here"}"#.to_vec();
                (400, "application/x-amz-json-1.1", e)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nsmithy-protocol: rpc-v2-cbor\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                out.len()
            );
            let _ = stream.write_all(&out);
        }
    });
    (addr, seen)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn error_body(kind: &str) -> Vec<u8> {
    let mut o = Out::default();
    o.head(5, 2)
        .text("__type")
        .text(kind)
        .text("message")
        .text("denied or failed (test)");
    o.0
}

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
