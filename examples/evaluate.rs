//! Evaluates one admission request with the built policy module under wasmtime,
//! as Kubewarden's policy-server would, and prints what the user would see.
//!
//! cargo run --example evaluate -- [--settings FILE] REQUEST.json

#[path = "../tests/it/harness.rs"]
mod harness;

use std::process::ExitCode;

fn read_json(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut settings, mut request) = (serde_json::Value::Null, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--settings" => settings = read_json(&args.next().ok_or("--settings needs a file")?)?,
            path => request = Some(read_json(path)?),
        }
    }
    let request = request.ok_or("usage: evaluate [--settings FILE] REQUEST.json")?;

    println!("module:    {}", harness::module_path().display());
    let policy = harness::Policy::new();
    let settings_verdict = policy.validate_settings(&settings);
    if !settings_verdict.valid {
        return Err(settings_verdict
            .message
            .unwrap_or_else(|| "settings refused".to_owned()));
    }
    println!("settings:  valid");

    let outcome = policy.validate(&settings, &request);
    let response = &outcome.response;
    let verdict = match (response.accepted, &outcome.patch) {
        (false, _) => format!("rejected (code {})", response.code.unwrap_or(0)),
        (true, Some(_)) => "accepted, mutated".to_owned(),
        (true, None) => "accepted".to_owned(),
    };
    println!("verdict:   {verdict}");
    println!("message:   {}", response.message.as_deref().unwrap_or("-"));
    match response.warnings.as_deref() {
        None | Some([]) => println!("warnings:  -"),
        Some(warnings) => {
            println!("warnings:");
            warnings.iter().for_each(|w| println!("  - {w}"));
        }
    }
    match (&outcome.patch, &outcome.patched) {
        (Some(patch), Some(patched)) => {
            println!(
                "patch (the JSON Patch Kubewarden derives from mutated_object, decoded):\n{}",
                serde_json::to_string_pretty(patch).map_err(|e| e.to_string())?
            );
            // Arrays are diffed index by index, so an insert shows as replace/remove
            // ops on shifted entries: what counts is the object once patched.
            let original = request.get("object").unwrap_or(&serde_json::Value::Null);
            match harness::lost_fields(original, patched, "").as_slice() {
                [] => println!("applied:   every field of the request object kept; only additions"),
                lost => println!("applied:   FIELDS LOST: {lost:?}"),
            }
        }
        _ => println!("patch:     -"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
