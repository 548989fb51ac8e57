//! Checks each importer against the public traces bundled under `data/traces/` (row counts,
//! spans, skipped rows), so a change in parsing shows up as a changed figure.

use super::tests::{assert_sane, lognormal};
use super::*;
use std::path::{Path, PathBuf};

/// A trace bundled with the repository. A missing file fails the test: these checks must never
/// pass by skipping (issue #14).
fn bundled(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/traces")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: the public traces are committed under data/traces/ (see its README.md); restore it with `git checkout -- data/traces`",
        p.display()
    );
    p
}

fn timed_load(path: &Path, opts: &TraceOptions) -> Trace {
    let t0 = std::time::Instant::now();
    let trace = load_trace(path, opts).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "loaded {} ({} jobs) in {:.3} s",
        path.display(),
        trace.jobs.len(),
        t0.elapsed().as_secs_f64()
    );
    trace
}

// --- the bundled public traces -------------------------------------------------------------

#[test]
fn bundled_kth_sp2() {
    let path = bundled("pwa-kth-sp2-1996/KTH-SP2-1996-2.1-cln.swf.gz");
    assert_eq!(detect_format(&path), Some(TraceFormat::Swf));
    let trace = timed_load(&path, &TraceOptions::default());
    assert_sane(&trace);
    assert_eq!(trace.jobs.len() + trace.skipped_rows, 27_992);
    assert_eq!(trace.skipped_rows, 0);
    // First job submitted 599,850 s after UnixStartTime 843,480,031 (1996-09-30 10:38 UTC).
    assert_eq!(trace.epoch_unix_s, 843_480_031.0 + 599_850.0);
    let span_days = trace.jobs.last().map_or(0.0, |j| j.arrival_s) / 86_400.0;
    assert!((330.0..335.0).contains(&span_days), "{span_days}");
}

#[test]
fn bundled_hpc2n() {
    let path = bundled("pwa-hpc2n-2002/HPC2N-2002-2.1-cln.swf.gz");
    let trace = timed_load(&path, &TraceOptions::default());
    assert_sane(&trace);
    assert_eq!(trace.jobs.len() + trace.skipped_rows, 202_876);
    assert_eq!(trace.skipped_rows, 0);
    let span_days = trace.jobs.last().map_or(0.0, |j| j.arrival_s) / 86_400.0;
    assert!((1_265.0..1_271.0).contains(&span_days), "{span_days}");
}

#[test]
fn bundled_alibaba_openb() {
    let path = bundled("alibaba-gpu-v2023-openb/openb_pod_list_default.csv");
    assert_eq!(detect_format(&path), Some(TraceFormat::AlibabaPods));
    let gpu = timed_load(&path, &TraceOptions::default());
    assert_sane(&gpu);
    // 8,152 pods: 897 never scheduled, 1,052 scheduled CPU-only pods, 6,203 GPU jobs.
    assert_eq!(
        (gpu.jobs.len(), gpu.skipped_rows, gpu.filtered_rows),
        (6_203, 897, 1_052)
    );
    let all = load_trace(
        &path,
        &TraceOptions {
            gpu_only: false,
            ..TraceOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (all.jobs.len(), all.skipped_rows, all.filtered_rows),
        (7_255, 897, 0)
    );
    // Dense part only: the last ~34 days.
    let dense = load_trace(
        &path,
        &TraceOptions {
            window_start_s: Some(9_941_376.0),
            ..TraceOptions::default()
        },
    )
    .unwrap();
    assert!(
        dense.jobs.len() > 6_150 && dense.jobs.len() < 6_203,
        "{}",
        dense.jobs.len()
    );
}

#[test]
fn bundled_azure_code() {
    let path = bundled("azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv");
    assert_eq!(detect_format(&path), Some(TraceFormat::AzureLlm));
    let trace = timed_load(&path, &TraceOptions::default());
    assert_sane(&trace);
    assert_eq!((trace.jobs.len(), trace.skipped_rows), (8_819, 0));
    // 2023-11-16 18:17:03.97996 UTC → 19:14:19.93 (57 min).
    assert!((trace.epoch_unix_s - 1_700_158_623.979_96).abs() < 1e-5);
    let span_s = trace.jobs.last().map_or(0.0, |j| j.arrival_s);
    assert!((3_400.0..3_500.0).contains(&span_s), "{span_s}");
}

#[test]
fn bundled_azure_conv() {
    let path = bundled("azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv");
    let trace = timed_load(&path, &TraceOptions::default());
    assert_sane(&trace);
    assert_eq!((trace.jobs.len(), trace.skipped_rows), (19_366, 0));
    let span_s = trace.jobs.last().map_or(0.0, |j| j.arrival_s);
    assert!((3_450.0..3_550.0).contains(&span_s), "{span_s}");
}

#[test]
fn bundled_servegen_m_small() {
    let dir = bundled("servegen-language-m-small");
    assert_eq!(detect_format(&dir), Some(TraceFormat::Servegen));
    assert!(matches!(
        load_trace(&dir, &TraceOptions::default()),
        Err(TraceError::NoDurations { .. })
    ));
    let opts = TraceOptions {
        service: lognormal(),
        seed: 7,
        ..TraceOptions::default()
    };
    let trace = timed_load(&dir, &opts);
    assert_sane(&trace);
    // README: 1,420,558,786 requests in total (sum of rate × 600 s); rate_scale 0.001.
    let n = trace.jobs.len() as f64;
    assert!((n - 1_420_559.0).abs() < 0.03 * 1_420_559.0, "{n}");
    // One sparse client, one day: same seed, same jobs; other seed, other jobs.
    let day = |seed| TraceOptions {
        servegen_clients: Some(vec![0]),
        servegen_rate_scale: 1.0,
        window_end_s: Some(86_400.0 * 3.0),
        seed,
        ..opts.clone()
    };
    let a = load_trace(&dir, &day(1)).unwrap();
    assert_eq!(a, load_trace(&dir, &day(1)).unwrap());
    assert_ne!(a.jobs, load_trace(&dir, &day(2)).unwrap().jobs);
    // Windowed synthesis is a prefix of the full synthesis of that client.
    let file = dir.join("chunk-0-trace.csv");
    let full = load_trace(
        &file,
        &TraceOptions {
            window_end_s: None,
            ..day(1)
        },
    )
    .unwrap();
    assert_eq!(a.jobs[..], full.jobs[..a.jobs.len()]);
}
