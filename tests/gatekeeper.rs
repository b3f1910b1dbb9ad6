//! The Gatekeeper objects the command generates, run here without a cluster:
//! the Rego by a Rego engine (regorus, in Gatekeeper's v0 mode), the CEL by a
//! CEL engine (`cel`), both with Gatekeeper's input shape, against the wasm
//! module under wasmtime on the same requests. The mutators are applied with
//! Gatekeeper's documented semantics (keyed append, MustNotExist, globs, name
//! order): that checks our reading of Gatekeeper, not Gatekeeper itself.

mod harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::{Policy, fixture, fixtures};
use native_sidecar_policy::gatekeeper::{Generated, generate};
use rstest::rstest;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Engine {
    Rego,
    Cel,
}

fn settings(name: &str) -> Value {
    fixture(&format!("settings/{name}.json"))
}

fn generated(settings: &Value) -> Generated {
    generate(settings).unwrap_or_else(|refused| panic!("refused: {refused:?}"))
}

fn file<'g>(generated: &'g Generated, path: &str) -> &'g Value {
    generated
        .files
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, document)| document)
        .unwrap_or_else(|| panic!("{path} was not generated"))
}

/// `(template, constraint)` of every validating rule generated.
fn rules(generated: &Generated) -> Vec<(&Value, &Value)> {
    generated
        .files
        .iter()
        .filter(|(path, _)| path.ends_with("/template.yaml"))
        .map(|(path, template)| {
            let dir = path.trim_end_matches("/template.yaml");
            let constraint = generated
                .files
                .iter()
                .find(|(p, _)| p.starts_with(&format!("{dir}/samples/")) && p.ends_with("/constraint.yaml"))
                .map(|(_, c)| c)
                .unwrap_or_else(|| panic!("no constraint for {dir}"));
            (template, constraint)
        })
        .collect()
}

fn code<'t>(template: &'t Value, engine: &str) -> &'t Value {
    template["spec"]["targets"][0]["code"]
        .as_array()
        .and_then(|code| code.iter().find(|c| c["engine"] == engine))
        .map(|c| &c["source"])
        .unwrap_or_else(|| panic!("no {engine} code"))
}

/// The messages of the rule's violations for `request` (an AdmissionRequest:
/// Gatekeeper's `input.review`), when the constraint's kinds select it.
fn violations(engine: Engine, template: &Value, constraint: &Value, request: &Value) -> Vec<String> {
    let selected = constraint["spec"]["match"]["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|k| {
            k["kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.contains(&request["kind"]["kind"]))
        });
    if !selected {
        return Vec::new();
    }
    let parameters = &constraint["spec"]["parameters"];
    match engine {
        Engine::Rego => rego(
            code(template, "Rego")["rego"].as_str().expect("rego text"),
            parameters,
            request,
        ),
        Engine::Cel => cel(code(template, "K8sNativeValidation"), parameters, request),
    }
}

fn rego(source: &str, parameters: &Value, request: &Value) -> Vec<String> {
    let package = source
        .lines()
        .find_map(|line| line.strip_prefix("package "))
        .expect("a package")
        .trim();
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    engine
        .add_policy("template.rego".to_owned(), source.to_owned())
        .unwrap_or_else(|e| panic!("the Rego does not parse: {e}"));
    let input = json!({"review": request, "parameters": parameters});
    engine.set_input(regorus::Value::from_json_str(&input.to_string()).expect("input"));
    let result = engine
        .eval_rule(format!("data.{package}.violation"))
        .unwrap_or_else(|e| panic!("the Rego fails on {}: {e}", request["uid"]));
    let result: Value = serde_json::from_str(&result.to_json_str().expect("JSON")).expect("JSON");
    result
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["msg"].as_str().expect("a msg").to_owned())
        .collect()
}

