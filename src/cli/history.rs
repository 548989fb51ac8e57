//! `preheat history`: reads each configured queue's CloudWatch history and writes it as a native
//! trace that `simulate --trace` and `backtest --trace` replay. The window and the call plan
//! are `preheat::history`'s, the calls `preheat::aws::history`'s; this file parses the flags,
//! picks the output file per service and prints what was read.

use super::*;
use anyhow::{Context, Result, bail};
use clap::Args;
use preheat::history::{self, ServiceSource, Window};
use std::path::{Path, PathBuf};

pub(crate) const LONG_ABOUT: &str = "Read each service queue's AWS/SQS history from CloudWatch \
(NumberOfMessagesSent and NumberOfMessagesDeleted as sums, ApproximateNumberOfMessagesNotVisible \
as an average) and write it as a native trace (arrival_s,service_s) for `preheat simulate \
--trace` and `preheat backtest --trace`.\n\nThe period follows CloudWatch's retention: 1-minute \
datapoints while the window starts less than 15 days ago, 5-minute up to 63 days, 1-hour up to \
455 days; older windows are refused. Arrivals are spread uniformly at random within each period \
(seeded: the same --seed gives the same file).\n\nService time by Little's law: mean messages in flight ÷ deletions, over each busy stretch \
(from the moment workers hold a message until they hold none again; a stretch longer than 6 h \
is cut into hours). The n-th job sent belongs to the stretch of the n-th deletion: a job alone \
in its stretch gets the stretch's mean, its own time; jobs sharing a stretch draw their times \
from the lone jobs' times, rescaled to keep the stretch's mean. Everything between a worker's \
receive and its delete counts as service. Measured \
on two weeks of KTH SP2: preheat's cost within 1%, attainment within 0.9 pt at a 10-min SLO, \
more at SLOs near the cold start (see docs/history.md). With --service-times FILE the \
durations are drawn from your own list instead (seeded).\n\nNeeds only the IAM action \
cloudwatch:GetMetricData.";

#[derive(Args)]
pub(crate) struct HistoryArgs {
    /// Policy YAML file: each service's queue_url names the queue to read.
    #[arg(long)]
    config: PathBuf,
    /// Only this service (its name; default: every service, one file each).
    #[arg(long)]
    service: Option<String>,
    /// Days of history before --end (fractions allowed, e.g. 0.5).
    #[arg(long, default_value_t = 14.0)]
    days: f64,
    /// End of the window, RFC 3339 (e.g. 2026-11-30T00:00:00Z; default: now).
    #[arg(long)]
    end: Option<String>,
    /// Seed of the arrival spreading and service-time draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Trace file to write (with several services, each gets `-NAME` before the extension).
    #[arg(long)]
    out: PathBuf,
    /// Draw service times from this file of job durations in seconds (one per line, or a CSV
    /// with a service_s or duration_s column) instead of estimating them by Little's law.
    #[arg(long)]
    service_times: Option<PathBuf>,
    /// AWS region (default: the config's aws.region, else the standard chain).
    #[arg(long)]
    region: Option<String>,
    /// Send the calls to this endpoint instead of AWS (default: aws.endpoint_url, else
    /// AWS_ENDPOINT_URL).
    #[arg(long)]
    endpoint_url: Option<String>,
}

fn out_path(out: &Path, name: &str, several: bool) -> PathBuf {
    if !several {
        return out.to_path_buf();
    }
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("trace");
    let file = match out.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}-{name}.{ext}"),
        None => format!("{stem}-{name}"),
    };
    out.with_file_name(file)
}

