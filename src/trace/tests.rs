//! Unit and property tests of the trace importers on small inline samples: every format,
//! every error message, the window/scale/service options, and no panic on any input.

use super::*;
use proptest::prelude::*;

pub(super) fn assert_sane(trace: &Trace) {
    assert!(!trace.jobs.is_empty());
    assert_eq!(trace.jobs[0].arrival_s, 0.0);
    for w in trace.jobs.windows(2) {
        assert!(w[0].arrival_s <= w[1].arrival_s);
    }
    for j in &trace.jobs {
        assert!(j.arrival_s >= 0.0 && j.arrival_s.is_finite());
        assert!(j.service_s > 0.0 && j.service_s.is_finite());
    }
}

pub(super) fn lognormal() -> ServiceModel {
    ServiceModel::LogNormal {
        median_s: 30.0,
        sigma: 1.0,
        min_s: 1.0,
        max_s: 3600.0,
    }
}

fn bad_line(err: TraceError) -> (String, u64, String) {
    let text = err.to_string();
    match err {
        TraceError::BadLine { file, line, .. } => (file, line, text),
        other => panic!("expected a line error, got {other:?}"),
    }
}

// --- formats ------------------------------------------------------------------------------

#[test]
fn native_parses_with_header_comments_and_blank_lines() {
    let text = "\u{feff}# a comment\narrival_s,service_s\n0,10\n\n 2.5 , 3 \r\n# more\n1,1e1\n";
    let jobs = parse_native(text, "x.csv").unwrap();
    assert_eq!(
        jobs,
        vec![
            Job {
                arrival_s: 0.0,
                service_s: 10.0
            },
            Job {
                arrival_s: 2.5,
                service_s: 3.0
            },
            Job {
                arrival_s: 1.0,
                service_s: 10.0
            },
        ]
    );
    assert_eq!(parse_native("5,1", "x").unwrap().len(), 1);
    assert!(parse_native("", "x").unwrap().is_empty());
}

#[test]
fn native_round_trips_through_write_native() {
    let jobs = vec![
        Job {
            arrival_s: 0.0,
            service_s: 0.1,
        },
        Job {
            arrival_s: 1.0 / 3.0,
            service_s: 12345.678901234,
        },
    ];
    let mut out = Vec::new();
    write_native(&jobs, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("arrival_s,service_s\n"));
    assert_eq!(parse_native(&text, "rt").unwrap(), jobs);
}

const SWF_SAMPLE: &str = "; Version: 2.2\n; UnixStartTime: 843480031\n;\n\
   15   599850 192180   3477    4     -1    -1    4  53940    -1  1  12  12  -1 -1 -1 -1 -1\n\
   16   600022  11940   2488   25     -1    -1   25   3600    -1  1  13  13  -1 -1 -1 -1 -1\n\
   17   600100     -1     -1   25     -1    -1   25   3600    -1  0  13  13  -1 -1 -1 -1 -1\n\
   18       -1     -1     10   25     -1    -1   25   3600    -1  0  13  13  -1 -1 -1 -1 -1\n\
   19   600200      0      0    1     -1    -1    1     60    -1  5  13  13  -1 -1 -1 -1 -1";

#[test]
fn swf_parses_and_skips_unknown_run_times() {
    let parsed = parse_swf(SWF_SAMPLE, "k.swf").unwrap();
    assert_eq!(parsed.epoch_unix_s, 843_480_031.0);
    assert_eq!(parsed.skipped_rows, 3);
    assert_eq!(
        parsed.jobs,
        vec![
            Job {
                arrival_s: 599_850.0,
                service_s: 3477.0
            },
            Job {
                arrival_s: 600_022.0,
                service_s: 2488.0
            },
        ]
    );
    let trace = parse_trace_bytes(
        SWF_SAMPLE.as_bytes(),
        TraceFormat::Swf,
        "k.swf",
        &TraceOptions::default(),
    )
    .unwrap();
    assert_eq!(trace.epoch_unix_s, 843_480_031.0 + 599_850.0);
    assert_eq!(trace.jobs[1].arrival_s, 172.0);
}