/// Gatekeeper's K8sNativeValidation: `variables` evaluated in order (each
/// sees the ones before, with `params` and `anyObject`), then each
/// validation; one that is false is a violation with its message.
fn cel(source: &Value, parameters: &Value, request: &Value) -> Vec<String> {
    let object = request.get("object").cloned().unwrap_or(Value::Null);
    let old_object = request.get("oldObject").cloned().unwrap_or(Value::Null);
    let mut variables = Map::new();
    variables.insert("params".to_owned(), parameters.clone());
    let any_object = if object.is_null() {
        old_object.clone()
    } else {
        object.clone()
    };
    variables.insert("anyObject".to_owned(), any_object);
    let evaluate = |expression: &str, variables: &Map<String, Value>| -> cel::Value {
        let program = cel::Program::compile(expression)
            .unwrap_or_else(|e| panic!("the CEL does not parse: {expression}: {e}"));
        let mut context = cel::Context::default();
        for (name, value) in [
            ("request", request),
            ("object", &object),
            ("oldObject", &old_object),
            ("variables", &Value::Object(variables.clone())),
        ] {
            context.add_variable_from_value(name, cel::to_value(value).expect("a CEL value"));
        }
        program
            .execute(&context)
            .unwrap_or_else(|e| panic!("the CEL fails on {}: {expression}: {e}", request["uid"]))
    };
    for variable in source["variables"].as_array().into_iter().flatten() {
        let value = evaluate(variable["expression"].as_str().expect("expression"), &variables);
        let value = value.json().expect("JSON");
        variables.insert(variable["name"].as_str().expect("name").to_owned(), value);
    }
    let mut messages = Vec::new();
    for validation in source["validations"].as_array().into_iter().flatten() {
        match evaluate(validation["expression"].as_str().expect("expression"), &variables) {
            cel::Value::Bool(true) => {}
            cel::Value::Bool(false) => {
                match evaluate(
                    validation["messageExpression"].as_str().expect("message"),
                    &variables,
                ) {
                    cel::Value::String(message) => messages.push(message.to_string()),
                    other => panic!("a message that is not a string: {other:?}"),
                }
            }
            other => panic!("a validation that is not a bool: {other:?}"),
        }
    }
    messages
}

/// Every request fixture, and each as an UPDATE that changes nothing (a
/// label, say), which no rule refuses.
fn requests_and_unchanged_updates() -> Vec<(String, Value)> {
    let mut requests = fixtures("requests");
    let updates: Vec<(String, Value)> = requests
        .iter()
        .filter(|(_, r)| r["operation"] == "CREATE")
        .map(|(name, request)| {
            let mut update = request.clone();
            update["operation"] = json!("UPDATE");
            update["oldObject"] = request["object"].clone();
            (format!("{name} (update)"), update)
        })
        .collect();
    requests.extend(updates);
    requests
}

/// The module, with the cluster the fixtures assume (the Pod's ReplicaSet).
fn module() -> Policy {
    let replicaset = fixture("cluster/replicaset-web-5c6d7.json");
    Policy::with_cluster(
        move |operation, request| match (operation, request["name"].as_str()) {
            ("get_resource", Some("web-5c6d7")) => Ok(replicaset.clone()),
            _ => Err(format!("not found: {request}")),
        },
    )
}

/// Where Gatekeeper lacks the policy's evidence: `(settings, fixture,
/// engine, why)`. Each must show (the engine lets the request through where
/// the module refuses it), so that the list cannot go stale.
const GAPS: [(&str, &str, Engine, &str); 4] = [
    (
        "validator",
        "pod-stripped-owner.json",
        Engine::Rego,
        "the Pod's controller is read through a lookup",
    ),
    (
        "validator",
        "pod-stripped-owner.json",
        Engine::Cel,
        "the Pod's controller is read through a lookup",
    ),
    (
        "validator",
        "pod-stripped-last-applied.json",
        Engine::Cel,
        "standard CEL cannot parse the kubectl record",
    ),
    (
        "validator-configured",
        "pod-stripped-last-applied.json",
        Engine::Cel,
        "standard CEL cannot parse the kubectl record",
    ),
];

