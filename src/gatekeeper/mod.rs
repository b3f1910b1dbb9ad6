//! OPA Gatekeeper's own objects, generated from the policy's settings:
//! Gatekeeper cannot run a WebAssembly module, so its users get the same
//! rules as ConstraintTemplates (Rego and CEL), Constraints and mutators.
//! What Gatekeeper cannot express is refused here, naming the setting, or
//! listed as a difference; nothing is approximated silently
//! (docs/gatekeeper.md). The same CEL also comes as a ValidatingAdmissionPolicy.
//!
//! The rules' code is fixed text (`*.rego`, `*.cel.yaml`); what the settings
//! say goes into the Constraints' parameters, so a template never changes
//! with the settings.

mod mutation;
mod validation;

use serde_json::Value;

use crate::catalog::{KRUISE_ENV, SIDECARS_ANNOTATION};
use crate::endless::is_separator;
use crate::settings::Settings;
use crate::stripped::LAST_APPLIED;
use crate::template::{MARKER_ENV, ONE_SHOT_KEY, STATUS_KEY};

/// Every folder the generator writes into, under its output directory.
pub const FOLDERS: [&str; 4] = [
    validation::RULE_FOLDERS[0],
    validation::RULE_FOLDERS[1],
    validation::RULE_FOLDERS[2],
    mutation::MUTATION_DIR,
];

/// What the generator writes.
#[derive(Debug, Default)]
pub struct Generated {
    /// `(path under the output directory, document)`, in the
    /// gatekeeper-library layout.
    pub files: Vec<(String, Value)>,
    /// What the generated objects do differently from the policy, one line
    /// per setting: printed by the command, listed in docs/gatekeeper.md.
    pub differences: Vec<String>,
}

/// Namespaces the generated objects leave out: the cluster's own and
/// Gatekeeper's (the Kubewarden manifests leave out `kube-system` and
/// Kubewarden's namespace).
const EXCLUDED_NAMESPACES: [&str; 2] = ["kube-system", "gatekeeper-system"];

/// Settings as the policy reads them, then Gatekeeper's objects. `Err` lists
/// every setting Gatekeeper cannot express, each as `field: why`; settings
/// the policy itself refuses fail with the policy's own message.
pub fn generate(settings: &Value) -> Result<Generated, Vec<String>> {
    let settings = Settings::checked(settings).map_err(|e| vec![e])?;
    let compiled = settings.clone().compile().map_err(|e| vec![e.to_string()])?;
    let mut generated = Generated::default();
    let mut refused = Vec::new();
    validation::generate(&settings, &compiled, &mut generated, &mut refused);
    mutation::generate(&settings, &compiled, &mut generated, &mut refused);
    if refused.is_empty() {
        Ok(generated)
    } else {
        Err(refused)
    }
}

/// The rule sources with the policy's names filled in: the same constants the
/// module uses, so that a renamed key cannot drift between the two.
fn source(text: &str) -> String {
    text.replace("@MARKER_ENV@", MARKER_ENV)
        .replace("@SIDECARS_ANNOTATION@", SIDECARS_ANNOTATION)
        .replace("@KRUISE_ENV@", KRUISE_ENV)
        .replace("@ONE_SHOT_KEY@", ONE_SHOT_KEY)
        .replace("@STATUS_KEY@", STATUS_KEY)
        .replace("@LAST_APPLIED@", LAST_APPLIED)
        // A word, in a CEL string (its backslashes escaped)…
        .replace(
            "@WORD@",
            &format!("[^{}]+", separator_class()).replace('\\', "\\\\"),
        )
        // …and the separators, in a Rego raw string.
        .replace("@SEPARATOR_CLASS@", &format!("[{}]", separator_class()))
}

/// Every character the command-line heuristic cuts words on.
fn separators() -> impl Iterator<Item = char> {
    (0..=u32::from(char::MAX))
        .filter_map(char::from_u32)
        .filter(|c| is_separator(*c))
}

/// The separators as the inside of a regular-expression class (RE2, and the
/// `regex` crate): `[…]` is one, `[^…]` any other character.
fn separator_class() -> String {
    separators()
        .map(|c| format!("\\x{{{:x}}}", u32::from(c)))
        .collect()
}

/// `text` as a regular expression that matches only itself (RE2 and the
/// `regex` crate read the same escapes).
fn literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Images whose repository (`image::repository`: no tag, no digest, no
/// implicit Docker Hub prefix) is `path` or ends with `/path`.
fn ends_with_path_pattern(path: &str) -> String {
    format!("^(?:[^@]*/)?{}{TAG_AND_DIGEST}", literal(path))
}

/// Images whose repository is `prefix` or lies under it.
fn under_prefix_pattern(prefix: &str) -> String {
    let rest = if prefix.ends_with('/') {
        "[^@]*"
    } else {
        "(?:/[^@]*)?"
    };
    format!("^{DOCKER_HUB}{}{rest}{TAG_AND_DIGEST}", literal(prefix))
}

const DOCKER_HUB: &str = "(?:(?:index\\.)?docker\\.io/)?(?:library/)?";
const TAG_AND_DIGEST: &str = "(?::[^/@]*)?(?:@.*)?$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ends_with_path, under};
    use crate::image::repository;
    use regex::Regex;
    use rstest::rstest;

    const IMAGES: [&str; 12] = [
        "docker.io/istio/proxyv2:1.22",
        "proxyv2",
        "gcr.io/istio-release/proxyv2@sha256:0123",
        "istio/proxyv2-tools:1",
        "registry.corp:5000/sidecars/auth:2",
        "registry.corp/sidecars:2",
        "registry.corp/sidecars-old/auth:2",
        "docker.io/library/nginx:1.27",
        "index.docker.io/corp/agent",
        "corp/agent:1@sha256:abc",
        "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11@sha256:abc",
        "example.com/not-envoyproxy/envoy-tools:1",
    ];

    #[rstest]
    #[case("proxyv2")]
    #[case("gcr.io/cloud-sql-connectors/cloud-sql-proxy")]
    #[case("envoyproxy/envoy")]
    #[case("nginx")]
    fn a_path_pattern_matches_what_the_catalog_matches(#[case] path: &str) {
        let pattern = Regex::new(&ends_with_path_pattern(path)).expect("compiles");
        for image in IMAGES {
            let expected = ends_with_path(repository(image), path);
            assert_eq!(pattern.is_match(image), expected, "{path} against {image}");
        }
    }

    #[rstest]
    #[case("registry.corp/sidecars")]
    #[case("registry.corp:5000/sidecars/")]
    #[case("corp/agent")]
    #[case("nginx")]
    fn a_prefix_pattern_matches_what_jobsidecars_images_matches(#[case] prefix: &str) {
        let pattern = Regex::new(&under_prefix_pattern(prefix)).expect("compiles");
        for image in IMAGES {
            let expected = under(repository(image), prefix);
            assert_eq!(pattern.is_match(image), expected, "{prefix} against {image}");
        }
    }

    #[test]
    fn literal_escapes_what_a_regular_expression_reads() {
        assert_eq!(literal("a+b(c).d"), "a\\+b\\(c\\)\\.d");
        assert!(
            Regex::new(&literal("a+b(c)[d]{2}"))
                .expect("compiles")
                .is_match("xa+b(c)[d]{2}y")
        );
    }
}
