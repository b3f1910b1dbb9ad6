//! Properties over random Pods and settings, evaluated natively (the same
//! `evaluate` the waPC module runs): whatever the pod, the host-computed patch
//! only adds what the policy means to add, evaluating the result again changes
//! nothing, and the answer is always the same.
//!
//! The case count is fixed for CI; `PROPTEST_CASES=10000 cargo test --test
//! properties` explores more.

use crate::harness;

use harness::{api_server_validator, fixture, lost_fields, new_api_server_errors};
use native_sidecar_policy::adapter::evaluate;
use native_sidecar_policy::cluster::{Cluster, Snapshot};
use std::cell::{Cell, RefCell};
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Value, json};

/// A cluster with one old and one new node, for the nodeVersion settings,
/// answered as Kubewarden's host answers: a node by name, a list by label
/// selector.
fn two_nodes() -> &'static Snapshot {
    static NODES: LazyLock<Snapshot> =
        LazyLock::new(|| Snapshot::from_documents([fixture("nodes/two-nodes.json")]));
    &NODES
}

/// The same two nodes for a policy that reads them all: its node GETs
/// fail, and it has no pool to ask for.
struct WholeList;

impl Cluster for WholeList {
    fn get_resource(&self, _: &str, _: &str, _: &str, _: &str, _: &[&str]) -> Result<Value, String> {
        Err("the server is currently unable to handle the request".to_owned())
    }

    fn list_all(
        &self,
        api_version: &str,
        kind: &str,
        selector: &str,
        fields: &[&str],
    ) -> Result<Vec<u8>, String> {
        match selector {
            "" => two_nodes().list_all(api_version, kind, "", fields),
            asked => Err(format!("asked for a pool ({asked})")),
        }
    }
}

/// The settings the properties are checked under.
fn settings(choice: usize) -> Value {
    let mut injector = fixture("settings/injector.json");
    // The converter's settings, with templates, so that it also injects.
    let mut converter = injector.clone();
    converter["jobSidecars"] = fixture("settings/converter.json")["jobSidecars"].clone();
    let mut variants = vec![
        injector.clone(),
        fixture("settings/universal.json"),
        fixture("settings/enforced.json"),
        converter,
        fixture("settings/node-version.json"),
    ];
    injector["jobSidecars"] = json!({"action": "convert"});
    injector["nativeSupport"] = json!({"strategy": "nodeLabel"});
    if let Some(templates) = injector["sidecars"].as_array_mut() {
        for (template, position) in templates.iter_mut().zip(["after:setup", "before:migrate"]) {
            template["position"] = json!(position);
        }
    }
    variants.push(injector);
    variants.swap_remove(choice % 6)
}

/// A value of no meaning to the policy, at any depth: what newer API servers add.
fn unknown() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from)
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("z[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Names that sometimes collide with the templates' containers and volumes.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,3}",
        1 => prop::sample::select(vec!["log-shipper", "metrics-agent", "mesh-proxy", "app", "setup", "migrate", "istio-proxy", "daprd"]).prop_map(str::to_owned),
    ]
}

fn container() -> impl Strategy<Value = Value> {
    (
        name(),
        prop::sample::select(vec![
            "busybox",
            "cr.fluentbit.io/fluent/fluent-bit:3",
            "docker.io/istio/proxyv2:1.22",
            "envoyproxy/envoy:v1",
        ]),
        prop::collection::vec(("[A-Z]{1,3}", "[a-z]{0,3}"), 0..3),
        prop::collection::vec(
            (
                prop::sample::select(vec!["app-logs", "data", "cfg"]),
                "/[a-z]{1,4}",
            ),
            0..2,
        ),
        prop::option::of(unknown()),
        prop::option::of(prop::sample::select(vec!["Always", "Never"])),
    )
        .prop_map(|(name, image, env, mounts, extra, restart)| {
            let mut c = json!({"name": name, "image": image});
            if !env.is_empty() {
                c["env"] = env
                    .into_iter()
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect();
            }
            if !mounts.is_empty() {
                c["volumeMounts"] = mounts
                    .into_iter()
                    .map(|(n, p)| json!({"name": n, "mountPath": p}))
                    .collect();
            }
            if let Some(extra) = extra {
                c["zFuture"] = extra;
            }
            if let Some(restart) = restart {
                c["restartPolicy"] = json!(restart);
            }
            c
        })
}

/// Containers with unique names, as the API server requires.
fn containers(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(container(), range).prop_map(|list| {
        let mut seen = Vec::new();
        list.into_iter()
            .filter(|c| {
                let name = c["name"].as_str().unwrap_or_default().to_owned();
                let fresh = !seen.contains(&name);
                seen.push(name);
                fresh
            })
            .collect()
    })
}

