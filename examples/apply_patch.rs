//! Applies a JSON Patch (RFC 6902) to a JSON document and prints the result:
//! the e2e suite uses it to check what kwctl's patch does to a request object.
//!
//! cargo run --example apply_patch -- DOCUMENT.json PATCH.json

use std::process::ExitCode;

fn read(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [document, patch] = args.as_slice() else {
        return Err("usage: apply_patch DOCUMENT.json PATCH.json".to_owned());
    };
    let mut document = read(document)?;
    let patch: json_patch::Patch = serde_json::from_value(read(patch)?).map_err(|e| e.to_string())?;
    json_patch::patch(&mut document, &patch).map_err(|e| e.to_string())?;
    serde_json::to_string(&document).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(patched) => {
            println!("{patched}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