/// Every request fixture × the validator settings: refused by the module
/// exactly when a `deny` constraint has a violation, for both engines, but
/// for the named gaps. Prints the table.
#[rstest]
#[case::shipped("validator")]
#[case::configured("validator-configured")]
fn both_engines_refuse_what_the_module_refuses(#[case] settings_name: &str) {
    let settings = settings(settings_name);
    let generated = generated(&settings);
    let rules = rules(&generated);
    let policy = module();
    let mut table = String::new();
    let mut mismatches = Vec::new();
    for (name, request) in requests_and_unchanged_updates() {
        let outcome = policy.validate(&settings, &request);
        let refused_by_module = !outcome.response.accepted;
        let module_message = outcome.response.message.clone().unwrap_or_default();
        table.push_str(&format!("{name:32} module: {:7}", verdict(refused_by_module)));
        for engine in [Engine::Rego, Engine::Cel] {
            let denied: Vec<String> = rules
                .iter()
                .filter(|(_, constraint)| constraint["spec"]["enforcementAction"] == "deny")
                .flat_map(|(template, constraint)| violations(engine, template, constraint, &request))
                .collect();
            let refused = !denied.is_empty();
            let gap = GAPS
                .iter()
                .find(|(s, f, e, _)| *s == settings_name && *f == name && *e == engine);
            table.push_str(&format!(" {engine:?}: {:7}", verdict(refused)));
            match gap {
                Some((.., why)) => {
                    table.push_str(&format!(" ({why})"));
                    if refused || !refused_by_module {
                        mismatches.push(format!("{name} {engine:?}: the gap ({why}) does not show"));
                    }
                }
                None if refused != refused_by_module => mismatches.push(format!(
                    "{name} {engine:?}: {denied:?} against the module's {module_message:?}"
                )),
                None => {}
            }
            // The message names what the module's names: the container and the fix.
            for message in &denied {
                let container = message.split('"').nth(1).unwrap_or_default();
                if container.is_empty() || !module_message.contains(&format!("\"{container}\"")) {
                    mismatches.push(format!(
                        "{name} {engine:?}: {message:?} names another container than {module_message:?}"
                    ));
                }
            }
            // The Rego message is the module's, word for word, but that the
            // stripped-field rule leaves out the policy's heuristic evidence.
            if engine == Engine::Rego {
                for message in &denied {
                    let said = match evidence(message) {
                        Some(evidence) => {
                            evidence.split("; ").all(|clause| module_message.contains(clause))
                                && module_message.contains(message.split(evidence).nth(1).unwrap_or_default())
                        }
                        None => module_message.contains(message.as_str()),
                    };
                    if !said {
                        mismatches.push(format!(
                            "{name}: the Rego says {message:?}, the module {module_message:?}"
                        ));
                    }
                }
            }
        }
        table.push('\n');
    }
    println!("{settings_name}:\n{table}");
    assert!(mismatches.is_empty(), "{table}\n{mismatches:#?}");
}

/// The evidence a stripped-field message gives, `a; b`.
fn evidence(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("(restartPolicy: Always): ")?;
    rest.split_once(". Without the field")
        .map(|(evidence, _)| evidence)
}

fn verdict(refused: bool) -> &'static str {
    if refused { "refused" } else { "allowed" }
}

/// The samples' suites, as `gator verify` runs them, through both engines,
/// and the module on the same objects agrees.
#[rstest]
#[case::shipped("validator")]
#[case::configured("validator-configured")]
fn the_suites_pass_in_both_engines_and_the_module_agrees(#[case] settings_name: &str) {
    let settings = settings(settings_name);
    let generated = generated(&settings);
    let suites: Vec<&(String, Value)> = generated
        .files
        .iter()
        .filter(|(p, _)| p.ends_with("/suite.yaml"))
        .collect();
    assert_eq!(suites.len(), 2);
    for (path, suite) in suites {
        let dir = path.trim_end_matches("/suite.yaml");
        for test in suite["tests"].as_array().expect("tests") {
            let template = file(
                &generated,
                &format!("{dir}/{}", test["template"].as_str().expect("template")),
            );
            let constraint = file(
                &generated,
                &format!("{dir}/{}", test["constraint"].as_str().expect("constraint")),
            );
            for case in test["cases"].as_array().expect("cases") {
                let object = file(
                    &generated,
                    &format!("{dir}/{}", case["object"].as_str().expect("object")),
                );
                let request = json!({
                    "uid": case["name"], "kind": {"kind": object["kind"]}, "operation": "CREATE", "object": object,
                });
                let expected = case["assertions"][0]["violations"] == "yes";
                for engine in [Engine::Rego, Engine::Cel] {
                    let found = violations(engine, template, constraint, &request);
                    assert_eq!(
                        !found.is_empty(),
                        expected,
                        "{dir} {} {engine:?}: {found:?}",
                        case["name"]
                    );
                }
                let outcome = module().validate(&settings, &request);
                assert_eq!(
                    !outcome.response.accepted, expected,
                    "{dir} {}: {outcome:?}",
                    case["name"]
                );
            }
        }
    }
}

