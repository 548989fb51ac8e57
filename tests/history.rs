//! `preheat history` end to end, through the real binary against a 127.0.0.1 CloudWatch answer
//! server (tests/common/cloudwatch.rs): the round trip (a known trace is simulated, its minute
//! sums served, recovered with `preheat history`, then backtested: preheat's cost within 5% and
//! attainment within 1 pt of the original), pagination, and the clear errors (no datapoints,
//! AccessDenied, a window beyond retention, a bad `--current`).

use preheat::core::config::Config;
use preheat::core::decide::Preheat;
use preheat::core::job::Job;
use preheat::sim::{self, SimSetup};
use preheat::trace::{self, TraceFormat, TraceOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

mod common;
use common::cloudwatch::*;

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/whisper.yaml");
/// The queue named by config/whisper.yaml's queue_url.
const QUEUE: &str = "transcribe-jobs";

fn preheat_bin(args: &[&str], endpoint: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_preheat"));
    c.args(args)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE");
    if let Some(e) = endpoint {
        c.args(["--endpoint-url", e]);
    }
    c.output().expect("runs the binary")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("preheat-history-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Per-minute figures of one queue from `start_s`, as CloudWatch would hold them.
#[derive(Clone)]
struct Minutes {
    start_s: i64,
    sent: Vec<f64>,
    deleted: Vec<f64>,
    in_flight: Vec<f64>,
}

/// Serves `m` for `QUEUE`, `page` datapoints per result per page, `NextToken` = page number;
/// any other queue gets empty results.
fn serve(m: Minutes, page: usize) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>) {
    answer_server(Arc::new(move |req: &Cbor| {
        let start = req.get("StartTime").unwrap().epoch_s() as i64;
        let end = req.get("EndTime").unwrap().epoch_s() as i64;
        let p: usize = req
            .get("NextToken")
            .map_or(0, |t| t.text().parse().unwrap());
        let queries = req.get("MetricDataQueries").unwrap().items();
        // GetMetricData's limits: 500 queries, 100,800 datapoints per call.
        assert!(queries.len() <= 500);
        assert!(queries.len() as i64 * (end - start) / 60 <= 100_800);
        let mut o = Out::default();
        let mut more = false;
        let mut results = Vec::new();
        for q in queries {
            let stat = q.get("MetricStat").unwrap();
            assert_eq!(stat.get("Period").unwrap().number(), 60.0);
            let metric = stat.get("Metric").unwrap();
            let name = metric.get("MetricName").unwrap().text();
            let queue = metric.get("Dimensions").unwrap().items()[0]
                .get("Value")
                .unwrap()
                .text();
            let series = match name {
                "NumberOfMessagesSent" => &m.sent,
                "NumberOfMessagesDeleted" => &m.deleted,
                "ApproximateNumberOfMessagesNotVisible" => &m.in_flight,
                other => panic!("unexpected metric {other}"),
            };
            let points: Vec<(i64, f64)> = if queue == QUEUE {
                series
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (m.start_s + 60 * i as i64, *v))
                    .filter(|(t, _)| *t >= start && *t < end)
                    .collect()
            } else {
                Vec::new()
            };
            more |= points.len() > (p + 1) * page;
            let slice: Vec<(i64, f64)> = points.into_iter().skip(p * page).take(page).collect();
            results.push((q.get("Id").unwrap().text().to_string(), slice));
        }
        o.head(5, if more { 2 } else { 1 });
        o.text("MetricDataResults").head(4, results.len() as u64);
        for (id, pts) in &results {
            result(&mut o, id, pts);
        }
        if more {
            o.text("NextToken").text(&(p + 1).to_string());
        }
        (200, o.0)
    }))
}

/// config/whisper.yaml with the SLO's max wait set to `max_wait` (its own is 10 min, which
/// every job of the short trace meets, so that attainment would compare 100% with 100%).
fn config_with_wait(max_wait: &str) -> PathBuf {
    let text = std::fs::read_to_string(CONFIG).unwrap();
    assert!(text.contains("max_wait: 10m"));
    let p = tmp(&format!("wait-{max_wait}.yaml"));
    std::fs::write(
        &p,
        text.replace("max_wait: 10m", &format!("max_wait: {max_wait}")),
    )
    .unwrap();
    p
}

fn setup_of(config: &Path, jobs: &[Job]) -> SimSetup {
    let cfg = Config::load(config).unwrap();
    SimSetup {
        service: cfg.services[0].clone(),
        tick_s: cfg.tick_s,
        sim: cfg.simulation.clone(),
        jobs: jobs.to_vec(),
        start_s: 0.0,
        history: Vec::new(),
    }
}

/// preheat's (cost $, attainment) on `setup`, and the run's jobs.
fn run_preheat(setup: &SimSetup) -> (f64, f64, Vec<preheat::sim::world::JobRecord>) {
    let policy = Box::new(Preheat::new(setup.service.clone(), setup.tick_s));
    let raw = sim::run_raw(setup, policy, false);
    let s = raw.summarize(setup, "preheat", setup.service.slo.max_wait_s);
    (s.cost_usd, s.slo_attainment, raw.jobs)
}

/// The minute sums CloudWatch would hold for a run: messages sent and deleted per minute, and
/// the mean number received and not yet deleted (in flight) over each minute.
fn minute_sums(run_jobs: &[preheat::sim::world::JobRecord], t0: f64, minutes: usize) -> Minutes {
    let mut m = Minutes {
        start_s: 0,
        sent: vec![0.0; minutes],
        deleted: vec![0.0; minutes],
        in_flight: vec![0.0; minutes],
    };
    let end_t = t0 + 60.0 * minutes as f64;
    for j in run_jobs {
        let k = ((j.arrival_s - t0) / 60.0).floor() as usize;
        if k < minutes {
            m.sent[k] += 1.0;
        }
        let Some(s) = j.start_s else { continue };
        let e = j.end_s.unwrap_or(end_t);
        if let Some(k) = Some(((e - t0) / 60.0).floor() as usize).filter(|k| *k < minutes)
            && j.end_s.is_some()
        {
            m.deleted[k] += 1.0;
        }
        let (mut t, e) = (s.max(t0), e.min(end_t));
        while t < e {
            let k = ((t - t0) / 60.0).floor() as usize;
            let next = (t0 + 60.0 * (k + 1) as f64).min(e);
            m.in_flight[k] += (next - t) / 60.0;
            t = next;
        }
    }
    m
}

fn rfc3339(t_s: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t_s as u64),
    )
    .to_string()
}

