//! The Gatekeeper objects the command generates, run here without a cluster:
//! the Rego by a Rego engine (regorus, in Gatekeeper's v0 mode), the CEL by a
//! CEL engine (`cel`), both with Gatekeeper's input shape, against the wasm
//! module under wasmtime on the same requests. The mutators are applied with
//! Gatekeeper's documented semantics (keyed append, MustNotExist, globs, name
//! order): that checks our reading of Gatekeeper, not Gatekeeper itself.

use crate::harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cel::common::types::{CelInt, CelList, CelString, DYN_TYPE, LIST_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, Val};

use harness::{Policy, fixture, fixtures, real_tool, run_json};
use native_sidecar_policy::gatekeeper::{Generated, generate};
use native_sidecar_policy::template::STATUS_KEY;
use rstest::rstest;
use serde_json::{Map, Value, json};

/// What runs a generated rule here: the template's Rego (regorus), its CEL
/// (the `cel` crate, as Gatekeeper binds it), or the ValidatingAdmissionPolicy
/// made of the same CEL (the `cel` crate, as the API server binds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Engine {
    Rego,
    Cel,
    Vap,
}

const ENGINES: [Engine; 3] = [Engine::Rego, Engine::Cel, Engine::Vap];

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

/// Every validating rule generated: its template, Constraint and
/// ValidatingAdmissionPolicy.
struct Rule<'g> {
    template: &'g Value,
    constraint: &'g Value,
    policy: &'g Value,
    binding: &'g Value,
}

fn rules(generated: &Generated) -> Vec<Rule<'_>> {
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
            let name = constraint["metadata"]["name"].as_str().expect("a name");
            Rule {
                template,
                constraint,
                policy: file(
                    generated,
                    &format!("validating-admission-policy/{name}/policy.yaml"),
                ),
                binding: file(
                    generated,
                    &format!("validating-admission-policy/{name}/binding.yaml"),
                ),
            }
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

impl Rule<'_> {
    /// Whether the rule refuses (rather than warns about) what it finds, in
    /// the engine's terms.
    fn denies(&self, engine: Engine) -> bool {
        match engine {
            Engine::Vap => self.binding["spec"]["validationActions"] == json!(["Deny"]),
            _ => self.constraint["spec"]["enforcementAction"] == "deny",
        }
    }

    /// The messages of the rule's violations for `request` (an
    /// AdmissionRequest: Gatekeeper's `input.review`), when its match
    /// selects the request's kind.
    fn violations(&self, engine: Engine, request: &Value) -> Vec<String> {
        let selected = self.constraint["spec"]["match"]["kinds"]
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
        let parameters = &self.constraint["spec"]["parameters"];
        match engine {
            Engine::Rego => rego(
                code(self.template, "Rego")["rego"].as_str().expect("rego text"),
                parameters,
                request,
            ),
            Engine::Cel => {
                let source = code(self.template, "K8sNativeValidation");
                let bound = Map::from_iter([("params".to_owned(), parameters.clone())]);
                cel(&source["variables"], &source["validations"], bound, request)
            }
            Engine::Vap => {
                let spec = &self.policy["spec"];
                cel(&spec["variables"], &spec["validations"], Map::new(), request)
            }
        }
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

/// The CEL environment the generated CEL is written for, as far as the `cel`
/// crate has it: the standard library, the strings extension, and
/// Kubernetes' `list.indexOf`, `string.find` and `string.findAll`.
fn cel_environment() -> Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        cel::extensions::strings(&mut env).expect("the strings extension");
        env.add_member_overload(
            "indexOf",
            "list.indexOf(dyn)",
            LIST_TYPE,
            vec![DYN_TYPE],
            list_index_of,
        )
        .expect("list.indexOf");
        env.add_member_overload(
            "find",
            "string.find(string)",
            STRING_TYPE,
            vec![STRING_TYPE],
            string_find,
        )
        .expect("string.find");
        env.add_member_overload(
            "findAll",
            "string.findAll(string)",
            STRING_TYPE,
            vec![STRING_TYPE],
            string_find_all,
        )
        .expect("string.findAll");
        Arc::new(env)
    })
    .clone()
}

/// Kubernetes' `list.indexOf(value)`: the first index of an equal element, or -1.
fn list_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, cel::ExecutionError> {
    let [list, wanted] = <[CowVal; 2]>::try_from(args)
        .map_err(|_| cel::ExecutionError::function_error("indexOf", "two arguments"))?;
    let mut items = list
        .as_ref()
        .as_iterable()
        .ok_or_else(|| cel::ExecutionError::function_error("indexOf", "not a list"))?
        .iter();
    let mut index = 0i64;
    while let Some(item) = items.next() {
        if item.equals(wanted.as_ref()) {
            return Ok(CowVal::owned(CelInt::from(index)));
        }
        index += 1;
    }
    Ok(CowVal::owned(CelInt::from(-1)))
}

/// Kubernetes' `string.find(regex)`: the first match, or "".
fn string_find<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, cel::ExecutionError> {
    let (haystack, pattern) = text_and_pattern("find", args)?;
    let found = pattern
        .find(&haystack)
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    Ok(CowVal::owned(CelString::from(found)))
}

/// Kubernetes' `string.findAll(regex)`: every match, in order.
fn string_find_all<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, cel::ExecutionError> {
    let (haystack, pattern) = text_and_pattern("findAll", args)?;
    let found: Vec<Box<dyn Val>> = pattern
        .find_iter(&haystack)
        .map(|m| Box::new(CelString::from(m.as_str().to_owned())) as Box<dyn Val>)
        .collect();
    Ok(CowVal::owned(CelList::from(found)))
}

