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

use crate::core::job::Job;

mod alibaba;
mod azure;
mod native;
mod servegen;
mod swf;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_public;

pub use alibaba::*;
pub use azure::*;
pub use native::*;
pub use servegen::*;
pub use swf::*;

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

/// How far before the window the trace keeps jobs as its history: CloudWatch keeps one-minute
/// datapoints for 15 days, so a controller started at the window's start could read 14 of them.
pub const HISTORY_S: f64 = 14.0 * 86_400.0;

/// Mixed into the seed for the history's service-time draws, so the window's own draws are the
/// same with or without a history before it.
const HISTORY_SEED_SALT: u64 = 0x4849_5354;

const FORMAT_CHOICES: &str = "native, swf, alibaba-pods, azure-llm, servegen";

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
    /// Jobs of the [`HISTORY_S`] before the window's start (sim time, so arrivals are negative),
    /// sorted by arrival: what the queue's CloudWatch history would hold when a controller
    /// starts at the window. Empty without a window start or when nothing came before it.
    pub history: Vec<Job>,
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
    // Said first, so that a typo in the path is not reported as an unknown format.
    if !path.exists() {
        return Err(TraceError::Read {
            path: source,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found (check the path)"),
        });
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path).ok_or_else(|| {
            if is_blank_file(path) {
                TraceError::Empty {
                    file: source.clone(),
                    detail: "(the file is empty)".to_string(),
                }
            } else {
                TraceError::UndetectedFormat {
                    path: source.clone(),
                }
            }
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
    let mut history: Vec<Job> = match opts.window_start_s {
        Some(start_s) => {
            let from =
                jobs.partition_point(|j| j.arrival_s < start_s - HISTORY_S / opts.time_scale);
            jobs[from..begin].to_vec()
        }
        None => Vec::new(),
    };
    for job in &mut history {
        job.arrival_s = (job.arrival_s - origin_s) * opts.time_scale;
    }
    apply_service(&mut history, &opts.service, opts.seed ^ HISTORY_SEED_SALT)?;
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
        history,
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

/// Whether `path` is a file with nothing but whitespace in its first 64 KiB.
fn is_blank_file(path: &Path) -> bool {
    let mut head = Vec::new();
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
            .is_ok()
        && head.iter().all(u8::is_ascii_whitespace)
}

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
