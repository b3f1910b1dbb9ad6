//! The browser playground's entry point: the texts an operator pastes become
//! the `{"settings", "request"}` payload Kubewarden would send, evaluated by
//! the same `adapter` the waPC module runs. What the host adds on top (the
//! JSON Patch derived from `mutated_object`, the object once patched) is
//! computed here too, so the page only displays.

use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::adapter::{Verdict, check_settings, evaluate as evaluate_payload};
use crate::cluster::Snapshot;

/// Everything the page shows, as one JSON document.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Problems in what was pasted, each at its place; when there are any,
    /// nothing was evaluated.
    pub input_errors: Vec<InputError>,
    /// `validate_settings`: settings it refuses keep the policy from loading.
    pub settings: Option<SettingsVerdict>,
    /// `validate`; its `mutated_object` is shown as `patch` and `patched`.
    pub verdict: Option<Verdict>,
    /// The JSON Patch Kubewarden derives from `mutated_object`.
    pub patch: Option<json_patch::Patch>,
    /// The object once patched (the mutated object): what the API server stores.
    pub patched: Option<Patched>,
    /// What the page should add about how Kubewarden would route the request.
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct InputError {
    /// Which input: `operation`, `object`, `oldObject`, `settings`, `cluster`.
    pub input: &'static str,
    /// 1-based, when the parser knows it.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct SettingsVerdict {
    pub valid: bool,
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Patched {
    /// In the format the object was pasted in (`json` or `yaml`).
    pub format: &'static str,
    pub text: String,
    /// 1-based lines of `text` that the patch added or changed.
    pub changed: Vec<usize>,
}

/// Evaluates one request as the policy-server would. Each text is YAML or
/// JSON; `old_object` is read on UPDATE only, `settings` may be empty (the
/// defaults), `cluster` holds the Nodes and controllers the context-aware
/// options look up (a list, a `List`, or several YAML documents).
#[wasm_bindgen]
pub fn evaluate(operation: &str, object: &str, old_object: &str, settings: &str, cluster: &str) -> String {
    let evaluation = evaluate_texts(operation, object, old_object, settings, cluster);
    serde_json::to_string(&evaluation).unwrap_or_else(|e| {
        json!({"inputErrors": [{"input": "object", "message": e.to_string()}]}).to_string()
    })
}

/// The readiness report (see `readiness`) from what the operator pasted: a
/// JSON object of texts, `apiserverMetrics`, `nodeMetrics` (several nodes
/// separated by `# node: <name>` lines), `nodes`, `version`, `webhooks`,
/// `workloads`, `settings` (each YAML or JSON; any may be empty), and
/// `policyName`. Answers `{inputErrors, report, text, blocked}`.
#[wasm_bindgen]
pub fn readiness(texts: &str) -> String {
    let texts: Value = serde_json::from_str(texts).unwrap_or(Value::Null);
    let text = |key: &str| texts.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut input_errors = Vec::new();
    let mut document = |input: &'static str, key: &str| -> Option<Value> {
        match parse_documents(text(key)) {
            Ok(mut documents) if documents.len() <= 1 => documents.pop().map(|(value, _)| value),
            Ok(_) => {
                input_errors.push(whole(input, "one document, not several".to_owned()));
                None
            }
            Err(error) => {
                input_errors.push(error.of(input));
                None
            }
        }
    };
    let inputs = crate::readiness::Inputs {
        nodes: document("nodes", "nodes"),
        version: document("version", "version"),
        webhooks: document("webhooks", "webhooks"),
        workloads: document("workloads", "workloads"),
        settings: document("settings", "settings"),
        apiserver_metrics: Some(text("apiserverMetrics").to_owned()).filter(|t| !t.trim().is_empty()),
        node_metrics: crate::readiness::split_node_metrics(text("nodeMetrics")),
        policy_name: Some(text("policyName"))
            .filter(|n| !n.is_empty())
            .unwrap_or(crate::readiness::DEFAULT_POLICY_NAME)
            .to_owned(),
        ..crate::readiness::Inputs::default()
    };
    if let Some(Err(refusal)) = inputs.settings.as_ref().map(crate::settings::Settings::checked) {
        input_errors.push(whole("settings", refusal));
    }
    if !input_errors.is_empty() {
        return json!({"inputErrors": input_errors}).to_string();
    }
    let report = crate::readiness::report(&inputs);
    json!({"inputErrors": [], "text": report.text(), "blocked": report.blocked(), "report": report})
        .to_string()
}

/// The policy's version, for the page.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

fn evaluate_texts(
    operation: &str,
    object: &str,
    old_object: &str,
    settings: &str,
    cluster: &str,
) -> Evaluation {
    match read_inputs(operation, object, old_object, settings, cluster) {
        Ok(inputs) => evaluate_inputs(operation, inputs),
        Err(input_errors) => Evaluation {
            input_errors,
            ..Evaluation::default()
        },
    }
}

