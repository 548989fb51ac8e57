//! `preheat footprint`: measures resident memory and CPU per tick of the AWS edge and the
//! reconcile loop, as `preheat run` drives them (one SDK client set shared by every service,
//! connections kept alive), for N services in one cluster.
//!
//! By default the endpoint is the twin, started as a child process of this same binary
//! (`twin --serve --services N` on a free loopback port, replaying a steady load written to a
//! temporary file), so that what is measured is this process alone and the services have tasks
//! that start, run and stop. `--endpoint-url` points
//! it at a loopback moto instead, where it creates its own queues and services. The child is
//! killed when this command ends, however it ends (`TwinChild`'s drop, plus the parent-death
//! signal on Linux). What the figures mean against the goals is for the reader.

use anyhow::{Context, Result, bail};
use clap::Args;
use preheat::aws::AwsClients;
use preheat::core::config::{Config, DEFAULT_CONFIG_YAML, ServiceConfig};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Args)]
pub(crate) struct FootprintArgs {
    /// A loopback AWS emulator (e.g. the moto scripts/moto prints) instead of the twin, which
    /// is started as a child process otherwise.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Services (each with its own queue) in one cluster.
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Ticks to measure (after one warm-up tick).
    #[arg(long, default_value_t = 50)]
    ticks: u64,
    /// With the twin: simulated seconds per real second (fast enough that cold starts finish
    /// and tasks run within the few seconds the measurement takes).
    #[arg(long, default_value_t = 600.0)]
    speed: f64,
}

pub(crate) fn cmd_footprint(a: FootprintArgs) -> Result<()> {
    if a.services == 0 || a.ticks == 0 {
        bail!("--services and --ticks must be at least 1");
    }
    if !(a.speed.is_finite() && a.speed > 0.0) {
        bail!(
            "--speed {} must be a positive number of simulated seconds per second",
            a.speed
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(footprint_async(a))
}

/// The twin serving as a child process; killed and reaped when dropped (on success or error;
/// a release build aborts on panic without dropping it, and then the parent-death signal set in
/// `spawn_twin` stops it), so no twin outlives the measurement.
struct TwinChild {
    child: Child,
    endpoint: String,
    /// The directory holding the load trace the twin replays (removed with the twin).
    dir: PathBuf,
}

impl Drop for TwinChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The load each service of the twin replays: one job every `LOAD_EVERY_S` seconds of
/// `LOAD_SERVICE_S` seconds of work (about four busy workers per service once warm, within the
/// bundled config's maximum of 8), for six simulated hours, so every tick reads tasks that
/// start, run, protect themselves and stop, as in production, rather than an empty service.
const LOAD_EVERY_S: u32 = 60;
const LOAD_SERVICE_S: u32 = 240;
const LOAD_SPAN_S: u32 = 6 * 3600;

/// The load trace (native CSV) in a fresh directory of its own.
fn write_load_trace() -> Result<(PathBuf, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("preheat-footprint-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {} for the load trace", dir.display()))?;
    let mut csv = String::from("arrival_s,service_s\n");
    for t in (0..LOAD_SPAN_S).step_by(LOAD_EVERY_S as usize) {
        csv.push_str(&format!("{t},{LOAD_SERVICE_S}\n"));
    }
    let path = dir.join("load.csv");
    std::fs::write(&path, csv)
        .with_context(|| format!("cannot write the load trace {}", path.display()))?;
    Ok((dir, path))
}

/// How long the twin may take to load its trace and listen.
const TWIN_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Start `preheat twin --serve --services N` on a free loopback port and read the address it
/// prints on the first line of its stderr.
fn spawn_twin(services: usize, speed: f64) -> Result<TwinChild> {
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let (dir, trace) = write_load_trace()?;
    let mut cmd = Command::new(&exe);
    cmd.args(["twin", "--serve", "--listen", "127.0.0.1:0"])
        .arg("--trace")
        .arg(&trace)
        .args(["--services", &services.to_string()])
        .args(["--speed", &speed.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl(2) is async-signal-safe and touches no memory of ours; it only asks
        // the kernel to SIGTERM the child if this process dies without dropping `TwinChild`
        // (e.g. killed by a signal).
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn();
    let mut guard = TwinChild {
        child: match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e).with_context(|| {
                    format!("cannot start the twin ({} twin --serve)", exe.display())
                });
            }
        },
        endpoint: String::new(),
        dir,
    };
    let stderr = guard
        .child
        .stderr
        .take()
        .context("the twin's stderr is not piped")?;
    // A thread drains the child's stderr for its whole life (a full pipe would block it) and
    // hands over the lines until the address is found.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + TWIN_START_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(ep) = endpoint_in(&line) {
                    guard.endpoint = ep;
                    return Ok(guard);
                }
                seen.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => bail!(
                "the twin did not print its address within {} s; it said:\n{}",
                TWIN_START_TIMEOUT.as_secs(),
                seen.join("\n")
            ),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = guard.child.wait().ok();
                bail!(
                    "the twin exited before serving ({}); it said:\n{}",
                    status.map_or("unknown status".to_string(), |s| s.to_string()),
                    seen.join("\n")
                )
            }
        }
    }
}

