//! Admission latency, natively and under wasmtime, each figure beside its floors:
//! - native: the policy's whole path (`evaluate` + serialising the response)
//!   against serde_json parsing the same payload and serialising the same response;
//! - wasm: each request as Kubewarden's policy-evaluator handles it (serialise
//!   the payload, call `validate` through waPC under wasmtime, read the answer,
//!   diff `mutated_object` into a JSON Patch: `harness::Policy::admit`), for the
//!   real module against the SDK floors (`benches/sdk-floor`: the SDK reads the
//!   request, then accepts; or, the mutating floor, answers the object with one
//!   annotation added, which the host reads back and diffs) and, on the typical
//!   pod, against official Kubewarden policies built from kubewarden/policies,
//!   found in the directory `$OFFICIAL_POLICIES` (each one missing is skipped,
//!   saying so);
//! - new-instance: the same on the typical pod with every module instantiated
//!   afresh for each request, as the policy-server runs every evaluation;
//! - where the time of the typical pod's injection goes: natively, parsing the
//!   payload, the settings (compiled, as an instance's first request does, and
//!   reused, as a warm instance does: `SettingsCache`), deciding, and the rest
//!   (applying the plan and serialising the response); under wasmtime, for
//!   this module, the floors and the official policies alike, the host's
//!   serialising, the module's call and the host's reading and diffing (warm),
//!   and instantiating and calling in a fresh instance, as the policy-server
//!   does;
//! - cold start: compile + link + instantiate the module, instantiate it (and
//!   the floor); `validate_settings` on the largest shipped settings;
//! - peak linear memory of the large pod, found by capping the instance's memory;
//! - the node lookup of `nativeSupport.strategy: nodeVersion` by cluster size
//!   (2 to 15,000 nodes, 21 labels each as managed clusters carry, 250 per
//!   pool): what the host does (serialise its answer, with the field masks
//!   the policy asks; the nodes as the policy-server keeps them, metadata
//!   whole), the module's call, beside a floor that makes the same call and
//!   parses the answer into a `serde_json::Value` (benches/sdk-floor,
//!   feature `lookup`); a pod pinned to one pool (`nativeSupport.nodePools`);
//!   a pod whose `nodeSelector` names no pool; the instance's memory at
//!   15,000 nodes.
//!
//! `make bench` runs it and prints the tables. Numbers are reported, never asserted.

#[path = "../tests/it/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use harness::{Policy, compile, compiled, fixture, host_payload, link, linked, read_answer};
use native_sidecar_policy::adapter::{Payload, SettingsCache, Verdict, evaluate};
use native_sidecar_policy::cluster::Cluster;
use native_sidecar_policy::decide::decide;
use native_sidecar_policy::request::Request;
use native_sidecar_policy::settings::Settings;
use serde_json::{Value, json};
use wasmtime_provider::WasmtimeEngineProviderPre;

struct NoCluster;

impl Cluster for NoCluster {
    fn get_resource(&self, _: &str, _: &str, _: &str, _: &str, _: &[&str]) -> Result<Value, String> {
        Err("no cluster".to_owned())
    }
    fn list_all(&self, _: &str, _: &str, _: &str, _: &[&str]) -> Result<Vec<u8>, String> {
        Err("no cluster".to_owned())
    }
}

fn container(i: usize, env: usize) -> Value {
    json!({
        "name": format!("app-{i}"), "image": format!("registry.example.com/team/service-{i}:1.2.3"),
        "ports": [{"containerPort": 8080, "name": "http"}],
        "env": (0..env).map(|e| json!({"name": format!("SETTING_{e}"), "value": format!("value-{e}-{}", "x".repeat(20))})).collect::<Vec<_>>(),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}, "periodSeconds": 10},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]
    })
}

fn pod(containers: usize, env: usize) -> Value {
    json!({"uid": "bench", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "namespace": "bench",
           "object": {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web-7d9f8-abcde", "namespace": "bench",
                            "labels": {"app": "web", "pod-template-hash": "7d9f8", "native-sidecar.kubewarden.io/inject": "true"},
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8", "uid": "1", "controller": true}]},
               "spec": {"containers": (0..containers).map(|i| container(i, env)).collect::<Vec<_>>(),
                        "volumes": [{"name": "config", "configMap": {"name": "web"}}],
                        "serviceAccountName": "web", "restartPolicy": "Always"}}})
}

