//! The `SidecarContainers` feature gate as components report it in their
//! Prometheus metrics, and what a component runs when only its version is
//! known.

use serde::Serialize;

use crate::settings::kubelet_minor;

/// The name of the gate in `kubernetes_feature_enabled{name=…}`.
pub const GATE: &str = "SidecarContainers";

/// A feature gate as a component's metrics report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    pub enabled: bool,
    pub stage: String,
}

impl Gate {
    /// The stage as people say it: an empty stage is GA.
    pub fn stage_name(&self) -> &str {
        match self.stage.as_str() {
            "" => "GA",
            stage => stage,
        }
    }
}

/// Every `kubernetes_feature_enabled` sample of a Prometheus text: `(name,
/// stage, enabled)`. Labels in any order, quotes escaped, comments and lines
/// that are not samples skipped.
pub fn feature_gates(metrics: &str) -> Vec<(String, Gate)> {
    metrics
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("kubernetes_feature_enabled{")?;
            let (labels, value) = split_labels(rest)?;
            let value: f64 = value.split_whitespace().next()?.parse().ok()?;
            let label = |key: &str| labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            Some((
                label("name")?,
                Gate {
                    enabled: value == 1.0,
                    stage: label("stage").unwrap_or_default(),
                },
            ))
        })
        .collect()
}

/// `name="x",stage="BETA"} 1` → the labels and what follows the braces.
fn split_labels(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace() || *c == ',').is_some() {}
        let (start, first) = chars.next()?;
        if first == '}' {
            return Some((labels, text.get(start + 1..)?));
        }
        let mut key = String::from(first);
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if chars.next().map(|(_, c)| c) != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key.trim().to_owned(), value));
    }
}

/// Splits a file of several nodes' metrics at `# node: <name>` lines.
pub fn split_node_metrics(text: &str) -> Vec<(String, String)> {
    let mut nodes: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix("# node:") {
            nodes.push((name.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = nodes.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    nodes
}

/// Whether a component with this gate and version runs native sidecars: the
/// gate when its metrics say, else the version (beta and on by default from
/// 1.29; off by default in 1.28; absent before).
pub fn judge(gate: Option<&Gate>, version: Option<&str>) -> (Option<bool>, String) {
    match (gate, version.and_then(kubelet_minor)) {
        (Some(gate), _) if gate.enabled => (Some(true), format!("{GATE} is on ({})", gate.stage_name())),
        (Some(gate), _) => (Some(false), format!("{GATE} is off ({})", gate.stage_name())),
        (None, Some(minor)) if minor >= (1, 29) => (
            Some(true),
            format!(
                "version {} (on by default from 1.29)",
                version.unwrap_or_default()
            ),
        ),
        (None, Some(minor)) if minor >= (1, 28) => (
            Some(false),
            format!("version {} (alpha, off by default)", version.unwrap_or_default()),
        ),
        (None, Some(_)) => (
            Some(false),
            format!("version {} (before native sidecars)", version.unwrap_or_default()),
        ),
        (None, None) => (None, "neither its metrics nor its version were given".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::beta_on("# HELP kubernetes_feature_enabled x\n# TYPE kubernetes_feature_enabled gauge\nkubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"BETA\"} 1\n", Some((true, "BETA")))]
    #[case::labels_reordered("kubernetes_feature_enabled{stage=\"\",name=\"SidecarContainers\"} 1", Some((true, "")))]
    #[case::off("kubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"ALPHA\"} 0", Some((false, "ALPHA")))]
    #[case::escaped_quotes("kubernetes_feature_enabled{odd=\"a \\\"b\\\" c\",name=\"SidecarContainers\",stage=\"BETA\"} 1", Some((true, "BETA")))]
    #[case::absent(
        "kubernetes_feature_enabled{name=\"Other\",stage=\"BETA\"} 1\napiserver_request_total 5",
        None
    )]
    #[case::garbage(
        "kubernetes_feature_enabled{name=\"SidecarContainers\" 1\n{}{}\nkubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"BETA\"} x",
        None
    )]
    fn gates_are_read_from_prometheus_text(#[case] metrics: &str, #[case] expected: Option<(bool, &str)>) {
        let found = feature_gates(metrics)
            .into_iter()
            .find(|(name, _)| name == GATE)
            .map(|(_, gate)| (gate.enabled, gate.stage));
        assert_eq!(found, expected.map(|(on, stage)| (on, stage.to_owned())));
    }

    #[test]
    fn node_metrics_split_at_node_lines() {
        let split = split_node_metrics("# node: a\nx 1\n# node: b\ny 2\n");
        assert_eq!(
            split,
            [
                ("a".to_owned(), "x 1\n".to_owned()),
                ("b".to_owned(), "y 2\n".to_owned())
            ]
        );
    }
}
