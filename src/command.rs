//! The policy's native command (`--help` says how to use it; docs/readiness.md
//! and docs/gatekeeper.md say what it judges and writes), installed twice: as
//! `native-sidecar-policy`, and as `kubectl-native_sidecar`, which kubectl
//! runs for `kubectl native-sidecar …` (a plugin's dashes are underscores in
//! its file name):
//! - `readiness …`: the readiness report from the live cluster or from what
//!   `kubectl` prints. Exit codes: 0 ready, 1 something blocks adoption, 2 the
//!   command line or an input cannot be read or the cluster cannot be asked,
//!   3 nothing found blocks adoption but the cluster did not give every input.
//! - `gatekeeper --settings FILE --out DIR`: Gatekeeper's objects from the
//!   same settings. Exit codes: 0 written, 1 a setting Gatekeeper cannot
//!   express, 2 the command line or an input cannot be read.
//! - `completions SHELL`: a shell completion script.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::live::{self, Source, Wanted};
use crate::readiness::{DEFAULT_POLICY_NAME, Inputs, report, split_node_metrics};
use crate::settings::Settings;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde_json::Value;

/// Native sidecar containers for Kubewarden: the readiness report and
/// Gatekeeper's objects, from the settings the policy module reads.
#[derive(Parser)]
#[command(name = "native-sidecar-policy", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ready or written; 1 the cluster is not ready, or \
    Gatekeeper cannot express a setting; 2 the command line or an input cannot be read, or the \
    cluster cannot be asked; 3 (readiness) the cluster did not give every input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Boxed: the readiness options are most of the command line.
    Readiness(Box<Readiness>),
    Gatekeeper(Gatekeeper),
    Completions(Completions),
}

/// Judge whether a cluster can adopt native sidecars, from the cluster
/// itself or from what kubectl prints.
///
/// With no input file, or with --context or --kubeconfig, it reads the
/// cluster of your kubeconfig: what it is not allowed to read is reported,
/// and judged without. An input file replaces that part of the cluster (all
/// of them: an offline audit). Files are YAML or JSON, as `kubectl … -o
/// yaml|json` prints them.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  kubectl native-sidecar readiness
  kubectl native-sidecar readiness --context prod --policies policies/injector.yaml --policies policies/validator.yaml
  native-sidecar-policy readiness --metrics apiserver-metrics.txt --kubectl-version version.json \\
    --nodes nodes.json --webhooks webhooks.json --workloads workloads.json \\
    --settings policies/injector.yaml

Exit codes: 0 ready; 1 something blocks adoption; 2 the command line or an input cannot be read, or the
cluster cannot be asked (unreachable, no answer in time, credentials refused); 3 nothing found blocks
adoption, but the cluster did not give every input (see the `not read:` lines).")]
struct Readiness {
    /// The kubeconfig to read the cluster with (default: KUBECONFIG, then ~/.kube/config)
    #[arg(long, value_name = "FILE", help_heading = "The cluster")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to read (default: its current context)
    #[arg(long, value_name = "NAME", help_heading = "The cluster")]
    context: Option<String>,
    /// The kubeconfig cluster to read (default: the context's)
    #[arg(long, value_name = "NAME", help_heading = "The cluster")]
    cluster: Option<String>,
    /// The kubeconfig user to read as (default: the context's)
    #[arg(long, value_name = "NAME", help_heading = "The cluster")]
    user: Option<String>,
    /// How long to wait for each answer of the API server, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), help_heading = "The cluster")]
    request_timeout: u64,
    /// Objects per page when listing (large clusters list in pages, as kubectl does)
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..), help_heading = "The cluster")]
    page_size: u32,
    /// Nodes whose kubelet metrics are read through the API server (one of
    /// each kubelet version first); the others are judged by version
    #[arg(long, value_name = "N", default_value_t = 500, help_heading = "The cluster")]
    node_metrics_limit: usize,
    /// The API server's metrics (`kubectl get --raw /metrics`)
    #[arg(long, value_name = "FILE", value_parser = text, help_heading = "Files instead")]
    metrics: Option<String>,
    /// Each node's kubelet metrics: a directory of <node>.txt files, or one
    /// file with a `# node: <name>` line before each node's
    #[arg(long, value_name = "FILE|DIR", value_parser = node_metrics, help_heading = "Files instead")]
    node_metrics: Option<NodeMetrics>,
    /// The nodes (`kubectl get nodes -o json`)
    #[arg(long, value_name = "FILE", value_parser = document, help_heading = "Files instead")]
    nodes: Option<Value>,
    /// The versions (`kubectl version -o json`)
    #[arg(long, value_name = "FILE", value_parser = document, help_heading = "Files instead")]
    kubectl_version: Option<Value>,
    /// The mutating webhooks (`kubectl get mutatingwebhookconfigurations -o json`)
    #[arg(long, value_name = "FILE", value_parser = document, help_heading = "Files instead")]
    webhooks: Option<Value>,
    /// The workloads to audit (`kubectl get pods,jobs,cronjobs -A -o json`)
    #[arg(long, value_name = "FILE", value_parser = document, help_heading = "Files instead")]
    workloads: Option<Value>,
    /// The namespaces, for the policies' namespace selectors (`kubectl get namespaces -o json`)
    #[arg(long, value_name = "FILE", value_parser = document, help_heading = "Files instead")]
    namespaces: Option<Value>,
    /// The meshes' control planes: istiod's and Linkerd's proxy injector's
    /// Deployments and the linkerd-config ConfigMap (`kubectl get deployment
    /// -n istio-system istiod -o json`…, in one list)
    #[arg(long, value_name = "FILE", value_parser = document, help_heading = "Files instead")]
    meshes: Option<Value>,
    /// The policies as deployed: ClusterAdmissionPolicy/AdmissionPolicy
    /// manifests (repeat it; default: those of the cluster)
    #[arg(long, value_name = "FILE", value_parser = policies, help_heading = "The policies")]
    policies: Vec<Value>,
    /// The settings you mean to deploy, instead of policies: a settings
    /// document, or a ClusterAdmissionPolicy/AdmissionPolicy manifest
    #[arg(long, value_name = "FILE", value_parser = settings, conflicts_with = "policies", help_heading = "The policies")]
    settings: Option<Value>,
    /// The name of the ClusterAdmissionPolicy the settings are deployed as
    #[arg(long, value_name = "NAME", default_value = DEFAULT_POLICY_NAME, help_heading = "The policies")]
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

