//! Kubelet defects with native sidecars that specific versions carry, each
//! with the upstream issue, the fix and the patch releases that carry it
//! (docs/readiness.md#kubelet-defects says how they were checked). A node is
//! flagged by its exact kubelet version: a provider's suffix
//! (`v1.30.4-eks-a737599`) is that patch release.

use serde::Serialize;

/// One defect: which kubelets carry it.
#[derive(Debug)]
pub struct Defect {
    /// `kubernetes/kubernetes#N`, the issue.
    pub issue: &'static str,
    /// The fix's pull requests on the main branch.
    pub fix: &'static str,
    pub symptom: &'static str,
    /// The first `(minor, patch)` that carries it.
    pub from: (u32, u32),
    /// The patch release that fixed it in each minor that got a fix.
    pub fixed: &'static [(u32, u32)],
    /// The first minor released with the fix.
    pub fixed_from_minor: u32,
}

/// Every 1.x kubelet from 1.28.0 (where the gate appeared) has native sidecar
/// code, whether the gate is on or not (#120247 hit kubelets with the gate off).
pub const DEFECTS: &[Defect] = &[
    Defect {
        issue: "kubernetes/kubernetes#120247",
        fix: "#120281 (1.28: #120440), #120269",
        symptom: "after a node reboot, regular containers start while the init containers still run (every pod with \
                  init containers, sidecar gate on or off)",
        from: (28, 0),
        fixed: &[(28, 2)],
        fixed_from_minor: 29,
    },
    Defect {
        issue: "kubernetes/kubernetes#125880",
        fix: "#125935",
        symptom: "a pod deleted before it finished initializing never sends SIGTERM to its running native sidecars: \
                  it hangs in Terminating for the whole grace period",
        from: (28, 0),
        fixed: &[(29, 8), (30, 4)],
        fixed_from_minor: 31,
    },
    // From 1.29: the fix's release note calls it "a regression in default
    // 1.29 configurations", where the gate came on. A 1.28 kubelet with the
    // alpha gate turned on runs the same code and got no fix; most 1.28
    // nodes have it off, and are not flagged.
    Defect {
        issue: "kubernetes/kubernetes#126440",
        fix: "#126543, #127162",
        symptom: "an init container the runtime failed to start once stays in Created: the pod hangs at Init:0/N",
        from: (29, 0),
        fixed: &[(29, 9), (30, 5), (31, 1)],
        fixed_from_minor: 32,
    },
    Defect {
        issue: "kubernetes/kubernetes#132826",
        fix: "#133072",
        symptom: "in a pod with restartPolicy Never, a native sidecar whose startupProbe fails once is never probed \
                  again: the main containers never start (1.32 got no fix)",
        from: (28, 0),
        fixed: &[(33, 6), (34, 2)],
        fixed_from_minor: 35,
    },
    Defect {
        issue: "kubernetes/kubernetes#136910",
        fix: "#137146",
        symptom: "after a kubelet restart, crashed regular containers are never restarted in pods whose native sidecar \
                  has a startupProbe",
        from: (35, 0),
        fixed: &[(35, 4)],
        fixed_from_minor: 36,
    },
];

/// `v1.30.4-eks-a737599` → `(1, 30, 4)`.
pub fn version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor, patch.parse().ok()?))
}

impl Defect {
    /// Whether a kubelet of this exact version carries the defect.
    pub fn carried_by(&self, (major, minor, patch): (u32, u32, u32)) -> bool {
        major == 1
            && (minor, patch) >= self.from
            && minor < self.fixed_from_minor
            && !self
                .fixed
                .iter()
                .any(|&(fixed_minor, fixed_patch)| fixed_minor == minor && patch >= fixed_patch)
    }