/// The receiver and the regular expression of Kubernetes' regex functions.
fn text_and_pattern(
    function: &str,
    args: Vec<CowVal>,
) -> Result<(String, regex::Regex), cel::ExecutionError> {
    let text = |value: &CowVal| {
        value
            .as_ref()
            .downcast_ref::<CelString>()
            .map(|s| s.inner().to_owned())
            .ok_or_else(|| cel::ExecutionError::function_error(function, "not a string"))
    };
    let [haystack, pattern] = <[CowVal; 2]>::try_from(args)
        .map_err(|_| cel::ExecutionError::function_error(function, "two arguments"))?;
    let pattern =
        regex::Regex::new(&text(&pattern)?).map_err(|e| cel::ExecutionError::function_error(function, e))?;
    Ok((text(&haystack)?, pattern))
}

/// CEL admission: `variables` evaluated in order (each sees the ones before,
/// and `bound`: Gatekeeper's `params`), then each validation; one that is
/// false is a violation with its message.
fn cel(variables: &Value, validations: &Value, bound: Map<String, Value>, request: &Value) -> Vec<String> {
    let env = cel_environment();
    let object = request.get("object").cloned().unwrap_or(Value::Null);
    let old_object = request.get("oldObject").cloned().unwrap_or(Value::Null);
    let mut known = bound;
    let evaluate = |expression: &str, known: &Map<String, Value>| -> cel::Value {
        let program = env
            .compile(expression)
            .unwrap_or_else(|e| panic!("the CEL does not parse: {expression}: {e}"));
        let mut context = cel::Context::with_env(env.clone());
        for (name, value) in [
            ("request", request),
            ("object", &object),
            ("oldObject", &old_object),
            ("variables", &Value::Object(known.clone())),
        ] {
            context.add_variable_from_value(name, cel::to_value(value).expect("a CEL value"));
        }
        program
            .execute(&context)
            .unwrap_or_else(|e| panic!("the CEL fails on {}: {expression}: {e}", request["uid"]))
    };
    for variable in variables.as_array().into_iter().flatten() {
        let value = evaluate(variable["expression"].as_str().expect("expression"), &known);
        let value = value.json().expect("JSON");
        known.insert(variable["name"].as_str().expect("name").to_owned(), value);
    }
    let mut messages = Vec::new();
    for validation in validations.as_array().into_iter().flatten() {
        match evaluate(validation["expression"].as_str().expect("expression"), &known) {
            cel::Value::Bool(true) => {}
            cel::Value::Bool(false) => {
                match evaluate(validation["messageExpression"].as_str().expect("message"), &known) {
                    cel::Value::String(message) => messages.push(message.to_string()),
                    other => panic!("a message that is not a string: {other:?}"),
                }
            }
            other => panic!("a validation that is not a bool: {other:?}"),
        }
    }
    messages
}

/// One object reviewed: as a webhook request (the fixture, and each CREATE
/// again as an UPDATE that changes nothing) or as Gatekeeper's audit and
/// `gator verify` review it (the object alone, no operation), and the request
/// the module's verdict on it is read from (Kubewarden's audit replays an
/// object as a CREATE).
struct Review {
    name: String,
    request: Value,
    module_request: Value,
}

impl Review {
    /// A request that Gatekeeper and the module are given alike.
    fn alike(name: impl Into<String>, request: Value) -> Review {
        Review {
            name: name.into(),
            module_request: request.clone(),
            request,
        }
    }

    /// Reviewed as Gatekeeper's audit and gator do: the object, no operation.
    fn audited(&self) -> bool {
        self.request["operation"] == ""
    }
}

/// An AdmissionRequest as Gatekeeper's target builds one from a plain object
/// (pkg/target `unstructuredToAdmissionRequest`): kind, name, namespace, object.
fn audit_request(uid: &str, object: &Value) -> Value {
    let (group, version) = match object["apiVersion"].as_str().unwrap_or_default().split_once('/') {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (
            String::new(),
            object["apiVersion"].as_str().unwrap_or_default().to_owned(),
        ),
    };
    json!({
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": object["kind"]},
        "name": object["metadata"]["name"],
        "namespace": object["metadata"]["namespace"],
        "operation": "",
        "object": object,
    })
}

fn reviews() -> Vec<Review> {
    let mut reviews = Vec::new();
    for (name, request) in fixtures("requests") {
        if request["operation"] == "CREATE" {
            let mut update = request.clone();
            update["operation"] = json!("UPDATE");
            update["oldObject"] = request["object"].clone();
            reviews.push(Review {
                name: format!("{name} (update)"),
                module_request: update.clone(),
                request: update,
            });
        }
        let mut created = request.clone();
        created["operation"] = json!("CREATE");
        if let Some(fields) = created.as_object_mut() {
            fields.remove("oldObject");
        }
        let mut audited = audit_request(&name, &request["object"]);
        audited["kind"] = request["kind"].clone();
        reviews.push(Review {
            name: format!("{name} (audit)"),
            request: audited,
            module_request: created,
        });
        reviews.push(Review::alike(name, request));
    }
    reviews
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

/// Where an engine lacks the policy's evidence: `(settings, fixture,
/// engines, why)`. Each must show (the engine lets the request through where
/// the module refuses it), so that the list cannot go stale.
const GAPS: [(&str, &str, &[Engine], &str); 3] = [
    (
        "validator",
        "pod-stripped-owner.json",
        &ENGINES,
        "the Pod's controller is read through a lookup",
    ),
    (
        "validator",
        "pod-stripped-last-applied.json",
        &[Engine::Cel, Engine::Vap],
        "CEL cannot parse the kubectl record",
    ),
    (
        "validator-configured",
        "pod-stripped-last-applied.json",
        &[Engine::Cel, Engine::Vap],
        "CEL cannot parse the kubectl record",
    ),
];

/// The gap a review falls into: its fixture's, as requested or audited (an
/// update that changes nothing is refused by no one).
fn gap(settings_name: &str, review: &Review, engine: Engine) -> Option<&'static str> {
    let fixture = review.name.strip_suffix(" (audit)").unwrap_or(&review.name);
    GAPS.iter()
        .find(|(s, f, engines, _)| *s == settings_name && *f == fixture && engines.contains(&engine))
        .map(|(.., why)| *why)
}