/// A `warn` action gives `warn` constraints; an ignored rule, none.
#[test]
fn the_actions_become_enforcement_actions() {
    let warning = generated(&json!({"mutate": false,
        "jobSidecars": {"action": "warn"}, "strippedRestartPolicy": {"action": "ignore"}}));
    let actions: Vec<(&str, &Value)> = rules(&warning)
        .into_iter()
        .map(|(t, c)| {
            (
                t["spec"]["crd"]["spec"]["names"]["kind"].as_str().expect("kind"),
                &c["spec"]["enforcementAction"],
            )
        })
        .collect();
    assert_eq!(actions, [("NativeSidecarJobSidecars", &json!("warn"))]);
    let converting_validator = generated(&json!({"mutate": false, "jobSidecars": {"action": "convert"}}));
    assert_eq!(
        rules(&converting_validator)[0].1["spec"]["enforcementAction"],
        "deny"
    );
}

/// What Gatekeeper cannot express is refused, naming the setting.
#[rstest]
#[case::shipped_injector(fixture("settings/injector.json"), &["sidecars[0].position: first", "injectHostNetworkPods: false"])]
#[case::convert(json!({"jobSidecars": {"action": "convert"}}), &["jobSidecars.action: convert"])]
#[case::meshes(json!({"mutate": false, "jobSidecars": {"meshes": {"istio": "legacy"}}}), &["jobSidecars.meshes"])]
#[case::endless(json!({"mutate": false, "jobSidecars": {"endlessCommands": "reject"}}), &["jobSidecars.endlessCommands: reject"])]
#[case::strategy(json!({"injectHostNetworkPods": true, "nativeSupport": {"strategy": "nodeVersion"},
    "sidecars": [{"name": "a", "position": "last", "container": {"name": "a", "image": "a"}}]}), &["nativeSupport.strategy"])]
#[case::anchored(json!({"injectHostNetworkPods": true,
    "sidecars": [{"name": "a", "position": "after:istio-proxy", "container": {"name": "a", "image": "a"}}]}), &["sidecars[0].position: after:istio-proxy"])]
#[case::mixed_injection(json!({"injectHostNetworkPods": true, "sidecars": [
    {"name": "a", "position": "last", "container": {"name": "a", "image": "a"}},
    {"name": "b", "position": "last", "injection": "always", "container": {"name": "b", "image": "b"}}]}), &["sidecars[1].injection"])]
#[case::pod_volume(json!({"injectHostNetworkPods": true, "sidecars": [{"name": "a", "position": "last",
    "container": {"name": "a", "image": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}}]}), &["sidecars[0]: it mounts volume \"data\""])]
#[case::bad_settings(json!({"sidecars": [{"name": "Log", "container": {"name": "c", "image": "i"}}]}), &["sidecars[0].name: \"Log\" is not a DNS-1123 label"])]
fn what_gatekeeper_cannot_express_is_refused_naming_the_setting(
    #[case] settings: Value,
    #[case] expected: &[&str],
) {
    let refused = match generate(&settings) {
        Ok(generated) => panic!(
            "generated {:?}",
            generated.files.iter().map(|(p, _)| p).collect::<Vec<_>>()
        ),
        Err(refused) => refused,
    };
    for text in expected {
        assert!(
            refused.iter().any(|line| line.contains(text)),
            "{text:?} not in {refused:#?}"
        );
    }
    assert_eq!(refused.len(), expected.len(), "{refused:#?}");
}

