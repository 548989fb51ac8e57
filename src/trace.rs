//! Workload traces: turns a trace file into the list of [`Job`]s the simulator replays — when each
//! message is sent and how long a worker needs for it. Five formats are read: our own native CSV
//! (`arrival_s,service_s`), Standard Workload Format logs (`.swf`, optionally gzipped), the Alibaba
//! GPU v2023 pod list, the Azure LLM inference trace 2023 and ServeGen per-client rate tables (from
//! which arrivals are synthesized with a seeded RNG). On top of the parsed rows it applies a time
//! window, an arrival-time scale, a job cap and a [`ServiceModel`] that maps or invents service
//! times. Everything is deterministic for a given input, options and seed, and no input makes it
//! panic: bad rows become [`TraceError`]s that name the file, the 1-based line, what was wrong and
//! what was expected. It leaves to others everything after the job list: queueing, scaling
//! policies, GPU sizing per job, plotting, and the command line (which only fills [`TraceOptions`]).

use std::borrow::Cow;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma, LogNormal, Weibull};

/// Length of one ServeGen window: each row describes 600 s of one client.
pub const SERVEGEN_WINDOW_S: f64 = 600.0;

/// Refuse ServeGen syntheses expected to produce more arrivals than this: at the published rates
/// (~1,200 req/s for 14 days) a forgotten `servegen_rate_scale` would otherwise try to allocate
/// tens of gigabytes.
pub const SERVEGEN_MAX_EXPECTED_JOBS: f64 = 20_000_000.0;

/// Decompressed size limit for gzipped traces (the largest shared trace is 19 MB); stops a
/// gzip bomb from exhausting memory.
const MAX_DECOMPRESSED_BYTES: u64 = 2 << 30;

/// Mixed into the seed for service-time draws so they are independent of ServeGen arrival draws
/// made from the same `seed`.
const SERVICE_SEED_SALT: u64 = 0x5e41_c3d0_7a11_0b5d;

/// Smallest service time the `scale:` and `lognormal:` shorthands clamp to, so jobs never take 0 s.
const DEFAULT_MIN_SERVICE_S: f64 = 0.001;

const FORMAT_CHOICES: &str = "native, swf, alibaba-pods, azure-llm, servegen";

/// One job of the workload: when its message is sent and how long a worker needs for it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Job {
    /// Seconds after the start of the (windowed, scaled) trace; never negative.
    pub arrival_s: f64,
    /// Seconds of worker time; always finite and positive.
    pub service_s: f64,
}

/// The trace file formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceFormat {
    /// `arrival_s,service_s` CSV (optional header, `#` comments).
    Native,
    /// Standard Workload Format (Parallel Workloads Archive), plain or gzipped.
    Swf,
    /// Alibaba cluster-trace-gpu-v2023 `openb_pod_list_default.csv`.
    AlibabaPods,
    /// Azure LLM inference trace 2023 (`TIMESTAMP,ContextTokens,GeneratedTokens`).
    AzureLlm,
    /// ServeGen `chunk-<i>-trace.csv` rate tables (a directory of them or one file).
    Servegen,
}

impl TraceFormat {
    /// All formats, in the order they are listed in messages.
    pub const ALL: [TraceFormat; 5] = [
        TraceFormat::Native,
        TraceFormat::Swf,
        TraceFormat::AlibabaPods,
        TraceFormat::AzureLlm,
        TraceFormat::Servegen,
    ];

    /// The name used on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Native => "native",
            TraceFormat::Swf => "swf",
            TraceFormat::AlibabaPods => "alibaba-pods",
            TraceFormat::AzureLlm => "azure-llm",
            TraceFormat::Servegen => "servegen",
        }
    }

    /// Whether rows carry (or, for Azure, imply via tokens) a service time.
    pub fn has_durations(self) -> bool {
        !matches!(self, TraceFormat::Servegen)
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = TraceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        TraceFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| TraceError::UnknownFormat {
                given: s.to_string(),
            })
    }
}

/// How each job's service time is produced.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum ServiceModel {
    /// The trace's own durations (Azure: the token model in [`TraceOptions`]). An error for
    /// ServeGen, which has none.
    #[default]
    FromTrace,
    /// Trace duration × `factor`, clamped to `[min_s, max_s]` (`max_s` may be infinite).
    Scale { factor: f64, min_s: f64, max_s: f64 },
    /// Every job takes `seconds`.
    Fixed { seconds: f64 },
    /// A seeded log-normal draw per job (median `median_s`, log-space std-dev `sigma`), clamped
    /// to `[min_s, max_s]`; meant for traces without durations.
    LogNormal {
        median_s: f64,
        sigma: f64,
        min_s: f64,
        max_s: f64,
    },
}

const SERVICE_CHOICES: &str = "from-trace, fixed:SECONDS, scale:FACTOR[:MIN_S:MAX_S], \
                               lognormal:MEDIAN_S:SIGMA[:MIN_S:MAX_S]";

impl ServiceModel {
    /// Checks the parameters; the error says which one is out of range.
    pub fn validate(&self) -> Result<(), TraceError> {
        let bad = |m: String| Err(TraceError::InvalidOption(m));
        match *self {
            ServiceModel::FromTrace => Ok(()),
            ServiceModel::Fixed { seconds } if !(seconds > 0.0 && seconds.is_finite()) => bad(
                format!("fixed service time {seconds} s must be a positive number of seconds"),
            ),
            ServiceModel::Fixed { .. } => Ok(()),
            ServiceModel::Scale { factor, .. } if !(factor > 0.0 && factor.is_finite()) => bad(
                format!("service scale factor {factor} must be a positive number"),
            ),
            ServiceModel::Scale { min_s, max_s, .. } => validate_clamp(min_s, max_s),
            ServiceModel::LogNormal { median_s, .. }
                if !(median_s > 0.0 && median_s.is_finite()) =>
            {
                bad(format!(
                    "log-normal median {median_s} s must be a positive number of seconds"
                ))
            }
            ServiceModel::LogNormal { sigma, .. } if !(sigma >= 0.0 && sigma.is_finite()) => bad(
                format!("log-normal sigma {sigma} must be a number >= 0 (e.g. 1.0)"),
            ),
            ServiceModel::LogNormal { min_s, max_s, .. } => validate_clamp(min_s, max_s),
        }
    }
}

fn validate_clamp(min_s: f64, max_s: f64) -> Result<(), TraceError> {
    if !(min_s > 0.0 && min_s.is_finite()) {
        return Err(TraceError::InvalidOption(format!(
            "service min_s {min_s} must be a positive number of seconds (service times must be > 0)"
        )));
    }
    if max_s.is_nan() || max_s < min_s {
        return Err(TraceError::InvalidOption(format!(
            "service max_s {max_s} must be at least min_s {min_s}"
        )));
    }
    Ok(())
}

/// Parses the command-line shorthand: `from-trace`, `fixed:30`, `scale:0.5` or
/// `scale:0.5:1:3600`, `lognormal:30:1.0` or `lognormal:30:1.0:1:3600`. Omitted bounds are
/// 0.001 s and infinity.
impl FromStr for ServiceModel {
    type Err = TraceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            TraceError::InvalidOption(format!(
                "service model {:?} not understood (expected one of: {SERVICE_CHOICES})",
                shorten(s)
            ))
        };
        let mut parts = s.trim().split(':');
        let kind = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut numbers = Vec::new();
        for p in parts {
            let x: f64 = p.trim().parse().map_err(|_| invalid())?;
            numbers.push(x);
        }
        let model = match (kind.as_str(), numbers.as_slice()) {
            ("from-trace" | "trace", []) => ServiceModel::FromTrace,
            ("fixed", [seconds]) => ServiceModel::Fixed { seconds: *seconds },
            ("scale", [factor]) => ServiceModel::Scale {
                factor: *factor,
                min_s: DEFAULT_MIN_SERVICE_S,
                max_s: f64::INFINITY,
            },
            ("scale", [factor, min_s, max_s]) => ServiceModel::Scale {
                factor: *factor,
                min_s: *min_s,
                max_s: *max_s,
            },
            ("lognormal", [median_s, sigma]) => ServiceModel::LogNormal {
                median_s: *median_s,
                sigma: *sigma,
                min_s: DEFAULT_MIN_SERVICE_S,
                max_s: f64::INFINITY,
            },
            ("lognormal", [median_s, sigma, min_s, max_s]) => ServiceModel::LogNormal {
                median_s: *median_s,
                sigma: *sigma,
                min_s: *min_s,
                max_s: *max_s,
            },
            _ => return Err(invalid()),
        };
        model.validate()?;
        Ok(model)
    }
}

