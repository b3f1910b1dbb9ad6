//! A waPC host for the built policy module, the way Kubewarden's
//! policy-evaluator runs it: wasmtime, waPC, `{"settings", "request"}` payloads.
//! It also turns `mutated_object` into the JSON Patch the host would send.
#![allow(dead_code)] // benches/admission.rs includes this file too, and uses part of it

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use native_sidecar_policy::adapter::Verdict;
use serde_json::{Value, json};
use wapc::WapcHost;
use wasmtime_provider::{ResourceLimits, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre};

/// The release module; `POLICY_WASM` overrides the path.
pub fn module_path() -> PathBuf {
    std::env::var_os("POLICY_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/wasm32-wasip1/release/native_sidecar_policy.wasm")
        })
}

/// The module, read and compiled by wasmtime once per process.
pub fn compiled() -> &'static (wasmtime::Engine, wasmtime::Module) {
    static COMPILED: OnceLock<(wasmtime::Engine, wasmtime::Module)> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let engine = wasmtime::Engine::default();
        let module = compile(&engine, &module_path())
            .unwrap_or_else(|e| panic!("{e}; build the module first (`make wasm`)"));
        (engine, module)
    })
}

/// A policy module file compiled by `engine`; the error names the file.
pub fn compile(engine: &wasmtime::Engine, path: &std::path::Path) -> Result<wasmtime::Module, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    wasmtime::Module::new(engine, &bytes).map_err(|e| format!("wasmtime rejected {}: {e}", path.display()))
}

/// The compiled module linked to the waPC and WASI imports, ready to
/// instantiate; `max_memory` caps the instance's linear memory.
pub fn linked(max_memory: Option<usize>) -> WasmtimeEngineProviderPre {
    let (engine, module) = compiled();
    link(engine, module, max_memory).unwrap_or_else(|e| panic!("linking the module: {e}"))
}

/// Any compiled policy module linked the same way.
pub fn link(
    engine: &wasmtime::Engine,
    module: &wasmtime::Module,
    max_memory: Option<usize>,
) -> Result<WasmtimeEngineProviderPre, String> {
    let mut builder = WasmtimeEngineProviderBuilder::new()
        .engine(engine.clone())
        .module(module.clone());
    if let Some(bytes) = max_memory {
        builder = builder.enable_resource_limits(ResourceLimits {
            max_memory_size: Some(bytes),
            max_table_elements: None,
        });
    }
    builder.build_pre().map_err(|e| e.to_string())
}

fn linked_once() -> &'static WasmtimeEngineProviderPre {
    static LINKED: OnceLock<WasmtimeEngineProviderPre> = OnceLock::new();
    LINKED.get_or_init(|| linked(None))
}

/// One instance of the policy module.
pub struct Policy {
    host: WapcHost,
    /// `(operation, request)` of every host capability call, in order.
    pub host_calls: Arc<Mutex<Vec<(String, Value)>>>,
}

/// Answers a `kubewarden/kubernetes/<operation>` host call: the answer's bytes.
pub type Answer = dyn Fn(&str, &Value) -> Result<Vec<u8>, String> + Send + Sync;

/// What `validate` answered, with the patch the host would derive from it.
pub struct Outcome {
    pub response: Verdict,
    /// `json_patch::diff(request.object, mutated_object)`, as the host computes it.
    pub patch: Option<json_patch::Patch>,
    /// That patch applied to the request object: what the API server stores.
    pub patched: Option<Value>,
}

impl Policy {
    /// A policy whose host capability calls all fail, as with no cluster.
    pub fn new() -> Policy {
        Policy::with_cluster(|operation, _| Err(format!("no cluster in this test ({operation})")))
    }

