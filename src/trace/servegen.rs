//! ServeGen per-client rate tables: parses the fitted windows and synthesizes arrivals from
//! them with a seeded RNG, one stream per client so the result does not depend on file order.
//! Service times come from the caller's service model; the loader in `mod.rs` does the rest.

use super::*;

/// The inter-arrival distribution fitted to one client window (SciPy convention, seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InterArrival {
    Gamma { shape: f64, scale_s: f64 },
    Weibull { shape: f64, scale_s: f64 },
}

/// One row of a ServeGen `chunk-<i>-trace.csv`: one client during one 600-s window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServegenWindow {
    /// Window start, seconds since the trace start.
    pub start_s: f64,
    /// Mean request rate in the window, requests per second.
    pub rate_per_s: f64,
    /// `None` when the client sent nothing.
    pub pattern: Option<InterArrival>,
}

/// The unit-mean sampler for a window's distribution shape, or `None` if it cannot be built.
enum UnitMean {
    Gamma(Gamma<f64>),
    Weibull(Weibull<f64>),
}

impl UnitMean {
    fn new(pattern: InterArrival) -> Option<UnitMean> {
        match pattern {
            InterArrival::Gamma { shape, .. } => {
                // Mean of Gamma(k, θ) is kθ.
                let scale = 1.0 / shape;
                if !(shape.is_finite() && scale.is_finite()) {
                    return None;
                }
                Gamma::new(shape, scale).ok().map(UnitMean::Gamma)
            }
            InterArrival::Weibull { shape, .. } => {
                // Mean of Weibull(k, λ) is λ·Γ(1 + 1/k).
                if !(shape > 0.0 && shape.is_finite()) {
                    return None;
                }
                let scale = (-ln_gamma(1.0 + 1.0 / shape)).exp();
                if !(scale > 0.0 && scale.is_finite()) {
                    return None;
                }
                Weibull::new(scale, shape).ok().map(UnitMean::Weibull)
            }
        }
    }

    fn sample(&self, rng: &mut StdRng) -> f64 {
        match self {
            UnitMean::Gamma(d) => d.sample(rng),
            UnitMean::Weibull(d) => d.sample(rng),
        }
    }
}