/// Arrivals per minute in the middle of the known trace and around it.
const RATE_PEAK: f64 = 2.0;
const RATE_QUIET: f64 = 0.3;

/// A busy working-day shape: `hours` of arrivals (a quiet first and last part, a peak in the
/// middle) with service times spread around 3 minutes; deterministic.
fn known_trace(hours: usize) -> Vec<Job> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut u = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut jobs = Vec::new();
    let mut t = 0.0;
    let end = hours as f64 * 3600.0;
    while t < end {
        let phase = t / end;
        let rate_per_min = if (0.3..0.7).contains(&phase) {
            RATE_PEAK
        } else {
            RATE_QUIET
        };
        t += -(1.0 - u()).ln() * 60.0 / rate_per_min;
        if t >= end {
            break;
        }
        // Log-normal-ish: median 150 s, a long tail, at least 20 s.
        let z = (u() + u() + u() - 1.5) * 2.0;
        jobs.push(Job {
            arrival_s: t,
            service_s: (150.0 * (0.6 * z).exp()).max(20.0),
        });
    }
    jobs
}

struct RoundTrip {
    original: (f64, f64),
    recovered: (f64, f64),
    calls: usize,
    stdout: String,
    trace: PathBuf,
}

/// Simulates `jobs` under preheat, serves the run's minute sums as the last `hours + 1` hours
/// of CloudWatch history, recovers a trace with `preheat history`, and reruns preheat on it.
fn round_trip(
    config: &Path,
    jobs: &[Job],
    hours: usize,
    page: usize,
    seed: u64,
    service_times: Option<&Path>,
    tag: &str,
) -> RoundTrip {
    let setup = setup_of(config, jobs);
    let (cost, att, run_jobs) = run_preheat(&setup);
    // One more hour than the arrivals span, for the last jobs to finish.
    let minutes = (hours + 1) * 60;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end_s = now / 3600 * 3600 - 3600;
    let mut m = minute_sums(&run_jobs, setup.start_s, minutes);
    m.start_s = end_s - 60 * minutes as i64;
    let (ep, seen) = serve(m, page);
    let out = tmp(&format!("recovered-{tag}.csv"));
    let days = format!("{}", (hours + 1) as f64 / 24.0);
    let (end, seed) = (rfc3339(end_s), seed.to_string());
    let mut args = vec![
        "history",
        "--config",
        config.to_str().unwrap(),
        "--days",
        &days,
        "--end",
        &end,
        "--seed",
        &seed,
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(f) = service_times {
        args.extend(["--service-times", f.to_str().unwrap()]);
    }
    let o = preheat_bin(&args, Some(&ep));
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "history failed: {stderr}\n{stdout}");
    let tr = trace::load_trace(
        &out,
        &TraceOptions {
            format: Some(TraceFormat::Native),
            ..TraceOptions::default()
        },
    )
    .unwrap();
    let sent: f64 = run_jobs.len() as f64;
    assert_eq!(tr.jobs.len() as f64, sent, "every sent message is a job");
    let (rc, ra, _) = run_preheat(&setup_of(config, &tr.jobs));
    let calls = seen.lock().unwrap().len();
    RoundTrip {
        original: (cost, att),
        recovered: (rc, ra),
        calls,
        stdout,
        trace: out,
    }
}