/// The `http://127.0.0.1:PORT` in the twin's first line, if this is that line.
fn endpoint_in(line: &str) -> Option<String> {
    if !line.starts_with("preheat twin: serving") {
        return None;
    }
    let at = line.find("http://")?;
    let ep = line[at..].split_whitespace().next()?;
    Some(ep.to_string())
}

/// SDK clients as `preheat run` builds them (standard retries, its timeouts, its HTTP client),
/// with fixed dummy credentials: the twin only checks that requests are signed.
async fn twin_clients(endpoint: &str) -> AwsClients {
    use aws_sdk_ecs::config::{Credentials, SharedCredentialsProvider};
    use preheat::aws::{AwsOptions, load_sdk_config};
    let sdk = load_sdk_config(&AwsOptions {
        region: Some(preheat::twin::REGION.to_string()),
        endpoint_url: Some(endpoint.to_string()),
        max_attempts: 0,
    })
    .await
    .into_builder()
    .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
        "twin", "twin", None, None, "twin",
    )))
    .build();
    AwsClients::new(&sdk)
}

/// Queues and services created in a loopback moto (which runs no tasks).
async fn moto_services(
    endpoint: &str,
    base: &ServiceConfig,
    n: usize,
) -> Result<(AwsClients, Vec<ServiceConfig>)> {
    use preheat::aws::fixture::Emulator;
    let emu = Emulator::connect(endpoint).await?;
    let cluster = format!("preheat-footprint-{}", std::process::id());
    let mut services = Vec::new();
    for k in 0..n {
        let name = format!("{cluster}-{k}");
        let queue_url = emu.create_queue(&name).await?;
        emu.send(&queue_url, (k % 4) as u32, 0).await?;
        emu.create_service(&cluster, &name, 0).await?;
        let mut s = base.clone();
        s.name = name.clone();
        s.cluster = cluster.clone();
        s.service = name;
        s.queue_url = queue_url;
        s.capacity_provider = None;
        s.floors.clear();
        services.push(s);
    }
    Ok((emu.clients.clone(), services))
}