/// Official Kubewarden policies measured on the typical pod (pod-ndots and
/// user-group-psp mutate it, pod-privileged validates it): name, file in
/// `$OFFICIAL_POLICIES` (as `cargo build --target wasm32-wasip1 --release`
/// names it in kubewarden/policies), settings.
const OFFICIAL: [(&str, &str, &str); 3] = [
    ("pod-ndots", "pod_ndots.wasm", r#"{"ndots": 5}"#),
    ("pod-privileged", "pod_privileged_policy.wasm", "{}"),
    (
        "user-group-psp",
        "user_group_psp.wasm",
        r#"{"run_as_user": {"rule": "MustRunAsNonRoot"}}"#,
    ),
];

/// What a module answered, in a few words: each figure is only worth
/// something beside the answer it timed.
fn answer(admitted: Result<(Verdict, Option<json_patch::Patch>), String>) -> String {
    match admitted {
        Err(e) => format!("FAILED: {e}"),
        Ok((verdict, _)) if !verdict.accepted => "rejects".to_owned(),
        Ok((_, Some(patch))) => format!("mutates ({} patch operations)", patch.0.len()),
        Ok((_, None)) => "accepts".to_owned(),
    }
}

/// A new instance of a linked module, with no cluster behind its host calls.
fn instance(linked: &WasmtimeEngineProviderPre) -> Policy {
    Policy::instantiate(linked, |_, _| Err("no cluster".to_owned()))
}

/// Where `make bench` builds the SDK floor (benches/sdk-floor), or a variant
/// (`sdk-floor-mutating`, `sdk-floor-lookup`).
fn floor_path(variant: &str) -> PathBuf {
    let dir = variant;
    target_dir()
        .join(dir)
        .join("wasm32-wasip1/release/sdk_floor.wasm")
}

/// The policy module at `path`, compiled and linked, ready to instantiate.
fn linked_file(path: &std::path::Path) -> Result<WasmtimeEngineProviderPre, String> {
    let engine = &compiled().0;
    link(engine, &compile(engine, path)?, None)
}

/// `(name, settings, request)` of every measured fixture.
fn cases() -> Vec<(&'static str, Value, Value)> {
    let injector = fixture("settings/injector.json");
    let mut tiny = pod(1, 0);
    if let Some(c) = tiny
        .pointer_mut("/object/spec/containers/0")
        .and_then(Value::as_object_mut)
    {
        c.retain(|k, _| k == "name" || k == "image");
    }
    vec![
        ("tiny-pod", injector.clone(), tiny),
        ("typical-pod", injector.clone(), pod(3, 8)),
        (
            "typical-pod-validated",
            fixture("settings/validator.json"),
            pod(3, 8),
        ),
        ("large-pod", injector, pod(50, 30)),
        (
            "job-legacy-sidecar",
            fixture("settings/validator.json"),
            fixture("requests/job-istio-proxy.json"),
        ),
        (
            "cronjob-convert",
            fixture("settings/converter.json"),
            fixture("requests/cronjob-cloud-sql-proxy.json"),
        ),
        ("universal", fixture("settings/universal.json"), pod(3, 8)),
    ]
}

fn payload(settings: &Value, request: &Value) -> Vec<u8> {
    json!({"settings": settings, "request": request})
        .to_string()
        .into_bytes()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The mean of a benchmark, in nanoseconds, from criterion's report.
fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let path = target_dir()
        .join("criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let estimates: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

fn human(ns: Option<f64>) -> String {
    match ns {
        None => "-".to_owned(),
        Some(ns) if ns < 1_000.0 => format!("{ns:.0} ns"),
        Some(ns) if ns < 1_000_000.0 => format!("{:.1} µs", ns / 1_000.0),
        Some(ns) => format!("{:.2} ms", ns / 1_000_000.0),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_owned(),
    }
}

/// The smallest memory cap (in 64 KiB pages) under which `validate` still answers.
fn peak_memory(settings: &Value, request: &Value) -> usize {
    let bytes = payload(settings, request);
    smallest_memory(4_096, |cap| {
        instance(&linked(Some(cap))).call("validate", &bytes).is_ok()
    })
}

/// The smallest linear memory, in bytes (whole 64 KiB pages up to
/// `max_pages`), with which `answers` still holds.
fn smallest_memory(max_pages: usize, answers: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (1, max_pages);
    while low < high {
        let mid = (low + high) / 2;
        if answers(mid * 65_536) {
            high = mid
        } else {
            low = mid + 1
        }
    }
    low * 65_536
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    // Each module compiled and linked once: every instance below comes from these.
    let floor_linked = |variant| {
        linked_file(&floor_path(variant))
            .unwrap_or_else(|e| panic!("the SDK floor: {e} (make bench builds it)"))
    };
    let modules = [
        ("", linked(None)),
        ("-floor", floor_linked("")),
        ("-mutating-floor", floor_linked("sdk-floor-mutating")),
    ];
    let [policy, floor, mutating_floor] = modules.each_ref().map(|(_, linked)| instance(linked));
    let official_dir = std::env::var_os("OFFICIAL_POLICIES").map(PathBuf::from);
    let mut skipped = Vec::new();
    let officials: Vec<(&str, WasmtimeEngineProviderPre, Value)> = OFFICIAL
        .into_iter()
        .filter_map(|(name, file, settings)| {
            let found = official_dir
                .as_ref()
                .ok_or_else(|| "OFFICIAL_POLICIES is not set".to_owned())
                .and_then(|dir| linked_file(&dir.join(file)));
            match found {
                Ok(linked) => Some((name, linked, serde_json::from_str(settings).expect("JSON"))),
                Err(why) => {
                    skipped.push(format!("{name}: skipped ({why})"));
                    None
                }
            }
        })
        .collect();
    let mut sizes = BTreeMap::new();
    let mut answers = BTreeMap::new();

    for (name, settings, request) in cases() {
        let bytes = payload(&settings, &request);
        sizes.insert(name, bytes.len());
        let response = serde_json::to_value(evaluate(&bytes, &NoCluster)).expect("a response");

        let mut native = criterion.benchmark_group("native");
        native.bench_function(format!("{name}-policy"), |b| {
            b.iter(|| serde_json::to_vec(&evaluate(black_box(&bytes), &NoCluster)))
        });
        native.bench_function(format!("{name}-floor"), |b| {
            b.iter(|| {
                let parsed: Value = serde_json::from_slice(black_box(&bytes)).unwrap_or(Value::Null);
                black_box(parsed);
                serde_json::to_vec(black_box(&response))
            })
        });
        native.finish();

        answers.insert(
            format!("{name}-policy"),
            answer(policy.admit(&settings, &request)),
        );
        answers.insert(format!("{name}-floor"), answer(floor.admit(&settings, &request)));
        answers.insert(
            format!("{name}-mutating-floor"),
            answer(mutating_floor.admit(&settings, &request)),
        );
        let mut wasm = criterion.benchmark_group("wasm");
        wasm.bench_function(format!("{name}-policy"), |b| {
            b.iter(|| policy.admit(black_box(&settings), black_box(&request)))
        });
        wasm.bench_function(format!("{name}-floor"), |b| {
            b.iter(|| floor.admit(black_box(&settings), black_box(&request)))
        });
        wasm.bench_function(format!("{name}-mutating-floor"), |b| {
            b.iter(|| mutating_floor.admit(black_box(&settings), black_box(&request)))
        });
        if name == "typical-pod" {
            for (official, linked, settings) in &officials {
                let instance = instance(linked);
                answers.insert((*official).to_owned(), answer(instance.admit(settings, &request)));
                wasm.bench_function(*official, |b| {
                    b.iter(|| instance.admit(black_box(settings), black_box(&request)))
                });
            }
        }
        wasm.finish();

        // As the policy-server runs every evaluation: in a new instance (it
        // rehydrates the module per request), which a module pays for by its
        // size and the memory it touches.
        if name.starts_with("typical-pod") {
            let mut measured = vec![(format!("{name}-policy"), &modules[0].1, &settings)];
            if name == "typical-pod" {
                measured.push((format!("{name}-floor"), &modules[1].1, &settings));
                measured.push((format!("{name}-mutating-floor"), &modules[2].1, &settings));
                measured.extend(
                    officials
                        .iter()
                        .map(|(official, linked, own)| ((*official).to_owned(), linked, own)),
                );
            }
            let mut fresh = criterion.benchmark_group("new-instance");
            for (id, linked, settings) in measured {
                fresh.bench_function(id, |b| {
                    b.iter(|| instance(linked).admit(black_box(settings), black_box(&request)))
                });
            }
            fresh.finish();
        }
    }

    let (_, settings, request) = cases()
        .into_iter()
        .find(|(n, _, _)| *n == "typical-pod")
        .expect("typical pod");
    let bytes = payload(&settings, &request);
    let parsed = Payload::read(&bytes).expect("a payload");
    let injector = Settings::from_json(parsed.settings())
        .and_then(Settings::compile)
        .expect("valid settings");
    let view = Request::from_admission_request(&parsed.request).expect("well formed");
    let mut phases = criterion.benchmark_group("phases");
    phases.bench_function("parse", |b| b.iter(|| Payload::read(black_box(&bytes))));
    phases.bench_function("settings-compile", |b| {
        b.iter(|| Settings::from_json(black_box(parsed.settings())).and_then(Settings::compile))
    });
    // A warm instance compiles the same settings once (`SettingsCache`).
    let mut cache = SettingsCache::default();
    (0..2).for_each(|_| drop(cache.compile(parsed.settings())));
    phases.bench_function("settings-reused", |b| {
        b.iter(|| cache.compile(black_box(parsed.settings())))
    });
    phases.bench_function("decide", |b| {
        b.iter(|| decide(black_box(&injector), black_box(&view), &NoCluster))
    });
    // Where each module's time goes on the typical pod, in a warm instance:
    // the payload the host sends and what it does with the answer (read it,
    // diff the pod), both policy-evaluator's work, natively; between them the
    // module's call. Each module with the settings it is measured with above.
    let official_instances: Vec<Policy> = officials.iter().map(|(_, linked, _)| instance(linked)).collect();
    let split = [
        ("", &policy),
        ("-floor", &floor),
        ("-mutating-floor", &mutating_floor),
    ]
    .map(|(suffix, warm)| (suffix.to_owned(), warm, &settings))
    .into_iter()
    .chain(
        officials
            .iter()
            .zip(&official_instances)
            .map(|((name, _, own), warm)| (format!("-{name}"), warm, own)),
    );
    for (suffix, warm, settings) in split {
        let sent = host_payload(settings, &request).expect("a payload");
        let answer = warm.call("validate", sent.as_bytes()).expect("an answer");
        phases.bench_function(format!("host-send{suffix}"), |b| {
            b.iter(|| host_payload(black_box(settings), black_box(&request)))
        });
        phases.bench_function(format!("guest{suffix}"), |b| {
            b.iter(|| warm.call("validate", black_box(sent.as_bytes())))
        });
        phases.bench_function(format!("host{suffix}"), |b| {
            b.iter(|| read_answer(black_box(&answer), black_box(&request)))
        });
    }
    // The policy-server instantiates the module afresh for every evaluation:
    // the same call in a new instance, which also pays for the memory the
    // module touches for the first time.
    for (suffix, linked) in &modules {
        phases.bench_function(format!("fresh-guest{suffix}"), |b| {
            b.iter(|| instance(linked).call("validate", black_box(&bytes)))
        });
    }
    phases.finish();

    let largest_settings = [
        "settings/injector.json",
        "settings/universal.json",
        "settings/enforced.json",
    ]
    .into_iter()
    .map(fixture)
    .max_by_key(|s| s.to_string().len())
    .unwrap_or(Value::Null);
    let module_bytes = std::fs::read(harness::module_path()).expect("the module");
    let mut cold = criterion.benchmark_group("cold");
    cold.sample_size(10);
    cold.bench_function("compile-link-instantiate", |b| {
        b.iter(|| {
            let engine = &compiled().0;
            let module = wasmtime::Module::new(engine, black_box(&module_bytes)).expect("compiles");
            instance(&link(engine, &module, None).expect("links"))
        })
    });
    // What the policy-server does before every evaluation, for this module and the floor's.
    for (suffix, linked) in &modules[..2] {
        cold.bench_function(format!("instantiate{suffix}"), |b| b.iter(|| instance(linked)));
    }
    cold.bench_function("validate-settings", |b| {
        let settings = largest_settings.to_string();
        b.iter(|| policy.call("validate_settings", black_box(settings.as_bytes())))
    });
    cold.finish();
    let lookup = node_lookup(&mut criterion, &modules[0].1, &floor_linked("sdk-floor-lookup"));
    criterion.final_summary();

    let large = cases()
        .into_iter()
        .find(|(n, _, _)| *n == "large-pod")
        .expect("large pod");
    let memory = peak_memory(&large.1, &large.2);

    println!(
        "\n| fixture | request | policy | native | native floor | ratio | wasm, as policy-evaluator | SDK floor | ratio | mutating floor | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, _, _) in cases() {
        let time = |group: &str, what: &str| mean_ns(group, &format!("{name}-{what}"));
        let (np, nf) = (time("native", "policy"), time("native", "floor"));
        let (wp, wf, wm) = (
            time("wasm", "policy"),
            time("wasm", "floor"),
            time("wasm", "mutating-floor"),
        );
        println!(
            "| {name} | {:.1} KB | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            sizes.get(name).copied().unwrap_or(0) as f64 / 1024.0,
            answers.get(&format!("{name}-policy")).map_or("", String::as_str),
            human(np),
            human(nf),
            ratio(np, nf),
            human(wp),
            human(wf),
            ratio(wp, wf),
            human(wm),
            ratio(wp, wm)
        );
    }
    println!("\ntypical pod, beside official policies (their own settings), as policy-evaluator runs it");
    println!("in a warm instance, and in a new instance per request as the policy-server runs it:");
    println!(
        "  {:34} {:>9} {:>7} {:>9} | {:>9} {:>7} {:>9}",
        "", "warm", "/floor", "/mutating", "new", "/floor", "/mutating"
    );
    let columns = ["wasm", "new-instance"].map(|group| {
        let floor = mean_ns(group, "typical-pod-floor");
        let mutating_floor = mean_ns(group, "typical-pod-mutating-floor");
        move |id: &str| {
            let time = mean_ns(group, id);
            format!(
                "{:>9} {:>7} {:>9}",
                human(time),
                ratio(time, floor),
                ratio(time, mutating_floor)
            )
        }
    });
    // Every module measured on the typical pod: its name, its id in the
    // `wasm` and `new-instance` groups, and the suffix of its `phases` split.
    let typical: Vec<(&str, &str, Option<String>)> = [
        ("SDK floor", "typical-pod-floor", Some("-floor")),
        (
            "SDK mutating floor",
            "typical-pod-mutating-floor",
            Some("-mutating-floor"),
        ),
        ("native-sidecar-policy, injecting", "typical-pod-policy", Some("")),
        (
            "native-sidecar-policy, validating",
            "typical-pod-validated-policy",
            None,
        ),
    ]
    .map(|(name, id, suffix)| (name, id, suffix.map(str::to_owned)))
    .into_iter()
    .chain(
        officials
            .iter()
            .map(|(name, _, _)| (*name, *name, Some(format!("-{name}")))),
    )
    .collect();
    for (name, id, _) in &typical {
        let what = answers.get(*id).map_or("", String::as_str);
        let [warm, new] = columns.each_ref().map(|column| column(id));
        println!("  {name:34} {warm} | {new}  {what}");
    }
    skipped.iter().for_each(|line| println!("  {line}"));
    let whole = mean_ns("native", "typical-pod-policy");
    let parts = [
        ("parse", "parse"),
        ("settings, as compiled before", "settings-reused"),
        ("decide", "decide"),
    ]
    .map(|(phase, id)| (phase, mean_ns("phases", id)));
    let rest = whole.map(|w| w - parts.iter().filter_map(|(_, t)| *t).sum::<f64>());
    println!("\ntypical pod, natively, in a warm instance ({}):", human(whole));
    for (phase, time) in parts
        .into_iter()
        .chain([("apply the plan, serialise the response", rest)])
    {
        let share = time.zip(whole).map(|(t, w)| format!("{:.0}%", 100.0 * t / w));
        println!("  {phase:40} {:>9} {:>5}", human(time), share.unwrap_or_default());
    }
    println!(
        "  compiling the settings, which an instance's first request does: {}",
        human(mean_ns("phases", "settings-compile"))
    );
    println!("\ntypical pod, where each module's time goes in a warm instance (the host's parts natively):");
    println!(
        "  {:34} {:>10} {:>14} {:>18} {:>9}",
        "", "host sends", "module's call", "host reads, diffs", "whole"
    );
    for (name, id, suffix) in &typical {
        let Some(suffix) = suffix else { continue };
        let [send, guest, host] =
            ["host-send", "guest", "host"].map(|phase| human(mean_ns("phases", &format!("{phase}{suffix}"))));
        let whole = human(mean_ns("wasm", id));
        println!("  {name:34} {send:>10} {guest:>14} {host:>18} {whole:>9}");
    }
    println!("instantiating the module and calling it, as the policy-server does for every evaluation:");
    for (name, suffix) in [
        ("native-sidecar-policy, injecting", ""),
        ("SDK floor", "-floor"),
        ("SDK mutating floor", "-mutating-floor"),
    ] {
        println!(
            "  {name:34} {:>10}",
            human(mean_ns("phases", &format!("fresh-guest{suffix}")))
        );
    }
    println!();
    println!("module size: {} bytes", module_bytes.len());
    println!(
        "cold start (compile + link + instantiate): {}",
        human(mean_ns("cold", "compile-link-instantiate"))
    );
    println!(
        "instantiate a compiled module (the policy-server does it for every evaluation): {} (the SDK floor's: {})",
        human(mean_ns("cold", "instantiate")),
        human(mean_ns("cold", "instantiate-floor"))
    );
    println!(
        "validate_settings, largest shipped settings ({} bytes): {}",
        largest_settings.to_string().len(),
        human(mean_ns("cold", "validate-settings"))
    );
    println!(
        "peak linear memory, large pod: {:.2} MiB",
        memory as f64 / 1_048_576.0
    );
    lookup.print();
}

/// The cluster sizes the node lookup is measured at.
const CLUSTER_SIZES: [usize; 5] = [2, 250, 500, 5_000, 15_000];
/// Nodes per pool (`cloud.google.com/gke-nodepool`).
const POOL_SIZE: usize = 250;

/// A node as the API server has it: 21 labels, as on a managed cluster.
fn cluster_node(index: usize) -> Value {
    let name = format!("gke-prod-pool-{:02}-{index:05}", index / POOL_SIZE);
    let mut labels = serde_json::Map::new();
    for (key, value) in [
        (
            "cloud.google.com/gke-nodepool",
            format!("pool-{:02}", index / POOL_SIZE),
        ),
        ("kubernetes.io/hostname", name.clone()),
        ("kubernetes.io/os", "linux".to_owned()),
        ("kubernetes.io/arch", "amd64".to_owned()),
        ("beta.kubernetes.io/os", "linux".to_owned()),
        ("beta.kubernetes.io/arch", "amd64".to_owned()),
        ("node.kubernetes.io/instance-type", "n2-standard-8".to_owned()),
        ("beta.kubernetes.io/instance-type", "n2-standard-8".to_owned()),
        ("topology.kubernetes.io/region", "europe-west1".to_owned()),
        (
            "topology.kubernetes.io/zone",
            format!("europe-west1-{}", ["b", "c", "d"][index % 3]),
        ),
        (
            "failure-domain.beta.kubernetes.io/region",
            "europe-west1".to_owned(),
        ),
        (
            "failure-domain.beta.kubernetes.io/zone",
            format!("europe-west1-{}", ["b", "c", "d"][index % 3]),
        ),
        ("cloud.google.com/gke-boot-disk", "pd-balanced".to_owned()),
        ("cloud.google.com/gke-container-runtime", "containerd".to_owned()),
        ("cloud.google.com/gke-cpu-scaling-level", "8".to_owned()),
        ("cloud.google.com/gke-logging-variant", "DEFAULT".to_owned()),
        ("cloud.google.com/gke-max-pods-per-node", "110".to_owned()),
        ("cloud.google.com/gke-os-distribution", "cos".to_owned()),
        ("cloud.google.com/gke-provisioning", "standard".to_owned()),
        ("cloud.google.com/gke-stack-type", "IPV4".to_owned()),
        ("cloud.google.com/machine-family", "n2".to_owned()),
    ] {
        labels.insert(key.to_owned(), Value::from(value));
    }
    // The metadata the policy-server keeps whatever the field masks say
    // (it drops managedFields and the last-applied annotation only).
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "uid": format!("5f0c2a4e-1b7d-4c3a-9e2f-{index:012}"),
            "resourceVersion": format!("{}", 81_000_000 + index), "creationTimestamp": "2026-11-02T09:14:27Z",
            "annotations": {
                "container.googleapis.com/instance_id": format!("{}", 4_100_000_000_000_000_000u64 + index as u64),
                "csi.volume.kubernetes.io/nodeid": format!("{{\"pd.csi.storage.gke.io\":\"projects/prod/zones/europe-west1-b/instances/{name}\"}}"),
                "node.alpha.kubernetes.io/ttl": "0",
                "node.gke.io/last-applied-node-labels": "cloud.google.com/gke-boot-disk=pd-balanced,cloud.google.com/gke-container-runtime=containerd",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "status": {"nodeInfo": {"kubeletVersion": "v1.31.4-gke.1000"}}})
}

/// A pod to inject under `nodeVersion`, with this `nodeSelector`.
fn lookup_request(node_selector: Option<Value>) -> Value {
    let mut request = pod(3, 8);
    if let Some(node_selector) = node_selector {
        request["object"]["spec"]["nodeSelector"] = node_selector;
    }
    request
}

/// What the node lookup's table shows besides criterion's times.
struct Lookup {
    /// Per cluster size: the size in bytes of the host's answer to the pod.
    answers: Vec<(usize, usize)>,
    /// The instance's peak linear memory for the pod in 15,000 nodes.
    memory: usize,
}

/// An instance of `linked` whose host answers Node lists of `nodes` with
/// bytes serialised once per distinct request (the host's share is timed
/// apart).
fn lookup_instance(linked: &WasmtimeEngineProviderPre, nodes: std::sync::Arc<Vec<Value>>) -> Policy {
    let cache: std::sync::Mutex<BTreeMap<String, Vec<u8>>> = std::sync::Mutex::default();
    Policy::instantiate_raw(linked, move |operation, request| match operation {
        "list_resources_all" => {
            let mut cache = cache.lock().map_err(|e| e.to_string())?;
            let answer = match cache.entry(request.to_string()) {
                std::collections::btree_map::Entry::Occupied(answer) => answer.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let list = harness::answer_from(&nodes, operation, request)?;
                    entry.insert(serde_json::to_vec(&list).map_err(|e| e.to_string())?)
                }
            };
            Ok(answer.clone())
        }
        _ => Err(format!("unexpected host call {operation}")),
    })
}

fn node_lookup(
    criterion: &mut Criterion,
    policy: &WasmtimeEngineProviderPre,
    floor: &WasmtimeEngineProviderPre,
) -> Lookup {
    let settings = {
        let mut settings = fixture("settings/injector.json");
        let pools: Vec<String> = (0..CLUSTER_SIZES[CLUSTER_SIZES.len() - 1] / POOL_SIZE)
            .map(|pool| format!("pool-{pool:02}"))
            .collect();
        settings["nativeSupport"] = json!({"strategy": "nodeVersion",
            "nodePools": {"cloud.google.com/gke-nodepool": pools}});
        settings
    };
    let unpinned = payload(&settings, &lookup_request(None));
    let pinned = payload(
        &settings,
        &lookup_request(Some(json!({"cloud.google.com/gke-nodepool": "pool-07"}))),
    );
    // A selector that names no pool: every node is read, and its labels checked.
    let by_os = payload(
        &settings,
        &lookup_request(Some(json!({"kubernetes.io/os": "linux"}))),
    );
    let mut group = criterion.benchmark_group("node-lookup");
    group.sample_size(10);
    let mut answers = Vec::new();
    let mut memory = 0;
    for size in CLUSTER_SIZES {
        let nodes = std::sync::Arc::new((0..size).map(cluster_node).collect::<Vec<_>>());
        let module = lookup_instance(policy, std::sync::Arc::clone(&nodes));
        let floor = lookup_instance(floor, std::sync::Arc::clone(&nodes));
        // What the module asks, and so what the host serialises, per pod.
        module.call("validate", &unpinned).expect("an answer");
        let asked = module
            .host_calls
            .lock()
            .expect("not poisoned")
            .first()
            .map(|(_, asked)| asked.clone());
        let asked = asked.expect("the pod makes the module list the nodes");
        let list = harness::answer_from(&nodes, "list_resources_all", &asked).expect("a Node list");
        answers.push((size, serde_json::to_vec(&list).map(|b| b.len()).unwrap_or(0)));
        // The host's share: copy the nodes out of its cache (where they are
        // kept masked, as the policy-server keeps them) and serialise them.
        group.bench_function(format!("host-{size}"), |b| {
            b.iter(|| serde_json::to_vec(&black_box(&list).clone()))
        });
        group.bench_function(format!("module-{size}"), |b| {
            b.iter(|| module.call("validate", black_box(&unpinned)))
        });
        group.bench_function(format!("floor-{size}"), |b| {
            b.iter(|| floor.call("validate", black_box(&unpinned)))
        });
        if size == 5_000 {
            group.bench_function("module-pinned-250-of-5000", |b| {
                b.iter(|| module.call("validate", black_box(&pinned)))
            });
            group.bench_function("module-by-os-5000", |b| {
                b.iter(|| module.call("validate", black_box(&by_os)))
            });
        }
        if size == 15_000 {
            memory = lookup_peak_memory(&nodes, &unpinned);
        }
    }
    group.finish();
    Lookup { answers, memory }
}

/// The smallest memory cap under which the module's `validate` still
/// answers the lookup in `nodes`.
fn lookup_peak_memory(nodes: &std::sync::Arc<Vec<Value>>, bytes: &[u8]) -> usize {
    smallest_memory(16_384, |cap| {
        lookup_instance(&linked(Some(cap)), std::sync::Arc::clone(nodes))
            .call("validate", bytes)
            .is_ok()
    })
}

impl Lookup {
    fn print(&self) {
        let time = |id: &str| mean_ns("node-lookup", id);
        println!(
            "
node lookup under nativeSupport.strategy nodeVersion, a pod CREATE, by cluster size (21 labels per node):"
        );
        println!(
            "| nodes | answer | host: copy and serialise | module's call | floor: same call, parsed into a Value | module/floor | lookup share: module/floor |"
        );
        println!("|---|---|---|---|---|---|---|");
        let (module_2, floor_2) = (time("module-2"), time("floor-2"));
        for (size, bytes) in &self.answers {
            let (host, module, floor) = (
                time(&format!("host-{size}")),
                time(&format!("module-{size}")),
                time(&format!("floor-{size}")),
            );
            let less = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
            println!(
                "| {size} | {:.1} KB | {} | {} | {} | {} | {} |",
                *bytes as f64 / 1024.0,
                human(host),
                human(module),
                human(floor),
                ratio(module, floor),
                ratio(less(module, module_2), less(floor, floor_2)),
            );
        }
        println!(
            "a pod whose nodeSelector names no pool (kubernetes.io/os: linux) in 5,000 nodes, its labels checked on each: {}",
            human(time("module-by-os-5000"))
        );
        let pinned = time("module-pinned-250-of-5000");
        println!(
            "a pod pinned to one pool of 250 nodes (nodeSelector cloud.google.com/gke-nodepool) in 5,000 nodes: {} \
             ({} of the same pod, unpinned, in a cluster of 250)",
            human(pinned),
            ratio(pinned, time("module-250"))
        );
        println!(
            "peak linear memory, a pod CREATE in 15,000 nodes: {:.2} MiB",
            self.memory as f64 / 1_048_576.0
        );
    }
}