    /// A policy whose `kubewarden/kubernetes/*` host calls `answer` serves.
    pub fn with_cluster(
        answer: impl Fn(&str, &Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Policy {
        Policy::instantiate(linked_once(), answer)
    }

    /// An instance of `linked` (see there) whose host calls `answer` serves.
    pub fn instantiate(
        linked: &WasmtimeEngineProviderPre,
        answer: impl Fn(&str, &Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Policy {
        Policy::instantiate_raw(linked, move |operation, request| {
            serde_json::to_vec(&answer(operation, request)?).map_err(|e| e.to_string())
        })
    }

    /// The same, with `answer` giving the answer's bytes as the host sends
    /// them (a benchmark serialises them once, to time the module alone).
    pub fn instantiate_raw(
        linked: &WasmtimeEngineProviderPre,
        answer: impl Fn(&str, &Value) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> Policy {
        let engine = linked.rehydrate(None).expect("instantiate the module");
        let host_calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&host_calls);
        let answer: Box<Answer> = Box::new(answer);
        let callback = move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
            // Log lines (the SDK's logger): the policy-server prints them and
            // answers nothing; policies built with the SDK abort without an answer.
            if (binding, namespace) == ("kubewarden", "tracing") {
                return Ok(Vec::new());
            }
            let request: Value = serde_json::from_slice(payload)?;
            recorded
                .lock()
                .expect("not poisoned")
                .push((operation.to_owned(), request.clone()));
            if (binding, namespace) != ("kubewarden", "kubernetes") {
                return Err(format!("unexpected host call {binding}/{namespace}/{operation}").into());
            }
            Ok(answer(operation, &request)?)
        };
        let host = WapcHost::new(Box::new(engine), Some(Box::new(callback))).expect("waPC host");
        Policy { host, host_calls }
    }

    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        self.host.call(operation, payload).map_err(|e| e.to_string())
    }

    pub fn protocol_version(&self) -> Value {
        let raw = self
            .call("protocol_version", b"")
            .expect("protocol_version answers");
        serde_json::from_slice(&raw).expect("protocol_version is JSON")
    }

    pub fn validate_settings(&self, settings: &Value) -> SettingsValidationResponse {
        let raw = self
            .call("validate_settings", settings.to_string().as_bytes())
            .expect("validate_settings answers");
        serde_json::from_slice(&raw).expect("validate_settings returns its response type")
    }

    /// What Kubewarden's policy-evaluator does with one request (its waPC
    /// runtime's `validate` and `AdmissionResponse::from_policy_validation_response`):
    /// serialise `{"request", "settings"}`, call `validate`, read the answer,
    /// and diff `mutated_object` against the request object into the JSON
    /// Patch it sends, serialised (base64 is left out). The benchmarks time
    /// exactly this, for this module and for others.
    pub fn admit(
        &self,
        settings: &Value,
        request: &Value,
    ) -> Result<(Verdict, Option<json_patch::Patch>), String> {
        let raw = self.call("validate", host_payload(settings, request)?.as_bytes())?;
        read_answer(&raw, request)
    }

    /// Evaluates `request` (the inner AdmissionRequest) under `settings`.
    pub fn validate(&self, settings: &Value, request: &Value) -> Outcome {
        let (response, patch) = self.admit(settings, request).expect("validate answers");
        if let Err(broken) = response.well_formed() {
            panic!("an ill-formed answer ({broken}): {response:?}");
        }
        let patched = patch.as_ref().map(|patch| {
            let mut object = request.get("object").cloned().unwrap_or(Value::Null);
            json_patch::patch(&mut object, patch).expect("the host's patch applies to the request object");
            object
        });
        Outcome {
            response,
            patch,
            patched,
        }
    }
}

/// The payload the host sends to `validate` (see `Policy::admit`).
pub fn host_payload(settings: &Value, request: &Value) -> Result<String, String> {
    serde_json::to_string(&json!({"request": request, "settings": settings})).map_err(|e| e.to_string())
}

/// What the host does with the answer of `validate` (see `Policy::admit`):
/// read it, diff `mutated_object` against the request object, serialise the
/// patch.
pub fn read_answer(raw: &[u8], request: &Value) -> Result<(Verdict, Option<json_patch::Patch>), String> {
    let response: Verdict =
        serde_json::from_slice(raw).map_err(|e| format!("not a validation response: {e}"))?;
    let patch = response
        .mutated_object
        .as_ref()
        .map(|mutated| json_patch::diff(request.get("object").unwrap_or(&Value::Null), mutated))
        .filter(|patch| !patch.0.is_empty());
    if let Some(patch) = &patch {
        serde_json::to_string(patch).map_err(|e| e.to_string())?;
    }
    Ok((response, patch))
}

/// The response and patch of `validate`, for messages.
impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} patch={:?}", self.response, self.patch)
    }
}

