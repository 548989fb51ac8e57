//! `preheat twin --serve`: serves the twin's SQS, ECS and CloudWatch endpoints on a loopback
//! address in real time (or `--speed` times faster) for a `preheat run --endpoint-url` in
//! another terminal, and prints the replay's summary when the trace is done (or on ctrl-c).
//! The world and the server are `preheat::twin`; this file wires them to flags and prints.

use super::simulate::{SimulateArgs, setup_from};
use anyhow::{Context, Result, bail};
use preheat::clock::{Shutdown, unix_now_s};
use preheat::sim::report;
use preheat::sim::world::SimWorld;
use preheat::twin::faults::WireFaults;
use preheat::twin::live::{self, TimeMap};
use preheat::twin::{Names, TwinState, lock, lockstep};
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) fn cmd_serve(
    a: &SimulateArgs,
    speed: f64,
    listen: &str,
    wire: WireFaults,
) -> Result<()> {
    if !(speed.is_finite() && speed > 0.0) {
        bail!("--speed {speed} must be a positive number of simulated seconds per second");
    }
    let addr: SocketAddr = listen.parse().with_context(|| {
        format!("--listen {listen:?} is not an address; write e.g. 127.0.0.1:4566")
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
    let world = SimWorld::new(
        setup.sim_service(),
        setup.sim.clone(),
        &setup.jobs,
        setup.start_s,
        false,
    );
    let state = TwinState::new(world, Names::of(&setup.service));
    lock(&state).wire_faults = wire;
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
        live::refresh(&state, &map);
        let server = tokio::spawn(preheat::twin::serve(listener, state.clone()));
        eprintln!(
            "preheat twin: serving SQS, ECS and CloudWatch for {} jobs ({}) on http://{addr} at \
             {speed}x; in another terminal:\n  AWS_ACCESS_KEY_ID=twin AWS_SECRET_ACCESS_KEY=twin \
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
    let mut raw = lockstep::finish(&mut st.sim, &setup, "external controller".into(), 0, 0);
    // Stopped early (ctrl-c): score the jobs that had arrived, not the rest of the trace.
    raw.jobs.retain(|j| j.arrival_s <= raw.end_s);
    let mut so_far = setup.clone();
    so_far.jobs.retain(|j| j.arrival_s <= raw.end_s);
    let summary = raw.summarize(&so_far, &raw.policy, setup.service.slo.max_wait_s);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "preheat twin --serve: {:.1} simulated hours, {calls} requests answered",
            (end_s - setup.start_s) / 3600.0
        );
        print!("{}", report::render_text(&summary));
    }
    Ok(())
}