/// What was pasted, read.
struct Inputs {
    object: Value,
    /// How the object was written, to print the patched one the same way.
    format: &'static str,
    old_object: Option<Value>,
    settings: Value,
    cluster: Snapshot,
}

/// Every input read, or every problem found in them (not just the first).
fn read_inputs(
    operation: &str,
    object: &str,
    old_object: &str,
    settings: &str,
    cluster: &str,
) -> Result<Inputs, Vec<InputError>> {
    let mut errors = Vec::new();
    if !matches!(operation, "CREATE" | "UPDATE") {
        errors.push(whole(
            "operation",
            format!("`{operation}`: the policy evaluates CREATE and UPDATE"),
        ));
    }
    let mut read = |input: &'static str, text: &str| {
        parse_documents(text)
            .map_err(|error| errors.push(error.of(input)))
            .ok()
    };
    let object_documents = read("object", object);
    // The API server sends the stored object on UPDATE only.
    let old_documents = (operation == "UPDATE").then(|| read("oldObject", old_object));
    let settings_documents = read("settings", settings);
    let cluster = read("cluster", cluster)
        .map(|documents| Snapshot::from_documents(documents.into_iter().map(|(value, _)| value)));

    let object = object_documents.and_then(|documents| {
        single(
            "object",
            documents,
            "the Pod, Job or CronJob to evaluate",
            &mut errors,
        )
    });
    let old_object = old_documents
        .flatten()
        .and_then(|documents| {
            single(
                "oldObject",
                documents,
                "the stored object, which an UPDATE always has",
                &mut errors,
            )
        })
        .map(|(value, _)| value);
    let settings = settings_documents.and_then(|mut documents| match documents.len() {
        0 => Some(Value::Object(Default::default())),
        1 => documents.pop().map(|(value, _)| value),
        _ => {
            errors.push(whole("settings", "one settings document, not several".to_owned()));
            None
        }
    });
    match (object, settings, cluster) {
        (Some((object, format)), Some(settings), Some(cluster)) if errors.is_empty() => Ok(Inputs {
            object,
            format,
            old_object,
            settings,
            cluster,
        }),
        _ => Err(errors),
    }
}

/// `validate_settings`, then `validate` on the request the API server would
/// send, then what the host derives from `mutated_object`.
fn evaluate_inputs(operation: &str, inputs: Inputs) -> Evaluation {
    let Inputs {
        object,
        format,
        old_object,
        settings,
        cluster,
    } = inputs;
    let settings_verdict = check_settings(settings.to_string().as_bytes());
    let mut evaluation = Evaluation {
        settings: Some(SettingsVerdict {
            valid: settings_verdict.is_ok(),
            message: settings_verdict.err(),
        }),
        ..Evaluation::default()
    };
    if evaluation.settings.as_ref().is_some_and(|s| !s.valid) {
        return evaluation;
    }
    let request = admission_request(operation, &object, old_object);
    evaluation.notes.extend(unrouted(&request));
    let payload = json!({"settings": settings, "request": request});
    let mut verdict = evaluate_payload(payload.to_string().as_bytes(), &cluster);
    if let Some(mutated) = verdict.mutated_object.take() {
        // The object the host's patch yields is `mutated` itself: the patch is
        // their difference.
        evaluation.patch = Some(json_patch::diff(&object, &mutated));
        evaluation.patched = Some(highlighted(&object, &mutated, format));
    }
    evaluation.verdict = Some(verdict);
    evaluation
}

/// The AdmissionRequest the API server would send for `object`.
fn admission_request(operation: &str, object: &Value, old_object: Option<Value>) -> Value {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let kind = text("/kind");
    let (group, version) = text("/apiVersion")
        .rsplit_once('/')
        .unwrap_or(("", text("/apiVersion")));
    let namespace = Some(text("/metadata/namespace"))
        .filter(|ns| !ns.is_empty())
        .unwrap_or("default");
    json!({
        "uid": "00000000-0000-0000-0000-00000000play",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
        "name": text("/metadata/name"),
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "playground"},
        "object": object,
        "oldObject": old_object,
        "dryRun": false,
    })
}

/// The rules Kubewarden registers the policy with: what the API server sends it.
const METADATA: &str = include_str!("../metadata.yml");

