//! The playground and the policy module agree: every request fixture under
//! every settings fixture, with the cluster fixtures, evaluated by the waPC
//! module under wasmtime and by the playground's wasm-bindgen build in Node
//! (the files the page loads, given the texts an operator would paste), gives
//! the same verdict, message, warnings and patch; settings are refused alike.
//! Needs `make playground-build` (part of `make test`) and Node.js.

mod harness;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use harness::Policy;
use serde_json::{Value, json};

/// The cluster objects as a policy-server's host capabilities answer them,
/// written apart from `cluster::Snapshot` (which the playground uses) so that
/// a defect in either shows: lists are split into their items, lookups match
/// kind, name and namespace exactly, and only the fields the request's field
/// masks name come back, as with Kubewarden >= 1.33.
fn policy_over(documents: Vec<Value>) -> Policy {
    let mut objects = Vec::new();
    for document in documents {
        match document.get("items").and_then(Value::as_array) {
            Some(items) => {
                let kind = document["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches("List");
                for item in items {
                    let mut item = item.clone();
                    item["apiVersion"] = document["apiVersion"].clone();
                    item["kind"] = json!(kind);
                    objects.push(item);
                }
            }
            None => objects.push(document),
        }
    }
    Policy::with_cluster(move |operation, request| {
        let field = |key: &str| request[key].as_str().unwrap_or_default();
        let masks: Vec<Vec<&str>> = request["field_masks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|mask| mask.split('.').collect())
            .collect();
        let of_kind = objects
            .iter()
            .filter(|o| o["apiVersion"] == request["api_version"] && o["kind"] == request["kind"]);
        match operation {
            "list_resources_all" => {
                let items: Vec<Value> = of_kind.map(|o| masked(o, &masks)).collect();
                Ok(
                    json!({"apiVersion": field("api_version"), "kind": format!("{}List", field("kind")), "items": items}),
                )
            }
            "get_resource" => of_kind
                .filter(|o| o["metadata"]["name"] == request["name"])
                .find(|o| o["metadata"]["namespace"].as_str().unwrap_or_default() == field("namespace"))
                .map(|o| masked(o, &masks))
                .ok_or_else(|| {
                    format!(
                        "{} {}/{} not found",
                        field("kind"),
                        field("namespace"),
                        field("name")
                    )
                }),
            _ => Err(format!("unexpected host call {operation}")),
        }
    })
}

/// `value` with only the dotted `paths` kept (in every element of a list).
fn masked(value: &Value, paths: &[Vec<&str>]) -> Value {
    if paths.is_empty() {
        return value.clone();
    }
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|item| masked(item, paths)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter_map(|(key, inner)| {
                    let below: Vec<Vec<&str>> = paths
                        .iter()
                        .filter(|path| path.first() == Some(&key.as_str()))
                        .map(|path| path.iter().skip(1).copied().collect())
                        .collect();
                    match below.iter().any(Vec::is_empty) {
                        true => Some((key.clone(), inner.clone())),
                        false if below.is_empty() => None,
                        false => Some((key.clone(), masked(inner, &below))),
                    }
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn yaml(value: &Value) -> String {
    serde_yaml::to_string(value).expect("JSON values print as YAML")
}

/// The playground's evaluation of each case, computed by Node.
fn playground(cases: &[Value]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("playground/tools/verdicts.mjs");
    let mut node = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node (Node.js) runs the playground's module: {e}"));
    let mut stdin = node.stdin.take().expect("piped stdin");
    let input = serde_json::to_vec(cases).expect("cases are JSON");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = node.wait_with_output().expect("node finishes");
    writer
        .join()
        .expect("writer thread")
        .expect("cases written to node");
    assert!(
        output.status.success(),
        "node {}: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the playground prints JSON")
}

/// A failed host lookup, as the waPC guest words it, with the words of the
/// waPC layer taken out ("error invoking host capability …: Host error: "):
/// the only text that differs, and it is not the policy's.
fn without_host_wrapper(warning: &str) -> String {
    const HOST_ERROR: &str = "Host error: ";
    match (
        warning.find("error invoking host capability "),
        warning.find(HOST_ERROR),
    ) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &warning[..start], &warning[end + HOST_ERROR.len()..])
        }
        _ => warning.to_owned(),
    }
}

#[test]
fn playground_and_module_give_the_same_verdict_for_every_fixture() {
    let cluster: Vec<Value> = harness::fixtures("cluster")
        .into_iter()
        .map(|(_, object)| object)
        .collect();
    let cluster_text = cluster.iter().map(yaml).collect::<Vec<_>>().join("---\n");

    let mut expected = Vec::new();
    let mut cases = Vec::new();
    for (settings_name, settings) in harness::fixtures("settings") {
        for (request_name, request) in harness::fixtures("requests") {
            let outcome = policy_over(cluster.clone()).validate(&settings, &request);
            let response = &outcome.response;
            let warnings = response.warnings.as_ref().map(|warnings| {
                warnings
                    .iter()
                    .map(|warning| without_host_wrapper(warning))
                    .collect::<Vec<_>>()
            });
            expected.push((
                format!("{request_name} under {settings_name}"),
                json!({
                    "accepted": response.accepted,
                    "message": response.message,
                    "code": response.code,
                    "warnings": warnings,
                    "patch": outcome.patch,
                    "patched": outcome.patched,
                }),
            ));
            let text = |key: &str| match &request[key] {
                Value::Null => String::new(),
                object => serde_json::to_string_pretty(object).expect("JSON prints"),
            };
            cases.push(json!({
                "operation": request["operation"],
                "object": text("object"),
                "oldObject": text("oldObject"),
                "settings": yaml(&settings),
                "cluster": cluster_text,
            }));
        }
    }

    let evaluations = playground(&cases);
    assert_eq!(evaluations.len(), expected.len());
    let (mut rejected, mut mutated) = (0, 0);
    for ((case, module), evaluation) in expected.iter().zip(&evaluations) {
        assert_eq!(evaluation["inputErrors"], json!([]), "{case}");
        assert_eq!(evaluation["settings"]["valid"], true, "{case}");
        let verdict = &evaluation["verdict"];
        let patched = evaluation["patched"]["text"].as_str().map(|text| {
            serde_json::from_str::<Value>(text).expect("the patched object is printed as pasted: JSON")
        });
        let playground = json!({
            "accepted": verdict["accepted"],
            "message": verdict["message"],
            "code": verdict["code"],
            "warnings": verdict["warnings"],
            "patch": evaluation["patch"],
            "patched": patched,
        });
        assert_eq!(
            &playground, module,
            "{case}: the playground (left) differs from the module (right)"
        );
        rejected += usize::from(module["accepted"] == false);
        mutated += usize::from(!module["patch"].is_null());
    }
    // The comparison is only as good as the variety of what it compared.
    assert!(
        rejected >= 5 && mutated >= 10,
        "{rejected} rejections, {mutated} mutations"
    );
}

#[test]
fn playground_and_module_refuse_the_same_settings() {
    let mut settings: Vec<Value> = harness::fixtures("settings")
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    settings.extend([
        json!({"sidecars": [{"name": "x", "container": {"name": "x"}}]}),
        json!({"sidecars": [{"name": "x", "container": {"name": "x", "image": "i", "ports": "80"}}]}),
        json!({"jobSidecars": {"action": "explode"}}),
        json!({"nativeSupport": {"strategy": "universal"}, "sidecars": [{"name": "x", "container": {"name": "x", "image": "i"}}]}),
        json!({"mutate": "yes"}),
        json!({"sidcars": []}),
    ]);
    let request = harness::fixture("requests/pod-create-plain.json");
    let cases: Vec<Value> = settings
        .iter()
        .map(|settings| {
            json!({"operation": "CREATE", "object": request["object"].to_string(), "settings": settings.to_string()})
        })
        .collect();
    let evaluations = playground(&cases);
    let policy = Policy::new();
    let mut refused = 0;
    for (settings, evaluation) in settings.iter().zip(&evaluations) {
        let module = policy.validate_settings(settings);
        let expected = json!({"valid": module.valid, "message": module.message});
        assert_eq!(evaluation["settings"], expected, "{settings}");
        refused += usize::from(!module.valid);
    }
    assert_eq!(refused, 6, "every invalid settings document is refused");
}