pub(crate) async fn footprint_async(a: FootprintArgs) -> Result<()> {
    use preheat::aws::AwsWorld;
    use preheat::clock::BusyClock;
    use preheat::core::decide::Preheat;
    use preheat::core::model::Policy;
    use preheat::telemetry::{
        cpu_seconds, cpu_user_sys_seconds, peak_resident_bytes, resident_anon_bytes, resident_bytes,
    };
    use preheat::world::World;

    let base = Config::parse(DEFAULT_CONFIG_YAML, "bundled")?;
    // Held to the end of this function: dropping it kills the twin.
    let (_twin, against, clients, services) = match &a.endpoint_url {
        Some(ep) => {
            let (clients, services) = moto_services(ep, &base.services[0], a.services).await?;
            (None, ep.clone(), clients, services)
        }
        None => {
            let twin = spawn_twin(a.services, a.speed)?;
            let against = format!(
                "the twin (child process {}, {}, {}x)",
                twin.child.id(),
                twin.endpoint,
                a.speed
            );
            let clients = twin_clients(&twin.endpoint).await;
            let services = (0..a.services)
                .map(|k| preheat::twin::Names::config(&base.services[0], k))
                .collect();
            (Some(twin), against, clients, services)
        }
    };
    let mut policies: Vec<Box<dyn Policy + Send>> = services
        .iter()
        .map(|s| Box::new(Preheat::new(s.clone(), base.tick_s)) as Box<dyn Policy + Send>)
        .collect();
    let mut world = AwsWorld::new(clients, services);
    let mut clock = BusyClock;
    // Warm-up tick: connection set-up and first allocations are not per-tick costs.
    preheat::reconcile::run(&mut world, &mut clock, &mut policies, &mut (), Some(1)).await;
    let calls = || -> u64 {
        preheat::aws::stats::snapshot()
            .iter()
            .map(|(_, c)| c.calls)
            .sum()
    };
    let calls0 = calls();
    let (user0, sys0) = cpu_user_sys_seconds();
    let t0 = Instant::now();
    let stats = preheat::reconcile::run(
        &mut world,
        &mut clock,
        &mut policies,
        &mut (),
        Some(a.ticks),
    )
    .await;
    let (user1, sys1) = cpu_user_sys_seconds();
    let per_tick_ms = |s: f64| s * 1000.0 / a.ticks as f64;
    let (user_ms, sys_ms) = (per_tick_ms(user1 - user0), per_tick_ms(sys1 - sys0));
    let cpu_ms = user_ms + sys_ms;
    let calls_per_tick = (calls() - calls0) as f64 / a.ticks as f64;
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0 / a.ticks as f64;
    // Breakdown: the same reads without deciding, then deciding alone on the last reads.
    let n = world.services();
    let mut last = Vec::with_capacity(n);
    let cpu1 = cpu_seconds();
    for _ in 0..a.ticks {
        last.clear();
        let now = preheat::clock::unix_now_s();
        for i in 0..n {
            last.push(world.observe(i, now).await);
        }
    }
    let observe_ms = (cpu_seconds() - cpu1) * 1000.0 / a.ticks as f64;
    let cpu2 = cpu_seconds();
    let start = preheat::clock::unix_now_s();
    for k in 0..a.ticks {
        let now = start + k as f64 * base.tick_s;
        for (p, obs) in policies.iter_mut().zip(&last) {
            std::hint::black_box(p.decide(obs, now));
        }
    }
    let decide_ms = (cpu_seconds() - cpu2) * 1000.0 / a.ticks as f64;
    let tasks: usize = last
        .iter()
        .filter_map(|o| o.tasks.as_ref())
        .map(Vec::len)
        .sum();
    let mb = |b: Option<u64>| b.map_or("?".to_string(), |b| format!("{:.1}", b as f64 / 1e6));
    println!(
        "footprint: {} services × {} ticks against {against} ({} apply errors)",
        a.services, stats.ticks, stats.apply_errors
    );
    println!(
        "  CPU per tick (all services, user+sys): {cpu_ms:.2} ms   (goal ≤ 5 ms; {:.3} ms per service)",
        cpu_ms / a.services as f64
    );
    // The kernel's share is mostly the loopback TCP of the calls.
    println!("    user {user_ms:.2} ms + sys {sys_ms:.2} ms");
    println!(
        "    of which reads ({calls_per_tick:.0} SDK calls for {n} services, {tasks} tasks at the end): ~{observe_ms:.2} ms; decisions: ~{decide_ms:.3} ms",
    );
    println!("  wall per tick: {wall_ms:.1} ms (mostly waiting on the endpoint)");
    let (rss, anon) = (resident_bytes(), resident_anon_bytes());
    println!(
        "  RSS now: {} MB, peak: {} MB   (goal ≤ 20 MB)",
        mb(rss),
        mb(peak_resident_bytes())
    );
    // What the RSS is made of: this process's own memory, and the executable's pages the
    // kernel mapped (shared with the twin child, which runs the same file).
    println!(
        "    of which anonymous (heap, stacks): {} MB; file-backed (mostly the executable): {} MB",
        mb(anon),
        mb(rss.zip(anon).map(|(r, a)| r.saturating_sub(a)))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twins_address_is_read_from_its_first_line_only() {
        let line = "preheat twin: serving SQS, ECS and CloudWatch for 9 jobs (x) (10 services) \
                    on http://127.0.0.1:40123 at 600x; in another terminal:";
        assert_eq!(endpoint_in(line).as_deref(), Some("http://127.0.0.1:40123"));
        assert_eq!(
            endpoint_in("  preheat run --endpoint-url http://127.0.0.1:1"),
            None
        );
    }
}
