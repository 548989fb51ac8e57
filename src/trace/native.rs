//! Our own native trace format: `arrival_s,service_s` CSV with an optional header, `#`
//! comments and blank lines. Reads and writes it; windowing, scaling and service models are
//! applied afterwards by the loader in `mod.rs`.

use super::*;

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
