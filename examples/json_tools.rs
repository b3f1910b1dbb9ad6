//! Two small helpers of the e2e suite, which checks kwctl's output with them:
//!
//! json_tools apply-patch DOCUMENT.json PATCH.json   prints DOCUMENT with the JSON Patch (RFC 6902) applied
//! json_tools yaml2json FILE.yaml                    prints every YAML document of FILE as a line of JSON

use std::process::ExitCode;

use serde::Deserialize;
use serde_json::Value;

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn json(path: &str) -> Result<Value, String> {
    serde_json::from_str(&read(path)?).map_err(|e| format!("{path}: {e}"))
}

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [command, document, patch] if command == "apply-patch" => {
            let mut document = json(document)?;
            let patch: json_patch::Patch = serde_json::from_value(json(patch)?).map_err(|e| e.to_string())?;
            json_patch::patch(&mut document, &patch).map_err(|e| e.to_string())?;
            println!("{document}");
        }
        [command, path] if command == "yaml2json" => {
            for document in serde_yaml::Deserializer::from_str(&read(path)?) {
                println!(
                    "{}",
                    Value::deserialize(document).map_err(|e| format!("{path}: {e}"))?
                );
            }
        }
        _ => {
            return Err(
                "usage: json_tools apply-patch DOCUMENT PATCH | json_tools yaml2json FILE".to_owned(),
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
