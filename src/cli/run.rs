//! `preheat run`: the reconcile loop against real AWS (or `--dry-run`, or any AWS-compatible
//! endpoint), with `/metrics` and `/healthz`, until SIGTERM. The AWS calls are in
//! `preheat::aws`, the loop in `preheat::reconcile`; this file wires them and the logging.

use anyhow::{Context, Result, bail};
use clap::Args;
use preheat::core::config::Config;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Human,
    Json,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Policy YAML file (its services name the cluster, service, queue and capacity provider).
    #[arg(long)]
    config: PathBuf,
    /// Observe and decide, log what would be done, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// One tick, then exit (non-zero if a read or a write failed).
    #[arg(long)]
    once: bool,
    /// Send every AWS call here (e.g. http://127.0.0.1:5000 for moto). Default: the config's
    /// aws.endpoint_url, else AWS_ENDPOINT_URL, else the real AWS endpoints.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// AWS region. Default: the config's aws.region, else the standard chain (AWS_REGION,
    /// profile, ECS task metadata).
    #[arg(long)]
    region: Option<String>,
    /// Address for /metrics and /healthz (not served with --once).
    #[arg(long, default_value = "127.0.0.1:9464")]
    listen: String,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Write even though Application Auto Scaling also has a scalable target on the service.
    #[arg(long)]
    share_with_aas: bool,
    /// Attempts per AWS call, including the first (SDK standard retry with back-off).
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
    /// DynamoDB table of writer leases (one per service); overrides aws.lease_table.
    #[arg(long, env = "PREHEAT_LEASE_TABLE")]
    lease_table: Option<String>,
    /// Print CloudWatch Embedded Metric Format lines on stdout (metrics from the awslogs
    /// driver with no scraper).
    #[arg(long, env = "PREHEAT_EMF")]
    emf: bool,
}

pub(crate) fn init_logging(format: LogFormat) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // RUST_LOG takes `target=level` pairs (no regexes: that keeps env-filter out of the build).
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            Targets::new()
                .with_target("preheat", LevelFilter::INFO)
                // The SDK warns at length while it walks the credential chain (IMDS retries);
                // a missing credential is reported once, by `check_credentials`.
                .with_target("aws_config", LevelFilter::ERROR)
                .with_default(LevelFilter::WARN)
        });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

pub(crate) fn cmd_run(a: RunArgs) -> Result<()> {
    // A bad config or flag never starts anything.
    let cfg = Config::load(&a.config)?;
    let listen: std::net::SocketAddr = a.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address; write HOST:PORT, e.g. 127.0.0.1:9464",
            a.listen
        )
    })?;
    if let Some(u) = &a.endpoint_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--endpoint-url {u:?} is not a URL; write e.g. http://127.0.0.1:5000");
    }
    init_logging(a.log_format);
    // One thread is plenty for a few calls every few seconds, and keeps RSS small.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(cfg, a, listen))
}