/// What the module says of a request: refused, and its message.
fn module_verdict(policy: &Policy, settings: &Value, request: &Value) -> (bool, String) {
    let outcome = policy.validate(settings, request);
    (
        !outcome.response.accepted,
        outcome.response.message.clone().unwrap_or_default(),
    )
}

/// The mismatches between an engine's denials of a review and the module's
/// verdict on it: refused exactly when the module refuses (but for the named
/// gaps), with the module's message word for word, but that the
/// stripped-field rule leaves out the policy's heuristic evidence.
fn compare(
    engine: &str,
    review: &Review,
    denied: &[String],
    module: &(bool, String),
    gap: Option<&str>,
) -> Vec<String> {
    let (refused_by_module, module_message) = module;
    let refused = !denied.is_empty();
    let mut mismatches = Vec::new();
    match gap {
        Some(why) if refused || !refused_by_module => {
            mismatches.push(format!("{} {engine}: the gap ({why}) does not show", review.name))
        }
        Some(_) => {}
        None if refused != *refused_by_module => mismatches.push(format!(
            "{} {engine}: {denied:?} against the module's {module_message:?}",
            review.name
        )),
        None => {}
    }
    for message in denied {
        let said = match evidence(message) {
            Some(evidence) => {
                evidence.split("; ").all(|clause| module_message.contains(clause))
                    && module_message.contains(message.split(evidence).nth(1).unwrap_or_default())
            }
            None => module_message.contains(message.as_str()),
        };
        if !said {
            mismatches.push(format!(
                "{} {engine}: says {message:?}, the module {module_message:?}",
                review.name
            ));
        }
    }
    mismatches
}

/// Every request fixture × the validator settings, as a webhook request and
/// as audit reviews it: refused by the module exactly when a `deny` rule has
/// a violation, in every engine, with the module's message, but for the named
/// gaps. Prints the table.
#[rstest]
#[case::shipped("validator")]
#[case::configured("validator-configured")]
fn every_engine_refuses_what_the_module_refuses(#[case] settings_name: &str) {
    let settings = settings(settings_name);
    let generated = generated(&settings);
    let rules = rules(&generated);
    let policy = module();
    let mut table = String::new();
    let mut mismatches = Vec::new();
    let mut gaps_seen = 0;
    for review in reviews() {
        let module = module_verdict(&policy, &settings, &review.module_request);
        table.push_str(&format!("{:44} module: {:7}", review.name, verdict(module.0)));
        for engine in ENGINES {
            // A ValidatingAdmissionPolicy is called on CREATE and UPDATE only.
            if engine == Engine::Vap && review.audited() {
                continue;
            }
            let denied: Vec<String> = rules
                .iter()
                .filter(|rule| rule.denies(engine))
                .flat_map(|rule| rule.violations(engine, &review.request))
                .collect();
            let gap = gap(settings_name, &review, engine);
            gaps_seen += usize::from(gap.is_some());
            table.push_str(&format!(" {engine:?}: {:7}", verdict(!denied.is_empty())));
            mismatches.extend(compare(&format!("{engine:?}"), &review, &denied, &module, gap));
        }
        table.push('\n');
    }
    println!("{settings_name}:\n{table}");
    assert!(mismatches.is_empty(), "{table}\n{mismatches:#?}");
    assert!(
        gaps_seen > 0 || settings_name != "validator",
        "no gap seen: {table}"
    );
}

/// A Constraint without `parameters` (Gatekeeper binds `params` to null):
/// every review, of any kind, evaluates without an error (`cel` panics on
/// one: Gatekeeper denies on one).
#[test]
fn a_constraint_without_parameters_is_no_error() {
    let generated = generated(&settings("validator"));
    for rule in rules(&generated) {
        let source = code(rule.template, "K8sNativeValidation");
        for review in reviews() {
            let bound = Map::from_iter([("params".to_owned(), Value::Null)]);
            cel(
                &source["variables"],
                &source["validations"],
                bound,
                &review.request,
            );
        }
    }
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

/// The samples' suites: each case as `gator verify` reviews it (no
/// operation) and as a webhook CREATE, in every engine, and the module agrees.
#[rstest]
#[case::shipped("validator")]
#[case::configured("validator-configured")]
fn the_suites_pass_in_every_engine_and_the_module_agrees(#[case] settings_name: &str) {
    let settings = settings(settings_name);
    let generated = generated(&settings);
    let rules = rules(&generated);
    let cases = suite_cases(&generated);
    assert_eq!(cases.len(), 4, "two cases in each of two suites");
    for case in cases {
        let rule = rules
            .iter()
            .find(|rule| std::ptr::eq(rule.template, case.template))
            .expect("the suite's template is a rule's");
        let created = json!({"uid": case.name, "kind": {"kind": case.object["kind"]}, "operation": "CREATE",
                             "object": case.object});
        for engine in ENGINES {
            for request in [&audit_request(&case.name, case.object), &created] {
                if engine == Engine::Vap && request["operation"] == "" {
                    continue;
                }
                let found = rule.violations(engine, request);
                assert_eq!(
                    !found.is_empty(),
                    case.violations,
                    "{} {engine:?} {}: {found:?}",
                    case.name,
                    request["operation"]
                );
            }
        }
        let outcome = module().validate(&settings, &created);
        assert_eq!(
            !outcome.response.accepted, case.violations,
            "{}: {outcome:?}",
            case.name
        );
    }
}

/// A case of a generated `suite.yaml`.
struct SuiteCase<'g> {
    name: String,
    template: &'g Value,
    constraint: &'g Value,
    object: &'g Value,
    /// Whether the case asserts violations.
    violations: bool,
}