/// A JSON file under `tests/fixtures/`.
pub fn fixture(relative: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every JSON fixture under `tests/fixtures/<dir>`, as `(file name, value)`, in name order.
pub fn fixtures(dir: &str) -> Vec<(String, Value)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let value = fixture(&format!("{dir}/{name}"));
            (name, value)
        })
        .collect()
}

/// Whether `after` is `before` with things added and nothing removed or
/// changed: every key of `before` is in `after` with a value that again only
/// gained things, every list of `before` is an ordered sub-list of the
/// matching list of `after`, and a null may become anything (it means absent).
/// Returns what it found missing, for the message.
pub fn lost_fields(before: &Value, after: &Value, at: &str) -> Vec<String> {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => b
            .iter()
            .flat_map(|(key, value)| match a.get(key) {
                Some(kept) => lost_fields(value, kept, &format!("{at}/{key}")),
                None => vec![format!("{at}/{key} removed")],
            })
            .collect(),
        (Value::Array(b), Value::Array(a)) => {
            // Greedy: each original element must match a later element of `after`.
            let mut rest = a.iter();
            for (i, item) in b.iter().enumerate() {
                if !rest.any(|candidate| lost_fields(item, candidate, "").is_empty()) {
                    return vec![format!("{at}/{i} removed or changed")];
                }
            }
            Vec::new()
        }
        // null is how JSON says "absent": filling it in adds, it does not change.
        (Value::Null, _) => Vec::new(),
        _ if before == after => Vec::new(),
        _ => vec![format!("{at} changed from {before} to {after}")],
    }
}

pub fn assert_nothing_lost(before: &Value, after: &Value) {
    let lost = lost_fields(before, after, "");
    assert!(lost.is_empty(), "the mutation lost or changed fields: {lost:#?}");
}

/// The cluster objects as a policy-server's host capabilities answer them,
/// written apart from `cluster::Snapshot` (which the playground uses) so that
/// a defect in either shows: lists are split into their items, lookups match
/// kind, name and namespace exactly, and only the fields the request's field
/// masks name come back, as with Kubewarden >= 1.33.
pub fn cluster_policy(documents: Vec<Value>) -> Policy {
    let objects = objects_of(documents);
    Policy::with_cluster(move |operation, request| answer_from(&objects, operation, request))
}

/// The objects of some documents, a list split into its items.
pub fn objects_of(documents: Vec<Value>) -> Vec<Value> {
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
    objects
}

/// What Kubewarden's host answers a `kubewarden/kubernetes/<operation>`
/// call about `objects`: lists with the label selector's `key=value`
/// requirements applied (as the API server applies them), the objects'
/// metadata and the other fields the masks name; one object by kind,
/// namespace and name.
pub fn answer_from(objects: &[Value], operation: &str, request: &Value) -> Result<Value, String> {
    let field = |key: &str| request[key].as_str().unwrap_or_default();
    let mut masks: Vec<Vec<&str>> = request["field_masks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|mask| mask.split('.').collect())
        .collect();
    // The policy-server prunes the rest of an object to the masks, not its
    // metadata (kube's DynamicObject keeps it apart): all of it comes back.
    if !masks.is_empty() {
        masks.retain(|mask| mask.first() != Some(&"metadata"));
        masks.push(vec!["metadata"]);
    }
    let of_kind = objects
        .iter()
        .filter(|o| o["apiVersion"] == request["api_version"] && o["kind"] == request["kind"]);
    // The label selector's `key=value` requirements, as the API server
    // applies them to the host's list.
    let selected = |object: &&Value| {
        field("label_selector")
            .split(',')
            .filter(|requirement| !requirement.is_empty())
            .all(|requirement| {
                let (key, value) = requirement.split_once('=').unwrap_or((requirement, ""));
                object["metadata"]["labels"][key].as_str() == Some(value)
            })
    };
    match operation {
        "list_resources_all" => {
            let items: Vec<Value> = of_kind.filter(selected).map(|o| masked(o, &masks)).collect();
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

/// Runs `command` with `input` as JSON on its standard input; its standard
/// output read as JSON. Fails, with its standard error, when it fails.
pub fn run_json(command: &mut std::process::Command, input: &Value) -> Result<Value, String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let text = input.to_string();
    // Written from a thread: the program may answer before it has read all.
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "the writer panicked".to_owned())?
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("not JSON: {e}"))
}

/// A real engine built outside this repository (CONTRIBUTING.md): the path
/// `variable` names, or `program` on PATH. `None`, said on stderr for `test`
/// (the runner shows it with --nocapture; `make test` says it too), without it.
pub fn real_tool(variable: &str, program: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os(variable).map(PathBuf::from).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED {test}: {program} is not present (set {variable} or put it on PATH)");
    }
    found
}

