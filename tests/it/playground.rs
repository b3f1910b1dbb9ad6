//! The playground and the policy module agree: every request fixture under
//! every settings fixture, with the cluster fixtures, evaluated by the waPC
//! module under wasmtime and by the playground's wasm-bindgen build in Node
//! (the files the page loads, given the texts an operator would paste), gives
//! the same verdict, message, warnings and patch; settings are refused alike.
//! Needs `make playground-build` (part of `make test`) and Node.js.

use crate::harness;

use std::path::Path;
use std::process::Command;

use harness::{Policy, cluster_policy, run_json};
use serde_json::{Value, json};

fn yaml(value: &Value) -> String {
    serde_yaml::to_string(value).expect("JSON values print as YAML")
}

/// The playground's evaluation of each case, computed by Node.
fn playground(cases: &[Value]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("playground/tools/verdicts.mjs");
    let answer = run_json(Command::new("node").arg(&script), &json!(cases)).unwrap_or_else(|e| {
        panic!(
            "node (Node.js) runs the playground's module, {}: {e}",
            script.display()
        )
    });
    serde_json::from_value(answer).expect("the playground prints a list")
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
            let outcome = cluster_policy(cluster.clone()).validate(&settings, &request);
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
