//! The Alibaba cluster-trace-gpu-v2023 pod list (`openb_pod_list_default.csv`): arrival from
//! `creation_time`, service from `deletion_time - scheduled_time`, columns found by header
//! name. The loader in `mod.rs` applies windows and options.

use super::*;

pub(super) const ALIBABA_HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,\
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