/// `gatekeeper/` holds the output for the shipped validator's settings, as
/// the command writes it.
#[test]
fn the_committed_output_is_what_the_shipped_settings_generate() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let manifest: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("policies/validator.yaml")).expect("manifest"),
    )
    .expect("YAML");
    let generated = generated(&manifest["spec"]["settings"]);
    let regenerate = "regenerate with `make gatekeeper`";
    let mut expected: BTreeMap<PathBuf, &Value> = BTreeMap::new();
    for (path, document) in &generated.files {
        expected.insert(PathBuf::from(path), document);
    }
    let committed = yaml_files(&root.join("gatekeeper"), Path::new(""));
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{regenerate}"
    );
    for (path, document) in expected {
        assert_eq!(
            &committed[&path],
            document,
            "gatekeeper/{}: {regenerate}",
            path.display()
        );
    }
}

fn yaml_files(root: &Path, under: &Path) -> BTreeMap<PathBuf, Value> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(root.join(under)).expect("gatekeeper/") {
        let entry = entry.expect("entry");
        let relative = under.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            files.extend(yaml_files(root, &relative));
        } else if relative.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(entry.path()).expect("readable");
            files.insert(relative, serde_yaml::from_str(&text).expect("YAML"));
        }
    }
    files
}

/// Applies Gatekeeper mutators to `pod` on CREATE as Gatekeeper documents
/// them: sorted by kind and name, each applied when it matches, passes
/// repeated until nothing changes.
fn mutate(mutators: &[&Value], pod: &Value, namespace: &str) -> Value {
    let mut sorted = mutators.to_vec();
    sorted.sort_by_key(|m| {
        (
            m["kind"].as_str().unwrap_or_default(),
            m["metadata"]["name"].as_str().unwrap_or_default(),
        )
    });
    let mut pod = pod.clone();
    for _ in 0..5 {
        let before = pod.clone();
        for mutator in &sorted {
            if matches(mutator, &pod, namespace) {
                apply(mutator, &mut pod);
            }
        }
        if pod == before {
            return pod;
        }
    }
    panic!("the mutators do not converge");
}

fn matches(mutator: &Value, pod: &Value, namespace: &str) -> bool {
    let spec = &mutator["spec"];
    let operations = spec["applyTo"][0]["operations"].as_array();
    if operations.is_some_and(|ops| !ops.contains(&json!("CREATE"))) {
        return false;
    }
    let matched = &spec["match"];
    if matched["excludedNamespaces"]
        .as_array()
        .is_some_and(|ns| ns.contains(&json!(namespace)))
    {
        return false;
    }
    let labels = &pod["metadata"]["labels"];
    matched["labelSelector"]["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|expression| {
            let value = labels.get(expression["key"].as_str().expect("key"));
            let listed = value.is_some_and(|v| expression["values"].as_array().expect("values").contains(v));
            match expression["operator"].as_str() {
                Some("In") => listed,
                Some("NotIn") => !listed,
                other => panic!("operator {other:?}"),
            }
        })
}

/// One node of a location: a field, or a keyed list entry (`*` for every one).
enum Node {
    Field(String),
    Keyed {
        list: String,
        key: String,
        value: String,
    },
}

fn parse_location(location: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let (mut current, mut depth, mut quoted) = (String::new(), 0, false);
    for c in location.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => {
                depth += 1;
                current.push(c);
            }
            ']' if !quoted => {
                depth -= 1;
                current.push(c);
            }
            '.' if !quoted && depth == 0 => nodes.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    nodes.push(current);
    nodes
        .into_iter()
        .map(|node| match node.split_once('[') {
            Some((list, rest)) => {
                let (key, value) = rest.trim_end_matches(']').split_once(':').expect("key: value");
                Node::Keyed {
                    list: list.to_owned(),
                    key: key.trim().to_owned(),
                    value: value.trim().to_owned(),
                }
            }
            None => Node::Field(node),
        })
        .collect()
}

fn apply(mutator: &Value, pod: &mut Value) {
    let spec = &mutator["spec"];
    let location = spec["location"].as_str().expect("location");
    for test in spec["parameters"]["pathTests"].as_array().into_iter().flatten() {
        assert_eq!(
            test["subPath"], location,
            "the simulation handles path tests on the whole location"
        );
        assert_eq!(test["condition"], "MustNotExist");
    }
    let value = &spec["parameters"]["assign"]["value"];
    if mutator["kind"] == "AssignMetadata" {
        // Add-only: never overwrites.
        let key = location
            .strip_prefix("metadata.annotations.")
            .expect("an annotation")
            .trim_matches('"');
        let metadata = pod
            .as_object_mut()
            .expect("object")
            .entry("metadata")
            .or_insert(json!({}));
        let annotations = metadata
            .as_object_mut()
            .expect("metadata")
            .entry("annotations")
            .or_insert(json!({}));
        annotations
            .as_object_mut()
            .expect("annotations")
            .entry(key)
            .or_insert(value.clone());
        return;
    }
    assign(pod, &parse_location(location), value);
}

