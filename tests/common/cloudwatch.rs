//! A 127.0.0.1 CloudWatch answer server for the tests: moto cannot speak CloudWatch's Smithy
//! RPC v2 CBOR protocol, so this decodes the CBOR request the SDK sends (the subset it uses)
//! and answers in CBOR through a closure each test supplies. Anything that is not a CBOR call
//! (SQS, ECS JSON calls) gets a JSON client error. Shared by tests/aws_cloudwatch.rs and
//! tests/history.rs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A decoded CBOR item (the subset the SDK sends: definite or indefinite maps and arrays).
#[derive(Debug, Clone, PartialEq)]
pub enum Cbor {
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
    pub fn get(&self, key: &str) -> Option<&Cbor> {
        match self {
            Cbor::Map(kv) => kv
                .iter()
                .find(|(k, _)| *k == Cbor::Text(key.into()))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Cbor::Text(s) => s,
            other => panic!("not text: {other:?}"),
        }
    }

    pub fn items(&self) -> &[Cbor] {
        match self {
            Cbor::Array(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }

    pub fn number(&self) -> f64 {
        match self {
            Cbor::Uint(n) => *n as f64,
            Cbor::Neg(n) => *n as f64,
            Cbor::Float(f) => *f,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// Epoch seconds of a CBOR tag-1 timestamp.
    pub fn epoch_s(&self) -> f64 {
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
    pub fn byte(&mut self) -> u8 {
        let v = self.b[self.at];
        self.at += 1;
        v
    }

    pub fn uint(&mut self, n: usize) -> u64 {
        (0..n).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// The argument of an item head; `None` = indefinite length.
    pub fn arg(&mut self, info: u8) -> Option<u64> {
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

    pub fn is_break(&self) -> bool {
        self.b[self.at] == 0xff
    }

    pub fn item(&mut self) -> Cbor {
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

pub fn decode(b: &[u8]) -> Cbor {
    let mut r = Reader { b, at: 0 };
    let v = r.item();
    assert_eq!(r.at, b.len(), "trailing bytes in the request");
    v
}

/// Encodes the answers (definite lengths, doubles as float64, timestamps as tag 1).
#[derive(Default)]
pub struct Out(pub Vec<u8>);

impl Out {
    pub fn head(&mut self, major: u8, n: u64) -> &mut Self {
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

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.0.extend(s.as_bytes());
        self
    }

    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.0.push(0xfb);
        self.0.extend(v.to_bits().to_be_bytes());
        self
    }
}

/// One `MetricDataResults` entry.
pub fn result(o: &mut Out, id: &str, points: &[(i64, f64)]) {
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
pub struct Seen {
    pub path: String,
    pub smithy_protocol: String,
    pub signed: bool,
    pub body: Cbor,
}

pub type Answer = Arc<dyn Fn(&Cbor) -> (u16, Vec<u8>) + Send + Sync>;

/// A 127.0.0.1 server: CBOR calls are recorded and answered by `answer`; anything else (SQS,
/// ECS JSON calls) gets a JSON client error.
pub fn answer_server(answer: Answer) -> (String, Arc<Mutex<Vec<Seen>>>) {
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

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn error_body(kind: &str) -> Vec<u8> {
    let mut o = Out::default();
    o.head(5, 2)
        .text("__type")
        .text(kind)
        .text("message")
        .text("denied or failed (test)");
    o.0
}