/// ln Γ(x) for x >= 1 (Lanczos, g = 7, n = 9; ~15 significant digits).
#[allow(clippy::excessive_precision)] // the published coefficients, kept verbatim
pub(super) fn ln_gamma(x: f64) -> f64 {
    const COEFFS: [f64; 9] = [
        0.999_999_999_999_809_93,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_13,
        -176.615_029_162_140_59,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_571_6e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = COEFFS
        .iter()
        .enumerate()
        .skip(1)
        .fold(COEFFS[0], |acc, (i, c)| acc + c / (x + i as f64));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The chunk id in `chunk-<i>-trace.csv`.
pub fn servegen_chunk_id(file_name: &str) -> Option<u32> {
    file_name
        .strip_prefix("chunk-")?
        .strip_suffix("-trace.csv")?
        .parse()
        .ok()
}

/// Parses one ServeGen `chunk-<i>-trace.csv` (no header; `timestamp,rate,cv,pattern,shape,scale`).
/// Windows are returned sorted by start. A window with an empty pattern or zero rate has no
/// arrivals; a positive rate with an empty pattern is an error.
pub fn parse_servegen(text: &str, source: &str) -> Result<Vec<ServegenWindow>, TraceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut windows = Vec::with_capacity(2_016);
    let mut fields = Vec::with_capacity(6);
    for (line, content) in data_lines(text, false) {
        split_fields(content, &mut fields);
        if fields.len() != 6 {
            return Err(line_err(
                source,
                line,
                format!(
                    "has {} columns; a ServeGen row has 6: timestamp,rate,cv,pattern,shape,scale \
                     (no header)",
                    fields.len()
                ),
            ));
        }
        let field = |i: usize| field_at(&fields, i);
        let start_s = parse_non_negative(
            source,
            line,
            "timestamp",
            field(0),
            "expected the window start in seconds, e.g. 143400",
        )?;
        let rate_per_s = parse_non_negative(
            source,
            line,
            "rate",
            field(1),
            "expected requests per second, e.g. 0.0767",
        )?;
        let parameter = |what: &str, i: usize| -> Result<f64, TraceError> {
            let x = parse_number(
                source,
                line,
                what,
                field(i),
                "expected a positive number, e.g. 0.75",
            )?;
            if x > 0.0 {
                Ok(x)
            } else {
                Err(line_err(
                    source,
                    line,
                    format!("{what} {x} must be positive for a {} pattern", field(3)),
                ))
            }
        };
        let pattern = match field(3) {
            "" if rate_per_s > 0.0 => {
                return Err(line_err(
                    source,
                    line,
                    format!(
                        "rate is {rate_per_s} req/s but pattern is empty (expected Gamma or Weibull when rate > 0)"
                    ),
                ));
            }
            "" => None,
            _ if rate_per_s == 0.0 => None,
            "Gamma" => Some(InterArrival::Gamma {
                shape: parameter("shape", 4)?,
                scale_s: parameter("scale", 5)?,
            }),
            "Weibull" => Some(InterArrival::Weibull {
                shape: parameter("shape", 4)?,
                scale_s: parameter("scale", 5)?,
            }),
            other => {
                return Err(line_err(
                    source,
                    line,
                    format!(
                        "pattern {:?} is unknown (expected Gamma, Weibull or empty)",
                        shorten(other)
                    ),
                ));
            }
        };
        if let Some(p) = pattern
            && UnitMean::new(p).is_none()
        {
            return Err(line_err(
                source,
                line,
                format!(
                    "shape {} is too extreme to sample from (expected roughly 0.01 to 100)",
                    field(4)
                ),
            ));
        }
        windows.push(ServegenWindow {
            start_s,
            rate_per_s,
            pattern,
        });
    }
    windows.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    Ok(windows)
}

/// Window `i`'s end: 600 s after its start, or earlier if the next window starts sooner.
pub(super) fn window_end_s(windows: &[ServegenWindow], i: usize) -> f64 {
    let end = windows[i].start_s + SERVEGEN_WINDOW_S;
    windows.get(i + 1).map_or(end, |next| end.min(next.start_s))
}

/// Expected number of arrivals [`synthesize_servegen`] produces for these windows (sorted).
pub fn servegen_expected_arrivals(
    windows: &[ServegenWindow],
    rate_scale: f64,
    until_s: Option<f64>,
) -> f64 {
    (0..windows.len())
        .map(|i| {
            let w = &windows[i];
            let end = until_s.map_or(window_end_s(windows, i), |u| {
                window_end_s(windows, i).min(u)
            });
            match w.pattern {
                Some(_) if end > w.start_s => w.rate_per_s * rate_scale * (end - w.start_s),
                _ => 0.0,
            }
        })
        .sum()
}

/// Synthesizes one client's arrival times (seconds since the trace start, ascending) from its
/// sorted windows, stopping at `until_s`.
///
/// Method (rate scaling by time change, not thinning): in each window the inter-arrival times
/// follow the fitted distribution's *shape* with its scale set so the mean is
/// `1 / (rate_per_s * rate_scale)`. So every window gets exactly the rate in the `rate` column
/// times `rate_scale`, and the burstiness (CV) of the fit is kept; thinning would push the CV
/// towards 1 (Poisson) and would cost work proportional to the unscaled ~1,200 req/s. The fitted
/// `scale` itself is not used: its mean matches `1/rate` for the median row but is off by up to
/// 20x in a few percent of rows, and the rate column is what the publisher gives as the load.
/// The client's renewal process runs continuously across windows in "operational time"
/// (time × rate): a gap that crosses a window boundary continues at the next window's rate and
/// pauses through idle windows. Restarting each window instead would, at small `rate_scale`,
/// put an arrival shortly after most window starts and badly overstate sparse clients' load.
///
/// Cost is proportional to the number of arrivals; check [`servegen_expected_arrivals`] first.
pub fn synthesize_servegen(
    windows: &[ServegenWindow],
    seed: u64,
    rate_scale: f64,
    until_s: Option<f64>,
) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let expected = servegen_expected_arrivals(windows, rate_scale, until_s);
    // Capped: this function has no size guard of its own (callers check the expectation).
    let mut arrivals = Vec::with_capacity(((expected * 1.1) as usize).min(1 << 24));
    // Operational time (expected arrivals) left until the client's next arrival.
    let mut pending_u: Option<f64> = None;
    for (i, w) in windows.iter().enumerate() {
        if until_s.is_some_and(|u| w.start_s >= u) {
            break;
        }
        let end_s = until_s.map_or(window_end_s(windows, i), |u| {
            window_end_s(windows, i).min(u)
        });
        let rate = w.rate_per_s * rate_scale;
        let Some(pattern) = w.pattern else { continue };
        if !(rate > 0.0 && rate.is_finite() && end_s > w.start_s) {
            continue;
        }
        let Some(dist) = UnitMean::new(pattern) else {
            continue;
        };
        // Only degenerate shapes (draws that are all ~0) come near this; it bounds the loop.
        let cap = (rate * (end_s - w.start_s) * 100.0 + 10_000.0) as usize;
        let mut t_s = w.start_s;
        for _ in 0..cap {
            let u = pending_u.take().unwrap_or_else(|| dist.sample(&mut rng));
            let next_s = t_s + u / rate;
            if next_s < end_s {
                t_s = next_s;
                arrivals.push(t_s);
            } else {
                pending_u = Some((u - (end_s - t_s) * rate).max(0.0));
                break;
            }
        }
    }
    arrivals
}