#[test]
fn swf_gzip_is_detected_by_magic_bytes() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(SWF_SAMPLE.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let trace = parse_trace_bytes(
        &bytes,
        TraceFormat::Swf,
        "k.swf.gz",
        &TraceOptions::default(),
    )
    .unwrap();
    assert_eq!(trace.jobs.len(), 2);
    let err = parse_trace_bytes(
        &bytes[..20],
        TraceFormat::Swf,
        "k.swf.gz",
        &TraceOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("k.swf.gz: starts like a gzip file"),
        "{err}"
    );
}

const ALIBABA_SAMPLE: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
openb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0\n\
openb-pod-0001,6000,12288,0,0,,LS,Running,100,400,150\n\
openb-pod-0002,6000,12288,1,460,V100|A10,BE,Pending,200,300,\n\
openb-pod-0003,6000,12288,0,500,,LS,Succeeded,300,900,310\n\
openb-pod-0004,6000,12288,2,0,,LS,Failed,400,400,400\n";

#[test]
fn alibaba_pods_map_columns_and_filter() {
    let gpu = parse_alibaba_pods(ALIBABA_SAMPLE, "p.csv", true).unwrap();
    assert_eq!(
        gpu.jobs,
        vec![
            Job {
                arrival_s: 0.0,
                service_s: 12_537_496.0
            },
            Job {
                arrival_s: 300.0,
                service_s: 590.0
            },
        ]
    );
    assert_eq!((gpu.skipped_rows, gpu.filtered_rows), (2, 1));
    let all = parse_alibaba_pods(ALIBABA_SAMPLE, "p.csv", false).unwrap();
    assert_eq!(all.jobs.len(), 3);
    assert_eq!(
        all.jobs[1],
        Job {
            arrival_s: 100.0,
            service_s: 250.0
        }
    );
    assert_eq!((all.skipped_rows, all.filtered_rows), (2, 0));
}

const AZURE_SAMPLE: &str = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
2023-11-16 18:17:03.9799600,4808,10\n\
2023-11-16 18:17:04.0319600,3180,8\n\
2023-11-16 18:17:05,1000,0";

#[test]
fn azure_models_service_from_tokens() {
    let parsed = parse_azure_llm(AZURE_SAMPLE, "a.csv", 0.25, 0.03).unwrap();
    // 2023-11-16 00:00:00 UTC = 1700092800.
    assert!((parsed.epoch_unix_s - (1_700_092_800.0 + 65_823.979_96)).abs() < 1e-6);
    let arrivals: Vec<f64> = parsed.jobs.iter().map(|j| j.arrival_s).collect();
    assert!((arrivals[1] - 0.052).abs() < 1e-9 && (arrivals[2] - 1.02004).abs() < 1e-9);
    assert!((parsed.jobs[0].service_s - (0.25 * 4.808 + 0.3)).abs() < 1e-12);
    assert!((parsed.jobs[2].service_s - 0.25).abs() < 1e-12);
    assert_eq!(
        parse_utc_timestamp_ns("1970-01-01T00:00:01Z"),
        Some(1_000_000_000)
    );
    assert_eq!(
        parse_utc_timestamp_ns("2024-02-29 00:00:00"),
        Some(1_709_164_800_000_000_000)
    );
    for bad in [
        "2023-02-29 00:00:00",
        "2023-11-16 24:00:00",
        "2023-11-16 18:17:03.",
        "2023-11-16",
        "2023-11-16 18:17:03+01",
    ] {
        assert_eq!(parse_utc_timestamp_ns(bad), None, "{bad}");
    }
}

const SERVEGEN_SAMPLE: &str = "0,0,0,,0,0\n\
600,2.0,1.15,Gamma,0.748,0.0443\n\
1200,0.5,7.39,Weibull,0.425,0.00904\n\
1800,0,0,,0,0\n";