pub(crate) async fn run_async(
    mut cfg: Config,
    a: RunArgs,
    listen: std::net::SocketAddr,
) -> Result<()> {
    use preheat::aws::{AwsClients, AwsOptions, AwsWorld, aas, load_sdk_config};
    use preheat::clock::{RealClock, Shutdown};
    use preheat::core::decide::Preheat;
    use preheat::core::model::Policy;
    use preheat::telemetry::{self, Instrumented, TelemetryObserver};
    use preheat::world::DryRun;

    if let Some(t) = &a.lease_table {
        cfg.aws.lease_table = Some(t.clone());
    }
    let opts = AwsOptions {
        region: a.region.clone().or(cfg.aws.region.clone()),
        endpoint_url: a.endpoint_url.clone().or(cfg.aws.endpoint_url.clone()),
        max_attempts: a.max_attempts,
    };
    let sdk = load_sdk_config(&opts).await;
    if sdk.region().is_none() {
        bail!(
            "no AWS region: set AWS_REGION, aws.region in {} or --region",
            a.config.display()
        );
    }
    check_credentials(&sdk, opts.endpoint_url.is_some()).await?;
    let clients = AwsClients::new(&sdk);
    tracing::info!(
        endpoint = %clients.endpoint,
        services = cfg.services.len(),
        dry_run = a.dry_run,
        "checking the queues, clusters, services and capacity providers in the config"
    );
    let world = AwsWorld::new(clients.clone(), cfg.services.clone());
    let problems = world.check_resources().await;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|e| format!("  {e}")).collect();
        bail!(
            "{} problem{} with the AWS resources named in {} (nothing was changed):\n{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            a.config.display(),
            list.join("\n")
        );
    }

    // A second owner of desiredCount would undo every write of ours (and we theirs).
    let mut owners = Vec::new();
    for s in &cfg.services {
        match aas::scalable_target(&clients.aas, &clients.endpoint, &s.cluster, &s.service).await {
            Ok(Some(t)) => owners.push(format!(
                "{} (min {}, max {}{})",
                t.resource_id,
                t.min_capacity,
                t.max_capacity,
                if t.suspended {
                    ", dynamic scaling suspended"
                } else {
                    ""
                }
            )),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                service = %s.name,
                error = %e,
                "could not check for an Application Auto Scaling target (needs \
                 application-autoscaling:DescribeScalableTargets); if one exists, it and \
                 preheat will fight over desiredCount"
            ),
        }
    }
    if !owners.is_empty() {
        let msg = format!(
            "Application Auto Scaling also owns desiredCount of {}: its policies and preheat \
             would overwrite each other",
            owners.join(", ")
        );
        if a.dry_run {
            tracing::warn!("{msg}; --dry-run writes nothing, so going on");
        } else if a.share_with_aas {
            tracing::warn!("{msg}; --share-with-aas given, so writing anyway");
        } else {
            bail!(
                "{msg}. Refusing to write. Deregister the target (aws application-autoscaling \
                 deregister-scalable-target --service-namespace ecs --scalable-dimension \
                 ecs:service:DesiredCount --resource-id service/CLUSTER/SERVICE), or pass \
                 --share-with-aas to run anyway, or --dry-run to only watch"
            );
        }
    }

    let metrics = telemetry::new_metrics(&cfg.services, a.dry_run);
    // One writer per service: take the leases before the first tick (a dry run writes nothing
    // and must not take the lease from the controller that does).
    let leases = match (&cfg.aws.lease_table, a.dry_run) {
        (Some(table), false) => {
            use preheat::aws::lease::{self, Lease, LeaseState};
            let holder = lease::holder_id();
            let leases: Vec<Lease> = cfg
                .services
                .iter()
                .map(|s| {
                    Lease::new(
                        clients.ddb.clone(),
                        &clients.endpoint,
                        table,
                        &s.cluster,
                        &s.service,
                        &holder,
                        cfg.aws.lease_duration_s,
                    )
                })
                .collect();
            let state = LeaseState::new(leases.len(), cfg.aws.lease_duration_s);
            lease::acquire_all(&leases, &state, &metrics)
                .await
                .map_err(|e| anyhow::anyhow!("writer lease (aws.lease_table): {e}"))?;
            let heartbeat = tokio::spawn(lease::keep_leases(
                leases.clone(),
                state.clone(),
                metrics.clone(),
                std::future::pending(),
            ));
            Some((leases, state, heartbeat))
        }
        (None, false) => {
            tracing::warn!(
                "no aws.lease_table in the config: preheat cannot tell if a second controller \
                 (its own next deployment, or `preheat run` from a laptop) writes the same \
                 service; set aws.lease_table (deploy/preheat.cfn.yaml creates the table)"
            );
            None
        }
        (_, true) => None,
    };
    let mut policies: Vec<Box<dyn Policy + Send>> = cfg
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Box::new(Instrumented::new(
                Preheat::new(s.clone(), cfg.tick_s),
                metrics.clone(),
                i,
            )) as Box<dyn Policy + Send>
        })
        .collect();
    prime_from_history(&clients, &cfg.services, &mut policies).await;
    // Re-check for a second owner while running (not when sharing was asked for).
    if !a.once && !a.share_with_aas {
        tokio::spawn(aas::watch_owners(
            clients.clone(),
            cfg.services.clone(),
            metrics.clone(),
            aas::RECHECK_EVERY,
        ));
    }
    let shutdown = Shutdown::listen().context("cannot listen for SIGTERM")?;
    if !a.once {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!("cannot listen on {listen} for /metrics; pass --listen HOST:PORT")
            })?;
        let bound = listener.local_addr().unwrap_or(listen);
        tracing::info!(address = %bound, "serving /metrics and /healthz");
        let mut stop = shutdown.clone();
        tokio::spawn(telemetry::serve(listener, metrics.clone(), async move {
            stop.requested().await
        }));
    }

    let mut observer =
        TelemetryObserver::new(metrics.clone(), cfg.services.clone()).with_emf(a.emf);
    let mut clock = RealClock::new(shutdown.clone());
    let max_ticks = a.once.then_some(1);
    let names: Vec<String> = cfg.services.iter().map(|s| s.name.clone()).collect();
    let dry_run = a.dry_run;
    let lease_state = leases.as_ref().map(|(_, s, _)| s.clone());
    let run_loop = async {
        if dry_run {
            let mut w = DryRun::new(world, names);
            preheat::reconcile::run(&mut w, &mut clock, &mut policies, &mut observer, max_ticks)
                .await
        } else if let Some(state) = lease_state {
            let mut w = preheat::aws::lease::Leased::new(world, state, names);
            preheat::reconcile::run(&mut w, &mut clock, &mut policies, &mut observer, max_ticks)
                .await
        } else {
            let mut w = preheat::world::Logged::new(world, names);
            preheat::reconcile::run(&mut w, &mut clock, &mut policies, &mut observer, max_ticks)
                .await
        }
    };
    // The loop ends after the tick in progress; if that tick hangs on AWS, give up on it.
    let mut late = shutdown.clone();
    let grace = async move {
        late.requested().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    let stats = tokio::select! {
        s = run_loop => Some(s),
        _ = grace => None,
    };
    // Hand the leases over at once rather than after they expire.
    if let Some((leases, state, heartbeat)) = leases {
        heartbeat.abort();
        let release = preheat::aws::lease::release_all(&leases, &state);
        let _ = tokio::time::timeout(Duration::from_secs(3), release).await;
    }
    let Some(stats) = stats else {
        tracing::warn!("the tick in progress did not end within 5 s of shutdown; stopped anyway");
        return Ok(());
    };
    tracing::info!(
        ticks = stats.ticks,
        apply_errors = stats.apply_errors,
        "stopped"
    );
    if a.once {
        let healthy = telemetry::healthy(&metrics.lock().unwrap_or_else(|p| p.into_inner()));
        if !healthy {
            bail!("the observation failed (see the warnings above); nothing was scaled in");
        }
        if stats.apply_errors > 0 {
            bail!(
                "{} action(s) failed to apply (see the warnings above)",
                stats.apply_errors
            );
        }
    }
    Ok(())
}

