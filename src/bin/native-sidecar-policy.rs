//! The policy's native command (`--help` says how to use it; docs/readiness.md
//! and docs/gatekeeper.md say what it judges and writes):
//! - `native-sidecar-policy readiness …`: the readiness report from what
//!   `kubectl` prints. Exit codes: 0 ready, 1 something blocks adoption, 2 the
//!   command line or an input cannot be read.
//! - `native-sidecar-policy gatekeeper --settings FILE --out DIR`: Gatekeeper's
//!   objects from the same settings. Exit codes: 0 written, 1 a setting
//!   Gatekeeper cannot express, 2 the command line or an input cannot be read.
//! - `native-sidecar-policy completions SHELL`: a shell completion script.

// A native command: built as WebAssembly (a `cargo build --target wasm32-…`
// of the whole package) it only says so.
#[cfg(target_family = "wasm")]
fn main() {
    eprintln!("native-sidecar-policy: the command runs natively, not as WebAssembly");
    std::process::exit(2);
}

#[cfg(not(target_family = "wasm"))]
mod native {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
    use native_sidecar_policy::readiness::{DEFAULT_POLICY_NAME, Inputs, report, split_node_metrics};
    use native_sidecar_policy::settings::Settings;
    use serde_json::Value;

    /// Native sidecar containers for Kubewarden: the readiness report and
    /// Gatekeeper's objects, from the settings the policy module reads.
    #[derive(Parser)]
    #[command(name = "native-sidecar-policy", version, propagate_version = true)]
    #[command(
        after_help = "Exit codes: 0 ready or written; 1 the cluster is not ready, or \
        Gatekeeper cannot express a setting; 2 the command line or an input cannot be read."
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        Readiness(Readiness),
        Gatekeeper(Gatekeeper),
        Completions(Completions),
    }

    /// Judge whether a cluster can adopt native sidecars, from what kubectl prints.
    ///
    /// Every input is optional: the report says what it could not judge
    /// without it. YAML or JSON, as `kubectl … -o yaml|json` prints it.
    #[derive(clap::Args)]
    #[command(after_help = "Examples:
  kubectl get --raw /metrics > apiserver-metrics.txt
  kubectl version -o json > version.json
  kubectl get nodes -o json > nodes.json
  kubectl get mutatingwebhookconfigurations -o json > webhooks.json
  kubectl get pods,jobs,cronjobs -A -o json > workloads.json
  native-sidecar-policy readiness --metrics apiserver-metrics.txt --kubectl-version version.json \\
    --nodes nodes.json --webhooks webhooks.json --workloads workloads.json \\
    --settings policies/injector.yaml

Exit codes: 0 ready; 1 something blocks adoption; 2 the command line or an input cannot be read.")]
    struct Readiness {
        /// The API server's metrics (`kubectl get --raw /metrics`)
        #[arg(long, value_name = "FILE", value_parser = text)]
        metrics: Option<String>,
        /// Each node's kubelet metrics: a directory of <node>.txt files, or one
        /// file with a `# node: <name>` line before each node's
        #[arg(long, value_name = "FILE|DIR", value_parser = node_metrics)]
        node_metrics: Option<NodeMetrics>,
        /// The nodes (`kubectl get nodes -o json`)
        #[arg(long, value_name = "FILE", value_parser = document)]
        nodes: Option<Value>,
        /// The versions (`kubectl version -o json`)
        #[arg(long, value_name = "FILE", value_parser = document)]
        kubectl_version: Option<Value>,
        /// The mutating webhooks (`kubectl get mutatingwebhookconfigurations -o json`)
        #[arg(long, value_name = "FILE", value_parser = document)]
        webhooks: Option<Value>,
        /// The workloads to audit (`kubectl get pods,jobs,cronjobs -A -o json`)
        #[arg(long, value_name = "FILE", value_parser = document)]
        workloads: Option<Value>,
        /// The settings you mean to deploy: a settings document, or a
        /// ClusterAdmissionPolicy/AdmissionPolicy manifest
        #[arg(long, value_name = "FILE", value_parser = settings)]
        settings: Option<Value>,
        /// The name of the injector's ClusterAdmissionPolicy
        #[arg(long, value_name = "NAME", default_value = DEFAULT_POLICY_NAME)]
        policy_name: String,
        /// The report as text for people, or JSON for programs
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    }

    #[derive(Clone, Copy, ValueEnum)]
    enum Output {
        Text,
        Json,
    }

    /// `(node name, its /metrics text)`, in name order.
    #[derive(Clone)]
    struct NodeMetrics(Vec<(String, String)>);

    /// Write Gatekeeper's objects (ConstraintTemplates, Constraints, mutators,
    /// ValidatingAdmissionPolicies) for the policy's settings.
    ///
    /// One YAML file per object under DIR, as the gatekeeper-library lays them
    /// out; then what they do differently from the policy module. Settings
    /// Gatekeeper cannot express are refused, each named.
    #[derive(clap::Args)]
    #[command(after_help = "Example:
  native-sidecar-policy gatekeeper --settings policies/validator.yaml --out gatekeeper
  kubectl apply -k gatekeeper/job-sidecars -k gatekeeper/stripped-restart-policy