#[test]
fn servegen_parses_and_synthesizes() {
    let windows = parse_servegen(SERVEGEN_SAMPLE, "chunk-7-trace.csv").unwrap();
    assert_eq!(windows.len(), 4);
    assert_eq!(
        windows[1].pattern,
        Some(InterArrival::Gamma {
            shape: 0.748,
            scale_s: 0.0443
        })
    );
    assert_eq!(windows[3].pattern, None);
    let expected = servegen_expected_arrivals(&windows, 1.0, None);
    assert!((expected - 1500.0).abs() < 1e-9);
    let arrivals = synthesize_servegen(&windows, 1, 1.0, None);
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
    assert!(arrivals.iter().all(|&a| (600.0..1800.0).contains(&a)));
    let n = arrivals.len() as f64;
    assert!((n - expected).abs() < 0.25 * expected, "{n} vs {expected}");
    // The Gamma window carries 2 req/s × 600 s.
    let first = arrivals.iter().filter(|&&a| a < 1200.0).count() as f64;
    assert!((first - 1200.0).abs() < 250.0, "{first}");
    // Through load path: chunk id from the name; from-trace is refused.
    let opts = TraceOptions {
        service: ServiceModel::Fixed { seconds: 5.0 },
        servegen_rate_scale: 1.0,
        ..TraceOptions::default()
    };
    let trace = parse_trace_bytes(
        SERVEGEN_SAMPLE.as_bytes(),
        TraceFormat::Servegen,
        "dir/chunk-7-trace.csv",
        &opts,
    )
    .unwrap();
    assert_sane(&trace);
    assert!(trace.jobs.iter().all(|j| j.service_s == 5.0));
}

#[test]
fn servegen_rate_scale_keeps_volume_for_sparse_clients() {
    // 1,000 windows at 0.1 req/s scaled by 0.001: one arrival per ~10^4 s, i.e. per ~17 windows.
    let windows: Vec<ServegenWindow> = (0..1000)
        .map(|i| ServegenWindow {
            start_s: f64::from(i) * SERVEGEN_WINDOW_S,
            rate_per_s: 0.1,
            pattern: Some(InterArrival::Gamma {
                shape: 0.5,
                scale_s: 20.0,
            }),
        })
        .collect();
    let expected = servegen_expected_arrivals(&windows, 0.001, None);
    assert!((expected - 60.0).abs() < 1e-9);
    let total: usize = (0..20)
        .map(|s| synthesize_servegen(&windows, s, 0.001, None).len())
        .sum();
    let mean = total as f64 / 20.0;
    assert!((mean - 60.0).abs() < 12.0, "mean {mean}");
}

#[test]
fn servegen_is_deterministic_per_seed() {
    let opts = |seed| TraceOptions {
        service: lognormal(),
        servegen_rate_scale: 1.0,
        seed,
        ..TraceOptions::default()
    };
    let load = |seed| {
        parse_trace_bytes(
            SERVEGEN_SAMPLE.as_bytes(),
            TraceFormat::Servegen,
            "chunk-3-trace.csv",
            &opts(seed),
        )
        .unwrap()
    };
    assert_eq!(load(42), load(42));
    assert_ne!(load(42).jobs, load(43).jobs);
    // Different chunks get different streams from the same seed.
    let other = parse_trace_bytes(
        SERVEGEN_SAMPLE.as_bytes(),
        TraceFormat::Servegen,
        "chunk-4-trace.csv",
        &opts(42),
    )
    .unwrap();
    assert_ne!(load(42).jobs, other.jobs);
}