/// Fails with a clear message when the standard chain finds no credentials, instead of letting
/// the first call fail as if the endpoint were unreachable.
/// Prime each service's idle pool with its queue's last 14 days from CloudWatch (the minute
/// sums turned into jobs as `preheat history` does), so the flurry sizes of those days are
/// known from the first tick. Best effort: a queue without datapoints, a denied or failed read
/// only means that service starts learning from scratch, as it did before; it is logged and the
/// loop starts all the same.
async fn prime_from_history(
    clients: &preheat::aws::AwsClients,
    services: &[preheat::core::config::ServiceConfig],
    policies: &mut [Box<dyn preheat::core::model::Policy + Send>],
) {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let days = preheat::trace::HISTORY_S / preheat::history::DAY_S;
    for (s, p) in services.iter().zip(policies.iter_mut()) {
        let queue = preheat::aws::cloudwatch::queue_name(&s.queue_url);
        match preheat::aws::history::recent_jobs(&clients.cw, &clients.endpoint, queue, now_s, days)
            .await
        {
            Ok((jobs, calls)) => {
                tracing::info!(
                    service = %s.name,
                    jobs = jobs.len(),
                    calls,
                    "primed the idle pool with the queue's last 14 days in CloudWatch"
                );
                p.prime(&jobs, now_s);
            }
            Err(e) => tracing::warn!(
                service = %s.name,
                error = %e,
                "no CloudWatch history for the queue: the idle pool learns from scratch"
            ),
        }
    }
}

pub(crate) async fn check_credentials(sdk: &aws_config::SdkConfig, emulator: bool) -> Result<()> {
    use aws_sdk_ecs::config::ProvideCredentials;
    let Some(provider) = sdk.credentials_provider() else {
        bail!("no AWS credentials provider is configured");
    };
    if let Err(e) = provider.provide_credentials().await {
        bail!(
            "no AWS credentials found ({e}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or \
             AWS_PROFILE, or run where a task role or instance profile provides them{}",
            if emulator {
                " (an emulator such as moto accepts any values, e.g. testing/testing)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