prop_compose! {
    fn pod()(
        containers in containers(1..5),
        init in containers(0..3),
        volumes in prop::collection::vec((prop::sample::select(vec!["app-logs", "data", "cfg", "native-sidecar-handshake"]), prop::bool::weighted(0.8)), 0..3),
        restart in prop_oneof![3 => Just("Always"), 1 => Just("Never"), 1 => Just("OnFailure")],
        // Mostly a pod that asks for its sidecars, so that most cases mutate.
        ask in prop_oneof![6 => Just("true"), 1 => Just(""), 1 => Just("false"), 1 => Just("log-shipper"),
                           1 => Just("metrics-agent,nope"), 1 => Just("debug-shell")],
        placement in prop::sample::select(vec!["", "nodeSelector", "nodeName", "affinity", "pool and zone", "nodeName new"]),
        spec_extra in unknown(),
        meta_extra in unknown(),
    ) -> Value {
        let init: Vec<Value> = init.into_iter().filter(|i| !containers.iter().any(|c| c["name"] == i["name"])).collect();
        let mut volume_names = Vec::new();
        let volumes: Vec<Value> = volumes.into_iter().filter(|(n, _)| { let fresh = !volume_names.contains(n); volume_names.push(*n); fresh })
            .map(|(n, empty)| if empty { json!({"name": n, "emptyDir": {}}) } else { json!({"name": n, "hostPath": {"path": "/x"}}) })
            .collect();
        let mut spec = json!({"containers": containers, "restartPolicy": restart, "zSpecFuture": spec_extra});
        if !init.is_empty() { spec["initContainers"] = Value::Array(init); }
        if !volumes.is_empty() { spec["volumes"] = Value::Array(volumes); }
        match placement {
            "nodeSelector" => spec["nodeSelector"] = json!({"pool": "new"}),
            "nodeName" => spec["nodeName"] = json!("old"),
            "nodeName new" => spec["nodeName"] = json!("new"),
            // A pool and a label no node has.
            "pool and zone" => spec["nodeSelector"] = json!({"pool": "old", "zone": "a"}),
            "affinity" => spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]}}}),
            _ => {}
        }
        let mut metadata = json!({"name": "p", "zMetaFuture": meta_extra});
        if !ask.is_empty() { metadata["annotations"] = json!({"native-sidecar.kubewarden.io/inject": ask}); }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
    }
}

fn validate(settings: &Value, object: &Value) -> Value {
    validate_in(two_nodes(), settings, object)
}

fn validate_in(cluster: &dyn Cluster, settings: &Value, object: &Value) -> Value {
    let request = json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "n", "object": object});
    let payload = json!({"settings": settings, "request": request}).to_string();
    let verdict = evaluate(payload.as_bytes(), cluster);
    if let Err(broken) = verdict.well_formed() {
        panic!("an ill-formed answer ({broken}): {verdict:?}");
    }
    serde_json::to_value(verdict).unwrap_or(Value::Null)
}