/// Runs the command as `name` (`native-sidecar-policy`, or `kubectl
/// native-sidecar` for the plugin), which its help and completions show.
pub fn main(name: &'static str) -> ExitCode {
    let command = Cli::command().bin_name(name);
    // clap prints help and version (exit 0) and usage errors (exit 2) itself.
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match cli.command {
        Command::Readiness(options) => readiness(*options),
        Command::Gatekeeper(options) => gatekeeper(options),
        Command::Completions(Completions { shell }) => {
            let mut command = Cli::command();
            let file_name = name.replace("kubectl native-sidecar", "kubectl-native_sidecar");
            clap_complete::generate(shell, &mut command, file_name, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

fn readiness(options: Readiness) -> ExitCode {
    let mut inputs = Inputs {
        apiserver_metrics: options.metrics,
        node_metrics: options.node_metrics.map(|metrics| metrics.0).unwrap_or_default(),
        nodes: options.nodes,
        version: options.kubectl_version,
        webhooks: options.webhooks,
        workloads: options.workloads,
        namespaces: options.namespaces,
        meshes: options.meshes,
        policies: options.policies,
        settings: options.settings,
        policy_name: options.policy_name,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let no_files = inputs.apiserver_metrics.is_none()
        && inputs.node_metrics.is_empty()
        && inputs.nodes.is_none()
        && inputs.version.is_none()
        && inputs.webhooks.is_none()
        && inputs.workloads.is_none()
        && inputs.namespaces.is_none()
        && inputs.meshes.is_none();
    let chosen = options.context.is_some()
        || options.kubeconfig.is_some()
        || options.cluster.is_some()
        || options.user.is_some();
    if no_files || chosen {
        let wanted = Wanted {
            apiserver_metrics: inputs.apiserver_metrics.is_none(),
            // Node metrics are read for the nodes read with them.
            node_metrics: inputs.node_metrics.is_empty() && inputs.nodes.is_none(),
            nodes: inputs.nodes.is_none(),
            version: inputs.version.is_none(),
            webhooks: inputs.webhooks.is_none(),
            workloads: inputs.workloads.is_none(),
            namespaces: inputs.namespaces.is_none(),
            meshes: inputs.meshes.is_none(),
            policies: inputs.policies.is_empty() && inputs.settings.is_none(),
        };
        let source = Source {
            kubeconfig: options.kubeconfig,
            context: options.context,
            cluster: options.cluster,
            user: options.user,
            request_timeout: std::time::Duration::from_secs(options.request_timeout),
            page_size: options.page_size,
            node_metrics_limit: options.node_metrics_limit,
        };
        if let Err(problem) = live::read(&source, wanted, &mut inputs, &mut std::io::stderr()) {
            return failed(&problem);
        }
    }
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
    } else if report.incomplete() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes Gatekeeper's objects, one YAML file each, and prints what they
/// do differently; refuses, listing every setting, what Gatekeeper cannot express.
fn gatekeeper(options: Gatekeeper) -> ExitCode {
    let generated = match crate::gatekeeper::generate(&options.settings) {
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
fn remove_stale(out: &Path, generated: &crate::gatekeeper::Generated) -> Result<(), String> {
    let wanted: Vec<PathBuf> = generated.files.iter().map(|(path, _)| out.join(path)).collect();
    let mut folders: Vec<PathBuf> = crate::gatekeeper::FOLDERS.iter().map(|f| out.join(f)).collect();
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

/// Policy manifests: a `ClusterAdmissionPolicy`, an `AdmissionPolicy`, or a
/// list of them (`kubectl get clusteradmissionpolicies -o json`). Settings
/// the policy refuses are not a usage error: the report names the policy
/// Kubewarden would not load, as it does for the cluster's.
fn policies(path: &str) -> Result<Value, String> {
    document(path)
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