/// Walks `nodes`, creating what is missing; at the last (keyed) node,
/// appends `value` unless an entry with that key exists (MustNotExist).
fn assign(at: &mut Value, nodes: &[Node], value: &Value) {
    let Some((node, rest)) = nodes.split_first() else {
        return;
    };
    match node {
        Node::Field(field) => {
            let next = at
                .as_object_mut()
                .expect("an object")
                .entry(field.clone())
                .or_insert(json!({}));
            assign(next, rest, value);
        }
        Node::Keyed {
            list,
            key,
            value: wanted,
        } => {
            let fields = at.as_object_mut().expect("an object");
            if wanted == "*" {
                for entry in fields
                    .get_mut(list)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    assign(entry, rest, value);
                }
                return;
            }
            let entries = fields
                .entry(list.clone())
                .or_insert(json!([]))
                .as_array_mut()
                .expect("a list");
            let wanted = wanted.trim_matches('"');
            let found = entries.iter_mut().position(|e| e[key.as_str()] == wanted);
            match (found, rest.is_empty()) {
                (Some(_), true) => {}
                (None, true) => entries.push(value.clone()),
                (Some(i), false) => assign(&mut entries[i], rest, value),
                (None, false) => {}
            }
        }
    }
}

/// The mutators, applied to every Pod fixture that opts in by label, give
/// the object the module's patch gives; without the label, neither changes
/// the pod; applied to their own output, they change nothing.
#[test]
fn the_mutators_inject_what_the_module_injects() {
    let settings = settings("gatekeeper-injector");
    let generated = generated(&settings);
    let mutators: Vec<&Value> = generated
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("mutation/"))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        mutators.len(),
        6,
        "two init containers, a volume, a mount, an env, the status"
    );
    let policy = Policy::new();
    let mut compared = 0;
    let mut gaps_seen = Vec::new();
    for (name, request) in fixtures("requests") {
        if request["kind"]["kind"] != "Pod" || request["operation"] != "CREATE" {
            continue;
        }
        let namespace = request["namespace"].as_str().unwrap_or("default");
        let mut labelled = request.clone();
        let labels = labelled["object"]["metadata"]
            .as_object_mut()
            .expect("metadata")
            .entry("labels")
            .or_insert(json!({}));
        labels
            .as_object_mut()
            .expect("labels")
            .insert("native-sidecar.kubewarden.io/inject".to_owned(), json!("true"));
        let outcome = policy.validate(&settings, &labelled);
        assert!(outcome.response.accepted, "{name}: {outcome:?}");
        let by_module = outcome
            .patched
            .clone()
            .unwrap_or_else(|| labelled["object"].clone());
        let by_gatekeeper = mutate(&mutators, &labelled["object"], namespace);
        if let Some((_, why)) = MUTATION_GAPS.iter().find(|(fixture, _)| *fixture == name) {
            assert_ne!(by_gatekeeper, by_module, "{name}: the gap ({why}) does not show");
            gaps_seen.push(name);
            continue;
        }
        assert_eq!(by_gatekeeper, by_module, "{name}");
        assert_ne!(by_gatekeeper, labelled["object"], "{name}: nothing injected");
        assert_eq!(
            mutate(&mutators, &by_gatekeeper, namespace),
            by_gatekeeper,
            "{name}: a second pass"
        );

        let unlabelled = &request["object"];
        let asks =
            |field: &str| !unlabelled["metadata"][field]["native-sidecar.kubewarden.io/inject"].is_null();
        if !asks("labels") && !asks("annotations") {
            assert_eq!(
                &mutate(&mutators, unlabelled, namespace),
                unlabelled,
                "{name}: no label"
            );
        }
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} Pod fixtures");
    assert_eq!(gaps_seen.len(), MUTATION_GAPS.len(), "{gaps_seen:?}");
}