pub(crate) fn cmd_history(a: HistoryArgs) -> Result<()> {
    let cfg = preheat::core::config::Config::load(&a.config)?;
    let services = match &a.service {
        Some(n) => vec![pick_service(&cfg, Some(n))?],
        None => cfg.services.clone(),
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs_f64();
    let end_s = match &a.end {
        None => None,
        Some(e) => Some(
            humantime::parse_rfc3339_weak(e)
                .with_context(|| {
                    format!("--end {e:?} is not an RFC 3339 time; write e.g. 2026-11-30T00:00:00Z")
                })?
                .duration_since(std::time::UNIX_EPOCH)
                .with_context(|| format!("--end {e:?} is before 1970"))?
                .as_secs_f64(),
        ),
    };
    let window = Window::new(now_s, end_s, a.days)?;
    let source = match &a.service_times {
        None => ServiceSource::LittlesLaw,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read --service-times {}", p.display()))?;
            ServiceSource::Samples(history::parse_service_times(
                &text,
                &p.display().to_string(),
            )?)
        }
    };
    if let Some(u) = &a.endpoint_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--endpoint-url {u:?} is not a URL; write e.g. http://127.0.0.1:5000");
    }
    let several = services.len() > 1;
    // Every output path is checked before any call is made.
    for s in &services {
        let p = out_path(&a.out, &s.name, several);
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            bail!(
                "--out {}: the directory {} does not exist; create it or write elsewhere",
                p.display(),
                dir.display()
            );
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let queue_names: Vec<&str> = services
        .iter()
        .map(|s| preheat::aws::cloudwatch::queue_name(&s.queue_url))
        .collect();
    let mut calls = 0usize;
    let (histories, endpoint) = rt.block_on(async {
        use preheat::aws::{AwsClients, AwsOptions, load_sdk_config};
        let opts = AwsOptions {
            region: a.region.clone().or(cfg.aws.region.clone()),
            endpoint_url: a.endpoint_url.clone().or(cfg.aws.endpoint_url.clone()),
            max_attempts: 0,
        };
        let sdk = load_sdk_config(&opts).await;
        if sdk.region().is_none() {
            bail!(
                "no AWS region: set AWS_REGION, aws.region in {} or --region (the queue's own \
                 region: CloudWatch keeps AWS/SQS metrics there)",
                a.config.display()
            );
        }
        super::run::check_credentials(&sdk, opts.endpoint_url.is_some()).await?;
        let clients = AwsClients::new(&sdk);
        let h = preheat::aws::history::fetch_histories(
            &clients.cw,
            &clients.endpoint,
            &queue_names,
            &window,
            &mut calls,
        )
        .await?;
        Ok((h, clients.endpoint))
    })?;
    let rfc = |t: i64| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
        )
    };
    println!(
        "read {} queue(s) from {endpoint}: {} to {} at {} s periods ({} GetMetricData call(s), \
         pages included)",
        services.len(),
        rfc(window.start_s),
        rfc(window.end_s),
        window.period_s,
        calls
    );
    for ((s, h), q) in services.iter().zip(&histories).zip(&queue_names) {
        let syn = history::synthesize(h, &source, a.seed)
            .with_context(|| format!("service {} (queue {q})", s.name))?;
        let path = out_path(&a.out, &s.name, several);
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write --out {}", path.display()))?;
        preheat::trace::write_native(&syn.jobs, file)
            .with_context(|| format!("cannot write --out {}", path.display()))?;
        let deleted: f64 = h.deleted.iter().sum();
        let known: Vec<f64> = h.in_flight.iter().flatten().copied().collect();
        let mean_in_flight = known.iter().sum::<f64>() / known.len().max(1) as f64;
        println!(
            "  {} (queue {q}): {:.0} sent, {:.0} deleted, mean in flight {:.2}",
            s.name,
            h.total_sent(),
            deleted,
            mean_in_flight
        );
        match &source {
            ServiceSource::LittlesLaw => println!(
                "    service time by Little's law: overall mean {:.0} s; {} busy stretch(es) \
                 with their own mean, {} job(s) on the overall mean",
                syn.overall_service_s.unwrap_or(0.0),
                syn.buckets_estimated,
                syn.jobs_fallback
            ),
            ServiceSource::Samples(v) => println!(
                "    service times drawn from {} duration(s) in {}",
                v.len(),
                a.service_times
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
            ),
        }
        println!("    wrote {} ({} jobs)", path.display(), syn.jobs.len());
    }
    println!(
        "next: preheat backtest --trace {} --config {} --current keda:queueLength=5",
        out_path(&a.out, &services[0].name, several).display(),
        a.config.display()
    );
    Ok(())
}
