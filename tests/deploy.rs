//! The shipped deployment files agree with each other: the IAM tables in README.md and
//! deploy/README.md list exactly the actions the CloudFormation template grants preheat's task
//! role, and the template creates the lease table the binary reads. (cfn-lint checks the
//! template itself; `scripts/cfn-lint`.)

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// IAM action names in `text`: `service:Action` (condition keys such as `ecs:cluster` start
/// lower-case after the colon and are left out).
fn actions(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-')) {
        if let Some((svc, act)) = word.split_once(':')
            && !svc.is_empty()
            && svc.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            && act.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && act.chars().all(|c| c.is_ascii_alphanumeric())
        {
            out.insert(word.to_string());
        }
    }
    out
}

/// The actions of the task role's policy in the template.
fn template_actions() -> BTreeSet<String> {
    let t = read("deploy/preheat.cfn.yaml");
    let start = t.find("  TaskRole:").expect("a TaskRole");
    let end = t[start..]
        .find("  TaskDefinition:")
        .expect("TaskDefinition after it")
        + start;
    t[start..end]
        .lines()
        .filter(|l| l.trim_start().starts_with("Action:"))
        .flat_map(actions)
        .filter(|a| a != "sts:AssumeRole")
        .collect()
}

/// The actions in the first IAM table of a markdown file.
fn table_actions(path: &str) -> BTreeSet<String> {
    let md = read(path);
    let start = md
        .find("| action | resource | why |")
        .expect("an IAM table");
    md[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .flat_map(actions)
        .collect()
}

#[test]
fn iam_tables_match_the_template() {
    let granted = template_actions();
    assert!(granted.contains("ecs:ListTasks") && granted.contains("dynamodb:PutItem"));
    for doc in ["README.md", "deploy/README.md"] {
        assert_eq!(
            table_actions(doc),
            granted,
            "{doc} vs deploy/preheat.cfn.yaml"
        );
    }
}

/// Issue #10: ListTasks granted on the cluster ARN is denied; it needs Resource "*" with an
/// ecs:cluster condition.
#[test]
fn list_tasks_is_granted_on_star_with_a_cluster_condition() {
    let t = read("deploy/preheat.cfn.yaml");
    let at = t
        .find("Action: ecs:ListTasks")
        .expect("ListTasks on its own statement");
    let stmt: String = t[at..].lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(stmt.contains("Resource: \"*\""), "{stmt}");
    assert!(stmt.contains("ecs:cluster"), "{stmt}");
}

#[test]
fn the_template_creates_the_lease_table_and_passes_it_on() {
    let t = read("deploy/preheat.cfn.yaml");
    assert!(t.contains("Type: AWS::DynamoDB::Table"));
    assert!(t.contains("AttributeName: lease_key"));
    assert!(t.contains("PREHEAT_LEASE_TABLE"));
}
