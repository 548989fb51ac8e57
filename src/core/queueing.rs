//! Erlang-C staffing: how many workers keep the chance that a job waits longer than the SLO
//! below a target, for Poisson arrivals and a given offered load (docs/peers.md, sources for the queueing rule).
//!
//! Pure arithmetic. Choosing the load to staff for (the forecast one lag ahead) and the wait
//! budget is the core's business (`decide.rs`).

/// Erlang-C probability that an arrival waits at all, for `servers` servers and offered load
/// `load_erlangs` (= arrival rate × mean service time). 1.0 when the system is overloaded.
pub fn erlang_c(servers: u32, load_erlangs: f64) -> f64 {
    if load_erlangs <= 0.0 {
        return 0.0;
    }
    let c = f64::from(servers);
    if c <= load_erlangs {
        return 1.0;
    }
    // Erlang-B by its stable recursion, then C from B.
    let mut b = 1.0;
    for n in 1..=servers {
        b = load_erlangs * b / (f64::from(n) + load_erlangs * b);
    }
    let cq = c * b / (c - load_erlangs * (1.0 - b));
    cq.clamp(0.0, 1.0)
}

/// P(wait > `wait_s`) in an M/M/c queue: C(c, a) · exp(−(c − a) · wait / S).
pub fn p_wait_longer(servers: u32, load_erlangs: f64, service_s: f64, wait_s: f64) -> f64 {
    let c = f64::from(servers);
    if load_erlangs <= 0.0 {
        return 0.0;
    }
    if c <= load_erlangs {
        return 1.0;
    }
    let s = service_s.max(1e-9);
    erlang_c(servers, load_erlangs) * (-(c - load_erlangs) * wait_s.max(0.0) / s).exp()
}

/// The fewest servers (at most `cap`) with P(wait > `wait_s`) ≤ `miss_ratio`.
/// Returns `cap` when even that many do not reach the target.
pub fn servers_for(
    load_erlangs: f64,
    service_s: f64,
    wait_s: f64,
    miss_ratio: f64,
    cap: u32,
) -> u32 {
    if load_erlangs <= 0.0 {
        return 0;
    }
    let mut c = (load_erlangs.floor() as u32).saturating_add(1).max(1);
    while c < cap {
        if p_wait_longer(c, load_erlangs, service_s, wait_s) <= miss_ratio {
            return c;
        }
        c += 1;
    }
    cap
}

/// The fewest jobs `n` (at most `cap`) with P(N > n) ≤ `tail` for N ~ Poisson(`mean`): how many
/// idle workers cover the arrivals of one window when capacity is replenished after it.
pub fn poisson_quantile(mean: f64, tail: f64, cap: u32) -> u32 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    // Summing the pmf from 0 underflows for large means; the normal approximation with a
    // continuity correction is plenty there.
    if mean > 500.0 {
        let z = normal_upper_quantile(tail);
        return ((mean + z * mean.sqrt() + 0.5).ceil().max(0.0) as u32).min(cap);
    }
    let mut pmf = (-mean).exp();
    let mut cdf = pmf;
    let mut n = 0u32;
    while 1.0 - cdf > tail && n < cap {
        n += 1;
        pmf *= mean / f64::from(n);
        cdf += pmf;
    }
    n
}

/// z with P(Z > z) = `tail` for a standard normal (Acklam-style rational approximation of the
/// tail, accurate to ~1e-3, enough for staffing).
fn normal_upper_quantile(tail: f64) -> f64 {
    let p = tail.clamp(1e-12, 0.5);
    let t = (-2.0 * p.ln()).sqrt();
    t - (2.515_517 + 0.802_853 * t + 0.010_328 * t * t)
        / (1.0 + 1.432_788 * t + 0.189_269 * t * t + 0.001_308 * t * t * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantile_covers_the_tail() {
        assert_eq!(poisson_quantile(0.0, 0.01, 10), 0);
        // Mean 0.08: P(N > 0) = 7.7%, P(N > 1) = 0.3%.
        assert_eq!(poisson_quantile(0.08, 0.05, 10), 1);
        assert_eq!(poisson_quantile(0.08, 0.001, 10), 2);
        // Mean 4: P(N > 8) = 2.1%, P(N > 9) = 0.8%.
        assert_eq!(poisson_quantile(4.0, 0.01, 100), 9);
        assert_eq!(poisson_quantile(4.0, 0.01, 5), 5, "capped");
        // Normal regime: about mean + 2.33 sd.
        let n = poisson_quantile(10_000.0, 0.01, u32::MAX);
        assert!((10_230..=10_240).contains(&n), "{n}");
    }

    #[test]
    fn matches_worked_example_in_peers_md() {
        // λ = 2 jobs/min, S = 3 min → a = 6. c = 8: P(wait) 0.36, P(W > 1 min) 0.18.
        assert!((erlang_c(8, 6.0) - 0.36).abs() < 0.01);
        assert!((p_wait_longer(8, 6.0, 180.0, 60.0) - 0.18).abs() < 0.01);
        // c = 10: P(wait) 0.10, P(W > 1 min) 0.027.
        assert!((erlang_c(10, 6.0) - 0.10).abs() < 0.01);
        assert!((p_wait_longer(10, 6.0, 180.0, 60.0) - 0.027).abs() < 0.003);
    }

    #[test]
    fn staffing_is_monotone_and_capped() {
        let c1 = servers_for(6.0, 180.0, 60.0, 0.05, 100);
        let c2 = servers_for(6.0, 180.0, 60.0, 0.01, 100);
        assert!(c1 >= 7 && c2 >= c1, "{c1} {c2}");
        assert_eq!(servers_for(0.0, 180.0, 60.0, 0.01, 100), 0);
        assert_eq!(servers_for(500.0, 180.0, 60.0, 0.01, 20), 20);
        // A longer allowed wait never needs more servers.
        assert!(servers_for(6.0, 180.0, 600.0, 0.01, 100) <= c2);
    }

    #[test]
    fn overload_means_certain_wait() {
        assert_eq!(erlang_c(3, 3.0), 1.0);
        assert_eq!(p_wait_longer(2, 5.0, 60.0, 10.0), 1.0);
    }
}