/// The API server's own defaulting and validation (CONTRIBUTING.md), when present.
pub fn api_server_validator(test: &str) -> Option<PathBuf> {
    real_tool("APISERVER_VALIDATE", "nsp-apiserver-validate", test)
}

/// The API server's errors for each `(operation, object, old object)`.
fn api_server_errors(validator: &std::path::Path, objects: &[(Value, Value, Value)]) -> Vec<Vec<String>> {
    let input: Vec<Value> = objects
        .iter()
        .map(|(operation, object, old)| json!({"operation": operation, "object": object, "oldObject": old}))
        .collect();
    let answer = run_json(
        &mut std::process::Command::new(validator),
        &json!({"objects": input}),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", validator.display()));
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), objects.len());
    results
        .iter()
        .map(|r| {
            r["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

/// `object` with what a request's object always has by the time a webhook
/// sees it: its kind, and a namespace.
fn as_stored(request: &Value, object: &Value) -> Value {
    let mut object = object.clone();
    if object["apiVersion"].is_null() {
        let kind = &request["kind"];
        object["apiVersion"] = match kind["group"].as_str().unwrap_or_default() {
            "" => json!(kind["version"].as_str().unwrap_or("v1")),
            group => json!(format!("{group}/{}", kind["version"].as_str().unwrap_or("v1"))),
        };
        object["kind"] = kind["kind"].clone();
    }
    if object["metadata"]["namespace"].is_null() {
        object["metadata"]["namespace"] = json!(request["namespace"].as_str().unwrap_or("default"));
    }
    object
}

/// Where the module's output has API-server errors its input did not have
/// (`(name, request, patched object)`; Pods, Jobs and CronJobs). Errors are
/// compared with list indexes left out: an inserted container shifts them.
pub fn new_api_server_errors(validator: &std::path::Path, cases: &[(String, Value, Value)]) -> Vec<String> {
    let kinds = ["Pod", "Job", "CronJob"];
    let mut objects = Vec::new();
    let mut named = Vec::new();
    for (name, request, patched) in cases {
        if !kinds.contains(&request["kind"]["kind"].as_str().unwrap_or_default()) {
            continue;
        }
        let old = match &request["oldObject"] {
            Value::Null => Value::Null,
            old => as_stored(request, old),
        };
        let operation = request["operation"].clone();
        objects.push((
            operation.clone(),
            as_stored(request, &request["object"]),
            old.clone(),
        ));
        objects.push((operation, as_stored(request, patched), old));
        named.push(name);
    }
    let errors = api_server_errors(validator, &objects);
    let mut found = Vec::new();
    for (name, pair) in named.iter().zip(errors.chunks(2)) {
        let (before, after) = (&pair[0], &pair[1]);
        let before: Vec<String> = before.iter().map(|e| without_indexes(e)).collect();
        let added: Vec<&String> = after
            .iter()
            .filter(|e| !before.contains(&without_indexes(e)))
            .collect();
        if !added.is_empty() {
            found.push(format!("{added:?} in {name}"));
        }
    }
    found
}

/// `spec.initContainers[1].image: …` as `spec.containers[].image: …`: an
/// inserted container shifts indexes, and a converted one changes lists.
fn without_indexes(error: &str) -> String {
    let error = error.replace("initContainers[", "containers[");
    let mut out = String::with_capacity(error.len());
    let mut in_index = false;
    for c in error.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push(c);
            }
            ']' => {
                in_index = false;
                out.push(c);
            }
            c if in_index && c.is_ascii_digit() => {}
            c => out.push(c),
        }
    }
    out
}
