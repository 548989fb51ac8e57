//! The Azure LLM inference trace 2023: UTC timestamps parsed without a date library, service
//! time modelled from context and generated tokens. The loader in `mod.rs` applies windows and
//! options.

use super::*;

pub(super) const AZURE_HEADER: &str = "TIMESTAMP,ContextTokens,GeneratedTokens";

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
pub(super) fn parse_utc_timestamp_ns(s: &str) -> Option<i64> {
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

pub(super) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let march_month = (month + 9) % 12;
    let day_of_year = (153 * march_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
