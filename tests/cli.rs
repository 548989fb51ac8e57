//! Runs the real `preheat` binary: the demo, good and bad configs and traces, determinism.

use std::path::PathBuf;
use std::process::{Command, Output};

fn preheat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_preheat"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run preheat")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("preheat-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The number of invariant checks printed right after `prefix` ("... (N checks)"): a report
/// of 0 violations means something only if checks were made.
fn checks_in(text: &str, prefix: &str) -> u64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text}"))
        + prefix.len();
    text[at..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no check count after {prefix:?} in {text}"))
}

/// A trace committed under `data/traces/`; a missing one fails the test instead of skipping it.
fn bundled_trace(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/traces")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: restore the bundled traces with `git checkout -- data/traces`",
        p.display()
    );
    p.display().to_string()
}

#[test]
fn demo_runs_with_no_arguments_and_prints_the_summary() {
    let o = preheat(&["simulate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for key in [
        "cost",
        "busy-time floor",
        "zero-wait oracle",
        "wait p50/p95/p99/max",
        "SLO attainment",
        "cold / warm starts",
        "interrupted jobs",
        "idle",
    ] {
        assert!(out.contains(key), "missing {key:?} in:\n{out}");
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seed_differs() {
    let (t1, t2, t3) = (tmp("a.csv"), tmp("b.csv"), tmp("c.csv"));
    let run = |seed: &str, t: &PathBuf| {
        preheat(&[
            "simulate",
            "--json",
            "--seed",
            seed,
            "--timeline",
            t.to_str().unwrap(),
        ])
    };
    let (a, b, c) = (run("7", &t1), run("7", &t2), run("8", &t3));
    assert!(a.status.success() && b.status.success() && c.status.success());
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(std::fs::read(&t1).unwrap(), std::fs::read(&t2).unwrap());
    assert_ne!(std::fs::read(&t1).unwrap(), std::fs::read(&t3).unwrap());
    let json: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    for key in [
        "cost_usd",
        "floor_cost_usd",
        "oracle_cost_usd",
        "slo_attainment",
        "wait_p99_s",
        "cold_starts",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let header = std::fs::read_to_string(&t1).unwrap();
    assert!(
        header.starts_with(
            "t_s,visible,in_flight,desired,running,provisioning,busy,instances,cost_usd"
        )
    );
}

#[test]
fn validate_accepts_the_example_and_lists_every_error() {
    let o = preheat(&["validate", "--config", "config/whisper.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("OK"));

    let bad = tmp("bad.yaml");
    std::fs::write(&bad, "tick: 90 parsecs\nservices:\n  - name: w\n    cluster: c\n    service: s\n    queue_url: https://sqs.us-east-1.amazonaws.com/1/q\n    min_tasks: 2\n    max_tasks: 1\n    slo: {max_wait: 2m}\n    colour: blue\n").unwrap();
    let o = preheat(&["validate", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(err.contains("tick (line 1)"), "{err}");
    assert!(
        err.contains("services[0].max_tasks (line 8): 1 is below min_tasks (2)"),
        "{err}"
    );
    assert!(err.contains("services[0].colour: unknown key"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn bad_config_never_starts_a_simulation() {
    let bad = tmp("bad2.yaml");
    std::fs::write(&bad, "services:\n  - name: w\n").unwrap();
    let o = preheat(&["simulate", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("services[0].cluster: is required"),
        "{}",
        stderr(&o)
    );
    let o = preheat(&["simulate", "--config", "/nonexistent/p.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read config /nonexistent/p.yaml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_trace_line_is_named_with_file_and_line() {
    let t = tmp("bad.csv");
    std::fs::write(&t, "arrival_s,service_s\n0,60\n10,abc\n").unwrap();
    let o = preheat(&[
        "simulate",
        "--trace",
        t.to_str().unwrap(),
        "--format",
        "native",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.csv:3"), "{err}");
    let o = preheat(&[
        "simulate",
        "--trace",
        t.to_str().unwrap(),
        "--format",
        "parquet",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown trace format"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_flags_are_named() {
    let o = preheat(&["simulate", "--policy", "magic"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown policy \"magic\""),
        "{}",
        stderr(&o)
    );
    let o = preheat(&["simulate", "--trace", "x.csv", "--window-start", "soon"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--window-start"), "{}", stderr(&o));
}

#[test]
fn native_trace_round_trip() {
    let t = tmp("ok.csv");
    std::fs::write(&t, "arrival_s,service_s\n0,60\n30,120\n400,60\n").unwrap();
    let o = preheat(&["simulate", "--trace", t.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["jobs"], 3);
    assert_eq!(json["completed"], 3);
}

/// Every bundled trace format works end to end through the binary (the files are committed
/// under `data/traces/`; a missing one fails the test).
#[test]
fn all_five_bundled_traces_simulate() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "pwa-kth-sp2-1996/KTH-SP2-1996-2.1-cln.swf.gz",
            vec![
                "--window-start",
                "6d",
                "--window-end",
                "13d",
                "--service-model",
                "scale:0.25:60:3600",
            ],
        ),
        (
            "pwa-hpc2n-2002/HPC2N-2002-2.1-cln.swf.gz",
            vec!["--window-end", "7d", "--service-model", "scale:0.1:60:3600"],
        ),
        (
            "alibaba-gpu-v2023-openb/openb_pod_list_default.csv",
            vec![
                "--window-start",
                "115d",
                "--window-end",
                "120d",
                "--service-model",
                "scale:1:60:7200",
            ],
        ),
        (
            "azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv",
            vec!["--window-end", "10m", "--time-scale", "20"],
        ),
        (
            "servegen-language-m-small",
            vec![
                "--window-end",
                "1d",
                "--servegen-rate-scale",
                "0.00002",
                "--service-model",
                "lognormal:120:0.5:10:1800",
            ],
        ),
    ];
    for (rel, extra) in cases {
        let path = bundled_trace(rel);
        let mut args = vec!["simulate", "--json", "--trace", path.as_str()];
        args.extend(extra);
        let o = preheat(&args);
        assert!(o.status.success(), "{rel}: {}", stderr(&o));
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let jobs = json["jobs"].as_u64().unwrap();
        assert!(jobs > 10, "{rel}: {jobs} jobs");
        assert!(
            json["cost_usd"].as_f64().unwrap() >= json["floor_cost_usd"].as_f64().unwrap(),
            "{rel}"
        );
    }
}

#[test]
fn chaos_runs_ten_fault_runs_with_no_violation() {
    let o = preheat(&["chaos", "--runs", "10", "--scenarios", "kth-office-hours"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("10 chaos runs (seed 1, policy preheat)"),
        "{out}"
    );
    assert!(checks_in(&out, "| **total** (") > 0, "{out}");
    assert!(out.contains("| **0** | **0** |"), "{out}");
    for class in ["api-errors", "capacity", "spot", "restarts", "all"] {
        assert!(out.contains(&format!("| {class} |")), "{class}: {out}");
    }
    assert!(stderr(&o).contains("chaos runs done"), "{}", stderr(&o));
    // Same seed, same report.
    let again = preheat(&["chaos", "--runs", "10", "--scenarios", "kth-office-hours"]);
    assert_eq!(o.stdout, again.stdout);
    let j = preheat(&[
        "chaos",
        "--runs",
        "3",
        "--scenarios",
        "kth-office-hours",
        "--classes",
        "spot,restarts",
        "--json",
    ]);
    assert!(j.status.success(), "{}", stderr(&j));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["runs"], 3);
    assert_eq!(v["per_class"].as_array().unwrap().len(), 8);
    assert!(v["faults"]["restarts"].as_u64().unwrap() > 0, "{v}");
    assert!(v["invariants"]["checks"].as_u64().unwrap() > 0, "{v}");
    assert!(v["clean_invariants"]["checks"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn chaos_bad_flags_are_named() {
    let o = preheat(&["chaos", "--runs", "0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--runs"), "{}", stderr(&o));
    let o = preheat(&["chaos", "--runs", "2", "--scenarios", "nope"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no scenario named \"nope\""),
        "{}",
        stderr(&o)
    );
    let o = preheat(&["chaos", "--runs", "2", "--slice-min", "1 fortnight"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--slice-min"), "{}", stderr(&o));
    let o = preheat(&[
        "chaos",
        "--runs",
        "2",
        "--scenarios",
        "kth-office-hours",
        "--policy",
        "magic",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown policy"), "{}", stderr(&o));
}

/// The bundled config with its (commented) faults block switched on.
fn faulty_config() -> PathBuf {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/whisper.yaml"),
    )
    .unwrap();
    let on = text
        .replace("  # faults:", "  faults:")
        .replace("  #   ", "    ");
    assert_ne!(on, text, "whisper.yaml documents a faults block");
    let p = tmp("faulty.yaml");
    std::fs::write(&p, on).unwrap();
    p
}

#[test]
fn faulty_simulation_is_deterministic_and_differs_from_a_clean_one() {
    let cfg = faulty_config();
    let v = preheat(&["validate", "--config", cfg.to_str().unwrap()]);
    assert!(v.status.success(), "{}", stderr(&v));
    let (t1, t2) = (tmp("f1.csv"), tmp("f2.csv"));
    let run = |t: &PathBuf| {
        preheat(&[
            "simulate",
            "--json",
            "--config",
            cfg.to_str().unwrap(),
            "--timeline",
            t.to_str().unwrap(),
        ])
    };
    let (a, b) = (run(&t1), run(&t2));
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(std::fs::read(&t1).unwrap(), std::fs::read(&t2).unwrap());
    let clean = preheat(&["simulate", "--json"]);
    assert_ne!(a.stdout, clean.stdout);
}

#[test]
fn bad_fault_settings_are_named_with_path_and_line() {
    let text = std::fs::read_to_string(faulty_config()).unwrap();
    let bad = text
        .replace("api_error_rate: 0.05", "api_error_rate: 1.5")
        .replace(
            "capacity_error_duration: 10m",
            "capacity_error_duration: soon",
        );
    let p = tmp("bad-faults.yaml");
    std::fs::write(&p, bad).unwrap();
    let o = preheat(&["validate", "--config", p.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("simulation.faults.api_error_rate (line ")
            && err.contains("1.5 is out of range"),
        "{err}"
    );
    assert!(
        err.contains("simulation.faults.capacity_error_duration (line "),
        "{err}"
    );
}

#[test]
fn simulate_with_a_fault_class_reports_faults_and_no_violation() {
    let o = preheat(&["simulate", "--faults", "all", "--seed", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("faults injected: "), "{err}");
    assert!(err.contains("controller restarts"), "{err}");
    assert!(err.contains("invariant violations: 0 ("), "{err}");
    assert!(checks_in(&err, "invariant violations: 0 (") > 0, "{err}");
    let bad = preheat(&["simulate", "--faults", "gremlins"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("unknown fault class \"gremlins\""),
        "{}",
        stderr(&bad)
    );
}