Exit codes: 0 written; 1 a setting Gatekeeper cannot express; 2 the command line or an input cannot be read.")]
    struct Gatekeeper {
        /// The settings: a settings document, or a ClusterAdmissionPolicy/AdmissionPolicy manifest
        #[arg(long, value_name = "FILE", value_parser = settings)]
        settings: Value,
        /// The directory to write into (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    }

    /// Print a completion script for your shell.
    #[derive(clap::Args)]
    #[command(after_help = "Example:
  native-sidecar-policy completions bash > /etc/bash_completion.d/native-sidecar-policy")]
    struct Completions {
        shell: clap_complete::Shell,
    }

    pub fn main() -> ExitCode {
        // clap prints help and version (exit 0) and usage errors (exit 2) itself.
        match Cli::parse().command {
            Command::Readiness(options) => readiness(options),
            Command::Gatekeeper(options) => gatekeeper(options),
            Command::Completions(Completions { shell }) => {
                clap_complete::generate(
                    shell,
                    &mut Cli::command(),
                    "native-sidecar-policy",
                    &mut std::io::stdout(),
                );
                ExitCode::SUCCESS
            }
        }
    }

    fn readiness(options: Readiness) -> ExitCode {
        let inputs = Inputs {
            apiserver_metrics: options.metrics,
            node_metrics: options.node_metrics.map(|metrics| metrics.0).unwrap_or_default(),
            nodes: options.nodes,
            version: options.kubectl_version,
            webhooks: options.webhooks,
            workloads: options.workloads,
            settings: options.settings,
            policy_name: options.policy_name,
        };
        let report = report(&inputs);
        match options.output {
            Output::Json => match serde_json::to_string_pretty(&report) {
                Ok(json) => println!("{json}"),
                Err(e) => return failed(&e.to_string()),
            },
            Output::Text => print!("{}", report.text()),
        }
        if report.blocked() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Writes Gatekeeper's objects, one YAML file each, and prints what they
    /// do differently; refuses, listing every setting, what Gatekeeper cannot express.
    fn gatekeeper(options: Gatekeeper) -> ExitCode {
        let generated = match native_sidecar_policy::gatekeeper::generate(&options.settings) {
            Ok(generated) => generated,
            Err(refused) => {
                eprintln!("native-sidecar-policy: Gatekeeper cannot express these settings:");
                for line in refused {
                    eprintln!("  {line}");
                }
                return ExitCode::from(1);
            }
        };
        if let Err(problem) = remove_stale(&options.out, &generated) {
            return failed(&problem);
        }
        for (path, document) in &generated.files {
            if let Err(problem) = write_yaml(&options.out.join(path), document) {
                return failed(&problem);
            }
        }
        for difference in &generated.differences {
            println!("difference: {difference}");
        }
        ExitCode::SUCCESS
    }

    /// The YAML files an earlier run wrote under DIR's generated folders that
    /// these settings no longer generate (a `mutation/` folder once the
    /// settings inject nothing): removed, so that `kubectl apply` of a folder
    /// applies what the settings say. Nothing else under DIR is touched.
    fn remove_stale(
        out: &Path,
        generated: &native_sidecar_policy::gatekeeper::Generated,
    ) -> Result<(), String> {
        let wanted: Vec<PathBuf> = generated.files.iter().map(|(path, _)| out.join(path)).collect();
        let mut folders: Vec<PathBuf> = native_sidecar_policy::gatekeeper::FOLDERS
            .iter()
            .map(|f| out.join(f))
            .collect();
        while let Some(dir) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|ext| ext == "yaml") && !wanted.contains(&path) {
                    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    println!("removed {}", path.display());
                }
            }
        }
        Ok(())
    }

    fn write_yaml(file: &Path, document: &Value) -> Result<(), String> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = serde_yaml::to_string(document).map_err(|e| e.to_string())?;
        std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        println!("wrote {}", file.display());
        Ok(())
    }

    /// An output that could not be written: exit 2, as for an input.
    fn failed(problem: &str) -> ExitCode {
        eprintln!("error: {problem}");
        ExitCode::from(2)
    }

    // The value parsers: an input is read and parsed when the command line
    // is, so that an unreadable file is a usage error naming its option and
    // path (clap adds both to the message).

    fn text(path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }

    /// A YAML or JSON object, as `kubectl … -o yaml|json` prints it (a
    /// metrics file given for it would otherwise parse as one long string).
    fn document(path: &str) -> Result<Value, String> {
        match serde_yaml::from_str(&text(path)?).map_err(|e| e.to_string())? {
            Value::Object(object) => Ok(Value::Object(object)),
            _ => Err("not a YAML or JSON object, as `kubectl … -o yaml|json` prints".to_owned()),
        }
    }

    /// The settings of a policy manifest (`ClusterAdmissionPolicy`,
    /// `AdmissionPolicy`), or the document itself when it is settings;
    /// refused, as the policy would refuse them, when invalid.
    fn settings(path: &str) -> Result<Value, String> {
        let document = document(path)?;
        let settings = match document.get("kind").and_then(Value::as_str) {
            Some("ClusterAdmissionPolicy" | "AdmissionPolicy") => {
                document.pointer("/spec/settings").cloned().unwrap_or(Value::Null)
            }
            _ => document,
        };
        Settings::checked(&settings).map_err(|e| e.to_string())?;
        Ok(settings)
    }

    /// A directory of `<node>.txt` metrics files, or one file split at `# node: <name>` lines.
    fn node_metrics(path: &str) -> Result<NodeMetrics, String> {
        let dir = Path::new(path);
        if !dir.is_dir() {
            return Ok(NodeMetrics(split_node_metrics(&text(path)?)));
        }
        let mut nodes = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
            let file = entry.map_err(|e| e.to_string())?.path();
            // Only the <node>.txt files: an editor's swap file or a folder
            // beside them is no node.
            if !file.is_file() || file.extension().is_none_or(|ext| ext != "txt") {
                continue;
            }
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let metrics = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            nodes.push((name, metrics));
        }
        nodes.sort();
        Ok(NodeMetrics(nodes))
    }
}

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    native::main()
}
