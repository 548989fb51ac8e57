//! Standard Workload Format logs (Parallel Workloads Archive), already decompressed: arrival
//! from the submit time, service from the run time. Gzip detection and windowing are the
//! loader's job in `mod.rs`.

use super::*;

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