/// Pods the mutators treat otherwise than the module (README, "Gatekeeper").
const MUTATION_GAPS: [(&str, &str); 1] = [(
    "pod-stripped-marker.json",
    "the pod already has the sidecars: Gatekeeper still adds the app containers' mount and env, and keeps the \
     pod's status annotation as it is",
)];

/// The command: a policy manifest in, the gatekeeper-library files out (the
/// committed ones, for the shipped validator); refused settings exit 1 and
/// say which.
#[test]
fn the_command_writes_the_files_or_names_what_gatekeeper_cannot_express() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("native-sidecar-gatekeeper-{}", std::process::id()));
    let run = |settings: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_native-sidecar-policy"))
            .args(["gatekeeper", "--settings", settings, "--out"])
            .arg(&out)
            .current_dir(&root)
            .output()
            .expect("the command runs")
    };
    let written = run("policies/validator.yaml");
    assert!(written.status.success(), "{written:?}");
    let printed = String::from_utf8_lossy(&written.stdout);
    assert!(
        printed.contains("difference: strippedRestartPolicy.checkOwner"),
        "{printed}"
    );
    assert_eq!(
        yaml_files(&out, Path::new("")),
        yaml_files(&root.join("gatekeeper"), Path::new(""))
    );
    std::fs::remove_dir_all(&out).expect("cleaned up");

    let refused = run("policies/injector.yaml");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("sidecars[0].position: first"), "{said}");
    assert!(!out.exists(), "nothing written when refused");
}

/// What Gatekeeper checks when a template is created: a `violation` rule;
/// imports of `data.lib.*` and `future.*` only (frameworks' regorewriter
/// refuses `import rego.v1`); a structural parameter schema (every node typed,
/// `type: object` at the root); CEL in `K8sNativeValidation` with variables
/// and validations. And the Rego parses in a v1 engine too.
#[rstest]
#[case::shipped("validator")]
#[case::configured("validator-configured")]
fn the_templates_pass_gatekeepers_own_checks(#[case] settings_name: &str) {
    let generated = generated(&settings(settings_name));
    for (template, constraint) in rules(&generated) {
        let kind = template["spec"]["crd"]["spec"]["names"]["kind"]
            .as_str()
            .expect("kind");
        assert_eq!(template["metadata"]["name"], kind.to_lowercase());
        assert_eq!(constraint["kind"], kind);
        let rego = code(template, "Rego")["rego"].as_str().expect("rego");
        for import in rego.lines().filter_map(|l| l.strip_prefix("import ")) {
            assert!(
                import.starts_with("future.keywords.") || import.starts_with("data.lib."),
                "{kind}: import {import}"
            );
        }
        assert!(
            rego.lines()
                .any(|l| l.starts_with("violation contains {\"msg\": msg} if {")),
            "{kind}"
        );
        let mut v1 = regorus::Engine::new();
        v1.add_policy("v1.rego".to_owned(), rego.to_owned())
            .unwrap_or_else(|e| panic!("{kind} in Rego v1: {e}"));
        let schema = &template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"];
        assert_eq!(schema["type"], "object");
        assert_structural(schema, kind);
        let cel = code(template, "K8sNativeValidation");
        assert!(
            cel["variables"].as_array().is_some_and(|v| !v.is_empty()),
            "{kind}"
        );
        assert!(
            cel["validations"].as_array().is_some_and(|v| !v.is_empty()),
            "{kind}"
        );
        // The constraint's parameters fit the schema's fields.
        for field in constraint["spec"]["parameters"]
            .as_object()
            .expect("parameters")
            .keys()
        {
            assert!(
                schema["properties"].get(field).is_some(),
                "{kind}: parameter {field} not in the schema"
            );
        }
    }
}

fn assert_structural(schema: &Value, at: &str) {
    let kind = schema["type"].as_str().unwrap_or_else(|| panic!("{at}: no type"));
    match kind {
        "object" => {
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                assert_structural(property, &format!("{at}.{name}"));
            }
        }
        "array" => assert_structural(&schema["items"], &format!("{at}[]")),
        "string" | "boolean" | "integer" | "number" => {}
        other => panic!("{at}: type {other}"),
    }
}
