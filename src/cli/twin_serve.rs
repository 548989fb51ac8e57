//! `preheat twin --serve`: serves the twin's SQS, ECS and CloudWatch endpoints on a loopback
//! address in real time (or `--speed` times faster) for a `preheat run --endpoint-url` in
//! another terminal (or the `preheat footprint` that started it), and prints the replay's
//! summary when the trace is done (or on ctrl-c or SIGTERM). With `--services N` it serves N
//! services of one cluster, each replaying the trace in its own world. The worlds and the
//! server are `preheat::twin`; this file wires them to flags and prints.

use super::simulate::{SimulateArgs, setup_from};
use anyhow::{Context, Result, bail};
use preheat::clock::{Shutdown, unix_now_s};
use preheat::sim::world::SimWorld;
use preheat::sim::{SimSetup, report};
use preheat::twin::faults::WireFaults;
use preheat::twin::live::{self, TimeMap};
use preheat::twin::{Names, TwinState, lock, lockstep};
use std::net::SocketAddr;
use std::time::Duration;

/// How far service k's arrivals are moved later than service k-1's, so that the services are
/// not copies of one another (their seeds differ too).
pub(crate) const SERVICE_OFFSET_S: f64 = 7.0 * 60.0;

/// The flags of `twin --serve` besides the replay's own.
pub(crate) struct ServeOptions<'a> {
    pub(crate) speed: f64,
    pub(crate) listen: &'a str,
    pub(crate) services: usize,
    pub(crate) wire: WireFaults,
}

/// The replay of service `k`: the trace `k` offsets later, with seed + k.
fn setup_of(base: &SimSetup, k: usize) -> SimSetup {
    let mut s = base.clone();
    if k > 0 {
        s.sim.seed = base.sim.seed.wrapping_add(k as u64);
        for j in s.jobs.iter_mut().chain(&mut s.history) {
            j.arrival_s += k as f64 * SERVICE_OFFSET_S;
        }
    }
    s
}

pub(crate) fn cmd_serve(a: &SimulateArgs, o: ServeOptions<'_>) -> Result<()> {
    let speed = o.speed;
    if !(speed.is_finite() && speed > 0.0) {
        bail!("--speed {speed} must be a positive number of simulated seconds per second");
    }
    if !(1..=1000).contains(&o.services) {
        bail!(
            "--services {} must be 1..=1000 (each service is one simulated world)",
            o.services
        );
    }
    let addr: SocketAddr = o.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address; write e.g. 127.0.0.1:4566",
            o.listen
        )
    })?;
    if !addr.ip().is_loopback() {
        bail!(
            "--listen {addr}: the twin serves on the loopback interface only (127.0.0.1 or [::1])"
        );
    }
    if a.policy.is_some() || a.timeline.is_some() {
        bail!(
            "--policy and --timeline are for lockstep runs; with --serve the controller is the `preheat run` you point at the twin"
        );
    }
    let (setup, trace) = setup_from(a)?;
    let setups: Vec<SimSetup> = (0..o.services).map(|k| setup_of(&setup, k)).collect();
    let state = TwinState::many(
        setups
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let world =
                    SimWorld::new(s.sim_service(), s.sim.clone(), &s.jobs, s.start_s, false);
                (world, Names::nth(&setup.service, k))
            })
            .collect(),
    );
    lock(&state).wire_faults = o.wire;
    let map = TimeMap {
        wall0_s: unix_now_s(),
        sim0_s: setup.start_s,
        speed,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let end_s = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (in use? pick another with --listen)")
        })?;
        // The address bound (with --listen 127.0.0.1:0, the port the system picked): the first
        // line on stderr, which `preheat footprint` reads.
        let addr = listener.local_addr().context("cannot read the bound address")?;
        live::refresh(&state, &map);
        let server = tokio::spawn(preheat::twin::serve(listener, state.clone()));
        let what = if o.services == 1 {
            String::new()
        } else {
            format!(" ({} services)", o.services)
        };
        eprintln!(
            "preheat twin: serving SQS, ECS and CloudWatch for {} jobs ({}){what} on http://{addr} \
             at {speed}x; in another terminal:\n  AWS_ACCESS_KEY_ID=twin AWS_SECRET_ACCESS_KEY=twin \
             AWS_REGION=us-east-1 preheat run --config {} --endpoint-url http://{addr} \
             [--dry-run]\nctrl-c prints the summary so far",
            trace.jobs.len(),
            trace.source,
            a.config
                .as_ref()
                .map_or("config/whisper.yaml".to_string(), |p| p
                    .display()
                    .to_string()),
        );
        let shutdown = Shutdown::listen().context("cannot listen for ctrl-c")?;
        let end = live::run(&state, &map, Duration::from_secs(1), shutdown).await;
        server.abort();
        Ok::<_, anyhow::Error>(end)
    })?;
    let mut st = lock(&state);
    let calls: u64 = st.calls.values().sum();
    let mut summaries = Vec::new();
    for (w, s) in st.worlds.iter_mut().zip(&setups) {
        let mut raw = lockstep::finish(&mut w.sim, s, "external controller".into(), 0, 0);
        // Stopped early (ctrl-c): score the jobs that had arrived, not the rest of the trace.
        raw.jobs.retain(|j| j.arrival_s <= raw.end_s);
        let mut so_far = s.clone();
        so_far.jobs.retain(|j| j.arrival_s <= raw.end_s);
        let summary = raw.summarize(&so_far, &raw.policy, s.service.slo.max_wait_s);
        summaries.push((w.names.service.clone(), summary));
    }
    if a.json {
        // One service: its summary, as always; several: one per service, in order.
        if let [(_, one)] = summaries.as_slice() {
            println!("{}", serde_json::to_string_pretty(one)?);
        } else {
            let all: Vec<_> = summaries.iter().map(|(_, s)| s).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
    } else {
        println!(
            "preheat twin --serve: {:.1} simulated hours, {calls} requests answered",
            (end_s - setup.start_s) / 3600.0
        );
        let several = summaries.len() > 1;
        for (name, summary) in &summaries {
            if several {
                println!("service {name}:");
            }
            print!("{}", report::render_text(summary));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use preheat::core::config::{Config, DEFAULT_CONFIG_YAML};
    use preheat::sim::scenario::synthetic_trace;

    #[test]
    fn each_service_replays_the_trace_later_with_its_own_seed() {
        let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
        let trace = synthetic_trace(20, 0.1, 3);
        let base = SimSetup::from_trace(
            cfg.services[0].clone(),
            cfg.tick_s,
            cfg.simulation.clone(),
            &trace,
        );
        let first = setup_of(&base, 0);
        assert_eq!(first.sim.seed, base.sim.seed);
        assert_eq!(first.jobs, base.jobs);
        let third = setup_of(&base, 2);
        assert_eq!(third.sim.seed, base.sim.seed + 2);
        assert_eq!(third.jobs.len(), base.jobs.len());
        for (a, b) in base.jobs.iter().zip(&third.jobs) {
            // Shifted by two offsets (up to the rounding of adding to a large epoch time).
            assert!(
                (b.arrival_s - a.arrival_s - 2.0 * SERVICE_OFFSET_S).abs() < 1e-6,
                "{a:?} {b:?}"
            );
            assert_eq!(b.service_s, a.service_s);
        }
    }
}