#[test]
fn servegen_directory_is_independent_of_client_order() {
    let dir = std::env::temp_dir().join(format!("preheat-servegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for i in [2, 10, 1] {
        std::fs::write(dir.join(format!("chunk-{i}-trace.csv")), SERVEGEN_SAMPLE).unwrap();
    }
    std::fs::write(dir.join("chunk-1-dataset.json"), "{}").unwrap();
    assert_eq!(detect_format(&dir), Some(TraceFormat::Servegen));
    let opts = |clients: Option<Vec<u32>>| TraceOptions {
        service: lognormal(),
        servegen_rate_scale: 0.5,
        servegen_clients: clients,
        seed: 9,
        ..TraceOptions::default()
    };
    let a = load_trace(&dir, &opts(Some(vec![10, 1]))).unwrap();
    let b = load_trace(&dir, &opts(Some(vec![1, 10]))).unwrap();
    assert_eq!(a, b);
    let all = load_trace(&dir, &opts(None)).unwrap();
    assert!(all.jobs.len() > a.jobs.len());
    let err = load_trace(&dir, &opts(Some(vec![5])))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has no client (chunk) 5; available: [1, 2, 10]"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn format_names_parse_and_detect() {
    for f in TraceFormat::ALL {
        assert_eq!(f.name().parse::<TraceFormat>().unwrap(), f);
        assert!(FORMAT_CHOICES.contains(f.name()));
    }
    assert_eq!(" SWF ".parse::<TraceFormat>().unwrap(), TraceFormat::Swf);
    let err = "csv".parse::<TraceFormat>().unwrap_err().to_string();
    assert_eq!(
        err,
        format!("unknown trace format \"csv\" (expected one of: {FORMAT_CHOICES})")
    );
    assert_eq!(sniff_format(SWF_SAMPLE.as_bytes()), Some(TraceFormat::Swf));
    assert_eq!(
        sniff_format(ALIBABA_SAMPLE.as_bytes()),
        Some(TraceFormat::AlibabaPods)
    );
    assert_eq!(
        sniff_format(AZURE_SAMPLE.as_bytes()),
        Some(TraceFormat::AzureLlm)
    );
    assert_eq!(
        sniff_format(SERVEGEN_SAMPLE.as_bytes()),
        Some(TraceFormat::Servegen)
    );
    assert_eq!(
        sniff_format(b"arrival_s,service_s\n1,2\n"),
        Some(TraceFormat::Native)
    );
    assert_eq!(sniff_format(b"\n1.5,2\n"), Some(TraceFormat::Native));
    assert_eq!(sniff_format(b"# note\n1.5,2\n"), Some(TraceFormat::Native));
    assert_eq!(sniff_format(b"hello world"), None);
    assert_eq!(sniff_format(b""), None);
    let err = load_trace(
        Path::new("/nonexistent/x.csv"),
        &TraceOptions {
            format: Some(TraceFormat::Native),
            ..TraceOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/x.csv: cannot read trace:"),
        "{err}"
    );
    // Issue #13: a missing file is "not found", not an unknown format.
    let err = load_trace(Path::new("/nonexistent/x.csv"), &TraceOptions::default()).unwrap_err();
    assert!(matches!(err, TraceError::Read { .. }), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
    let dir = std::env::temp_dir().join(format!("preheat-detect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let odd = dir.join("odd.csv");
    std::fs::write(&odd, "hello world\n").unwrap();
    let err = load_trace(&odd, &TraceOptions::default()).unwrap_err();
    assert!(matches!(err, TraceError::UndetectedFormat { .. }), "{err}");
    assert!(err.to_string().contains("alibaba-pods"), "{err}");
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "\n  \n").unwrap();
    let err = load_trace(&empty, &TraceOptions::default()).unwrap_err();
    assert!(matches!(err, TraceError::Empty { .. }), "{err}");
}

#[test]
fn service_model_shorthand() {
    assert_eq!(
        "from-trace".parse::<ServiceModel>().unwrap(),
        ServiceModel::FromTrace
    );
    assert_eq!(
        "fixed:30".parse::<ServiceModel>().unwrap(),
        ServiceModel::Fixed { seconds: 30.0 }
    );
    assert_eq!(
        "scale:0.5:1:3600".parse::<ServiceModel>().unwrap(),
        ServiceModel::Scale {
            factor: 0.5,
            min_s: 1.0,
            max_s: 3600.0
        }
    );
    assert_eq!(
        "lognormal:30:1".parse::<ServiceModel>().unwrap(),
        ServiceModel::LogNormal {
            median_s: 30.0,
            sigma: 1.0,
            min_s: 0.001,
            max_s: f64::INFINITY
        }
    );
    for bad in [
        "fixed",
        "fixed:-1",
        "fixed:x",
        "scale:1:5:2",
        "gamma:1",
        "lognormal:0:1",
    ] {
        assert!(bad.parse::<ServiceModel>().is_err(), "{bad}");
    }
    let err = "nope".parse::<ServiceModel>().unwrap_err().to_string();
    assert!(err.contains("lognormal:MEDIAN_S:SIGMA"), "{err}");
}

// --- errors -------------------------------------------------------------------------------

#[test]
fn native_errors_name_file_line_and_fix() {
    let (file, line, msg) =
        bad_line(parse_native("0,1\n1,2\n2,abc\n", "traces/x.csv").unwrap_err());
    assert_eq!((file.as_str(), line), ("traces/x.csv", 3));
    assert_eq!(
        msg,
        "traces/x.csv:3: service_s \"abc\" is not a number (expected seconds, e.g. 42.5)"
    );
    let cases = [
        (
            "\n\n0,1\r\n\r\n # c, \"q\n1,x\n",
            6,
            "service_s \"x\" is not a number",
        ),
        (
            "# c\n-1,2\n",
            2,
            "arrival_s -1 is negative (expected seconds, e.g. 42.5)",
        ),
        ("1,NaN\n", 1, "service_s \"NaN\" is not a finite number"),
        ("1,0\n", 1, "service_s 0 is not positive"),
        ("1,2,3\n", 1, "has 3 columns; expected 2"),
        (
            "arrival,service\n1,2\n",
            1,
            "unexpected header \"arrival,service\"",
        ),
        ("1,\n", 1, "service_s is empty"),
    ];
    for (text, want_line, want) in cases {
        let (_, line, msg) = bad_line(parse_native(text, "n.csv").unwrap_err());
        assert_eq!(line, want_line, "{msg}");
        assert!(
            msg.starts_with(&format!("n.csv:{want_line}: ")) && msg.contains(want),
            "{msg}"
        );
    }
}

#[test]
fn other_format_errors_name_file_and_line() {
    let swf_short = "; UnixStartTime: 1\n1 2 3\n";
    let (_, line, msg) = bad_line(parse_swf(swf_short, "s.swf").unwrap_err());
    assert_eq!(line, 2);
    assert!(
        msg.contains("has 3 fields; an SWF job line has 18"),
        "{msg}"
    );
    let swf_bad = SWF_SAMPLE.replace("600022", "6oo022");
    let (_, line, msg) = bad_line(parse_swf(&swf_bad, "s.swf").unwrap_err());
    assert_eq!(line, 5);
    assert!(
        msg.contains("submit time (field 2) \"6oo022\" is not a number"),
        "{msg}"
    );
    let swf_neg = SWF_SAMPLE.replace("600022", "-7");
    assert!(
        bad_line(parse_swf(&swf_neg, "s.swf").unwrap_err())
            .2
            .contains("-7 is negative")
    );
    let (_, line, _) = bad_line(parse_swf("; UnixStartTime: soon\n", "s.swf").unwrap_err());
    assert_eq!(line, 1);

    let ali = ALIBABA_SAMPLE.replace(",300,900,310", ",300,-900,310");
    let (_, line, msg) = bad_line(parse_alibaba_pods(&ali, "p.csv", true).unwrap_err());
    assert_eq!(line, 5);
    assert!(msg.contains("deletion_time -900 is negative"), "{msg}");
    let (_, line, msg) =
        bad_line(parse_alibaba_pods("name,creation_time\nx,1\n", "p.csv", false).unwrap_err());
    assert_eq!(line, 1);
    assert!(msg.contains("no column `deletion_time`"), "{msg}");
    let (_, line, msg) = bad_line(
        parse_alibaba_pods(&format!("{ALIBABA_SAMPLE}short,1\n"), "p.csv", true).unwrap_err(),
    );
    assert_eq!(line, 7);
    assert!(msg.contains("has 2 columns"), "{msg}");

    let az = AZURE_SAMPLE.replace("18:17:04.0319600", "18:17:4");
    let (_, line, msg) = bad_line(parse_azure_llm(&az, "a.csv", 0.25, 0.03).unwrap_err());
    assert_eq!(line, 3);
    assert!(
        msg.contains("TIMESTAMP \"2023-11-16 18:17:4\" is not a date-time"),
        "{msg}"
    );
    let az = AZURE_SAMPLE.replace("3180", "-3");
    assert!(
        bad_line(parse_azure_llm(&az, "a.csv", 0.25, 0.03).unwrap_err())
            .2
            .contains("ContextTokens -3 is negative")
    );

    let sg = SERVEGEN_SAMPLE.replace("Weibull", "Pareto");
    let (_, line, msg) = bad_line(parse_servegen(&sg, "c.csv").unwrap_err());
    assert_eq!(line, 3);
    assert!(msg.contains("pattern \"Pareto\" is unknown"), "{msg}");
    let sg = SERVEGEN_SAMPLE.replace("0.748", "0");
    assert!(
        bad_line(parse_servegen(&sg, "c.csv").unwrap_err())
            .2
            .contains("shape 0 must be positive")
    );
    let (_, line, _) = bad_line(parse_servegen("0,1,1,,0,0\n", "c.csv").unwrap_err());
    assert_eq!(line, 1);
    let (_, line, msg) = bad_line(parse_servegen("0,0\n", "c.csv").unwrap_err());
    assert_eq!(line, 1);
    assert!(msg.contains("has 2 columns"), "{msg}");

    let (_, line, msg) = bad_line(
        parse_trace_bytes(
            b"1,2\n3,\xff\n",
            TraceFormat::Native,
            "b.csv",
            &TraceOptions::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(line, 2);
    assert!(msg.contains("is not UTF-8"), "{msg}");
}

#[test]
fn servegen_requires_a_service_model() {
    let err = parse_trace_bytes(
        SERVEGEN_SAMPLE.as_bytes(),
        TraceFormat::Servegen,
        "c.csv",
        &TraceOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TraceError::NoDurations { .. }));
    assert!(
        msg.starts_with("c.csv: the servegen format has no job durations")
            && msg.contains("lognormal:30:1.0"),
        "{msg}"
    );
}

#[test]
fn servegen_refuses_huge_syntheses() {
    let opts = TraceOptions {
        service: lognormal(),
        servegen_rate_scale: 1e6,
        ..TraceOptions::default()
    };
    let msg = parse_trace_bytes(
        SERVEGEN_SAMPLE.as_bytes(),
        TraceFormat::Servegen,
        "c.csv",
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("lower servegen_rate_scale"), "{msg}");
}

#[test]
fn empty_traces_say_which_window() {
    let opts = TraceOptions {
        window_start_s: Some(100.0),
        window_end_s: Some(200.0),
        ..TraceOptions::default()
    };
    let msg = parse_trace_bytes(b"0,1\n300,1\n", TraceFormat::Native, "n.csv", &opts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "n.csv: no jobs in window [100 s, 200 s) of trace time; the trace's 2 jobs arrive \
         between 0 s and 300 s after its epoch, so widen window_start_s/window_end_s"
    );
    let msg = parse_trace_bytes(
        b"# nothing\n",
        TraceFormat::Native,
        "n.csv",
        &TraceOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.starts_with("n.csv: no jobs in the trace"), "{msg}");
}

#[test]
fn invalid_options_are_rejected() {
    let cases = [
        TraceOptions {
            time_scale: 0.0,
            ..TraceOptions::default()
        },
        TraceOptions {
            window_start_s: Some(5.0),
            window_end_s: Some(5.0),
            ..TraceOptions::default()
        },
        TraceOptions {
            window_end_s: Some(f64::NAN),
            ..TraceOptions::default()
        },
        TraceOptions {
            max_jobs: Some(0),
            ..TraceOptions::default()
        },
        TraceOptions {
            servegen_rate_scale: -1.0,
            ..TraceOptions::default()
        },
        TraceOptions {
            servegen_clients: Some(vec![]),
            ..TraceOptions::default()
        },
        TraceOptions {
            azure_decode_s_per_token: 0.0,
            azure_prefill_s_per_1k_tokens: 0.0,
            ..TraceOptions::default()
        },
        TraceOptions {
            service: ServiceModel::Scale {
                factor: 1.0,
                min_s: 0.0,
                max_s: 1.0,
            },
            ..TraceOptions::default()
        },
    ];
    for opts in cases {
        let err = parse_trace_bytes(b"0,1\n", TraceFormat::Native, "n.csv", &opts).unwrap_err();
        assert!(
            matches!(err, TraceError::InvalidOption(_)),
            "{opts:?}: {err}"
        );
    }
}

// --- window / scale / max_jobs / service models -------------------------------------------

const NATIVE_TEN: &str = "9,1\n0,1\n1,2\n2,3\n3,4\n4,5\n5,6\n6,7\n7,8\n8,9\n";

fn native(opts: TraceOptions) -> Trace {
    parse_trace_bytes(NATIVE_TEN.as_bytes(), TraceFormat::Native, "n.csv", &opts).unwrap()
}

#[test]
fn window_scale_and_max_jobs() {
    let all = native(TraceOptions::default());
    assert_sane(&all);
    assert_eq!(all.jobs.len(), 10);
    assert_eq!(
        all.jobs[9],
        Job {
            arrival_s: 9.0,
            service_s: 1.0
        }
    );

    let win = native(TraceOptions {
        window_start_s: Some(2.5),
        window_end_s: Some(6.0),
        ..TraceOptions::default()
    });
    let arrivals: Vec<f64> = win.jobs.iter().map(|j| j.arrival_s).collect();
    assert_eq!(arrivals, vec![0.5, 1.5, 2.5]); // 3, 4, 5 shifted by the window start
    assert_eq!(win.epoch_unix_s, 2.5);

    let open_start = native(TraceOptions {
        window_end_s: Some(3.0),
        ..TraceOptions::default()
    });
    assert_eq!(open_start.jobs.len(), 3);
    let late = native(TraceOptions {
        window_start_s: Some(7.0),
        ..TraceOptions::default()
    });
    assert_eq!(
        late.jobs.iter().map(|j| j.arrival_s).collect::<Vec<_>>(),
        vec![0.0, 1.0, 2.0]
    );

    let scaled = native(TraceOptions {
        time_scale: 0.5,
        window_start_s: Some(4.0),
        ..TraceOptions::default()
    });
    assert_eq!(
        scaled.jobs[2],
        Job {
            arrival_s: 1.0,
            service_s: 7.0
        }
    ); // service unchanged

    let capped = native(TraceOptions {
        max_jobs: Some(4),
        window_start_s: Some(1.0),
        ..TraceOptions::default()
    });
    assert_eq!(
        capped.jobs.iter().map(|j| j.service_s).collect::<Vec<_>>(),
        vec![2.0, 3.0, 4.0, 5.0]
    );
}

#[test]
fn service_models_map_durations() {
    let scaled = native(TraceOptions {
        service: ServiceModel::Scale {
            factor: 2.0,
            min_s: 3.0,
            max_s: 10.0,
        },
        ..TraceOptions::default()
    });
    assert_eq!(
        scaled.jobs.iter().map(|j| j.service_s).collect::<Vec<_>>(),
        vec![3.0, 4.0, 6.0, 8.0, 10.0, 10.0, 10.0, 10.0, 10.0, 3.0]
    );
    let fixed = native(TraceOptions {
        service: ServiceModel::Fixed { seconds: 0.5 },
        ..TraceOptions::default()
    });
    assert!(fixed.jobs.iter().all(|j| j.service_s == 0.5));
    let ln = |seed| {
        native(TraceOptions {
            service: lognormal(),
            seed,
            ..TraceOptions::default()
        })
    };
    assert_eq!(ln(1), ln(1));
    assert_ne!(ln(1), ln(2));
    assert!(
        ln(1)
            .jobs
            .iter()
            .all(|j| (1.0..=3600.0).contains(&j.service_s))
    );
}

#[test]
fn ln_gamma_matches_known_values() {
    assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
    assert!((ln_gamma(1.5) - (std::f64::consts::PI.sqrt() / 2.0).ln()).abs() < 1e-12);
    assert!(ln_gamma(1.0).abs() < 1e-12);
}

// --- never panic --------------------------------------------------------------------------

fn fuzz_opts() -> TraceOptions {
    TraceOptions {
        service: lognormal(),
        servegen_rate_scale: 1.0,
        ..TraceOptions::default()
    }
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_native(&text, "f");
        let _ = parse_swf(&text, "f");
        let _ = parse_alibaba_pods(&text, "f", true);
        let _ = parse_azure_llm(&text, "f", 0.25, 0.03);
        let _ = parse_servegen(&text, "f");
        let _ = sniff_format(text.as_bytes());
        let _ = text.parse::<ServiceModel>();
        let _ = text.parse::<TraceFormat>();
    }

    #[test]
    fn loading_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), idx in 0usize..5) {
        let _ = parse_trace_bytes(&bytes, TraceFormat::ALL[idx], "f", &fuzz_opts());
        let _ = sniff_format(&bytes);
    }

    #[test]
    fn near_valid_native_and_swf_never_panic(text in "([0-9eE.+-]{0,6}[ ,;\t]){0,20}\n?([0-9.-]{0,5}[ ,]){0,18}") {
        let _ = parse_trace_bytes(text.as_bytes(), TraceFormat::Native, "f", &fuzz_opts());
        let _ = parse_trace_bytes(text.as_bytes(), TraceFormat::Swf, "f", &fuzz_opts());
    }

    #[test]
    fn near_valid_servegen_never_panics(
        rows in proptest::collection::vec("[0-9]{1,7},[0-9.e-]{1,4},[0-9.]{0,4},(Gamma|Weibull|),[0-9.e-]{1,8},[0-9.e-]{1,8}", 0..20),
        window in proptest::option::of(0.0f64..2e5),
    ) {
        let text = rows.join("\n");
        let opts = TraceOptions { window_end_s: window, servegen_rate_scale: 0.001, ..fuzz_opts() };
        if let Ok(trace) = parse_trace_bytes(text.as_bytes(), TraceFormat::Servegen, "f", &opts) {
            assert_sane(&trace);
        }
    }

    #[test]
    fn near_valid_azure_and_alibaba_never_panic(
        stamp in "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?Z?",
        a in "[0-9.-]{0,8}", b in "[0-9.-]{0,8}",
    ) {
        let az = format!("{AZURE_HEADER}\n{stamp},{a},{b}\n");
        if let Ok(trace) = parse_trace_bytes(az.as_bytes(), TraceFormat::AzureLlm, "f", &fuzz_opts()) {
            assert_sane(&trace);
        }
        let ali = format!("{ALIBABA_HEADER}\nx,1,1,{a},{b},,LS,Running,{a},{b},{a}\n");
        if let Ok(trace) = parse_trace_bytes(ali.as_bytes(), TraceFormat::AlibabaPods, "f", &TraceOptions::default()) {
            assert_sane(&trace);
        }
    }
}