/// How trace rows become jobs.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct TraceOptions {
    /// `None` = detect from the file name and first lines ([`detect_format`]).
    pub format: Option<TraceFormat>,
    /// Keep arrivals at or after this many seconds of trace time. Trace time is measured from
    /// the trace's own zero: SWF `UnixStartTime`, Azure's first timestamp, Alibaba/ServeGen/native
    /// time 0. The kept jobs are shifted so that this moment becomes 0 (without a start: the
    /// first kept arrival becomes 0).
    pub window_start_s: Option<f64>,
    /// Keep arrivals before this many seconds of trace time (same clock as `window_start_s`).
    pub window_end_s: Option<f64>,
    /// Multiplies arrival times after windowing (1.0 = real time; 0.5 = twice as dense).
    /// Service times are not scaled.
    pub time_scale: f64,
    /// How service times are produced.
    pub service: ServiceModel,
    /// Keep only the first N jobs (by arrival) after windowing.
    pub max_jobs: Option<usize>,
    /// Seeds ServeGen arrival synthesis and log-normal service draws.
    pub seed: u64,
    /// Alibaba pods: keep only pods that request a GPU (`num_gpu > 0` or `gpu_milli > 0`).
    pub gpu_only: bool,
    /// Azure service model: prefill seconds per 1,000 context (prompt) tokens.
    pub azure_prefill_s_per_1k_tokens: f64,
    /// Azure service model: decode seconds per generated token.
    pub azure_decode_s_per_token: f64,
    /// ServeGen: multiplies every client's request rate (0.001 turns the ~1,200 req/s of
    /// m-small into ~1.2 req/s). Implemented by stretching inter-arrival times, not by thinning,
    /// so each client keeps its burstiness (see [`synthesize_servegen`]).
    pub servegen_rate_scale: f64,
    /// ServeGen: chunk ids (clients) to load; `None` = all.
    pub servegen_clients: Option<Vec<u32>>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            format: None,
            window_start_s: None,
            window_end_s: None,
            time_scale: 1.0,
            service: ServiceModel::FromTrace,
            max_jobs: None,
            seed: 0,
            gpu_only: true,
            // ~0.37 s prefill for the code trace's median 1,469-token prompt and 30 ms per output
            // token (~33 tokens/s, one stream of a large model): seconds-scale jobs.
            azure_prefill_s_per_1k_tokens: 0.25,
            azure_decode_s_per_token: 0.03,
            servegen_rate_scale: 0.001,
            servegen_clients: None,
        }
    }
}

impl TraceOptions {
    /// Checks every option; the error names the option and the allowed range.
    pub fn validate(&self) -> Result<(), TraceError> {
        let bad = |m: String| Err(TraceError::InvalidOption(m));
        for (name, v) in [
            ("window_start_s", self.window_start_s),
            ("window_end_s", self.window_end_s),
        ] {
            if let Some(x) = v
                && !x.is_finite()
            {
                return bad(format!("{name} {x} must be a finite number of seconds"));
            }
        }
        if let (Some(start), Some(end)) = (self.window_start_s, self.window_end_s)
            && end <= start
        {
            return bad(format!(
                "window end {end} s must be after window start {start} s"
            ));
        }
        if !(self.time_scale > 0.0 && self.time_scale.is_finite()) {
            return bad(format!(
                "time_scale {} must be a positive number (1.0 = real time, 0.5 = twice as dense)",
                self.time_scale
            ));
        }
        self.service.validate()?;
        if self.max_jobs == Some(0) {
            return bad("max_jobs must be at least 1 (leave it unset for all jobs)".into());
        }
        let (prefill, decode) = (
            self.azure_prefill_s_per_1k_tokens,
            self.azure_decode_s_per_token,
        );
        if !(prefill >= 0.0 && prefill.is_finite() && decode >= 0.0 && decode.is_finite())
            || prefill + decode <= 0.0
        {
            return bad(format!(
                "azure_prefill_s_per_1k_tokens ({prefill}) and azure_decode_s_per_token \
                 ({decode}) must be >= 0 and not both 0"
            ));
        }
        if !(self.servegen_rate_scale > 0.0 && self.servegen_rate_scale.is_finite()) {
            return bad(format!(
                "servegen_rate_scale {} must be a positive number (e.g. 0.001)",
                self.servegen_rate_scale
            ));
        }
        if self.servegen_clients.as_ref().is_some_and(Vec::is_empty) {
            return bad("servegen_clients is empty; leave it unset to load all clients".into());
        }
        Ok(())
    }
}

/// A loaded workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Sorted by arrival (stable), arrival >= 0, service > 0 and finite; never empty.
    pub jobs: Vec<Job>,
    /// Trace time of `arrival_s = 0` on the trace's own clock: Unix seconds for SWF and Azure,
    /// seconds since the trace's unnamed zero for native, Alibaba and ServeGen. With
    /// `time_scale` != 1 a job's trace time is `epoch_unix_s + arrival_s / time_scale`.
    pub epoch_unix_s: f64,
    /// Rows that could not become jobs (unknown/non-positive run time, never scheduled, ...).
    pub skipped_rows: usize,
    /// Rows dropped on purpose by an option (Alibaba `gpu_only`).
    pub filtered_rows: usize,
    /// The path (or name) the trace came from, as given.
    pub source: String,
    /// The format it was read as.
    pub format: TraceFormat,
}

/// What a format parser produced, before windowing and service mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedJobs {
    /// In file order; arrival in seconds after `epoch_unix_s`.
    pub jobs: Vec<Job>,
    /// See [`Trace::epoch_unix_s`].
    pub epoch_unix_s: f64,
    /// See [`Trace::skipped_rows`].
    pub skipped_rows: usize,
    /// See [`Trace::filtered_rows`].
    pub filtered_rows: usize,
}

/// Everything that can go wrong reading a trace. Messages name the file (and line), say what
/// was wrong and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: cannot read trace: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    BadLine {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    BadFile { file: String, message: String },
    #[error("unknown trace format {given:?} (expected one of: {})", FORMAT_CHOICES)]
    UnknownFormat { given: String },
    #[error(
        "{path}: cannot tell the trace format from its name or first line; set the format \
         explicitly (one of: {})",
        FORMAT_CHOICES
    )]
    UndetectedFormat { path: String },
    #[error(
        "{file}: the {format} format has no job durations, so service model `from-trace` or \
         `scale` cannot be used; choose one that makes service times up, e.g. service \
         `lognormal:30:1.0` or `fixed:30` (TraceOptions::service = ServiceModel::LogNormal or Fixed)"
    )]
    NoDurations { file: String, format: TraceFormat },
    #[error("{file}: no jobs {detail}")]
    Empty { file: String, detail: String },
    #[error("invalid trace option: {0}")]
    InvalidOption(String),
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Reads, parses, windows, scales and maps service times of the trace at `path` (a file, or a
/// ServeGen directory).
pub fn load_trace(path: &Path, opts: &TraceOptions) -> Result<Trace, TraceError> {
    opts.validate()?;
    let source = path.display().to_string();
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path).ok_or_else(|| TraceError::UndetectedFormat {
            path: source.clone(),
        })?,
    };
    check_service_possible(format, opts, &source)?;
    let parsed = if format == TraceFormat::Servegen && path.is_dir() {
        load_servegen_dir(path, opts, &source)?
    } else {
        let bytes = std::fs::read(path).map_err(|e| TraceError::Read {
            path: source.clone(),
            source: e,
        })?;
        parse_format(&bytes, format, &source, opts)?
    };
    finish(parsed, opts, source, format)
}

/// Like [`load_trace`] for one file's bytes already in memory (gzip is detected by its magic
/// bytes). A ServeGen file's chunk id is taken from `source` (`chunk-<i>-trace.csv`, else 0).
pub fn parse_trace_bytes(
    bytes: &[u8],
    format: TraceFormat,
    source: &str,
    opts: &TraceOptions,
) -> Result<Trace, TraceError> {
    opts.validate()?;
    check_service_possible(format, opts, source)?;
    let parsed = parse_format(bytes, format, source, opts)?;
    finish(parsed, opts, source.to_string(), format)
}

fn check_service_possible(
    format: TraceFormat,
    opts: &TraceOptions,
    source: &str,
) -> Result<(), TraceError> {
    let needs_durations = matches!(
        opts.service,
        ServiceModel::FromTrace | ServiceModel::Scale { .. }
    );
    if needs_durations && !format.has_durations() {
        return Err(TraceError::NoDurations {
            file: source.to_string(),
            format,
        });
    }
    Ok(())
}

fn parse_format(
    bytes: &[u8],
    format: TraceFormat,
    source: &str,
    opts: &TraceOptions,
) -> Result<ParsedJobs, TraceError> {
    let bytes = maybe_gunzip(bytes, source)?;
    let text = as_text(&bytes, source)?;
    match format {
        TraceFormat::Native => Ok(ParsedJobs {
            jobs: parse_native(text, source)?,
            ..ParsedJobs::default()
        }),
        TraceFormat::Swf => parse_swf(text, source),
        TraceFormat::AlibabaPods => parse_alibaba_pods(text, source, opts.gpu_only),
        TraceFormat::AzureLlm => parse_azure_llm(
            text,
            source,
            opts.azure_prefill_s_per_1k_tokens,
            opts.azure_decode_s_per_token,
        ),
        TraceFormat::Servegen => {
            let name = Path::new(source)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            let chunk = servegen_chunk_id(name).unwrap_or(0);
            if let Some(clients) = &opts.servegen_clients
                && !clients.contains(&chunk)
            {
                return Err(TraceError::BadFile {
                    file: source.to_string(),
                    message: format!(
                        "servegen_clients {clients:?} does not include this file's chunk id {chunk}"
                    ),
                });
            }
            let windows = parse_servegen(text, source)?;
            synthesize_clients(vec![(chunk, windows)], opts, source)
        }
    }
}

