//! Property-based fuzzing of everything that reads outside input: the policy file loader
//! (`Config::parse`) and every trace importer (`parse_trace_bytes` and each `parse_*`), fed
//! arbitrary bytes and strings and mutations of valid inputs (the bundled config and the first
//! lines of each bundled trace).
//!
//! Each property checks two things: nothing panics, and every rejection is a clear error — a
//! non-empty message that names the source, and the line for errors about one line (or one
//! config value). It runs `PREHEAT_FUZZ_CASES` cases per property (default 256, so the normal
//! test run stays fast). The importers' own unit tests, and what a parsed trace means, stay in
//! `trace.rs` and `config.rs`.

use crate::core::config::{Config, ConfigError, DEFAULT_CONFIG_YAML};
use crate::trace::{
    ServiceModel, Trace, TraceError, TraceFormat, TraceOptions, parse_alibaba_pods,
    parse_azure_llm, parse_native, parse_servegen, parse_swf, parse_trace_bytes,
};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

const SOURCE: &str = "fuzz-input";

/// Cases per property: `PREHEAT_FUZZ_CASES` or 256.
fn cases() -> u32 {
    std::env::var("PREHEAT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Shrinking a failure is cheap here; persistence files would land in src/.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------------------ checks

fn check_config(text: &str) {
    match Config::parse(text, SOURCE) {
        Ok(c) => {
            assert!(!c.services.is_empty());
            assert!(c.tick_s.is_finite() && c.tick_s > 0.0);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(SOURCE),
                "error does not name the file: {msg}"
            );
            match &e {
                ConfigError::Invalid { issues, .. } => {
                    assert!(!issues.is_empty(), "{msg}");
                    for i in issues {
                        assert!(!i.path.is_empty() && !i.message.trim().is_empty(), "{msg}");
                        // A bad value is pointed at by its line; only absent, unknown or
                        // cross-field problems may lack one.
                        let lineless = i.message.starts_with("is required")
                            || i.message.starts_with("unknown key")
                            || i.message.starts_with("at least one service")
                            || i.message.contains("names must be unique")
                            || i.message.contains("costs nothing")
                            || i.message.starts_with("must not be empty")
                            || i.message
                                .ends_with("(YAML syntax; compare with config/whisper.yaml)");
                        assert!(
                            lineless || i.line.is_some_and(|l| l > 0),
                            "issue without a line: {i} in {msg}"
                        );
                    }
                }
                ConfigError::Read { .. } => panic!("parse never reads a file: {msg}"),
            }
        }
    }
}

fn check_trace_error(e: &TraceError) {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty());
    assert!(
        msg.contains(SOURCE),
        "error does not name the source: {msg}"
    );
    match e {
        TraceError::BadLine { line, message, .. } => {
            assert!(*line >= 1, "{msg}");
            assert!(!message.trim().is_empty(), "{msg}");
        }
        TraceError::BadFile { message, .. } => assert!(!message.trim().is_empty(), "{msg}"),
        TraceError::UnknownFormat { .. } | TraceError::InvalidOption(_) => {
            panic!("fixed, valid options were rejected: {msg}")
        }
        _ => {}
    }
}

fn check_trace(t: &Trace) {
    for w in t.jobs.windows(2) {
        assert!(w[0].arrival_s <= w[1].arrival_s, "unsorted: {w:?}");
    }
    for j in &t.jobs {
        assert!(j.arrival_s.is_finite() && j.arrival_s >= 0.0, "{j:?}");
        assert!(j.service_s.is_finite() && j.service_s > 0.0, "{j:?}");
    }
}

fn opts_for(format: TraceFormat) -> TraceOptions {
    TraceOptions {
        format: Some(format),
        // Every format can use a made-up service time; ServeGen rates scaled down so a fuzzed
        // rate table cannot ask for millions of arrivals.
        service: ServiceModel::LogNormal {
            median_s: 60.0,
            sigma: 0.5,
            min_s: 1.0,
            max_s: 3600.0,
        },
        servegen_rate_scale: 1e-3,
        ..TraceOptions::default()
    }
}

fn check_bytes(bytes: &[u8], format: TraceFormat) {
    match parse_trace_bytes(bytes, format, SOURCE, &opts_for(format)) {
        Ok(t) => check_trace(&t),
        Err(e) => check_trace_error(&e),
    }
}

/// Every text importer on its own, then the byte loader for every format.
fn check_all(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for r in [
        parse_native(&text, SOURCE).map(|_| ()),
        parse_swf(&text, SOURCE).map(|_| ()),
        parse_alibaba_pods(&text, SOURCE, true).map(|_| ()),
        parse_azure_llm(&text, SOURCE, 0.25, 0.03).map(|_| ()),
        parse_servegen(&text, SOURCE).map(|_| ()),
    ] {
        if let Err(e) = r {
            check_trace_error(&e);
        }
    }
    for f in TraceFormat::ALL {
        check_bytes(bytes, f);
    }
}

// ------------------------------------------------------------------------------ seeds

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/traces")
        .join(rel)
}

fn head_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n") + "\n"
}