#[test]
fn round_trip_keeps_preheat_cost_within_5_percent_and_attainment_within_1_pt() {
    let hours = 8;
    // 5 min: preheat misses a few jobs here; see docs/history.md for SLOs nearer the cold start.
    let cfg = config_with_wait("5m");
    let r = round_trip(&cfg, &known_trace(hours), hours, 200, 3, None, "short");
    let (c0, a0) = r.original;
    let (c1, a1) = r.recovered;
    eprintln!(
        "original ${c0:.2} {:.2}%, recovered ${c1:.2} {:.2}%",
        a0 * 100.0,
        a1 * 100.0
    );
    assert!((c1 - c0).abs() / c0 <= 0.05, "cost ${c0:.2} → ${c1:.2}");
    assert!((a1 - a0).abs() <= 0.01, "attainment {a0} → {a1}");
    // 540 minutes in pages of 200: three pages, each a call.
    assert_eq!(r.calls, 3, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("at 60 s periods (3 GetMetricData call(s)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Little's law"), "{}", r.stdout);

    // The backtest on the recovered trace, beside a named current policy.
    let dir = tmp("bt-short");
    let o = preheat_bin(
        &[
            "backtest",
            "--trace",
            r.trace.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--current",
            "keda:queueLength=5",
            "--out",
            dir.to_str().unwrap(),
            "--threads",
            "1",
        ],
        None,
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("On your traffic:"), "{stdout}");
    assert!(
        stdout.contains("current: keda queueLength=5 min=0"),
        "{stdout}"
    );
    assert!(stdout.contains("→ preheat"), "{stdout}");
    assert!(dir.join("your-queue-yours-frontier.svg").is_file());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&r.trace);
    let _ = std::fs::remove_file(&cfg);
}

/// The full-size figure for the README and docs/history.md: two weeks of KTH SP2 (the demo
/// trace). Slow in a debug build; run with
/// `cargo test --release --test history -- --ignored --nocapture`.
#[test]
#[ignore]
fn round_trip_full_size() {
    let tr = preheat::sim::scenario::demo_trace(1).unwrap();
    let hours = (tr.jobs.iter().map(|j| j.arrival_s).fold(0.0, f64::max) / 3600.0).ceil() as usize;
    // Whisper's own SLO with three arrival-spreading seeds, then two SLOs nearer the cold start.
    for (wait, seed) in [("10m", 1), ("10m", 2), ("10m", 3), ("5m", 1), ("2m", 1)] {
        let cfg = config_with_wait(wait);
        let r = round_trip(
            &cfg,
            &tr.jobs,
            hours,
            5000,
            seed,
            None,
            &format!("full-{wait}-{seed}"),
        );
        let (c0, a0) = r.original;
        let (c1, a1) = r.recovered;
        println!(
            "full size, max wait {wait}, seed {seed} ({} jobs, {hours} h): original ${c0:.2} {:.2}%, \
             recovered ${c1:.2} {:.2}% (cost {:+.2}%, attainment {:+.2} pt), {} calls",
            tr.jobs.len(),
            a0 * 100.0,
            a1 * 100.0,
            (c1 / c0 - 1.0) * 100.0,
            (a1 - a0) * 100.0,
            r.calls
        );
        println!("{}", r.stdout);
    }
}