fn maybe_gunzip<'a>(bytes: &'a [u8], source: &str) -> Result<Cow<'a, [u8]>, TraceError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(6).min(256 << 20));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| TraceError::BadFile {
            file: source.to_string(),
            message: format!("starts like a gzip file but cannot be decompressed: {e}"),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(TraceError::BadFile {
            file: source.to_string(),
            message: format!(
                "decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes; split the trace"
            ),
        });
    }
    Ok(Cow::Owned(out))
}

fn as_text<'a>(bytes: &'a [u8], source: &str) -> Result<&'a str, TraceError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        line_err(
            source,
            line,
            "is not UTF-8 text (a binary file, or the wrong format?)".to_string(),
        )
    })?;
    // A byte-order mark (spreadsheet exports) would otherwise glue itself to the first field.
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Windowing, shifting, scaling, capping and service mapping shared by all formats.
fn finish(
    parsed: ParsedJobs,
    opts: &TraceOptions,
    source: String,
    format: TraceFormat,
) -> Result<Trace, TraceError> {
    let ParsedJobs {
        mut jobs,
        epoch_unix_s,
        skipped_rows,
        filtered_rows,
    } = parsed;
    if jobs.is_empty() {
        return Err(TraceError::Empty {
            file: source,
            detail: format!(
                "in the trace ({skipped_rows} rows skipped as unusable, {filtered_rows} \
                 filtered out by options)"
            ),
        });
    }
    // Stable, so equal arrivals keep file order (and ServeGen chunk order).
    jobs.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    let total = jobs.len();
    let (first_s, last_s) = (jobs[0].arrival_s, jobs[total - 1].arrival_s);

    let begin = opts
        .window_start_s
        .map_or(0, |s| jobs.partition_point(|j| j.arrival_s < s));
    let end = opts
        .window_end_s
        .map_or(total, |e| jobs.partition_point(|j| j.arrival_s < e));
    if begin >= end {
        let show_bound =
            |b: Option<f64>, open: &str| b.map_or(open.to_string(), |x| format!("{x} s"));
        return Err(TraceError::Empty {
            file: source,
            detail: format!(
                "in window [{}, {}) of trace time; the trace's {total} jobs arrive between \
                 {first_s} s and {last_s} s after its epoch, so widen window_start_s/window_end_s",
                show_bound(opts.window_start_s, "start"),
                show_bound(opts.window_end_s, "end"),
            ),
        });
    }
    let origin_s = opts.window_start_s.unwrap_or(jobs[begin].arrival_s);
    let end = opts
        .max_jobs
        .map_or(end, |m| end.min(begin.saturating_add(m)));
    jobs.truncate(end);
    jobs.drain(..begin);

    for job in &mut jobs {
        job.arrival_s = (job.arrival_s - origin_s) * opts.time_scale;
    }
    apply_service(&mut jobs, &opts.service, opts.seed)?;

    if let Some((i, bad)) = jobs.iter().enumerate().find(|(_, j)| {
        !(j.arrival_s >= 0.0
            && j.arrival_s.is_finite()
            && j.service_s > 0.0
            && j.service_s.is_finite())
    }) {
        // Only reachable with extreme values (e.g. 1e308 × time_scale) that overflow.
        return Err(TraceError::BadFile {
            file: source,
            message: format!(
                "job {} ends up with arrival {} s and service {} s after scaling; use smaller \
                 time_scale / service factors",
                i + 1,
                bad.arrival_s,
                bad.service_s
            ),
        });
    }

    Ok(Trace {
        jobs,
        epoch_unix_s: epoch_unix_s + origin_s,
        skipped_rows,
        filtered_rows,
        source,
        format,
    })
}

fn apply_service(jobs: &mut [Job], model: &ServiceModel, seed: u64) -> Result<(), TraceError> {
    match *model {
        ServiceModel::FromTrace => {}
        ServiceModel::Scale {
            factor,
            min_s,
            max_s,
        } => {
            for job in jobs {
                job.service_s = clamp_s(job.service_s * factor, min_s, max_s);
            }
        }
        ServiceModel::Fixed { seconds } => {
            for job in jobs {
                job.service_s = seconds;
            }
        }
        ServiceModel::LogNormal {
            median_s,
            sigma,
            min_s,
            max_s,
        } => {
            let dist = LogNormal::new(median_s.ln(), sigma)
                .map_err(|e| TraceError::InvalidOption(format!("log-normal service model: {e}")))?;
            let mut rng = StdRng::seed_from_u64(seed ^ SERVICE_SEED_SALT);
            for job in jobs {
                job.service_s = clamp_s(dist.sample(&mut rng), min_s, max_s);
            }
        }
    }
    Ok(())
}

/// Like `f64::clamp` but never panics (NaN or crossed bounds fall back to `lo`/`hi`).
fn clamp_s(x: f64, lo: f64, hi: f64) -> f64 {
    x.max(lo).min(hi)
}

// ---------------------------------------------------------------------------------------------
// Format detection
// ---------------------------------------------------------------------------------------------

/// Guesses the format from the path: a directory of `chunk-<i>-trace.csv` files or such a file
/// is ServeGen, `.swf`/`.swf.gz` is SWF; otherwise the first line is sniffed ([`sniff_format`]),
/// after decompressing if the file is gzipped. `None` if unreadable or unrecognised.
pub fn detect_format(path: &Path) -> Option<TraceFormat> {
    if path.is_dir() {
        let has_chunks = std::fs::read_dir(path).ok()?.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| servegen_chunk_id(n).is_some())
        });
        return has_chunks.then_some(TraceFormat::Servegen);
    }
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".swf") || lower.ends_with(".swf.gz") {
            return Some(TraceFormat::Swf);
        }
        if servegen_chunk_id(name).is_some() {
            return Some(TraceFormat::Servegen);
        }
    }
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut raw)
        .ok()?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut head = Vec::new();
        // A truncated stream errors at the end, but what was decoded is enough to sniff.
        let _ = flate2::read::MultiGzDecoder::new(&raw[..])
            .take(8 * 1024)
            .read_to_end(&mut head);
        return sniff_format(&head);
    }
    sniff_format(&raw)
}

/// Guesses the format from the first non-blank line of a file's (decompressed) beginning.
pub fn sniff_format(head: &[u8]) -> Option<TraceFormat> {
    let text = String::from_utf8_lossy(head);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if first.starts_with(';') {
        return Some(TraceFormat::Swf);
    }
    if first.starts_with('#') {
        return Some(TraceFormat::Native);
    }
    let lower = first.to_ascii_lowercase();
    if lower.contains("contexttokens") && lower.contains("generatedtokens") {
        return Some(TraceFormat::AzureLlm);
    }
    if lower.contains("creation_time") && lower.contains("scheduled_time") {
        return Some(TraceFormat::AlibabaPods);
    }
    if lower.starts_with("arrival_s") {
        return Some(TraceFormat::Native);
    }
    let is_num = |s: &str| s.trim().parse::<f64>().is_ok();
    let fields: Vec<&str> = first.split(',').map(str::trim).collect();
    if fields.len() == 6 && matches!(fields[3], "" | "Gamma" | "Weibull") && is_num(fields[0]) {
        return Some(TraceFormat::Servegen);
    }
    if fields.len() == 2 && fields.iter().all(|f| is_num(f)) {
        return Some(TraceFormat::Native);
    }
    let ws: Vec<&str> = first.split_ascii_whitespace().collect();
    if ws.len() == 18 && ws.iter().all(|f| is_num(f)) {
        return Some(TraceFormat::Swf);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Shared parsing helpers
// ---------------------------------------------------------------------------------------------

fn line_err(file: &str, line: u64, message: String) -> TraceError {
    TraceError::BadLine {
        file: file.to_string(),
        line,
        message,
    }
}

/// A value quoted for a message, cut short so a garbage line cannot flood the terminal.
fn shorten(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

/// A finite number, or an error naming the column and what was expected.
fn parse_number(
    file: &str,
    line: u64,
    what: &str,
    value: &str,
    expect: &str,
) -> Result<f64, TraceError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(line_err(file, line, format!("{what} is empty ({expect})")));
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err(line_err(
            file,
            line,
            format!("{what} {:?} is not a finite number ({expect})", shorten(v)),
        )),
        Err(_) => Err(line_err(
            file,
            line,
            format!("{what} {:?} is not a number ({expect})", shorten(v)),
        )),
    }
}

fn parse_non_negative(
    file: &str,
    line: u64,
    what: &str,
    value: &str,
    expect: &str,
) -> Result<f64, TraceError> {
    let x = parse_number(file, line, what, value, expect)?;
    if x < 0.0 {
        return Err(line_err(
            file,
            line,
            format!("{what} {x} is negative ({expect})"),
        ));
    }
    Ok(x)
}

/// Lines that hold data, with their 1-based numbers, `\r` and surrounding blanks removed;
/// blank lines (and, if `comments`, lines starting with `#`) are left out. Counting lines here
/// rather than in a CSV reader keeps the numbers in messages exact.
fn data_lines(text: &str, comments: bool) -> impl Iterator<Item = (u64, &str)> {
    text.split('\n').enumerate().filter_map(move |(i, raw)| {
        let line = raw.trim();
        let skip = line.is_empty() || (comments && line.starts_with('#'));
        (!skip).then_some((i as u64 + 1, line))
    })
}

/// Splits a line at commas into `fields`, reused between lines to avoid allocating. None of the
/// CSV formats read here quotes its fields (the published files contain no quotes).
fn split_fields<'a>(line: &'a str, fields: &mut Vec<&'a str>) {
    fields.clear();
    fields.extend(line.split(',').map(str::trim));
}