/// The first lines of each bundled trace, with the format each is in.
fn seeds() -> &'static [(TraceFormat, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(TraceFormat, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let read = |rel: &str| std::fs::read(data(rel)).expect("bundled trace");
        let gunzip = |b: Vec<u8>| {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&b[..])
                .read_to_string(&mut s)
                .expect("bundled gzip");
            s
        };
        let text = |b: Vec<u8>| String::from_utf8(b).expect("bundled text");
        let swf = head_lines(
            &gunzip(read("pwa-kth-sp2-1996/KTH-SP2-1996-2.1-cln.swf.gz")),
            60,
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(swf.as_bytes()).unwrap();
        vec![
            (
                TraceFormat::Native,
                b"arrival_s,service_s\n# comment\n0,30\n1.5,45\n20,300\n20,1e2\n".to_vec(),
            ),
            (TraceFormat::Swf, swf.clone().into_bytes()),
            (TraceFormat::Swf, gz.finish().unwrap()),
            (
                TraceFormat::AlibabaPods,
                head_lines(
                    &text(read("alibaba-gpu-v2023-openb/openb_pod_list_default.csv")),
                    40,
                )
                .into_bytes(),
            ),
            (
                TraceFormat::AzureLlm,
                head_lines(
                    &text(read(
                        "azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv",
                    )),
                    40,
                )
                .into_bytes(),
            ),
            (TraceFormat::Servegen, {
                // The busy windows (the chunk starts with idle ones).
                let all = text(read("servegen-language-m-small/chunk-0-trace.csv"));
                let busy: Vec<&str> = all
                    .lines()
                    .filter(|l| l.split(',').nth(1).is_some_and(|r| r != "0"))
                    .take(30)
                    .collect();
                (busy.join("\n") + "\n").into_bytes()
            }),
        ]
    })
}

// ------------------------------------------------------------------------------ mutations

/// Tokens that tend to break parsers: signs, exponents, non-numbers, separators, quotes, BOMs,
/// YAML syntax.
const TOKENS: &[&str] = &[
    "-",
    "-1",
    "0",
    "1e400",
    "NaN",
    "inf",
    "-0",
    "9999999999999999999999",
    ",",
    ",,",
    "\n",
    "\r\n",
    "\"",
    "'",
    "\u{feff}",
    ":",
    ": ",
    "- ",
    "  ",
    "\t",
    "#",
    "{",
    "}",
    "[",
    "]",
    "&a",
    "*a",
    "!!str",
    "~",
    "null",
    "true",
    "1h",
    "3m30s",
    "-5m",
    "25:00",
    "é",
    "\u{0}",
    "1.5",
    ".",
    "e",
    "E-",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Token(usize, usize),
    Truncate(usize),
    DuplicateLine(usize),
    DropLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 1usize..16).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Mutation::Token(p, t)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DropLine),
    ]
}

fn mutate(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match *m {
            Mutation::Flip(p, v) if !b.is_empty() => {
                let i = p % b.len();
                b[i] = v;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(p, v) => {
                let i = at(p, b.len());
                b.insert(i, v);
            }
            Mutation::Delete(p, n) => {
                let i = at(p, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Mutation::Token(p, t) => {
                let i = at(p, b.len());
                b.splice(i..i, TOKENS[t].bytes());
            }
            Mutation::Truncate(p) => {
                let i = at(p, b.len());
                b.truncate(i);
            }
            Mutation::DuplicateLine(p) | Mutation::DropLine(p) => {
                let lines: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
                let k = p % lines.len().max(1);
                let mut out: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
                if matches!(m, Mutation::DuplicateLine(_)) {
                    out.insert(k, out[k].clone());
                } else if out.len() > 1 {
                    out.remove(k);
                }
                b = out.join(&b'\n');
            }
        }
    }
    b
}

// ------------------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_arbitrary_text_is_parsed_or_clearly_rejected(text in any::<String>()) {
        check_config(&text);
    }

    #[test]
    fn config_yaml_like_text_is_parsed_or_clearly_rejected(
        text in "([a-z_]{1,12}: ?([0-9a-z.:\"-]{0,8}|\\{[a-z_: ,0-9]{0,20}\\}|\\[[a-z, ]{0,12}\\])\n {0,6}(- )?){0,12}",
    ) {
        check_config(&text);
    }

    #[test]
    fn config_mutated_from_the_bundled_one_is_parsed_or_clearly_rejected(
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let bytes = mutate(DEFAULT_CONFIG_YAML.as_bytes().to_vec(), &muts);
        check_config(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn importers_take_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_all(&bytes);
    }

    #[test]
    fn importers_take_arbitrary_text(text in any::<String>()) {
        check_all(text.as_bytes());
    }

    #[test]
    fn importers_take_mutated_real_traces(
        seed in 0usize..6,
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let (format, bytes) = &seeds()[seed];
        let m = mutate(bytes.clone(), &muts);
        // The mutated bytes as their own format (gzip included), and as every other.
        check_bytes(&m, *format);
        check_all(&m);
    }
}

#[test]
fn seeds_are_valid_before_mutation() {
    for (format, bytes) in seeds() {
        // The fuzzing rate scale leaves 30 real ServeGen windows with no arrival at all.
        let opts = TraceOptions {
            servegen_rate_scale: 0.05,
            ..opts_for(*format)
        };
        let t = parse_trace_bytes(bytes, *format, SOURCE, &opts)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert!(!t.jobs.is_empty(), "{format:?}");
        check_trace(&t);
    }
    check_config(DEFAULT_CONFIG_YAML);
    assert!(Config::parse(DEFAULT_CONFIG_YAML, SOURCE).is_ok());
}

#[test]
fn a_config_value_error_names_file_path_and_line() {
    let bad = DEFAULT_CONFIG_YAML.replace("max_tasks: 8", "max_tasks: -8");
    let msg = Config::parse(&bad, SOURCE).unwrap_err().to_string();
    assert!(msg.starts_with(SOURCE), "{msg}");
    assert!(msg.contains("line"), "{msg}");
}
