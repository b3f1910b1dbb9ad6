//! The policy's native command:
//! - `native-sidecar-policy readiness …`: the readiness report from what
//!   `kubectl` prints (README, "Before you enforce: readiness"). Exit codes:
//!   0 ready, 1 something blocks adoption, 2 the command line or an input
//!   cannot be read.
//! - `native-sidecar-policy gatekeeper --settings FILE --out DIR`: Gatekeeper's
//!   objects from the same settings (docs/gatekeeper.md). Exit codes: 0
//!   written, 1 a setting Gatekeeper cannot express, 2 unreadable input.

// A native command: built as WebAssembly (a `cargo build --target wasm32-…`
// of the whole package) it only says so.
#[cfg(target_family = "wasm")]
fn main() {
    eprintln!("native-sidecar-policy: the command runs natively, not as WebAssembly");
    std::process::exit(2);
}

#[cfg(not(target_family = "wasm"))]
mod native {
    use std::path::Path;
    use std::process::ExitCode;

    use native_sidecar_policy::readiness::{DEFAULT_POLICY_NAME, Inputs, report, split_node_metrics};
    use native_sidecar_policy::settings::Settings;
    use serde_json::Value;

    const USAGE: &str = "usage: native-sidecar-policy readiness [--metrics FILE] [--node-metrics FILE|DIR] \
    [--nodes FILE] [--version FILE] [--webhooks FILE] [--workloads FILE] [--settings FILE] \
    [--policy-name NAME] [--output text|json]
       native-sidecar-policy gatekeeper --settings FILE --out DIR";

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match run(&args) {
            Ok(code) => code,
            Err(problem) => {
                eprintln!("native-sidecar-policy: {problem}\n{USAGE}");
                ExitCode::from(2)
            }
        }
    }

    fn run(args: &[String]) -> Result<ExitCode, String> {
        let (command, options) = args.split_first().ok_or("no command")?;
        match command.as_str() {
            "readiness" => readiness(options),
            "gatekeeper" => gatekeeper(options),
            _ => Err(format!("unknown command {command:?}")),
        }
    }

    /// Writes Gatekeeper's objects, one YAML file each, and prints what they
    /// do differently; refuses, listing every setting, what Gatekeeper cannot express.
    fn gatekeeper(options: &[String]) -> Result<ExitCode, String> {
        let (mut settings, mut out) = (None, None);
        let mut options = options.iter();
        while let Some(option) = options.next() {
            let value = options.next().ok_or_else(|| format!("{option} needs a value"))?;
            match option.as_str() {
                "--settings" => settings = Some(policy_settings(document(value)?)),
                "--out" => out = Some(Path::new(value).to_path_buf()),
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        let settings = settings.ok_or("--settings is required")?;
        let out = out.ok_or("--out is required")?;
        let generated = match native_sidecar_policy::gatekeeper::generate(&settings) {
            Ok(generated) => generated,
            Err(refused) => {
                eprintln!("native-sidecar-policy: Gatekeeper cannot express these settings:");
                for line in refused {
                    eprintln!("  {line}");
                }
                return Ok(ExitCode::from(1));
            }
        };
        for (path, document) in &generated.files {
            let file = out.join(path);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let text = serde_yaml::to_string(document).map_err(|e| e.to_string())?;
            std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
            println!("wrote {}", file.display());
        }
        for difference in &generated.differences {
            println!("difference: {difference}");
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The settings of a policy manifest (`ClusterAdmissionPolicy`,
    /// `AdmissionPolicy`), or the document itself when it is settings.
    fn policy_settings(document: Value) -> Value {
        match document.get("kind").and_then(Value::as_str) {
            Some("ClusterAdmissionPolicy" | "AdmissionPolicy") => {
                document.pointer("/spec/settings").cloned().unwrap_or(Value::Null)
            }
            _ => document,
        }
    }

    fn readiness(options: &[String]) -> Result<ExitCode, String> {
        let mut inputs = Inputs {
            policy_name: DEFAULT_POLICY_NAME.to_owned(),
            ..Inputs::default()
        };
        let mut json = false;
        let mut options = options.iter();
        while let Some(option) = options.next() {
            let value = options.next().ok_or_else(|| format!("{option} needs a value"))?;
            match option.as_str() {
                "--metrics" => inputs.apiserver_metrics = Some(read(value)?),
                "--node-metrics" => inputs.node_metrics = node_metrics(Path::new(value))?,
                "--nodes" => inputs.nodes = Some(document(value)?),
                "--version" => inputs.version = Some(document(value)?),
                "--webhooks" => inputs.webhooks = Some(document(value)?),
                "--workloads" => inputs.workloads = Some(document(value)?),
                "--settings" => inputs.settings = Some(document(value)?),
                "--policy-name" => inputs.policy_name = value.clone(),
                "--output" => {
                    json = match value.as_str() {
                        "json" => true,
                        "text" => false,
                        other => return Err(format!("--output {other:?}: text or json")),
                    }
                }
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        if let Some(settings) = &inputs.settings {
            Settings::checked(settings).map_err(|e| format!("--settings: {e}"))?;
        }
        let report = report(&inputs);
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
        } else {
            print!("{}", report.text());
        }
        Ok(if report.blocked() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }

    fn read(path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
    }

    /// A YAML or JSON document, as `kubectl … -o yaml|json` prints it.
    fn document(path: &str) -> Result<Value, String> {
        serde_yaml::from_str(&read(path)?).map_err(|e| format!("{path}: {e}"))
    }

    /// A directory of `<node>.txt` metrics files, or one file split at `# node: <name>` lines.
    fn node_metrics(path: &Path) -> Result<Vec<(String, String)>, String> {
        if !path.is_dir() {
            return Ok(split_node_metrics(&read(&path.to_string_lossy())?));
        }
        let mut nodes = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))? {
            let file = entry.map_err(|e| e.to_string())?.path();
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            nodes.push((name, read(&file.to_string_lossy())?));
        }
        nodes.sort();
        Ok(nodes)
    }
}

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    native::main()
}
