//! Admission latency, natively and under wasmtime, each figure beside its floor:
//! - native: the policy's whole path (`evaluate` + serialising the response)
//!   against serde_json parsing the same payload and serialising the same response;
//! - wasm: the real module's `validate` through waPC against the same module's
//!   cheapest path on the same bytes (the request as a DELETE, which it ignores);
//! - cold start: compile + link + instantiate the module; `validate_settings` on
//!   the largest shipped settings;
//! - peak linear memory of the large pod, found by capping the instance's memory;
//! - where the time of the typical pod's injection goes, natively: parsing the
//!   payload, reading and compiling the settings, deciding, and the rest
//!   (applying the plan and serialising the response).
//!
//! `make bench` runs it and prints one table. Numbers are reported, never asserted.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use harness::{Policy, compiled, fixture, linked};
use native_sidecar_policy::adapter::evaluate;
use native_sidecar_policy::cluster::Cluster;
use native_sidecar_policy::decide::decide;
use native_sidecar_policy::request::Request;
use native_sidecar_policy::settings::Settings;
use serde_json::{Value, json};

struct NoCluster;

impl Cluster for NoCluster {
    fn get_resource(&self, _: &str, _: &str, _: &str, _: &str, _: &[&str]) -> Result<Value, String> {
        Err("no cluster".to_owned())
    }
    fn list_all(&self, _: &str, _: &str, _: &[&str]) -> Result<Vec<Value>, String> {
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

/// The mean of a benchmark, in nanoseconds, from criterion's report.
fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target
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
    let answers = |pages: usize| {
        let policy = Policy::instantiate(&linked(Some(pages * 65_536)), |_, _| Err("no cluster".to_owned()));
        policy.call("validate", &bytes).is_ok()
    };
    let (mut low, mut high) = (1, 4_096);
    while low < high {
        let mid = (low + high) / 2;
        if answers(mid) { high = mid } else { low = mid + 1 }
    }
    low * 65_536
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let policy = Policy::new();
    let mut sizes = BTreeMap::new();

    for (name, settings, request) in cases() {
        let bytes = payload(&settings, &request);
        sizes.insert(name, bytes.len());
        let response = serde_json::to_value(evaluate(&bytes, &NoCluster)).expect("a response");
        let mut ignored = request.clone();
        ignored["operation"] = json!("DELETE");
        let ignored = payload(&settings, &ignored);

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

        let mut wasm = criterion.benchmark_group("wasm");
        wasm.bench_function(format!("{name}-policy"), |b| {
            b.iter(|| policy.call("validate", black_box(&bytes)))
        });
        wasm.bench_function(format!("{name}-floor"), |b| {
            b.iter(|| policy.call("validate", black_box(&ignored)))
        });
        wasm.finish();
    }

    let (_, settings, request) = cases()
        .into_iter()
        .find(|(n, _, _)| *n == "typical-pod")
        .expect("typical pod");
    let bytes = payload(&settings, &request);
    let parsed: Value = serde_json::from_slice(&bytes).expect("JSON");
    let injector = Settings::from_value(&parsed["settings"])
        .and_then(Settings::compile)
        .expect("valid settings");
    let view = Request::from_admission_request(&parsed["request"]).expect("well formed");
    let mut phases = criterion.benchmark_group("phases");
    phases.bench_function("parse", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)))
    });
    phases.bench_function("settings", |b| {
        b.iter(|| Settings::from_value(black_box(&parsed["settings"])).and_then(Settings::compile))
    });
    phases.bench_function("decide", |b| {
        b.iter(|| decide(black_box(&injector), black_box(&view), &NoCluster))
    });
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
            let engine = compiled().0.clone();
            let module = wasmtime::Module::new(&engine, black_box(&module_bytes)).expect("compiles");
            let linked = wasmtime_provider::WasmtimeEngineProviderBuilder::new()
                .engine(engine)
                .module(module)
                .build_pre()
                .expect("links");
            wapc::WapcHost::new(Box::new(linked.rehydrate(None).expect("instantiates")), None).expect("waPC")
        })
    });
    cold.bench_function("instantiate", |b| b.iter(Policy::new));
    cold.bench_function("validate-settings", |b| {
        let settings = largest_settings.to_string();
        b.iter(|| policy.call("validate_settings", black_box(settings.as_bytes())))
    });
    cold.finish();
    criterion.final_summary();

    let large = cases()
        .into_iter()
        .find(|(n, _, _)| *n == "large-pod")
        .expect("large pod");
    let memory = peak_memory(&large.1, &large.2);

    println!("\n| fixture | request | native | native floor | ratio | wasm | wasm floor | ratio |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, _, _) in cases() {
        let (np, nf) = (
            mean_ns("native", &format!("{name}-policy")),
            mean_ns("native", &format!("{name}-floor")),
        );
        let (wp, wf) = (
            mean_ns("wasm", &format!("{name}-policy")),
            mean_ns("wasm", &format!("{name}-floor")),
        );
        println!(
            "| {name} | {:.1} KB | {} | {} | {} | {} | {} | {} |",
            sizes.get(name).copied().unwrap_or(0) as f64 / 1024.0,
            human(np),
            human(nf),
            ratio(np, nf),
            human(wp),
            human(wf),
            ratio(wp, wf)
        );
    }
    let whole = mean_ns("native", "typical-pod-policy");
    let parts = ["parse", "settings", "decide"].map(|phase| (phase, mean_ns("phases", phase)));
    let rest = whole.map(|w| w - parts.iter().filter_map(|(_, t)| *t).sum::<f64>());
    println!("\ntypical pod, natively ({}):", human(whole));
    for (phase, time) in parts
        .into_iter()
        .chain([("apply the plan, serialise the response", rest)])
    {
        let share = time.zip(whole).map(|(t, w)| format!("{:.0}%", 100.0 * t / w));
        println!("  {phase:40} {:>9} {:>5}", human(time), share.unwrap_or_default());
    }
    println!();
    println!("module size: {} bytes", module_bytes.len());
    println!(
        "cold start (compile + link + instantiate): {}",
        human(mean_ns("cold", "compile-link-instantiate"))
    );
    println!(
        "instantiate a compiled module: {}",
        human(mean_ns("cold", "instantiate"))
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
}
