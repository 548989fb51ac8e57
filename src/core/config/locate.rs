//! Where a problem sits in a policy file, for the problems serde cannot place itself: the key
//! path of a line (for YAML syntax errors, which only know their line), the line of a key path
//! (for unknown keys, which serde_ignored reports without one), the closest known key ("did you
//! mean max_tasks") and the JSON Schema those known keys come from. Reading the text is a light
//! indentation walk, not a second YAML parser: it only has to be right for the block style
//! people write by hand, and a wrong guess costs a hint, never a verdict.

use super::raw::RawConfig;
use std::collections::BTreeSet;

/// A key as a path segment: plain, or quoted when it holds characters a path uses itself.
pub(super) fn segment(key: &str) -> String {
    let plain = !key.is_empty()
        && !key.contains(|c: char| {
            matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace() || c.is_control()
        });
    if plain {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

enum Node {
    Key(String),
    Item(usize),
}

fn join(stack: &[(usize, Node)]) -> String {
    let mut out = String::new();
    for (_, n) in stack {
        match n {
            Node::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&segment(k));
            }
            Node::Item(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The key at the start of `rest` (`name: w` → `name`), unquoted; None for a bare value.
fn leading_key(rest: &str) -> Option<String> {
    let end = rest
        .char_indices()
        .find(|&(i, c)| c == ':' && rest[i + 1..].chars().next().is_none_or(|n| n == ' '))
        .map(|(i, _)| i)?;
    let key = rest[..end].trim();
    if key.starts_with(['{', '[', '#']) {
        return None;
    }
    let unquoted = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    Some(unquoted.to_string())
}

/// The key path each line sits under (`services[0].slo.max_wait`), one entry per line.
pub(super) fn line_paths(text: &str) -> Vec<String> {
    let mut stack: Vec<(usize, Node)> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.push(join(&stack));
            continue;
        }
        let mut col = line.len() - trimmed.len();
        let mut rest = trimmed;
        loop {
            if let Some(after) =
                rest.strip_prefix("- ")
                    .or(if rest == "-" { Some("") } else { None })
            {
                // A list item ends deeper entries and the previous item at its own column.
                let mut next = 0;
                while let Some((i, n)) = stack.last() {
                    let same_item = *i == col && matches!(n, Node::Item(_));
                    if *i > col || same_item {
                        if let (true, Node::Item(k)) = (same_item, n) {
                            next = k + 1;
                        }
                        stack.pop();
                    } else {
                        break;
                    }
                }
                stack.push((col, Node::Item(next)));
                let inner = after.trim_start();
                col += 2 + (after.len() - inner.len());
                rest = inner;
                continue;
            }
            if let Some(key) = leading_key(rest) {
                while stack.last().is_some_and(|(i, _)| *i >= col) {
                    stack.pop();
                }
                stack.push((col, Node::Key(key)));
            }
            break;
        }
        out.push(join(&stack));
    }
    out
}

/// The first line (1-based) whose key path is `path`.
pub(super) fn line_of_path(paths: &[String], path: &str) -> Option<u64> {
    paths.iter().position(|p| p == path).map(|i| i as u64 + 1)
}

/// The JSON Schema of a policy file, generated from the structs serde reads it into.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawConfig);
    schema.insert(
        "title".into(),
        "preheat policy file (config/whisper.yaml is the documented example)".into(),
    );
    schema.to_value()
}

/// Every key the schema knows, at any depth.
fn known_keys() -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Object(props)) = m.get("properties") {
                    out.extend(props.keys().cloned());
                }
                m.values().for_each(|x| walk(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&json_schema(), &mut out);
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known key closest to `key`, if it is close enough to be a typo.
pub(super) fn did_you_mean(key: &str) -> Option<String> {
    let limit = (key.chars().count() / 3).clamp(1, 3);
    known_keys()
        .into_iter()
        .map(|k| (edit_distance(key, &k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_indentation_and_list_items() {
        let text = "tick: 15s\nservices:\n  - name: a\n    slo:\n      max_wait: 2m\n  - name: b\n    # note\n    max_taks: 3\nsimulation:\n  seed: 1\n";
        let p = line_paths(text);
        assert_eq!(p[0], "tick");
        assert_eq!(p[2], "services[0].name");
        assert_eq!(p[4], "services[0].slo.max_wait");
        assert_eq!(p[5], "services[1].name");
        assert_eq!(p[7], "services[1].max_taks");
        assert_eq!(p[9], "simulation.seed");
        assert_eq!(line_of_path(&p, "services[1].max_taks"), Some(8));
    }

    #[test]
    fn typos_get_the_closest_key() {
        assert_eq!(did_you_mean("max_taks").as_deref(), Some("max_tasks"));
        assert_eq!(did_you_mean("atainment").as_deref(), Some("attainment"));
        assert_eq!(did_you_mean("completely_else"), None);
    }

    #[test]
    fn schema_is_closed_and_names_every_section() {
        let s = json_schema();
        assert_eq!(s["additionalProperties"], false);
        let keys = known_keys();
        for k in [
            "tick",
            "services",
            "max_tasks",
            "slo",
            "faults",
            "endpoint_url",
        ] {
            assert!(keys.contains(k), "{k} missing from the schema");
        }
    }
}
