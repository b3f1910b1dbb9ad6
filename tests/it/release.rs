//! What users consume besides the module: metadata.yml, artifacthub-pkg.yml,
//! questions-ui.yml and the crate version must tell the same story.

use crate::harness;

use std::path::PathBuf;

use harness::Policy;
use serde::Deserialize;
use serde_json::{Map, Value, json};

fn yaml(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    Value::deserialize(serde_yaml::Deserializer::from_str(&text)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn yaml_text(value: &Value) -> Value {
    let text = value.as_str().unwrap_or_else(|| panic!("{value} is YAML text"));
    Value::deserialize(serde_yaml::Deserializer::from_str(text)).expect("YAML")
}

fn annotation<'a>(metadata: &'a Value, key: &str) -> &'a str {
    metadata["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("metadata.yml: annotation {key}"))
}

#[test]
fn versions_agree() {
    let cargo = env!("CARGO_PKG_VERSION");
    let metadata = yaml("metadata.yml");
    assert_eq!(
        annotation(&metadata, "io.kubewarden.policy.version"),
        cargo,
        "metadata.yml vs Cargo.toml"
    );
    let package = yaml("artifacthub-pkg.yml");
    assert_eq!(
        package["version"],
        json!(cargo),
        "artifacthub-pkg.yml vs Cargo.toml"
    );
    let image = format!(
        "{}:v{cargo}",
        annotation(&metadata, "io.kubewarden.policy.ociUrl")
    );
    assert_eq!(
        package["containersImages"],
        json!([{"name": "policy", "image": image}])
    );
    let module = format!("registry://{image}");
    // The README, Artifact Hub's page and the one kwctl embeds, pulls the
    // current release.
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let pulled: Vec<&str> = readme
        .split_whitespace()
        .filter(|word| word.starts_with("registry://"))
        .collect();
    assert!(!pulled.is_empty(), "README.md pulls no module");
    for word in pulled {
        assert_eq!(word, module, "README.md");
    }
    for manifest in
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")).expect("policies/")
    {
        let path = manifest.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        for line in text.lines().filter(|l| l.trim_start().starts_with("module:")) {
            assert_eq!(
                line.trim_start().trim_start_matches("module:").trim(),
                module,
                "{}",
                path.display()
            );
        }
    }
}

/// The fields `kwctl scaffold artifacthub` derives from metadata.yml and questions-ui.yml.
#[test]
fn artifacthub_package_matches_metadata() {
    let metadata = yaml("metadata.yml");
    let package = yaml("artifacthub-pkg.yml");
    assert_eq!(
        package["name"],
        json!(annotation(&metadata, "io.kubewarden.policy.title"))
    );
    assert_eq!(
        package["displayName"],
        json!(annotation(&metadata, "io.artifacthub.displayName"))
    );
    assert_eq!(
        package["description"],
        json!(annotation(&metadata, "io.kubewarden.policy.description"))
    );
    assert_eq!(
        package["license"],
        json!(annotation(&metadata, "io.kubewarden.policy.license"))
    );
    assert_eq!(
        package["homeURL"],
        json!(annotation(&metadata, "io.kubewarden.policy.url"))
    );
    let keywords: Vec<&str> = annotation(&metadata, "io.artifacthub.keywords")
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(package["keywords"], json!(keywords));
    let annotations = &package["annotations"];
    assert_eq!(
        annotations["kubewarden/mutation"],
        json!(metadata["mutating"].to_string())
    );
    assert_eq!(
        annotations["kubewarden/resources"],
        json!(annotation(&metadata, "io.artifacthub.resources"))
    );
    assert_eq!(yaml_text(&annotations["kubewarden/rules"]), metadata["rules"]);
    // kwctl keeps these as a set, sorted.
    let sorted = |v: Value| {
        let mut items = v.as_array().cloned().unwrap_or_default();
        items.sort_by_key(|r| (r["apiVersion"].to_string(), r["kind"].to_string()));
        items
    };
    assert_eq!(
        sorted(yaml_text(&annotations["kubewarden/contextAwareResources"])),
        sorted(metadata["contextAwareResources"].clone())
    );
    let questions =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("questions-ui.yml"))
            .expect("questions-ui.yml");
    assert_eq!(annotations["kubewarden/questions-ui"], json!(questions));
}

/// Settings made of every question's default are settings the module
/// accepts: a question naming a key the policy does not have would be refused.
#[test]
fn every_question_is_a_setting() {
    /// Sets `dotted` in `settings`; a parent that is not a map is a defect of
    /// the questions, not something to skip.
    fn set(settings: &mut Map<String, Value>, dotted: &str, value: Value) {
        match dotted.split_once('.') {
            None => {
                settings.insert(dotted.to_owned(), value);
            }
            Some((head, rest)) => {
                let inner = settings.entry(head).or_insert_with(|| json!({}));
                let inner = inner.as_object_mut().unwrap_or_else(|| {
                    panic!("questions-ui.yml: {head} is not a map, so {dotted} has no place")
                });
                set(inner, rest, value);
            }
        }
    }
    /// What a user would enter: the default, or for a required text without
    /// one, a valid name.
    fn answer(question: &Value) -> Value {
        match (&question["default"], question["required"].as_bool()) {
            (Value::String(text), Some(true)) if text.is_empty() => json!("sample"),
            (default, _) => default.clone(),
        }
    }
    fn answers(questions: &Value) -> Map<String, Value> {
        let mut settings = Map::new();
        for question in questions.as_array().expect("questions") {
            let variable = question["variable"].as_str().expect("variable");
            let value = match question.get("sequence_questions") {
                // One entry of the sequence, from its own questions.
                Some(items) => json!([Value::Object(answers(items))]),
                None => answer(question),
            };
            set(&mut settings, variable, value);
        }
        settings
    }
    let settings = answers(&yaml("questions-ui.yml")["questions"]);
    assert_eq!(
        settings["sidecars"][0]["container"],
        json!({"name": "sample", "image": "sample"}),
        "the sequence questions are answered"
    );
    let verdict = Policy::new().validate_settings(&Value::Object(settings));
    assert!(verdict.valid, "{:?}", verdict.message);
}