fn suite_cases(generated: &Generated) -> Vec<SuiteCase<'_>> {
    let mut cases = Vec::new();
    for (path, suite) in generated.files.iter().filter(|(p, _)| p.ends_with("/suite.yaml")) {
        let dir = path.trim_end_matches("/suite.yaml");
        let at = |relative: &Value| {
            file(
                generated,
                &format!("{dir}/{}", relative.as_str().expect("a path")),
            )
        };
        for test in suite["tests"].as_array().expect("tests") {
            for case in test["cases"].as_array().expect("cases") {
                cases.push(SuiteCase {
                    name: format!("{dir} {}", case["name"].as_str().expect("a name")),
                    template: at(&test["template"]),
                    constraint: at(&test["constraint"]),
                    object: at(&case["object"]),
                    violations: case["assertions"][0]["violations"] == "yes",
                });
            }
        }
    }
    cases
}

/// A `warn` action gives `warn` constraints; an ignored rule, none.
#[test]
fn the_actions_become_enforcement_actions() {
    let warning = generated(&json!({"mutate": false,
        "jobSidecars": {"action": "warn"}, "strippedRestartPolicy": {"action": "ignore"}}));
    let actions: Vec<(&str, &Value, &Value)> = rules(&warning)
        .into_iter()
        .map(|rule| {
            (
                rule.template["spec"]["crd"]["spec"]["names"]["kind"]
                    .as_str()
                    .expect("kind"),
                &rule.constraint["spec"]["enforcementAction"],
                &rule.binding["spec"]["validationActions"],
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("NativeSidecarJobSidecars", &json!("warn"), &json!(["Warn"]))]
    );
    let converting_validator = generated(&json!({"mutate": false, "jobSidecars": {"action": "convert"}}));
    assert_eq!(
        rules(&converting_validator)[0].constraint["spec"]["enforcementAction"],
        "deny"
    );
}

/// What Gatekeeper cannot express is refused, naming the setting.
#[rstest]
#[case::shipped_injector(fixture("settings/injector.json"), &["sidecars[0].position: first", "injectHostNetworkPods: false"])]
#[case::convert(json!({"jobSidecars": {"action": "convert"}}), &["jobSidecars.action: convert"])]
#[case::meshes(json!({"mutate": false, "jobSidecars": {"meshes": {"istio": "legacy"}}}), &["jobSidecars.meshes"])]
#[case::strategy(json!({"injectHostNetworkPods": true, "nativeSupport": {"strategy": "nodeVersion"},
    "sidecars": [{"name": "a", "position": "last", "container": {"name": "a", "image": "a"}}]}), &["nativeSupport.strategy"])]
#[case::anchored(json!({"injectHostNetworkPods": true,
    "sidecars": [{"name": "a", "position": "after:istio-proxy", "container": {"name": "a", "image": "a"}}]}), &["sidecars[0].position: after:istio-proxy"])]
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
    assert_eq!(mutator["kind"], "Assign");
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
        5,
        "two init containers, a volume, a mount, an env (no status annotation)"
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
        let by_module = without_status(
            outcome
                .patched
                .clone()
                .unwrap_or_else(|| labelled["object"].clone()),
            &labelled["object"],
        );
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

/// `patched` without the status annotation the module adds and the mutators
/// do not (docs/gatekeeper.md).
fn without_status(mut patched: Value, original: &Value) -> Value {
    if original["metadata"]["annotations"][STATUS_KEY].is_null()
        && let Some(annotations) = patched["metadata"]["annotations"].as_object_mut()
    {
        annotations.remove(STATUS_KEY);
        if annotations.is_empty() && original["metadata"]["annotations"].is_null() {
            patched["metadata"]
                .as_object_mut()
                .map(|m| m.remove("annotations"));
        }
    }
    patched
}

/// Every mutator's name fits Gatekeeper's limit, for the longest template
/// name the settings accept, and sorts in the settings' order.
#[test]
fn mutator_names_fit_and_keep_the_settings_order() {
    let long = "a".repeat(63);
    let template = |name: &str| {
        json!({"name": name, "position": "last", "container": {"name": name, "image": "busybox"},
               "volumes": [{"name": "data", "emptyDir": {}}],
               "appContainers": {"volumeMounts": [{"name": "data", "mountPath": "/d"}],
                                 "env": [{"name": "X", "value": "1"}]}})
    };
    let generated = generated(&json!({"injectHostNetworkPods": true,
        "sidecars": [template(&long), template("b")]}));
    let names: Vec<&str> = generated
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("mutation/"))
        .map(|(_, m)| m["metadata"]["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    for name in &names {
        assert!(name.len() <= 63, "{name}: {} characters", name.len());
        assert!(!name.ends_with('-'), "{name}");
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, names, "Gatekeeper's order is the settings' order");
    let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
}