/// A note when `request` is one the API server would not send the policy
/// (no rule of `metadata.yml` names its resource and operation): the verdict
/// is what the policy answers when asked anyway.
fn unrouted(request: &Value) -> Option<String> {
    static RULES: OnceLock<Vec<Value>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        serde_yaml::from_str::<Value>(METADATA)
            .ok()
            .and_then(|metadata| metadata.get("rules")?.as_array().cloned())
            .unwrap_or_default()
    });
    let names = |rule: &Value, list: &str, wanted: &Value| {
        rule.get(list)
            .and_then(Value::as_array)
            .is_some_and(|names| names.iter().any(|name| name == wanted || name == "*"))
    };
    let at = |pointer: &str| request.pointer(pointer).unwrap_or(&Value::Null);
    let routed = rules.iter().any(|rule| {
        names(rule, "apiGroups", at("/resource/group"))
            && names(rule, "apiVersions", at("/resource/version"))
            && names(rule, "resources", at("/resource/resource"))
            && names(rule, "operations", at("/operation"))
    });
    (!routed).then(|| {
        let named = rules
            .iter()
            .map(|rule| {
                let list = |key: &str| {
                    let names = rule.get(key).and_then(Value::as_array).into_iter().flatten();
                    names.filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
                };
                format!("{} on {}", list("resources"), list("operations"))
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "Kubewarden would not send this policy a request to {} a {}: the rules in its metadata.yml name {named}. \
             The verdict is what the policy answers if asked anyway.",
            at("/operation").as_str().unwrap_or_default(),
            at("/kind/kind").as_str().unwrap_or_default(),
        )
    })
}

/// The patched object printed like the input, with the lines the patch added
/// or changed.
fn highlighted(original: &Value, patched: &Value, format: &'static str) -> Patched {
    let print = |value: &Value| match format {
        "json" => serde_json::to_string_pretty(value).unwrap_or_default(),
        _ => serde_yaml::to_string(value).unwrap_or_default(),
    };
    let (before, text) = (print(original), print(patched));
    let changed = TextDiff::from_lines(&before, &text)
        .iter_all_changes()
        .filter(|change| change.tag() == ChangeTag::Insert)
        .filter_map(|change| change.new_index().map(|index| index + 1))
        .collect();
    Patched {
        format,
        text,
        changed,
    }
}

/// A pasted text's documents, each with the format it was written in. JSON
/// is read as JSON (its error positions are exact); anything else as YAML,
/// one value per `---` document.
fn parse_documents(text: &str) -> Result<Vec<(Value, &'static str)>, Located> {
    if text.trim_start().starts_with(['{', '[']) {
        return serde_json::from_str(text)
            .map(|value| vec![(value, "json")])
            .map_err(|e| Located::new(e.to_string(), Some((e.line(), e.column()))));
    }
    serde_yaml::Deserializer::from_str(text)
        .map(|document| serde::Deserialize::deserialize(document).map(|value| (value, "yaml")))
        .filter(|document| !matches!(document, Ok((Value::Null, _))))
        .collect::<Result<_, serde_yaml::Error>>()
        .map_err(|e| Located::new(e.to_string(), e.location().map(|l| (l.line(), l.column()))))
}

struct Located {
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl Located {
    /// Both parsers end their messages with the place, which the page shows
    /// on its own.
    fn new(message: String, place: Option<(usize, usize)>) -> Located {
        let message = match place {
            Some((line, column)) => message.replace(&format!(" at line {line} column {column}"), ""),
            None => message,
        };
        Located {
            line: place.map(|(line, _)| line),
            column: place.map(|(_, column)| column),
            message,
        }
    }

    fn of(self, input: &'static str) -> InputError {
        InputError {
            input,
            line: self.line,
            column: self.column,
            message: self.message,
        }
    }
}

fn whole(input: &'static str, message: String) -> InputError {
    InputError {
        input,
        line: None,
        column: None,
        message,
    }
}

/// The one object an input must hold.
fn single(
    input: &'static str,
    mut documents: Vec<(Value, &'static str)>,
    what: &str,
    errors: &mut Vec<InputError>,
) -> Option<(Value, &'static str)> {
    match (documents.pop(), documents.is_empty()) {
        (Some(document @ (Value::Object(_), _)), true) => {
            let missing = ["apiVersion", "kind"]
                .into_iter()
                .filter(|key| !document.0.get(key).is_some_and(Value::is_string))
                .collect::<Vec<_>>();
            if missing.is_empty() {
                return Some(document);
            }
            errors.push(whole(
                input,
                format!(
                    "no {}: the API server only admits objects that say what they are; paste {what}",
                    missing.join(" and ")
                ),
            ));
            None
        }
        (None, _) => {
            errors.push(whole(input, format!("empty: paste {what}")));
            None
        }
        (Some(_), true) => {
            errors.push(whole(input, format!("not an object: paste {what}")));
            None
        }
        (Some(_), false) => {
            errors.push(whole(input, format!("several documents: paste only {what}")));
            None
        }
    }
}