fn field_at<'a>(fields: &[&'a str], i: usize) -> &'a str {
    fields.get(i).copied().unwrap_or("")
}

/// Index of a header column (case-insensitive), or an error showing the expected header.
fn column(
    header: &[&str],
    name: &str,
    file: &str,
    line: u64,
    expected_header: &str,
) -> Result<usize, TraceError> {
    header
        .iter()
        .position(|h| h.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            line_err(
                file,
                line,
                format!(
                    "header has no column `{name}` (expected a header like `{expected_header}`)"
                ),
            )
        })
}

fn check_width(fields: &[&str], needed: usize, file: &str, line: u64) -> Result<(), TraceError> {
    if fields.len() < needed {
        return Err(line_err(
            file,
            line,
            format!(
                "has {} columns but the header needs at least {needed}",
                fields.len()
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Native CSV
// ---------------------------------------------------------------------------------------------

const SECONDS_EXPECT: &str = "expected seconds, e.g. 42.5";

/// Parses our own `arrival_s,service_s` CSV: optional header row, `#` comment lines, blank
/// lines ignored. Arrivals must be >= 0, service times > 0. Jobs are returned in file order.
pub fn parse_native(text: &str, source: &str) -> Result<Vec<Job>, TraceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut jobs = Vec::with_capacity(text.len() / 16);
    let mut fields = Vec::with_capacity(2);
    for (n, (line, content)) in data_lines(text, true).enumerate() {
        split_fields(content, &mut fields);
        let f0 = field_at(&fields, 0);
        if n == 0 && f0.parse::<f64>().is_err() {
            let is_header = fields.len() == 2
                && f0.eq_ignore_ascii_case("arrival_s")
                && field_at(&fields, 1).eq_ignore_ascii_case("service_s");
            if is_header {
                continue;
            }
            if f0.chars().any(char::is_alphabetic) {
                return Err(line_err(
                    source,
                    line,
                    format!(
                        "unexpected header {:?}; the native header is `arrival_s,service_s` \
                         (or leave it out)",
                        shorten(content)
                    ),
                ));
            }
        }
        if fields.len() != 2 {
            return Err(line_err(
                source,
                line,
                format!(
                    "has {} columns; expected 2: arrival_s,service_s (e.g. 12.5,30)",
                    fields.len()
                ),
            ));
        }
        let arrival_s = parse_non_negative(source, line, "arrival_s", f0, SECONDS_EXPECT)?;
        let service_s = parse_number(
            source,
            line,
            "service_s",
            field_at(&fields, 1),
            SECONDS_EXPECT,
        )?;
        if service_s <= 0.0 {
            return Err(line_err(
                source,
                line,
                format!(
                    "service_s {service_s} is not positive (a job needs some worker time; {SECONDS_EXPECT})"
                ),
            ));
        }
        jobs.push(Job {
            arrival_s,
            service_s,
        });
    }
    Ok(jobs)
}

/// Writes jobs as native CSV with a header; numbers are written so they read back exactly.
pub fn write_native(jobs: &[Job], w: impl Write) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(w);
    writeln!(w, "arrival_s,service_s")?;
    for job in jobs {
        writeln!(w, "{},{}", job.arrival_s, job.service_s)?;
    }
    w.flush()
}

// ---------------------------------------------------------------------------------------------
// Standard Workload Format
// ---------------------------------------------------------------------------------------------

const SWF_FIELDS: usize = 18;

/// Parses an SWF log (already decompressed). Arrival = field 2 (submit time, seconds after the
/// header's `UnixStartTime`, which becomes the epoch); service = field 4 (run time). Jobs with an
/// unknown submit time or a run time <= 0 / unknown (-1) are skipped and counted. Other fields
/// are not checked, so slightly non-standard logs still load.
pub fn parse_swf(text: &str, source: &str) -> Result<ParsedJobs, TraceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // ~95 bytes per job line in the archive's logs; avoids regrowing for 200k jobs.
    let mut out = ParsedJobs {
        jobs: Vec::with_capacity(text.len() / 96),
        ..ParsedJobs::default()
    };
    for (idx, raw_line) in text.split('\n').enumerate() {
        let line_no = idx as u64 + 1;
        let line = raw_line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix(';') {
            if let Some(value) = comment.trim_start().strip_prefix("UnixStartTime:") {
                out.epoch_unix_s = parse_number(
                    source,
                    line_no,
                    "UnixStartTime",
                    value,
                    "expected Unix seconds, e.g. 843480031",
                )?;
            }
            continue;
        }
        let (mut count, mut submit, mut run) = (0usize, "", "");
        for (i, field) in line.split_ascii_whitespace().enumerate() {
            match i {
                1 => submit = field,
                3 => run = field,
                _ => {}
            }
            count = i + 1;
        }
        if count != SWF_FIELDS {
            return Err(line_err(
                source,
                line_no,
                format!(
                    "has {count} fields; an SWF job line has {SWF_FIELDS} whitespace-separated \
                     numbers (header lines start with `;`)"
                ),
            ));
        }
        let submit_s = parse_number(
            source,
            line_no,
            "submit time (field 2)",
            submit,
            "expected seconds after UnixStartTime, e.g. 599850, or -1 if unknown",
        )?;
        let run_s = parse_number(
            source,
            line_no,
            "run time (field 4)",
            run,
            "expected seconds, e.g. 3477, or -1 if unknown",
        )?;
        if submit_s == -1.0 || run_s <= 0.0 {
            out.skipped_rows += 1;
            continue;
        }
        if submit_s < 0.0 {
            return Err(line_err(
                source,
                line_no,
                format!(
                    "submit time (field 2) {submit_s} is negative (expected seconds after \
                     UnixStartTime, or -1 if unknown)"
                ),
            ));
        }
        out.jobs.push(Job {
            arrival_s: submit_s,
            service_s: run_s,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Alibaba GPU v2023 pod list
// ---------------------------------------------------------------------------------------------

const ALIBABA_HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,\
                              creation_time,deletion_time,scheduled_time";

/// Parses `openb_pod_list_default.csv` (columns found by header name). Arrival =
/// `creation_time`; service = `deletion_time - scheduled_time`. Pods never scheduled (empty
/// `scheduled_time`), without a `deletion_time`, or with a non-positive duration are skipped;
/// with `gpu_only`, pods with `num_gpu` and `gpu_milli` both 0 are filtered. Epoch is 0 (the
/// trace gives no calendar date).
pub fn parse_alibaba_pods(
    text: &str,
    source: &str,
    gpu_only: bool,
) -> Result<ParsedJobs, TraceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = data_lines(text, false);
    let Some((header_line, header_text)) = lines.next() else {
        return Ok(ParsedJobs::default());
    };
    let header: Vec<&str> = header_text.split(',').map(str::trim).collect();
    let col = |name: &str| column(&header, name, source, header_line, ALIBABA_HEADER);
    let created_i = col("creation_time")?;
    let deleted_i = col("deletion_time")?;
    let scheduled_i = col("scheduled_time")?;
    let gpu_cols = if gpu_only {
        Some((col("num_gpu")?, col("gpu_milli")?))
    } else {
        None
    };
    let needed = [created_i, deleted_i, scheduled_i]
        .into_iter()
        .chain(gpu_cols.into_iter().flat_map(|(a, b)| [a, b]))
        .max()
        .unwrap_or(0)
        + 1;

    const TIME_EXPECT: &str = "expected seconds since the trace start, e.g. 427061";
    let mut out = ParsedJobs {
        jobs: Vec::with_capacity(text.len() / 64),
        ..ParsedJobs::default()
    };
    let mut fields = Vec::with_capacity(header.len());
    for (line, content) in lines {
        split_fields(content, &mut fields);
        check_width(&fields, needed, source, line)?;
        let field = |i: usize| field_at(&fields, i);
        let created_s =
            parse_non_negative(source, line, "creation_time", field(created_i), TIME_EXPECT)?;
        let (scheduled, deleted) = (field(scheduled_i), field(deleted_i));
        if scheduled.is_empty() || deleted.is_empty() {
            out.skipped_rows += 1;
            continue;
        }
        let scheduled_s =
            parse_non_negative(source, line, "scheduled_time", scheduled, TIME_EXPECT)?;
        let deleted_s = parse_non_negative(source, line, "deletion_time", deleted, TIME_EXPECT)?;
        if let Some((num_gpu_i, gpu_milli_i)) = gpu_cols {
            let amount = |name: &str, i: usize| -> Result<f64, TraceError> {
                match field(i) {
                    "" => Ok(0.0),
                    v => parse_non_negative(source, line, name, v, "expected a count >= 0, e.g. 1"),
                }
            };
            if amount("num_gpu", num_gpu_i)? <= 0.0 && amount("gpu_milli", gpu_milli_i)? <= 0.0 {
                out.filtered_rows += 1;
                continue;
            }
        }
        let service_s = deleted_s - scheduled_s;
        if service_s <= 0.0 {
            out.skipped_rows += 1;
            continue;
        }
        out.jobs.push(Job {
            arrival_s: created_s,
            service_s,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Azure LLM inference trace
// ---------------------------------------------------------------------------------------------

const AZURE_HEADER: &str = "TIMESTAMP,ContextTokens,GeneratedTokens";

/// Parses the Azure LLM inference CSV. Timestamps (`YYYY-MM-DD HH:MM:SS.fffffff`, no zone) are
/// read as UTC; arrival = timestamp - earliest timestamp, epoch = Unix seconds of the earliest.
/// Service = `prefill_s_per_1k_tokens * ContextTokens / 1000 + decode_s_per_token *
/// GeneratedTokens`; rows where that is 0 are skipped.
pub fn parse_azure_llm(
    text: &str,
    source: &str,
    prefill_s_per_1k_tokens: f64,
    decode_s_per_token: f64,
) -> Result<ParsedJobs, TraceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = data_lines(text, false);
    let Some((header_line, header_text)) = lines.next() else {
        return Ok(ParsedJobs::default());
    };
    let header: Vec<&str> = header_text.split(',').map(str::trim).collect();
    let col = |name: &str| column(&header, name, source, header_line, AZURE_HEADER);
    let (time_i, context_i, generated_i) = (
        col("TIMESTAMP")?,
        col("ContextTokens")?,
        col("GeneratedTokens")?,
    );
    let needed = time_i.max(context_i).max(generated_i) + 1;

    const TOKENS_EXPECT: &str = "expected a token count >= 0, e.g. 1469";
    // Nanoseconds as integers: f64 Unix seconds would lose the 100-ns digits.
    let mut rows: Vec<(i64, f64)> = Vec::with_capacity(text.len() / 36);
    let mut skipped_rows = 0;
    let mut fields = Vec::with_capacity(header.len());
    for (line, content) in lines {
        split_fields(content, &mut fields);
        check_width(&fields, needed, source, line)?;
        let field = |i: usize| field_at(&fields, i);
        let stamp = field(time_i);
        let unix_ns = parse_utc_timestamp_ns(stamp).ok_or_else(|| {
            line_err(
                source,
                line,
                format!(
                    "TIMESTAMP {:?} is not a date-time (expected YYYY-MM-DD HH:MM:SS.fffffff in \
                     UTC, e.g. 2023-11-16 18:17:03.9799600)",
                    shorten(stamp)
                ),
            )
        })?;
        let context = parse_non_negative(
            source,
            line,
            "ContextTokens",
            field(context_i),
            TOKENS_EXPECT,
        )?;
        let generated = parse_non_negative(
            source,
            line,
            "GeneratedTokens",
            field(generated_i),
            TOKENS_EXPECT,
        )?;
        let service_s = prefill_s_per_1k_tokens * context / 1000.0 + decode_s_per_token * generated;
        if !(service_s > 0.0 && service_s.is_finite()) {
            skipped_rows += 1;
            continue;
        }
        rows.push((unix_ns, service_s));
    }
    let Some(first_ns) = rows.iter().map(|r| r.0).min() else {
        return Ok(ParsedJobs {
            skipped_rows,
            ..ParsedJobs::default()
        });
    };
    let jobs = rows
        .into_iter()
        .map(|(ns, service_s)| Job {
            // Differences within one trace are small, so this conversion is exact to ~1 ns.
            arrival_s: (ns - first_ns) as f64 / 1e9,
            service_s,
        })
        .collect();
    Ok(ParsedJobs {
        jobs,
        epoch_unix_s: first_ns.div_euclid(1_000_000_000) as f64
            + first_ns.rem_euclid(1_000_000_000) as f64 / 1e9,
        skipped_rows,
        filtered_rows: 0,
    })
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z]` as UTC nanoseconds since 1970; years 1900–2200.
fn parse_utc_timestamp_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1900..=2200).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // Digits beyond nanoseconds are ignored.
        let mut scale = 100_000_000i64;
        for &d in &frac[..digits.min(9)] {
            nanos += i64::from(d - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[digits..];
    }
    if !(rest.is_empty() || rest == b"Z") {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let march_month = (month + 9) % 12;
    let day_of_year = (153 * march_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// ---------------------------------------------------------------------------------------------
// ServeGen
// ---------------------------------------------------------------------------------------------

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
fn ln_gamma(x: f64) -> f64 {
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
fn window_end_s(windows: &[ServegenWindow], i: usize) -> f64 {
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
fn client_seed(seed: u64, chunk: u32) -> u64 {
    // SplitMix64 finalizer: spreads consecutive chunk ids over the whole seed space.
    let mut z = u64::from(chunk).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    seed ^ z ^ (z >> 31)
}

fn load_servegen_dir(
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

fn synthesize_clients(
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

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shared(rel: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/traces")
            .join(rel);
        if p.exists() {
            Some(p)
        } else {
            eprintln!("note: {} is absent; skipping this check", p.display());
            None
        }
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

    fn assert_sane(trace: &Trace) {
        assert!(!trace.jobs.is_empty());
        assert_eq!(trace.jobs[0].arrival_s, 0.0);
        for w in trace.jobs.windows(2) {
            assert!(w[0].arrival_s <= w[1].arrival_s);
        }
        for j in &trace.jobs {
            assert!(j.arrival_s >= 0.0 && j.arrival_s.is_finite());
            assert!(j.service_s > 0.0 && j.service_s.is_finite());
        }
    }

    fn lognormal() -> ServiceModel {
        ServiceModel::LogNormal {
            median_s: 30.0,
            sigma: 1.0,
            min_s: 1.0,
            max_s: 3600.0,
        }
    }

    fn bad_line(err: TraceError) -> (String, u64, String) {
        let text = err.to_string();
        match err {
            TraceError::BadLine { file, line, .. } => (file, line, text),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    // --- formats ------------------------------------------------------------------------------

    #[test]
    fn native_parses_with_header_comments_and_blank_lines() {
        let text = "\u{feff}# a comment\narrival_s,service_s\n0,10\n\n 2.5 , 3 \r\n# more\n1,1e1\n";
        let jobs = parse_native(text, "x.csv").unwrap();
        assert_eq!(
            jobs,
            vec![
                Job {
                    arrival_s: 0.0,
                    service_s: 10.0
                },
                Job {
                    arrival_s: 2.5,
                    service_s: 3.0
                },
                Job {
                    arrival_s: 1.0,
                    service_s: 10.0
                },
            ]
        );
        assert_eq!(parse_native("5,1", "x").unwrap().len(), 1);
        assert!(parse_native("", "x").unwrap().is_empty());
    }

    #[test]
    fn native_round_trips_through_write_native() {
        let jobs = vec![
            Job {
                arrival_s: 0.0,
                service_s: 0.1,
            },
            Job {
                arrival_s: 1.0 / 3.0,
                service_s: 12345.678901234,
            },
        ];
        let mut out = Vec::new();
        write_native(&jobs, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("arrival_s,service_s\n"));
        assert_eq!(parse_native(&text, "rt").unwrap(), jobs);
    }

    const SWF_SAMPLE: &str = "; Version: 2.2\n; UnixStartTime: 843480031\n;\n\
   15   599850 192180   3477    4     -1    -1    4  53940    -1  1  12  12  -1 -1 -1 -1 -1\n\
   16   600022  11940   2488   25     -1    -1   25   3600    -1  1  13  13  -1 -1 -1 -1 -1\n\
   17   600100     -1     -1   25     -1    -1   25   3600    -1  0  13  13  -1 -1 -1 -1 -1\n\
   18       -1     -1     10   25     -1    -1   25   3600    -1  0  13  13  -1 -1 -1 -1 -1\n\
   19   600200      0      0    1     -1    -1    1     60    -1  5  13  13  -1 -1 -1 -1 -1";

    #[test]
    fn swf_parses_and_skips_unknown_run_times() {
        let parsed = parse_swf(SWF_SAMPLE, "k.swf").unwrap();
        assert_eq!(parsed.epoch_unix_s, 843_480_031.0);
        assert_eq!(parsed.skipped_rows, 3);
        assert_eq!(
            parsed.jobs,
            vec![
                Job {
                    arrival_s: 599_850.0,
                    service_s: 3477.0
                },
                Job {
                    arrival_s: 600_022.0,
                    service_s: 2488.0
                },
            ]
        );
        let trace = parse_trace_bytes(
            SWF_SAMPLE.as_bytes(),
            TraceFormat::Swf,
            "k.swf",
            &TraceOptions::default(),
        )
        .unwrap();
        assert_eq!(trace.epoch_unix_s, 843_480_031.0 + 599_850.0);
        assert_eq!(trace.jobs[1].arrival_s, 172.0);
    }

    #[test]
    fn swf_gzip_is_detected_by_magic_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(SWF_SAMPLE.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let trace = parse_trace_bytes(
            &bytes,
            TraceFormat::Swf,
            "k.swf.gz",
            &TraceOptions::default(),
        )
        .unwrap();
        assert_eq!(trace.jobs.len(), 2);
        let err = parse_trace_bytes(
            &bytes[..20],
            TraceFormat::Swf,
            "k.swf.gz",
            &TraceOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("k.swf.gz: starts like a gzip file"),
            "{err}"
        );
    }

    const ALIBABA_SAMPLE: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
openb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0\n\
openb-pod-0001,6000,12288,0,0,,LS,Running,100,400,150\n\
openb-pod-0002,6000,12288,1,460,V100|A10,BE,Pending,200,300,\n\
openb-pod-0003,6000,12288,0,500,,LS,Succeeded,300,900,310\n\
openb-pod-0004,6000,12288,2,0,,LS,Failed,400,400,400\n";

    #[test]
    fn alibaba_pods_map_columns_and_filter() {
        let gpu = parse_alibaba_pods(ALIBABA_SAMPLE, "p.csv", true).unwrap();
        assert_eq!(
            gpu.jobs,
            vec![
                Job {
                    arrival_s: 0.0,
                    service_s: 12_537_496.0
                },
                Job {
                    arrival_s: 300.0,
                    service_s: 590.0
                },
            ]
        );
        assert_eq!((gpu.skipped_rows, gpu.filtered_rows), (2, 1));
        let all = parse_alibaba_pods(ALIBABA_SAMPLE, "p.csv", false).unwrap();
        assert_eq!(all.jobs.len(), 3);
        assert_eq!(
            all.jobs[1],
            Job {
                arrival_s: 100.0,
                service_s: 250.0
            }
        );
        assert_eq!((all.skipped_rows, all.filtered_rows), (2, 0));
    }

    const AZURE_SAMPLE: &str = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
2023-11-16 18:17:03.9799600,4808,10\n\
2023-11-16 18:17:04.0319600,3180,8\n\
2023-11-16 18:17:05,1000,0";

    #[test]
    fn azure_models_service_from_tokens() {
        let parsed = parse_azure_llm(AZURE_SAMPLE, "a.csv", 0.25, 0.03).unwrap();
        // 2023-11-16 00:00:00 UTC = 1700092800.
        assert!((parsed.epoch_unix_s - (1_700_092_800.0 + 65_823.979_96)).abs() < 1e-6);
        let arrivals: Vec<f64> = parsed.jobs.iter().map(|j| j.arrival_s).collect();
        assert!((arrivals[1] - 0.052).abs() < 1e-9 && (arrivals[2] - 1.02004).abs() < 1e-9);
        assert!((parsed.jobs[0].service_s - (0.25 * 4.808 + 0.3)).abs() < 1e-12);
        assert!((parsed.jobs[2].service_s - 0.25).abs() < 1e-12);
        assert_eq!(
            parse_utc_timestamp_ns("1970-01-01T00:00:01Z"),
            Some(1_000_000_000)
        );
        assert_eq!(
            parse_utc_timestamp_ns("2024-02-29 00:00:00"),
            Some(1_709_164_800_000_000_000)
        );
        for bad in [
            "2023-02-29 00:00:00",
            "2023-11-16 24:00:00",
            "2023-11-16 18:17:03.",
            "2023-11-16",
            "2023-11-16 18:17:03+01",
        ] {
            assert_eq!(parse_utc_timestamp_ns(bad), None, "{bad}");
        }
    }

    const SERVEGEN_SAMPLE: &str = "0,0,0,,0,0\n\
600,2.0,1.15,Gamma,0.748,0.0443\n\
1200,0.5,7.39,Weibull,0.425,0.00904\n\
1800,0,0,,0,0\n";

    #[test]
    fn servegen_parses_and_synthesizes() {
        let windows = parse_servegen(SERVEGEN_SAMPLE, "chunk-7-trace.csv").unwrap();
        assert_eq!(windows.len(), 4);
        assert_eq!(
            windows[1].pattern,
            Some(InterArrival::Gamma {
                shape: 0.748,
                scale_s: 0.0443
            })
        );
        assert_eq!(windows[3].pattern, None);
        let expected = servegen_expected_arrivals(&windows, 1.0, None);
        assert!((expected - 1500.0).abs() < 1e-9);
        let arrivals = synthesize_servegen(&windows, 1, 1.0, None);
        assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
        assert!(arrivals.iter().all(|&a| (600.0..1800.0).contains(&a)));
        let n = arrivals.len() as f64;
        assert!((n - expected).abs() < 0.25 * expected, "{n} vs {expected}");
        // The Gamma window carries 2 req/s × 600 s.
        let first = arrivals.iter().filter(|&&a| a < 1200.0).count() as f64;
        assert!((first - 1200.0).abs() < 250.0, "{first}");
        // Through load path: chunk id from the name; from-trace is refused.
        let opts = TraceOptions {
            service: ServiceModel::Fixed { seconds: 5.0 },
            servegen_rate_scale: 1.0,
            ..TraceOptions::default()
        };
        let trace = parse_trace_bytes(
            SERVEGEN_SAMPLE.as_bytes(),
            TraceFormat::Servegen,
            "dir/chunk-7-trace.csv",
            &opts,
        )
        .unwrap();
        assert_sane(&trace);
        assert!(trace.jobs.iter().all(|j| j.service_s == 5.0));
    }

    #[test]
    fn servegen_rate_scale_keeps_volume_for_sparse_clients() {
        // 1,000 windows at 0.1 req/s scaled by 0.001: one arrival per ~10^4 s, i.e. per ~17 windows.
        let windows: Vec<ServegenWindow> = (0..1000)
            .map(|i| ServegenWindow {
                start_s: f64::from(i) * SERVEGEN_WINDOW_S,
                rate_per_s: 0.1,
                pattern: Some(InterArrival::Gamma {
                    shape: 0.5,
                    scale_s: 20.0,
                }),
            })
            .collect();
        let expected = servegen_expected_arrivals(&windows, 0.001, None);
        assert!((expected - 60.0).abs() < 1e-9);
        let total: usize = (0..20)
            .map(|s| synthesize_servegen(&windows, s, 0.001, None).len())
            .sum();
        let mean = total as f64 / 20.0;
        assert!((mean - 60.0).abs() < 12.0, "mean {mean}");
    }

    #[test]
    fn servegen_is_deterministic_per_seed() {
        let opts = |seed| TraceOptions {
            service: lognormal(),
            servegen_rate_scale: 1.0,
            seed,
            ..TraceOptions::default()
        };
        let load = |seed| {
            parse_trace_bytes(
                SERVEGEN_SAMPLE.as_bytes(),
                TraceFormat::Servegen,
                "chunk-3-trace.csv",
                &opts(seed),
            )
            .unwrap()
        };
        assert_eq!(load(42), load(42));
        assert_ne!(load(42).jobs, load(43).jobs);
        // Different chunks get different streams from the same seed.
        let other = parse_trace_bytes(
            SERVEGEN_SAMPLE.as_bytes(),
            TraceFormat::Servegen,
            "chunk-4-trace.csv",
            &opts(42),
        )
        .unwrap();
        assert_ne!(load(42).jobs, other.jobs);
    }

    #[test]
    fn servegen_directory_is_independent_of_client_order() {
        let dir = std::env::temp_dir().join(format!("preheat-servegen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in [2, 10, 1] {
            std::fs::write(dir.join(format!("chunk-{i}-trace.csv")), SERVEGEN_SAMPLE).unwrap();
        }
        std::fs::write(dir.join("chunk-1-dataset.json"), "{}").unwrap();
        assert_eq!(detect_format(&dir), Some(TraceFormat::Servegen));
        let opts = |clients: Option<Vec<u32>>| TraceOptions {
            service: lognormal(),
            servegen_rate_scale: 0.5,
            servegen_clients: clients,
            seed: 9,
            ..TraceOptions::default()
        };
        let a = load_trace(&dir, &opts(Some(vec![10, 1]))).unwrap();
        let b = load_trace(&dir, &opts(Some(vec![1, 10]))).unwrap();
        assert_eq!(a, b);
        let all = load_trace(&dir, &opts(None)).unwrap();
        assert!(all.jobs.len() > a.jobs.len());
        let err = load_trace(&dir, &opts(Some(vec![5])))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no client (chunk) 5; available: [1, 2, 10]"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn format_names_parse_and_detect() {
        for f in TraceFormat::ALL {
            assert_eq!(f.name().parse::<TraceFormat>().unwrap(), f);
            assert!(FORMAT_CHOICES.contains(f.name()));
        }
        assert_eq!(" SWF ".parse::<TraceFormat>().unwrap(), TraceFormat::Swf);
        let err = "csv".parse::<TraceFormat>().unwrap_err().to_string();
        assert_eq!(
            err,
            format!("unknown trace format \"csv\" (expected one of: {FORMAT_CHOICES})")
        );
        assert_eq!(sniff_format(SWF_SAMPLE.as_bytes()), Some(TraceFormat::Swf));
        assert_eq!(
            sniff_format(ALIBABA_SAMPLE.as_bytes()),
            Some(TraceFormat::AlibabaPods)
        );
        assert_eq!(
            sniff_format(AZURE_SAMPLE.as_bytes()),
            Some(TraceFormat::AzureLlm)
        );
        assert_eq!(
            sniff_format(SERVEGEN_SAMPLE.as_bytes()),
            Some(TraceFormat::Servegen)
        );
        assert_eq!(
            sniff_format(b"arrival_s,service_s\n1,2\n"),
            Some(TraceFormat::Native)
        );
        assert_eq!(sniff_format(b"\n1.5,2\n"), Some(TraceFormat::Native));
        assert_eq!(sniff_format(b"# note\n1.5,2\n"), Some(TraceFormat::Native));
        assert_eq!(sniff_format(b"hello world"), None);
        assert_eq!(sniff_format(b""), None);
        let err = load_trace(
            Path::new("/nonexistent/x.csv"),
            &TraceOptions {
                format: Some(TraceFormat::Native),
                ..TraceOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/x.csv: cannot read trace:"),
            "{err}"
        );
        let err =
            load_trace(Path::new("/nonexistent/x.csv"), &TraceOptions::default()).unwrap_err();
        assert!(matches!(err, TraceError::UndetectedFormat { .. }));
        assert!(err.to_string().contains("alibaba-pods"), "{err}");
    }

    #[test]
    fn service_model_shorthand() {
        assert_eq!(
            "from-trace".parse::<ServiceModel>().unwrap(),
            ServiceModel::FromTrace
        );
        assert_eq!(
            "fixed:30".parse::<ServiceModel>().unwrap(),
            ServiceModel::Fixed { seconds: 30.0 }
        );
        assert_eq!(
            "scale:0.5:1:3600".parse::<ServiceModel>().unwrap(),
            ServiceModel::Scale {
                factor: 0.5,
                min_s: 1.0,
                max_s: 3600.0
            }
        );
        assert_eq!(
            "lognormal:30:1".parse::<ServiceModel>().unwrap(),
            ServiceModel::LogNormal {
                median_s: 30.0,
                sigma: 1.0,
                min_s: 0.001,
                max_s: f64::INFINITY
            }
        );
        for bad in [
            "fixed",
            "fixed:-1",
            "fixed:x",
            "scale:1:5:2",
            "gamma:1",
            "lognormal:0:1",
        ] {
            assert!(bad.parse::<ServiceModel>().is_err(), "{bad}");
        }
        let err = "nope".parse::<ServiceModel>().unwrap_err().to_string();
        assert!(err.contains("lognormal:MEDIAN_S:SIGMA"), "{err}");
    }

    // --- errors -------------------------------------------------------------------------------

    #[test]
    fn native_errors_name_file_line_and_fix() {
        let (file, line, msg) =
            bad_line(parse_native("0,1\n1,2\n2,abc\n", "traces/x.csv").unwrap_err());
        assert_eq!((file.as_str(), line), ("traces/x.csv", 3));
        assert_eq!(
            msg,
            "traces/x.csv:3: service_s \"abc\" is not a number (expected seconds, e.g. 42.5)"
        );
        let cases = [
            (
                "\n\n0,1\r\n\r\n # c, \"q\n1,x\n",
                6,
                "service_s \"x\" is not a number",
            ),
            (
                "# c\n-1,2\n",
                2,
                "arrival_s -1 is negative (expected seconds, e.g. 42.5)",
            ),
            ("1,NaN\n", 1, "service_s \"NaN\" is not a finite number"),
            ("1,0\n", 1, "service_s 0 is not positive"),
            ("1,2,3\n", 1, "has 3 columns; expected 2"),
            (
                "arrival,service\n1,2\n",
                1,
                "unexpected header \"arrival,service\"",
            ),
            ("1,\n", 1, "service_s is empty"),
        ];
        for (text, want_line, want) in cases {
            let (_, line, msg) = bad_line(parse_native(text, "n.csv").unwrap_err());
            assert_eq!(line, want_line, "{msg}");
            assert!(
                msg.starts_with(&format!("n.csv:{want_line}: ")) && msg.contains(want),
                "{msg}"
            );
        }
    }

    #[test]
    fn other_format_errors_name_file_and_line() {
        let swf_short = "; UnixStartTime: 1\n1 2 3\n";
        let (_, line, msg) = bad_line(parse_swf(swf_short, "s.swf").unwrap_err());
        assert_eq!(line, 2);
        assert!(
            msg.contains("has 3 fields; an SWF job line has 18"),
            "{msg}"
        );
        let swf_bad = SWF_SAMPLE.replace("600022", "6oo022");
        let (_, line, msg) = bad_line(parse_swf(&swf_bad, "s.swf").unwrap_err());
        assert_eq!(line, 5);
        assert!(
            msg.contains("submit time (field 2) \"6oo022\" is not a number"),
            "{msg}"
        );
        let swf_neg = SWF_SAMPLE.replace("600022", "-7");
        assert!(
            bad_line(parse_swf(&swf_neg, "s.swf").unwrap_err())
                .2
                .contains("-7 is negative")
        );
        let (_, line, _) = bad_line(parse_swf("; UnixStartTime: soon\n", "s.swf").unwrap_err());
        assert_eq!(line, 1);

        let ali = ALIBABA_SAMPLE.replace(",300,900,310", ",300,-900,310");
        let (_, line, msg) = bad_line(parse_alibaba_pods(&ali, "p.csv", true).unwrap_err());
        assert_eq!(line, 5);
        assert!(msg.contains("deletion_time -900 is negative"), "{msg}");
        let (_, line, msg) =
            bad_line(parse_alibaba_pods("name,creation_time\nx,1\n", "p.csv", false).unwrap_err());
        assert_eq!(line, 1);
        assert!(msg.contains("no column `deletion_time`"), "{msg}");
        let (_, line, msg) = bad_line(
            parse_alibaba_pods(&format!("{ALIBABA_SAMPLE}short,1\n"), "p.csv", true).unwrap_err(),
        );
        assert_eq!(line, 7);
        assert!(msg.contains("has 2 columns"), "{msg}");

        let az = AZURE_SAMPLE.replace("18:17:04.0319600", "18:17:4");
        let (_, line, msg) = bad_line(parse_azure_llm(&az, "a.csv", 0.25, 0.03).unwrap_err());
        assert_eq!(line, 3);
        assert!(
            msg.contains("TIMESTAMP \"2023-11-16 18:17:4\" is not a date-time"),
            "{msg}"
        );
        let az = AZURE_SAMPLE.replace("3180", "-3");
        assert!(
            bad_line(parse_azure_llm(&az, "a.csv", 0.25, 0.03).unwrap_err())
                .2
                .contains("ContextTokens -3 is negative")
        );

        let sg = SERVEGEN_SAMPLE.replace("Weibull", "Pareto");
        let (_, line, msg) = bad_line(parse_servegen(&sg, "c.csv").unwrap_err());
        assert_eq!(line, 3);
        assert!(msg.contains("pattern \"Pareto\" is unknown"), "{msg}");
        let sg = SERVEGEN_SAMPLE.replace("0.748", "0");
        assert!(
            bad_line(parse_servegen(&sg, "c.csv").unwrap_err())
                .2
                .contains("shape 0 must be positive")
        );
        let (_, line, _) = bad_line(parse_servegen("0,1,1,,0,0\n", "c.csv").unwrap_err());
        assert_eq!(line, 1);
        let (_, line, msg) = bad_line(parse_servegen("0,0\n", "c.csv").unwrap_err());
        assert_eq!(line, 1);
        assert!(msg.contains("has 2 columns"), "{msg}");

        let (_, line, msg) = bad_line(
            parse_trace_bytes(
                b"1,2\n3,\xff\n",
                TraceFormat::Native,
                "b.csv",
                &TraceOptions::default(),
            )
            .unwrap_err(),
        );
        assert_eq!(line, 2);
        assert!(msg.contains("is not UTF-8"), "{msg}");
    }

    #[test]
    fn servegen_requires_a_service_model() {
        let err = parse_trace_bytes(
            SERVEGEN_SAMPLE.as_bytes(),
            TraceFormat::Servegen,
            "c.csv",
            &TraceOptions::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TraceError::NoDurations { .. }));
        assert!(
            msg.starts_with("c.csv: the servegen format has no job durations")
                && msg.contains("lognormal:30:1.0"),
            "{msg}"
        );
    }

    #[test]
    fn servegen_refuses_huge_syntheses() {
        let opts = TraceOptions {
            service: lognormal(),
            servegen_rate_scale: 1e6,
            ..TraceOptions::default()
        };
        let msg = parse_trace_bytes(
            SERVEGEN_SAMPLE.as_bytes(),
            TraceFormat::Servegen,
            "c.csv",
            &opts,
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("lower servegen_rate_scale"), "{msg}");
    }

    #[test]
    fn empty_traces_say_which_window() {
        let opts = TraceOptions {
            window_start_s: Some(100.0),
            window_end_s: Some(200.0),
            ..TraceOptions::default()
        };
        let msg = parse_trace_bytes(b"0,1\n300,1\n", TraceFormat::Native, "n.csv", &opts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "n.csv: no jobs in window [100 s, 200 s) of trace time; the trace's 2 jobs arrive \
             between 0 s and 300 s after its epoch, so widen window_start_s/window_end_s"
        );
        let msg = parse_trace_bytes(
            b"# nothing\n",
            TraceFormat::Native,
            "n.csv",
            &TraceOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.starts_with("n.csv: no jobs in the trace"), "{msg}");
    }

    #[test]
    fn invalid_options_are_rejected() {
        let cases = [
            TraceOptions {
                time_scale: 0.0,
                ..TraceOptions::default()
            },
            TraceOptions {
                window_start_s: Some(5.0),
                window_end_s: Some(5.0),
                ..TraceOptions::default()
            },
            TraceOptions {
                window_end_s: Some(f64::NAN),
                ..TraceOptions::default()
            },
            TraceOptions {
                max_jobs: Some(0),
                ..TraceOptions::default()
            },
            TraceOptions {
                servegen_rate_scale: -1.0,
                ..TraceOptions::default()
            },
            TraceOptions {
                servegen_clients: Some(vec![]),
                ..TraceOptions::default()
            },
            TraceOptions {
                azure_decode_s_per_token: 0.0,
                azure_prefill_s_per_1k_tokens: 0.0,
                ..TraceOptions::default()
            },
            TraceOptions {
                service: ServiceModel::Scale {
                    factor: 1.0,
                    min_s: 0.0,
                    max_s: 1.0,
                },
                ..TraceOptions::default()
            },
        ];
        for opts in cases {
            let err = parse_trace_bytes(b"0,1\n", TraceFormat::Native, "n.csv", &opts).unwrap_err();
            assert!(
                matches!(err, TraceError::InvalidOption(_)),
                "{opts:?}: {err}"
            );
        }
    }

    // --- window / scale / max_jobs / service models -------------------------------------------

    const NATIVE_TEN: &str = "9,1\n0,1\n1,2\n2,3\n3,4\n4,5\n5,6\n6,7\n7,8\n8,9\n";

    fn native(opts: TraceOptions) -> Trace {
        parse_trace_bytes(NATIVE_TEN.as_bytes(), TraceFormat::Native, "n.csv", &opts).unwrap()
    }

    #[test]
    fn window_scale_and_max_jobs() {
        let all = native(TraceOptions::default());
        assert_sane(&all);
        assert_eq!(all.jobs.len(), 10);
        assert_eq!(
            all.jobs[9],
            Job {
                arrival_s: 9.0,
                service_s: 1.0
            }
        );

        let win = native(TraceOptions {
            window_start_s: Some(2.5),
            window_end_s: Some(6.0),
            ..TraceOptions::default()
        });
        let arrivals: Vec<f64> = win.jobs.iter().map(|j| j.arrival_s).collect();
        assert_eq!(arrivals, vec![0.5, 1.5, 2.5]); // 3, 4, 5 shifted by the window start
        assert_eq!(win.epoch_unix_s, 2.5);

        let open_start = native(TraceOptions {
            window_end_s: Some(3.0),
            ..TraceOptions::default()
        });
        assert_eq!(open_start.jobs.len(), 3);
        let late = native(TraceOptions {
            window_start_s: Some(7.0),
            ..TraceOptions::default()
        });
        assert_eq!(
            late.jobs.iter().map(|j| j.arrival_s).collect::<Vec<_>>(),
            vec![0.0, 1.0, 2.0]
        );

        let scaled = native(TraceOptions {
            time_scale: 0.5,
            window_start_s: Some(4.0),
            ..TraceOptions::default()
        });
        assert_eq!(
            scaled.jobs[2],
            Job {
                arrival_s: 1.0,
                service_s: 7.0
            }
        ); // service unchanged

        let capped = native(TraceOptions {
            max_jobs: Some(4),
            window_start_s: Some(1.0),
            ..TraceOptions::default()
        });
        assert_eq!(
            capped.jobs.iter().map(|j| j.service_s).collect::<Vec<_>>(),
            vec![2.0, 3.0, 4.0, 5.0]
        );
    }

    #[test]
    fn service_models_map_durations() {
        let scaled = native(TraceOptions {
            service: ServiceModel::Scale {
                factor: 2.0,
                min_s: 3.0,
                max_s: 10.0,
            },
            ..TraceOptions::default()
        });
        assert_eq!(
            scaled.jobs.iter().map(|j| j.service_s).collect::<Vec<_>>(),
            vec![3.0, 4.0, 6.0, 8.0, 10.0, 10.0, 10.0, 10.0, 10.0, 3.0]
        );
        let fixed = native(TraceOptions {
            service: ServiceModel::Fixed { seconds: 0.5 },
            ..TraceOptions::default()
        });
        assert!(fixed.jobs.iter().all(|j| j.service_s == 0.5));
        let ln = |seed| {
            native(TraceOptions {
                service: lognormal(),
                seed,
                ..TraceOptions::default()
            })
        };
        assert_eq!(ln(1), ln(1));
        assert_ne!(ln(1), ln(2));
        assert!(
            ln(1)
                .jobs
                .iter()
                .all(|j| (1.0..=3600.0).contains(&j.service_s))
        );
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(1.5) - (std::f64::consts::PI.sqrt() / 2.0).ln()).abs() < 1e-12);
        assert!(ln_gamma(1.0).abs() < 1e-12);
    }

    // --- never panic --------------------------------------------------------------------------

    fn fuzz_opts() -> TraceOptions {
        TraceOptions {
            service: lognormal(),
            servegen_rate_scale: 1.0,
            ..TraceOptions::default()
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_text(text in any::<String>()) {
            let _ = parse_native(&text, "f");
            let _ = parse_swf(&text, "f");
            let _ = parse_alibaba_pods(&text, "f", true);
            let _ = parse_azure_llm(&text, "f", 0.25, 0.03);
            let _ = parse_servegen(&text, "f");
            let _ = sniff_format(text.as_bytes());
            let _ = text.parse::<ServiceModel>();
            let _ = text.parse::<TraceFormat>();
        }

        #[test]
        fn loading_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), idx in 0usize..5) {
            let _ = parse_trace_bytes(&bytes, TraceFormat::ALL[idx], "f", &fuzz_opts());
            let _ = sniff_format(&bytes);
        }

        #[test]
        fn near_valid_native_and_swf_never_panic(text in "([0-9eE.+-]{0,6}[ ,;\t]){0,20}\n?([0-9.-]{0,5}[ ,]){0,18}") {
            let _ = parse_trace_bytes(text.as_bytes(), TraceFormat::Native, "f", &fuzz_opts());
            let _ = parse_trace_bytes(text.as_bytes(), TraceFormat::Swf, "f", &fuzz_opts());
        }

        #[test]
        fn near_valid_servegen_never_panics(
            rows in proptest::collection::vec("[0-9]{1,7},[0-9.e-]{1,4},[0-9.]{0,4},(Gamma|Weibull|),[0-9.e-]{1,8},[0-9.e-]{1,8}", 0..20),
            window in proptest::option::of(0.0f64..2e5),
        ) {
            let text = rows.join("\n");
            let opts = TraceOptions { window_end_s: window, servegen_rate_scale: 0.001, ..fuzz_opts() };
            if let Ok(trace) = parse_trace_bytes(text.as_bytes(), TraceFormat::Servegen, "f", &opts) {
                assert_sane(&trace);
            }
        }

        #[test]
        fn near_valid_azure_and_alibaba_never_panic(
            stamp in "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?Z?",
            a in "[0-9.-]{0,8}", b in "[0-9.-]{0,8}",
        ) {
            let az = format!("{AZURE_HEADER}\n{stamp},{a},{b}\n");
            if let Ok(trace) = parse_trace_bytes(az.as_bytes(), TraceFormat::AzureLlm, "f", &fuzz_opts()) {
                assert_sane(&trace);
            }
            let ali = format!("{ALIBABA_HEADER}\nx,1,1,{a},{b},,LS,Running,{a},{b},{a}\n");
            if let Ok(trace) = parse_trace_bytes(ali.as_bytes(), TraceFormat::AlibabaPods, "f", &TraceOptions::default()) {
                assert_sane(&trace);
            }
        }
    }

    // --- the shared public traces -------------------------------------------------------------

    #[test]
    fn shared_kth_sp2() {
        let Some(path) = shared("pwa-kth-sp2-1996/KTH-SP2-1996-2.1-cln.swf.gz") else {
            return;
        };
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
    fn shared_hpc2n() {
        let Some(path) = shared("pwa-hpc2n-2002/HPC2N-2002-2.1-cln.swf.gz") else {
            return;
        };
        let trace = timed_load(&path, &TraceOptions::default());
        assert_sane(&trace);
        assert_eq!(trace.jobs.len() + trace.skipped_rows, 202_876);
        assert_eq!(trace.skipped_rows, 0);
        let span_days = trace.jobs.last().map_or(0.0, |j| j.arrival_s) / 86_400.0;
        assert!((1_265.0..1_271.0).contains(&span_days), "{span_days}");
    }

    #[test]
    fn shared_alibaba_openb() {
        let Some(path) = shared("alibaba-gpu-v2023-openb/openb_pod_list_default.csv") else {
            return;
        };
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
    fn shared_azure_code() {
        let Some(path) = shared("azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv") else {
            return;
        };
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
    fn shared_azure_conv() {
        let Some(path) = shared("azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv") else {
            return;
        };
        let trace = timed_load(&path, &TraceOptions::default());
        assert_sane(&trace);
        assert_eq!((trace.jobs.len(), trace.skipped_rows), (19_366, 0));
        let span_s = trace.jobs.last().map_or(0.0, |j| j.arrival_s);
        assert!((3_450.0..3_550.0).contains(&span_s), "{span_s}");
    }

    #[test]
    fn shared_servegen_m_small() {
        let Some(dir) = shared("servegen-language-m-small") else {
            return;
        };
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
}
