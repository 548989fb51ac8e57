//! `preheat footprint`: measures resident memory and CPU per tick of the AWS edge against a
//! local endpoint.

use anyhow::{Context, Result, bail};
use clap::Args;
use preheat::core::config::{Config, DEFAULT_CONFIG_YAML};
use std::time::Instant;

#[derive(Args)]
pub(crate) struct FootprintArgs {
    /// The emulator (must be a loopback address, e.g. the one scripts/moto prints).
    #[arg(long)]
    endpoint_url: String,
    /// Services (each with its own queue) in one cluster.
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Ticks to measure (after one warm-up tick).
    #[arg(long, default_value_t = 50)]
    ticks: u64,
}

pub(crate) fn cmd_footprint(a: FootprintArgs) -> Result<()> {
    if a.services == 0 || a.ticks == 0 {
        bail!("--services and --ticks must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(footprint_async(a))
}

pub(crate) async fn footprint_async(a: FootprintArgs) -> Result<()> {
    use preheat::aws::AwsWorld;
    use preheat::aws::fixture::Emulator;
    use preheat::clock::BusyClock;
    use preheat::core::decide::Preheat;
    use preheat::core::model::Policy;
    use preheat::telemetry::{cpu_seconds, peak_resident_bytes, resident_bytes};
    use preheat::world::World;

    let emu = Emulator::connect(&a.endpoint_url).await?;
    let cluster = format!("preheat-footprint-{}", std::process::id());
    let base = Config::parse(DEFAULT_CONFIG_YAML, "bundled")?;
    let mut services = Vec::new();
    for k in 0..a.services {
        let name = format!("{cluster}-{k}");
        let queue_url = emu.create_queue(&name).await?;
        emu.send(&queue_url, (k % 4) as u32, 0).await?;
        emu.create_service(&cluster, &name, 0).await?;
        let mut s = base.services[0].clone();
        s.name = name.clone();
        s.cluster = cluster.clone();
        s.service = name;
        s.queue_url = queue_url;
        s.capacity_provider = None;
        s.floors.clear();
        services.push(s);
    }
    let mut policies: Vec<Box<dyn Policy + Send>> = services
        .iter()
        .map(|s| Box::new(Preheat::new(s.clone(), base.tick_s)) as Box<dyn Policy + Send>)
        .collect();
    let mut world = AwsWorld::new(emu.clients.clone(), services);
    let mut clock = BusyClock;
    // Warm-up tick: connection set-up and first allocations are not per-tick costs.
    preheat::reconcile::run(&mut world, &mut clock, &mut policies, &mut (), Some(1)).await;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let stats = preheat::reconcile::run(
        &mut world,
        &mut clock,
        &mut policies,
        &mut (),
        Some(a.ticks),
    )
    .await;
    let cpu_ms = (cpu_seconds() - cpu0) * 1000.0 / a.ticks as f64;
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
    let mb = |b: Option<u64>| b.map_or("?".to_string(), |b| format!("{:.1}", b as f64 / 1e6));
    println!(
        "footprint: {} services × {} ticks against {} ({} apply errors)",
        a.services, stats.ticks, a.endpoint_url, stats.apply_errors
    );
    println!(
        "  CPU per tick (all services, user+sys): {cpu_ms:.2} ms   (goal ≤ 5 ms; {:.3} ms per service)",
        cpu_ms / a.services as f64
    );
    println!(
        "    of which reads (SDK calls, {} services): ~{observe_ms:.2} ms; decisions: ~{decide_ms:.3} ms",
        n
    );
    println!("  wall per tick: {wall_ms:.1} ms (mostly waiting on the emulator)");
    println!(
        "  RSS now: {} MB, peak: {} MB   (goal ≤ 20 MB)",
        mb(resident_bytes()),
        mb(peak_resident_bytes())
    );
    Ok(())
}