/// Templates may differ in how pods opt in: each template's mutators carry
/// its own selector.
#[test]
fn each_template_selects_its_own_pods() {
    let generated = generated(&json!({"injectHostNetworkPods": true, "sidecars": [
        {"name": "a", "position": "last", "container": {"name": "a", "image": "a"}},
        {"name": "b", "position": "last", "injection": "always", "container": {"name": "b", "image": "b"}}]}));
    let selector = |name: &str| {
        generated
            .files
            .iter()
            .find(|(_, m)| m["spec"]["location"] == format!("spec.initContainers[name: {name}]"))
            .map(|(_, m)| m["spec"]["match"]["labelSelector"]["matchExpressions"][0]["operator"].clone())
            .expect("a mutator")
    };
    assert_eq!(selector("a"), "In");
    assert_eq!(selector("b"), "NotIn");
}

/// Pods the mutators treat otherwise than the module (docs/gatekeeper.md).
const MUTATION_GAPS: [(&str, &str); 1] = [(
    "pod-stripped-marker.json",
    "the pod already has the sidecars: Gatekeeper still adds the app containers' mount and env",
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
    for Rule {
        template,
        constraint,
        policy,
        ..
    } in rules(&generated)
    {
        let kind = template["spec"]["crd"]["spec"]["names"]["kind"]
            .as_str()
            .expect("kind");
        assert_eq!(template["metadata"]["name"], kind.to_lowercase());
        assert_eq!(constraint["kind"], kind);
        // gatekeeper-library's metadata and kustomization.
        let annotations = &template["metadata"]["annotations"];
        for key in [
            "metadata.gatekeeper.sh/title",
            "metadata.gatekeeper.sh/version",
            "description",
        ] {
            assert!(
                annotations[key].as_str().is_some_and(|v| !v.is_empty()),
                "{kind}: {key}"
            );
        }
        let dir = generated
            .files
            .iter()
            .find(|(_, document)| std::ptr::eq(document, template))
            .and_then(|(path, _)| path.strip_suffix("/template.yaml"))
            .expect("the template's directory");
        assert_eq!(
            file(&generated, &format!("{dir}/kustomization.yaml")),
            &json!({"resources": ["template.yaml"]})
        );
        // The ValidatingAdmissionPolicy runs the template's CEL word for
        // word, after a first variable holding the Constraint's parameters.
        let source = code(template, "K8sNativeValidation");
        let variables = policy["spec"]["variables"].as_array().expect("variables");
        assert_eq!(variables[0]["name"], "params");
        assert_eq!(
            &variables[1..],
            source["variables"].as_array().expect("variables").as_slice()
        );
        assert_eq!(policy["spec"]["validations"], source["validations"]);
        let literal = variables[0]["expression"].as_str().expect("an expression");
        let env = cel_environment();
        let params = env
            .compile(literal)
            .map(|program| program.execute(&cel::Context::with_env(env.clone())))
            .unwrap_or_else(|e| panic!("{kind}: the parameters' literal does not parse: {e}"))
            .unwrap_or_else(|e| panic!("{kind}: the parameters' literal fails: {e}"));
        assert_eq!(
            params.json().expect("JSON"),
            constraint["spec"]["parameters"],
            "{kind}"
        );
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

/// The harness built from Gatekeeper's own code (the frameworks client and
/// Rego driver, Gatekeeper's K8sNativeValidation driver on k8s.io/apiserver's
/// CEL, and the API server's ValidatingAdmissionPolicy compiler;
/// CONTRIBUTING.md says how to build it).
fn gatekeeper_harness(test: &str) -> Option<PathBuf> {
    real_tool("GATEKEEPER_HARNESS", "nsp-gatekeeper-harness", test)
}

/// One document in, one out (the harness's protocol).
fn run_harness(harness: &Path, input: &Value) -> Value {
    run_json(&mut std::process::Command::new(harness), input)
        .unwrap_or_else(|e| panic!("the harness failed: {e}"))
}

/// A review in the harness's terms.
fn harness_review(request: &Value) -> Value {
    if request["operation"] == "" {
        json!({"source": "gator", "object": request["object"]})
    } else {
        json!({"source": "webhook", "operation": request["operation"], "object": request["object"],
               "oldObject": request.get("oldObject").cloned().unwrap_or(Value::Null)})
    }
}

/// Each review's messages from Gatekeeper (`engine`: "" as Gatekeeper picks,
/// or one driver), after checking that the template and Constraint are
/// accepted and no review errs (an error is a deny under `Fail`).
fn gatekeeper_violations(
    harness: &Path,
    rule: &Rule,
    constraint: &Value,
    engine: &str,
    requests: &[&Value],
) -> Vec<Vec<String>> {
    let answer = run_harness(
        harness,
        &json!({"mode": "gatekeeper", "template": rule.template, "constraint": constraint, "engine": engine,
                "reviews": requests.iter().map(|r| harness_review(r)).collect::<Vec<_>>()}),
    );
    let kind = &rule.constraint["kind"];
    assert_eq!(answer["templateError"], Value::Null, "{kind}");
    assert_eq!(answer["constraintError"], Value::Null, "{kind}");
    if engine.is_empty() {
        assert_eq!(
            answer["engine"], "K8sNativeValidation",
            "{kind}: Gatekeeper picks CEL"
        );
    }
    per_review(&answer, requests, &kind.to_string(), |result| {
        result["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v["msg"].as_str().expect("a msg").to_owned())
            .collect()
    })
}

/// The harness's results, one per request, none an error, each read by `read`.
fn per_review(
    answer: &Value,
    requests: &[&Value],
    what: &str,
    read: impl Fn(&Value) -> Vec<String>,
) -> Vec<Vec<String>> {
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), requests.len(), "{what}");
    results
        .iter()
        .zip(requests)
        .map(|(result, request)| {
            assert_eq!(result["error"], Value::Null, "{what} on {}", request["uid"]);
            read(result)
        })
        .collect()
}

/// Each review's deny messages from the ValidatingAdmissionPolicy, as the
/// API server's own compiler and evaluator give them, after checking that
/// every expression compiles.
fn admission_policy_denials(harness: &Path, rule: &Rule, requests: &[&Value]) -> Vec<Vec<String>> {
    let answer = run_harness(
        harness,
        &json!({"mode": "vap", "policy": rule.policy, "binding": rule.binding, "params": null,
                "reviews": requests.iter().map(|r| harness_review(r)).collect::<Vec<_>>()}),
    );
    let name = rule.policy["metadata"]["name"].to_string();
    assert_eq!(answer["compileErrors"], json!([]), "{name}");
    per_review(&answer, requests, &name, |result| {
        result["decisions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                assert_ne!(d["action"], "error", "{name}: {d}");
                d["action"] == "deny"
            })
            .map(|d| d["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    })
}

/// Through Gatekeeper's own code: every template and Constraint accepted, CEL
/// picked, no review erring (with and without parameters), and Gatekeeper's
/// CEL, its Rego and the ValidatingAdmissionPolicy each refusing what the
/// module refuses, with its message, on every review but the named gaps.
#[rstest]
#[case::shipped("validator")]
#[case::configured("validator-configured")]
fn gatekeeper_itself_refuses_what_the_module_refuses(#[case] settings_name: &str) {
    let test = "gatekeeper_itself_refuses_what_the_module_refuses";
    let Some(harness) = gatekeeper_harness(test) else {
        return;
    };
    let settings = settings(settings_name);
    let generated = generated(&settings);
    let reviews = reviews();
    let requests: Vec<&Value> = reviews.iter().map(|r| &r.request).collect();
    for rule in rules(&generated) {
        let mut bare = rule.constraint.clone();
        bare["spec"].as_object_mut().map(|spec| spec.remove("parameters"));
        gatekeeper_violations(&harness, &rule, &bare, "", &requests);
    }
    let modules = module_verdicts(&module(), &settings, &reviews);
    let mismatches = harness_disagreements(&harness, &settings, &reviews, &modules, |review, engine| {
        gap(settings_name, review, engine)
    });
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// Through Gatekeeper's own code: each suite case as `gator verify` reviews
/// it and as a webhook CREATE.
#[test]
fn gatekeeper_itself_passes_the_suites() {
    let Some(harness) = gatekeeper_harness("gatekeeper_itself_passes_the_suites") else {
        return;
    };
    let generated = generated(&settings("validator"));
    let rules = rules(&generated);
    for case in suite_cases(&generated) {
        let rule = rules
            .iter()
            .find(|rule| std::ptr::eq(rule.template, case.template))
            .expect("the suite's template is a rule's");
        let audited = audit_request(&case.name, case.object);
        let created = json!({"uid": case.name, "operation": "CREATE", "object": case.object});
        let answers = gatekeeper_violations(&harness, rule, case.constraint, "", &[&audited, &created]);
        for (found, how) in answers.iter().zip(["gator", "CREATE"]) {
            assert_eq!(
                !found.is_empty(),
                case.violations,
                "{} as {how}: {found:?}",
                case.name
            );
        }
    }
}

/// Command lines for the heuristic (endless.rs's table and the edges of its
/// reading: separators, repeated words, durations of any length).
const COMMAND_LINES: [&[&str]; 30] = [
    &["sh", "-c", "tail -F /opt/logs.txt"],
    &["tail", "-f", "/var/log/app.log"],
    &["tail", "-n0", "-qF", "/x"],
    &["tail", "--follow=name", "/x"],
    &["tail", "--followx", "/x"],
    &["tail", "-n", "100", "/var/log/app.log"],
    &["tail", "f"],
    &["timeout", "60", "tail", "-f", "/x"],
    &["sleep", "infinity"],
    &["/bin/sh", "-c", "echo ready;sleep\tinf"],
    &["sleep", "2147483647"],
    &["sleep", "31536000"],
    &["sleep", "31535999s"],
    &["sleep", "+0031536000ss"],
    &["sleep", "365d"],
    &["sleep", "364d"],
    &["sleep", "18446744073709551615"],
    &["sleep", "18446744073709551616"],
    &["sleep", "sleep", "999999999"],
    &["infinity", "sleep"],
    &["sleep", "3600"],
    &["sh", "-c", "while true; do ship-logs; sleep 5; done"],
    &["bash", "-c", "while :; do date; sleep 1; done"],
    &["sh", "-c", "while [ 1 ]; do x; done"],
    &["sh", "-c", "until false; do x; done"],
    &["sh", "-c", "while true; do check && exit 0; sleep 5; done"],
    &["sh", "-c", "while true; do [ -f /done ] && break; sleep 1; done"],
    &["sh", "-c", "for i in 1 2 3; do x; done"],
    &["app", "--verbose=true", "--while"],
    &["sh", "-c", "while\u{a0}true;(x)&&y|z; done"],
];

/// The command-line heuristic, refused (`endlessCommands: reject`) or only
/// counted (`warn`), gives in every engine the module's verdict and message:
/// beside a main container, alone (all the Job's containers then), and
/// declared one-shot.
#[rstest]
#[case::reject("reject")]
#[case::warn("warn")]
fn the_command_line_heuristic_is_the_modules(#[case] endless: &str) {
    let settings = json!({"mutate": false, "jobSidecars": {"action": "reject", "endlessCommands": endless},
                          "strippedRestartPolicy": {"action": "ignore"}});
    let policy = Policy::new();
    let mut reviews = Vec::new();
    for (i, command) in COMMAND_LINES.iter().enumerate() {
        let candidate = json!({"name": "helper", "image": "busybox", "command": command});
        let main = json!({"name": "main", "image": "busybox", "command": ["make-report"]});
        for (shape, containers, annotations) in [
            ("beside main", json!([main, candidate]), json!({})),
            ("alone", json!([candidate]), json!({})),
            (
                "one-shot",
                json!([main, candidate]),
                json!({"native-sidecar.kubewarden.io/one-shot": "x, helper"}),
            ),
        ] {
            reviews.push(job_created(
                &format!("{i} {command:?} {shape}"),
                containers,
                annotations,
            ));
        }
    }
    let modules = module_verdicts(&policy, &settings, &reviews);
    let mismatches = disagreements(
        &settings,
        &reviews,
        &modules,
        "the_command_line_heuristic_is_the_modules",
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // Not a table that refuses nothing: the heuristic finds some under reject.
    let refused = modules.iter().filter(|(refused, _)| *refused).count();
    assert_eq!(refused > 0, endless == "reject", "{refused} refused");
}

/// A Job CREATE with these containers and pod-template annotations.
fn job_created(name: &str, containers: Value, annotations: Value) -> Review {
    let request = json!({
        "uid": name, "kind": {"group": "batch", "version": "v1", "kind": "Job"}, "operation": "CREATE",
        "object": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "report"},
                   "spec": {"template": {"metadata": {"annotations": annotations},
                                         "spec": {"restartPolicy": "Never", "containers": containers}}}},
    });
    Review::alike(name, request)
}

fn module_verdicts(policy: &Policy, settings: &Value, reviews: &[Review]) -> Vec<(bool, String)> {
    reviews
        .iter()
        .map(|review| module_verdict(policy, settings, &review.module_request))
        .collect()
}

/// Where the rules generated from `settings` do not give `modules`' verdicts
/// and messages on `reviews`: in every fast engine, and through Gatekeeper's
/// own engines when present.
fn disagreements(
    settings: &Value,
    reviews: &[Review],
    modules: &[(bool, String)],
    test: &str,
) -> Vec<String> {
    let generated = generated(settings);
    let rules = rules(&generated);
    let mut mismatches = Vec::new();
    for (review, module) in reviews.iter().zip(modules) {
        for engine in ENGINES {
            let denied: Vec<String> = rules
                .iter()
                .filter(|rule| rule.denies(engine))
                .flat_map(|rule| rule.violations(engine, &review.request))
                .collect();
            mismatches.extend(compare(&format!("{engine:?}"), review, &denied, module, None));
        }
    }
    if let Some(harness) = gatekeeper_harness(&format!("{test} (Gatekeeper itself)")) {
        mismatches.extend(harness_disagreements(
            &harness,
            settings,
            reviews,
            modules,
            |_, _| None,
        ));
    }
    mismatches
}

/// Where Gatekeeper's own engines (its CEL, its Rego) and the API server's
/// ValidatingAdmissionPolicy, given the rules generated from `settings`, do
/// not give `modules`' verdicts and messages on `reviews`, but for `gap`s.
/// A ValidatingAdmissionPolicy sees no audit review.
fn harness_disagreements(
    harness: &Path,
    settings: &Value,
    reviews: &[Review],
    modules: &[(bool, String)],
    gap: impl Fn(&Review, Engine) -> Option<&'static str>,
) -> Vec<String> {
    let generated = generated(settings);
    let rules = rules(&generated);
    let requests: Vec<&Value> = reviews.iter().map(|r| &r.request).collect();
    // Each engine's denials of each review, from every rule that denies.
    let mut denied: BTreeMap<(&str, Engine), Vec<Vec<String>>> = BTreeMap::new();
    for rule in rules.iter().filter(|rule| rule.denies(Engine::Cel)) {
        for (engine, answer) in [
            (
                ("Gatekeeper", Engine::Cel),
                gatekeeper_violations(harness, rule, rule.constraint, "", &requests),
            ),
            (
                ("Gatekeeper Rego", Engine::Rego),
                gatekeeper_violations(harness, rule, rule.constraint, "Rego", &requests),
            ),
            (
                ("ValidatingAdmissionPolicy", Engine::Vap),
                admission_policy_denials(harness, rule, &requests),
            ),
        ] {
            let all = denied
                .entry(engine)
                .or_insert_with(|| vec![Vec::new(); requests.len()]);
            for (messages, more) in all.iter_mut().zip(answer) {
                messages.extend(more);
            }
        }
    }
    let mut mismatches = Vec::new();
    for ((name, engine), answers) in &denied {
        for ((review, module), messages) in reviews.iter().zip(modules).zip(answers) {
            if *engine == Engine::Vap && review.audited() {
                continue;
            }
            mismatches.extend(compare(name, review, messages, module, gap(review, *engine)));
        }
    }
    mismatches
}

/// The injection marker is read as the module reads it: any value, the empty
/// one too, names the sidecar the policy injected, with no catalog hint.
#[test]
fn the_injection_marker_is_read_as_the_module_reads_it() {
    let settings = settings("validator");
    let policy = Policy::new();
    let marked = |name: &str, image: &str, value: &str| {
        json!({"name": name, "image": image, "args": ["proxy", "sidecar"],
               "env": [{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": value}]})
    };
    let main = json!({"name": "main", "image": "busybox"});
    let reviews = [
        job_created(
            "empty marker",
            json!([main, marked("shipper", "busybox", "")]),
            json!({}),
        ),
        job_created(
            "marked proxy",
            json!([main, marked("istio-proxy", "istio/proxyv2:1.24", "mesh")]),
            json!({}),
        ),
        job_created(
            "marked and catalogued",
            json!([main, marked("istio-proxy", "istio/proxyv2:1.24", "mesh"),
                   {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:edge"}]),
            json!({}),
        ),
    ];
    let modules = module_verdicts(&policy, &settings, &reviews);
    assert!(modules.iter().all(|(refused, _)| *refused), "{modules:?}");
    let mismatches = disagreements(
        &settings,
        &reviews,
        &modules,
        "the_injection_marker_is_read_as_the_module_reads_it",
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// Which pods and updates are checked, in every engine as in the module: a
/// pod a listed controller owns (Workflow), not one another controller owns
/// (TaskRun), a bare pod; a CronJob update that only labels its template, and
/// one that only labels the CronJob.
#[test]
fn owners_and_template_updates_are_scoped_as_the_module_scopes_them() {
    let mut settings = settings("validator");
    settings["jobSidecars"]["ownerKinds"] = json!(["Workflow"]);
    let workflow_pod = fixture("requests/pod-argo-workflow-istio.json");
    let owned_by = |kind: &str| {
        let mut pod = workflow_pod.clone();
        match kind {
            "" => drop(
                pod["object"]["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("ownerReferences")),
            ),
            kind => pod["object"]["metadata"]["ownerReferences"][0]["kind"] = json!(kind),
        }
        pod
    };
    let cronjob = fixture("requests/cronjob-cloud-sql-proxy.json");
    let updated = |template_label: bool| {
        let mut update = cronjob.clone();
        update["operation"] = json!("UPDATE");
        update["oldObject"] = cronjob["object"].clone();
        if template_label {
            update["object"]["spec"]["jobTemplate"]["spec"]["template"]["metadata"] =
                json!({"labels": {"team": "b"}});
        } else {
            update["object"]["metadata"]["labels"] = json!({"team": "b"});
        }
        update
    };
    let reviews: Vec<Review> = [
        ("Workflow's pod", owned_by("Workflow")),
        ("TaskRun's pod", owned_by("TaskRun")),
        ("bare pod", owned_by("")),
        ("template labelled", updated(true)),
        ("CronJob labelled", updated(false)),
    ]
    .into_iter()
    .map(|(name, request)| Review::alike(name, request))
    .collect();
    let modules = module_verdicts(&Policy::new(), &settings, &reviews);
    assert_eq!(
        modules.iter().map(|(refused, _)| *refused).collect::<Vec<_>>(),
        [true, false, true, true, false]
    );
    let mismatches = disagreements(
        &settings,
        &reviews,
        &modules,
        "owners_and_template_updates_are_scoped_as_the_module_scopes_them",
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// The author's own edit, as every engine tells it from the module's rule
/// (the stored kubectl record had the field, the new one lists the container
/// without it): beside another native sidecar that keeps its field; not when
/// the stored record never had it; not when a webhook stripped it (the new
/// record keeps it).
#[test]
fn the_authors_edit_is_told_alike_in_every_engine() {
    let authored = fixture("requests/cronjob-update-authored.json");
    let record = |object: &Value| -> Value {
        serde_json::from_str(
            object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .expect("a record"),
        )
        .expect("JSON")
    };
    let with_proxy = |object: &mut Value| {
        let proxy =
            json!({"name": "proxy", "image": "registry.example.com/ops/proxy:2", "restartPolicy": "Always"});
        let mut applied = record(object);
        for spec in [
            &mut object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            &mut applied["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        ] {
            spec["initContainers"]
                .as_array_mut()
                .expect("init containers")
                .push(proxy.clone());
        }
        object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!(applied.to_string());
    };
    let mut beside_a_sidecar = authored.clone();
    with_proxy(&mut beside_a_sidecar["object"]);
    with_proxy(&mut beside_a_sidecar["oldObject"]);
    let mut stale = authored.clone();
    stale["oldObject"]["metadata"]["annotations"] = authored["object"]["metadata"]["annotations"].clone();
    let mut stripped = authored.clone();
    stripped["object"]["metadata"]["annotations"] = authored["oldObject"]["metadata"]["annotations"].clone();
    let reviews: Vec<Review> = [
        ("authored", authored),
        ("authored beside a sidecar", beside_a_sidecar),
        ("stale record", stale),
        ("stripped by a webhook", stripped),
    ]
    .into_iter()
    .map(|(name, request)| Review::alike(name, request))
    .collect();
    let settings = settings("validator");
    let modules = module_verdicts(&Policy::new(), &settings, &reviews);
    assert_eq!(
        modules.iter().map(|(refused, _)| *refused).collect::<Vec<_>>(),
        [false, false, true, true]
    );
    let mismatches = disagreements(
        &settings,
        &reviews,
        &modules,
        "the_authors_edit_is_told_alike_in_every_engine",
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