    /// The patch releases that fixed it, as people say them.
    pub fn fixed_in(&self) -> String {
        self.fixed
            .iter()
            .map(|(minor, patch)| format!("1.{minor}.{patch}"))
            .chain(std::iter::once(format!("1.{}.0", self.fixed_from_minor)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A defect and the nodes whose kubelets carry it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flagged {
    pub issue: &'static str,
    pub symptom: &'static str,
    pub fixed_in: String,
    pub nodes: Vec<String>,
}

/// The defects carried by some of these `(node, kubelet version)`, each with
/// its nodes; versions that cannot be read are skipped.
pub fn flag<'n>(nodes: impl Iterator<Item = (&'n str, &'n str)> + Clone) -> Vec<Flagged> {
    DEFECTS
        .iter()
        .filter_map(|defect| {
            let carriers: Vec<String> = nodes
                .clone()
                .filter(|(_, v)| version(v).is_some_and(|v| defect.carried_by(v)))
                .map(|(name, _)| name.to_owned())
                .collect();
            (!carriers.is_empty()).then(|| Flagged {
                issue: defect.issue,
                symptom: defect.symptom,
                fixed_in: defect.fixed_in(),
                nodes: carriers,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn carried(issue: &str, kubelet: &str) -> bool {
        let defect = DEFECTS
            .iter()
            .find(|d| d.issue.ends_with(issue))
            .expect("a defect");
        defect.carried_by(version(kubelet).expect("a version"))
    }

    #[rstest]
    #[case::reboot_first("#120247", "v1.28.0", true)]
    #[case::reboot_last("#120247", "v1.28.1", true)]
    #[case::reboot_fixed("#120247", "v1.28.2", false)]
    #[case::reboot_next_minor("#120247", "v1.29.0", false)]
    #[case::reboot_before("#120247", "v1.27.16", false)]
    #[case::sigterm_128("#125880", "v1.28.15", true)]
    #[case::sigterm_129_last("#125880", "v1.29.7", true)]
    #[case::sigterm_129_fixed("#125880", "v1.29.8", false)]
    #[case::sigterm_130_suffix("#125880", "v1.30.3-eks-a737599", true)]
    #[case::sigterm_130_fixed("#125880", "v1.30.4-gke.1000", false)]
    #[case::sigterm_131("#125880", "v1.31.0", false)]
    #[case::created_128("#126440", "v1.28.9", false)]
    #[case::created_129("#126440", "v1.29.8", true)]
    #[case::created_129_fixed("#126440", "v1.29.9", false)]
    #[case::created_131("#126440", "v1.31.0", true)]
    #[case::created_131_fixed("#126440", "v1.31.1", false)]
    #[case::created_132("#126440", "v1.32.0", false)]
    #[case::probe_132_never_fixed("#132826", "v1.32.11", true)]
    #[case::probe_133_last("#132826", "v1.33.5", true)]
    #[case::probe_133_fixed("#132826", "v1.33.6", false)]
    #[case::probe_134_fixed("#132826", "v1.34.2", false)]
    #[case::probe_135("#132826", "v1.35.0", false)]
    #[case::restart_134("#136910", "v1.34.9", false)]
    #[case::restart_135("#136910", "v1.35.3", true)]
    #[case::restart_135_fixed("#136910", "v1.35.4", false)]
    #[case::restart_136("#136910", "v1.36.0", false)]
    fn defects_are_flagged_by_exact_version(
        #[case] issue: &str,
        #[case] kubelet: &str,
        #[case] expected: bool,
    ) {
        assert_eq!(carried(issue, kubelet), expected, "{issue} at {kubelet}");
    }

    #[test]
    fn flags_name_their_nodes_and_skip_unreadable_versions() {
        let nodes = [
            ("a", "v1.35.2"),
            ("b", "v1.36.1"),
            ("c", "garbage"),
            ("d", "v1.35.0"),
        ];
        let flagged = flag(nodes.iter().copied());
        let found: Vec<(&str, Vec<String>)> = flagged.iter().map(|f| (f.issue, f.nodes.clone())).collect();
        assert_eq!(
            found,
            [(
                "kubernetes/kubernetes#136910",
                vec!["a".to_owned(), "d".to_owned()]
            )]
        );
        assert_eq!(flagged[0].fixed_in, "1.35.4, 1.36.0");
    }
}
