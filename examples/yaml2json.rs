//! Prints every YAML document of a file as one line of JSON: the e2e suite
//! reads the shipped manifests' settings and artifacthub-pkg.yml with it.
//!
//! cargo run --example yaml2json -- FILE.yaml

use std::process::ExitCode;

use serde::Deserialize;

fn run() -> Result<(), String> {
    let path = std::env::args().nth(1).ok_or("usage: yaml2json FILE.yaml")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_json::Value::deserialize(document).map_err(|e| format!("{path}: {e}"))?;
        println!("{value}");
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
