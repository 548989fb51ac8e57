//! `preheat validate`: loads a policy file and prints what it means, or every problem in it;
//! `preheat schema`: the JSON Schema editors use to check the same files as you type.

use anyhow::Result;
use preheat::core::config::Config;
use std::path::PathBuf;

pub(crate) fn cmd_validate(path: PathBuf) -> Result<()> {
    let cfg = Config::load(&path)?;
    println!(
        "{}: OK ({} service{}, tick {})",
        path.display(),
        cfg.services.len(),
        if cfg.services.len() == 1 { "" } else { "s" },
        preheat::core::config::fmt_s(cfg.tick_s)
    );
    for s in &cfg.services {
        println!(
            "  {}: {}/{} on {}, {}..{} tasks, SLO {:.1}% within {}, {:.4} $/h per instance",
            s.name,
            s.cluster,
            s.service,
            s.capacity_provider
                .as_deref()
                .unwrap_or("(no capacity provider)"),
            s.min_tasks,
            s.max_tasks,
            s.slo.attainment * 100.0,
            preheat::core::config::fmt_s(s.slo.max_wait_s),
            s.price.per_hour_usd()
        );
    }
    Ok(())
}

/// `preheat schema`: the policy file's JSON Schema, generated from the structs the YAML is read
/// into, for editors (`# yaml-language-server: $schema=...`) and CI checks.
pub(crate) fn cmd_schema() -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&preheat::core::config::json_schema())?
    );
    Ok(())
}