/// `history` over the served minute sums of `known_trace(hours)` with `extra` flags: the
/// trace file's bytes.
fn history_of_known_trace(hours: usize, extra: &[&str], tag: &str) -> Vec<u8> {
    let setup = setup_of(Path::new(CONFIG), &known_trace(hours));
    let (_, _, run_jobs) = run_preheat(&setup);
    let minutes = (hours + 1) * 60;
    let mut m = minute_sums(&run_jobs, setup.start_s, minutes);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end_s = now / 3600 * 3600;
    m.start_s = end_s - 60 * minutes as i64;
    let (ep, _) = serve(m, 1000);
    let out = tmp(&format!("{tag}.csv"));
    let (days, end) = (format!("{}", (hours + 1) as f64 / 24.0), rfc3339(end_s));
    let mut args = vec![
        "history",
        "--config",
        CONFIG,
        "--days",
        &days,
        "--end",
        &end,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = preheat_bin(&args, Some(&ep));
    assert!(o.status.success(), "{}", text(&o).1);
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    bytes
}

#[test]
fn the_same_seed_writes_the_same_file() {
    let a = history_of_known_trace(2, &["--seed", "5"], "seed-a");
    let b = history_of_known_trace(2, &["--seed", "5"], "seed-b");
    let c = history_of_known_trace(2, &["--seed", "6"], "seed-c");
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn service_times_come_from_the_users_file() {
    let f = tmp("durations.csv");
    std::fs::write(&f, "job,service_s\na,100\nb,200\n").unwrap();
    let bytes = history_of_known_trace(2, &["--service-times", f.to_str().unwrap()], "st");
    let csv = String::from_utf8(bytes).unwrap();
    let times: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(times.into_iter().collect::<Vec<_>>(), vec!["100", "200"]);
    std::fs::write(&f, "service_s\n100\nsoon\n").unwrap();
    let o = preheat_bin(
        &[
            "history",
            "--config",
            CONFIG,
            "--service-times",
            f.to_str().unwrap(),
            "--out",
            tmp("never.csv").to_str().unwrap(),
        ],
        Some("http://127.0.0.1:9"),
    );
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("durations.csv: line 3: \"soon\" is not a positive number of seconds"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&f);
}

#[test]
fn an_idle_queue_or_wrong_name_says_so() {
    let m = Minutes {
        start_s: 0,
        sent: vec![],
        deleted: vec![],
        in_flight: vec![],
    };
    let (ep, _) = serve(m, 100);
    let out = tmp("idle.csv");
    let o = preheat_bin(
        &[
            "history",
            "--config",
            CONFIG,
            "--days",
            "0.1",
            "--out",
            out.to_str().unwrap(),
        ],
        Some(&ep),
    );
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("queue \"transcribe-jobs\"")
            && stderr.contains("no NumberOfMessagesSent datapoint")
            && stderr.contains("idle")
            && stderr.contains("region or the queue name"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written on an error");
}

#[test]
fn access_denied_names_the_iam_action() {
    let (ep, _) = answer_server(Arc::new(|_| (400, error_body("AccessDeniedException"))));
    let o = preheat_bin(
        &[
            "history",
            "--config",
            CONFIG,
            "--days",
            "1",
            "--out",
            tmp("denied.csv").to_str().unwrap(),
        ],
        Some(&ep),
    );
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("cloudwatch:GetMetricData was denied") && stderr.contains("grant"),
        "{stderr}"
    );
}

#[test]
fn a_window_beyond_retention_is_refused_before_any_call() {
    let o = preheat_bin(
        &[
            "history",
            "--config",
            CONFIG,
            "--end",
            "2020-01-01T00:00:00Z",
            "--out",
            tmp("old.csv").to_str().unwrap(),
        ],
        // Nothing listens here: an attempted call would fail differently.
        Some("http://127.0.0.1:9"),
    );
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("beyond what CloudWatch keeps") && stderr.contains("455 days"),
        "{stderr}"
    );
}

#[test]
fn a_bad_current_policy_lists_the_accepted_forms() {
    let t = tmp("one.csv");
    std::fs::write(&t, "arrival_s,service_s\n0,60\n").unwrap();
    let o = preheat_bin(
        &[
            "backtest",
            "--trace",
            t.to_str().unwrap(),
            "--current",
            "hpa:3",
        ],
        None,
    );
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("--current \"hpa:3\": unknown policy")
            && stderr.contains("keda:queueLength=N")
            && stderr.contains("target-tracking:T=X")
            && stderr.contains("static:N"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&t);
}

/// A window starting 15 to 63 days ago is read at 5-minute periods, and each period's
/// arrivals are spread within it.
#[test]
fn an_older_window_is_read_at_five_minutes() {
    let (ep, seen) = answer_server(Arc::new(|req: &Cbor| {
        let start = req.get("StartTime").unwrap().epoch_s() as i64;
        let queries = req.get("MetricDataQueries").unwrap().items();
        let mut o = Out::default();
        o.head(5, 1)
            .text("MetricDataResults")
            .head(4, queries.len() as u64);
        for q in queries {
            let id = q.get("Id").unwrap().text();
            // Two messages sent and deleted in each of the first three periods, one in flight.
            let v = if id.starts_with("inflight") { 1.0 } else { 2.0 };
            let pts: Vec<(i64, f64)> = (0..3).map(|k| (start + 300 * k, v)).collect();
            result(&mut o, id, &pts);
        }
        (200, o.0)
    }));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = tmp("older.csv");
    let o = preheat_bin(
        &[
            "history",
            "--config",
            CONFIG,
            "--days",
            "1",
            "--end",
            &rfc3339(now - 20 * 86_400),
            "--out",
            out.to_str().unwrap(),
        ],
        Some(&ep),
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("at 300 s periods"), "{stdout}");
    let calls = seen.lock().unwrap().clone();
    let q = &calls[0].body.get("MetricDataQueries").unwrap().items()[0];
    let period = q.get("MetricStat").unwrap().get("Period").unwrap().number();
    assert_eq!(period, 300.0);
    assert_eq!(
        calls[0].body.get("StartTime").unwrap().epoch_s() as i64 % 300,
        0
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    let jobs: Vec<(f64, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let (a, s) = l.split_once(',').unwrap();
            (a.parse().unwrap(), s.parse().unwrap())
        })
        .collect();
    assert_eq!(jobs.len(), 6);
    for (i, (arrival_s, service_s)) in jobs.iter().enumerate() {
        let k = (i / 2) as f64;
        assert!((k * 300.0..(k + 1.0) * 300.0).contains(arrival_s), "{csv}");
        // 3 periods × 1 in flight × 300 s over 6 deletions.
        assert_eq!(*service_s, 150.0);
    }
    let _ = std::fs::remove_file(&out);
}

/// `preheat run` primes each service from its queue's last 14 days in CloudWatch
/// (`aws::history::recent_jobs`): over the wire, a flurry of 6 half-hour jobs each morning
/// comes back as 6 half-hour jobs a day, and a controller primed with them at a strict SLO has
/// idle workers up for the next morning's flurry, where an unprimed one makes all six wait for
/// a cold start.
#[test]
fn the_last_14_days_read_at_start_prime_an_idle_pool_for_the_flurries_they_held() {
    const DAY_MIN: usize = 1440;
    let now_s = 1_767_268_800.0; // a whole minute, so the window is exactly 14 days
    let start_s = now_s as i64 - 14 * 86_400;
    let (mut sent, mut deleted, mut in_flight) = (
        vec![0.0; 14 * DAY_MIN],
        vec![0.0; 14 * DAY_MIN],
        vec![0.0; 14 * DAY_MIN],
    );
    for d in 0..14 {
        let at = d * DAY_MIN + 600; // 10:00 of each day
        sent[at] = 6.0;
        deleted[at + 30] = 6.0;
        for m in &mut in_flight[at..at + 30] {
            *m = 6.0;
        }
    }
    let (ep, seen) = serve(
        Minutes {
            start_s,
            sent,
            deleted,
            in_flight,
        },
        100_800,
    );
    let (jobs, calls) = rt().block_on(async {
        let emu = preheat::aws::fixture::Emulator::connect(&ep).await.unwrap();
        preheat::aws::history::recent_jobs(&emu.clients.cw, &ep, QUEUE, now_s, 14.0)
            .await
            .unwrap()
    });
    assert_eq!(calls, 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(jobs.len(), 84);
    assert!(jobs.iter().all(|j| (j.service_s - 1800.0).abs() < 1.0));
    assert!(
        jobs.iter()
            .all(|j| j.arrival_s >= start_s as f64 && j.arrival_s < now_s)
    );

    // The next morning's flurry, 10:00 on the day after the window, with the SLO a minute.
    let config = config_with_wait("1m");
    let next_s = now_s + 600.0 * 60.0;
    let flurry: Vec<Job> = (0..6)
        .map(|i| Job {
            arrival_s: next_s + f64::from(i),
            service_s: 1800.0,
        })
        .collect();
    let mut setup = setup_of(&config, &flurry);
    setup.start_s = now_s;
    let run = |prime: bool| {
        let mut p = Preheat::new(setup.service.clone(), setup.tick_s);
        if prime {
            preheat::core::model::Policy::prime(&mut p, &jobs, now_s);
        }
        let raw = sim::run_raw(&setup, Box::new(p), false);
        raw.summarize(&setup, "preheat", 60.0).slo_attainment
    };
    assert_eq!(run(true), 1.0);
    assert_eq!(run(false), 0.0);
}