/// The RNG seed of one ServeGen client: independent of file order, different per chunk.
pub(super) fn client_seed(seed: u64, chunk: u32) -> u64 {
    // SplitMix64 finalizer: spreads consecutive chunk ids over the whole seed space.
    let mut z = u64::from(chunk).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    seed ^ z ^ (z >> 31)
}

pub(super) fn load_servegen_dir(
    dir: &Path,
    opts: &TraceOptions,
    source: &str,
) -> Result<ParsedJobs, TraceError> {
    let read_err = |e| TraceError::Read {
        path: source.to_string(),
        source: e,
    };
    let mut files: Vec<(u32, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        if let Some(id) = entry.file_name().to_str().and_then(servegen_chunk_id) {
            files.push((id, entry.path()));
        }
    }
    // Sorted by chunk number so ties between clients merge the same way on every file system.
    files.sort();
    if files.is_empty() {
        return Err(TraceError::BadFile {
            file: source.to_string(),
            message: "directory has no chunk-<i>-trace.csv files (expected a ServeGen model \
                      folder such as data/language/m-small)"
                .into(),
        });
    }
    if let Some(clients) = &opts.servegen_clients {
        if let Some(missing) = clients.iter().find(|c| !files.iter().any(|f| f.0 == **c)) {
            let ids: Vec<u32> = files.iter().map(|f| f.0).collect();
            return Err(TraceError::BadFile {
                file: source.to_string(),
                message: format!("has no client (chunk) {missing}; available: {ids:?}"),
            });
        }
        files.retain(|f| clients.contains(&f.0));
    }
    let mut clients = Vec::with_capacity(files.len());
    for (id, path) in files {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|e| TraceError::Read {
            path: name.clone(),
            source: e,
        })?;
        let bytes = maybe_gunzip(&bytes, &name)?;
        clients.push((id, parse_servegen(as_text(&bytes, &name)?, &name)?));
    }
    synthesize_clients(clients, opts, source)
}

pub(super) fn synthesize_clients(
    clients: Vec<(u32, Vec<ServegenWindow>)>,
    opts: &TraceOptions,
    source: &str,
) -> Result<ParsedJobs, TraceError> {
    let (rate_scale, until_s) = (opts.servegen_rate_scale, opts.window_end_s);
    let expected: f64 = clients
        .iter()
        .map(|(_, w)| servegen_expected_arrivals(w, rate_scale, until_s))
        .sum();
    if expected.is_nan() || expected > SERVEGEN_MAX_EXPECTED_JOBS {
        return Err(TraceError::BadFile {
            file: source.to_string(),
            message: format!(
                "would synthesize about {expected:.0} arrivals at servegen_rate_scale \
                 {rate_scale} (limit {SERVEGEN_MAX_EXPECTED_JOBS:.0}); lower \
                 servegen_rate_scale, select fewer servegen_clients or set window_end_s"
            ),
        });
    }
    let mut jobs = Vec::with_capacity(expected as usize + 1024);
    for (id, windows) in &clients {
        let arrivals =
            synthesize_servegen(windows, client_seed(opts.seed, *id), rate_scale, until_s);
        // ServeGen has no durations; the service model (checked earlier) replaces this 0.
        jobs.extend(arrivals.into_iter().map(|arrival_s| Job {
            arrival_s,
            service_s: 0.0,
        }));
    }
    Ok(ParsedJobs {
        jobs,
        ..ParsedJobs::default()
    })
}