/// The regular containers `patched` moved into `initContainers` are the
/// originals, untouched but for `restartPolicy: Always` and the marker.
fn moved_containers_are_intact(original: &Value, patched: &Value) -> Result<(), String> {
    let names =
        |v: &Value, list: &str| -> Vec<Value> { v["spec"][list].as_array().cloned().unwrap_or_default() };
    for before in names(original, "containers") {
        if names(patched, "containers")
            .iter()
            .any(|c| c["name"] == before["name"])
        {
            continue;
        }
        let mut expected = before.clone();
        expected["restartPolicy"] = json!("Always");
        let marker = json!({"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "(converted)"});
        match expected["env"].as_array_mut() {
            Some(env) if env.iter().any(|e| e["name"] == marker["name"]) => {}
            Some(env) => env.push(marker),
            None => expected["env"] = json!([marker]),
        }
        if !names(patched, "initContainers").contains(&expected) {
            return Err(format!("{} was moved and changed", before["name"]));
        }
    }
    Ok(())
}

/// The properties of one evaluation; `Ok(true)` when it mutated (and so
/// reached every check), `Ok(false)` when the answer was "nothing to do".
fn check(
    object: &Value,
    choice: usize,
    moved: &Cell<usize>,
    samples: &RefCell<Vec<(String, Value, Value)>>,
) -> Result<bool, TestCaseError> {
    let settings = settings(choice);
    let response = validate(&settings, object);
    prop_assert_eq!(&validate(&settings, object), &response, "deterministic");
    // (`validate` checked that the answer is a well-formed verdict.)
    let Some(mutated) = response.get("mutated_object").filter(|m| !m.is_null()) else {
        return Ok(false);
    };

    // What the host does: diff, then the API server applies the patch.
    let patch = json_patch::diff(object, mutated);
    let mut patched = object.clone();
    prop_assert!(json_patch::patch(&mut patched, &patch).is_ok());
    prop_assert_eq!(&patched, mutated);

    // Convert moves containers: they must arrive intact, and everything
    // else only gains.
    let stayed = |c: &&Value| {
        patched["spec"]["containers"]
            .as_array()
            .is_some_and(|l| l.contains(c))
    };
    let mut unmoved = object.clone();
    if let Some(list) = unmoved["spec"]["containers"].as_array_mut() {
        let before = list.len();
        list.retain(|c| stayed(&c));
        if list.len() < before {
            moved.set(moved.get() + 1);
            prop_assert_eq!(moved_containers_are_intact(object, &patched), Ok(()));
        }
    }
    let lost = lost_fields(&unmoved, &patched, "");
    prop_assert!(lost.is_empty(), "lost: {:?}", lost);
    if samples.borrow().len() < 128 {
        let request = json!({"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
                             "namespace": "n", "object": object});
        let name = format!("sample under settings {choice}: {object}");
        samples.borrow_mut().push((name, request, patched.clone()));
    }

    let again = validate(&settings, &patched);
    prop_assert_eq!(again["accepted"].as_bool(), Some(true), "{}", again);
    prop_assert!(
        again["mutated_object"].is_null(),
        "second pass mutated: {}",
        again
    );
    Ok(true)
}

/// Whatever the pod and settings: the host-computed patch only adds (or, in
/// convert, moves whole containers), evaluating the result again changes
/// nothing, and the answer is always the same. The generators are steered so
/// that most cases reach every check, and the test says how many did.
#[test]
fn patches_only_add_are_idempotent_and_deterministic() {
    // 256 cases unless PROPTEST_CASES says otherwise.
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let (mutated, moved) = (Cell::new(0usize), Cell::new(0usize));
    let samples = RefCell::new(Vec::new());
    runner
        .run(&(pod(), 0usize..6), |(object, choice)| {
            if check(&object, choice, &moved, &samples)? {
                mutated.set(mutated.get() + 1);
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let (mutated, moved) = (mutated.get(), moved.get());
    println!("{cases} cases: {mutated} mutated and checked, {moved} of them converted containers");
    assert!(
        mutated * 2 >= cases as usize,
        "only {mutated} of {cases} cases reached the checks"
    );
    assert!(
        moved * 50 >= cases as usize,
        "only {moved} of {cases} cases converted a container"
    );
    // What the API server makes of the mutated samples, when its own code is here.
    if let Some(validator) =
        api_server_validator("patches_only_add_are_idempotent_and_deterministic (API server)")
    {
        let found = new_api_server_errors(&validator, &samples.into_inner());
        assert!(found.is_empty(), "{found:#?}");
    }
}

/// Under nodeVersion, asking for less (a bound pod's node by name, a listed
/// pool by label selector) decides what reading every node decides,
/// message for message, whatever the pod.
#[test]
fn the_pool_and_bound_node_lookups_decide_as_the_whole_list() {
    let whole = fixture("settings/node-version.json");
    let mut pooled = whole.clone();
    pooled["nativeSupport"]["nodePools"] = json!({"pool": ["old", "new"]});
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    });
    let placed = Cell::new(0usize);
    runner
        .run(&pod(), |object| {
            let by_pool = validate(&pooled, &object);
            let by_list = validate_in(&WholeList, &whole, &object);
            prop_assert_eq!(&by_pool, &by_list);
            if object["spec"]["nodeName"].is_string() || object["spec"]["nodeSelector"].is_object() {
                placed.set(placed.get() + 1);
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(placed.get() >= 32, "only {} pods were placed", placed.get());
}

/// Unknown fields at every level survive, byte for byte.
#[test]
fn unknown_fields_survive_every_settings_variant() {
    let object = json!({"apiVersion": "v1", "kind": "Pod", "zTop": {"k": [1, {"v": null}]},
        "metadata": {"name": "p", "zMeta": 1.5, "annotations": {"native-sidecar.kubewarden.io/inject": "true"}},
        "spec": {"zSpec": "s", "restartPolicy": "Always",
                 "initContainers": [{"name": "setup", "image": "i", "zInit": [true]}],
                 "containers": [{"name": "app", "image": "i", "zApp": {"x": "y"}}, {"name": "daprd", "image": "d", "zSide": 7}]}});
    let mut checked = 0;
    for choice in 0..6 {
        let response = validate(&settings(choice), &object);
        let Some(mutated) = response.get("mutated_object").filter(|m| !m.is_null()) else {
            continue;
        };
        checked += 1;
        let text = mutated.to_string();
        for needle in [
            r#""zTop":{"k":[1,{"v":null}]}"#,
            r#""zMeta":1.5"#,
            r#""zSpec":"s""#,
            r#""zInit":[true]"#,
            r#""zApp":{"x":"y"}"#,
            r#""zSide":7"#,
        ] {
            assert!(
                text.contains(needle),
                "settings {choice}: {needle} lost in {text}"
            );
        }
    }
    assert!(checked >= 4, "most variants mutate this pod");
}
