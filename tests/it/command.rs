//! The command line as people meet it: help and version on the command and
//! each subcommand, usage errors in clap's style with the documented exit
//! codes (0 ready or written, 1 blocked or not expressible, 2 usage or
//! input), shell completions.

use std::process::Command;

use rstest::rstest;

const SUBCOMMANDS: [&str; 3] = ["readiness", "gatekeeper", "completions"];

/// Runs the command with `args`: exit code, stdout, stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_native-sidecar-policy"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the command runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[rstest]
fn help_lists_every_subcommand_and_the_exit_codes(#[values("--help", "-h", "help")] flag: &str) {
    let (code, out, err) = run(&[flag]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Usage: native-sidecar-policy <COMMAND>"), "{out}");
    for subcommand in SUBCOMMANDS {
        assert!(
            out.contains(&format!("\n  {subcommand} ")),
            "{subcommand} in {out}"
        );
    }
    assert!(out.contains("Exit codes: 0"), "{out}");
}

/// Each subcommand's help: its usage, every option, an example.
#[rstest]
#[case::readiness("readiness", &["--metrics", "--node-metrics", "--nodes", "--kubectl-version", "--webhooks", "--workloads", "--settings", "--policy-name", "--output"])]
#[case::gatekeeper("gatekeeper", &["--settings", "--out"])]
#[case::completions("completions", &["bash", "zsh", "fish"])]
fn each_subcommand_has_help_with_an_example(#[case] subcommand: &str, #[case] options: &[&str]) {
    for args in [
        vec![subcommand, "--help"],
        vec![subcommand, "-h"],
        vec!["help", subcommand],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.contains(&format!("Usage: native-sidecar-policy {subcommand}")),
            "{args:?}: {out}"
        );
        for option in options {
            assert!(out.contains(option), "{args:?}: {option} in {out}");
        }
        if args[1] != "-h" {
            // An example section whose lines run the subcommand, after the options.
            let examples = out
                .split_once("\nExample")
                .map(|(_, rest)| rest)
                .unwrap_or_else(|| panic!("{args:?}: no example in {out}"));
            assert!(
                examples
                    .lines()
                    .any(|line| line.starts_with(&format!("  native-sidecar-policy {subcommand} "))),
                "{args:?}: {examples}"
            );
            if subcommand != "completions" {
                assert!(examples.contains("Exit codes: 0 "), "{args:?}: {examples}");
            }
        }
    }
}

#[rstest]
fn version_everywhere(
    #[values(None, Some("readiness"), Some("gatekeeper"), Some("completions"))] subcommand: Option<&str>,
    #[values("--version", "-V")] flag: &str,
) {
    let args: Vec<&str> = subcommand.into_iter().chain([flag]).collect();
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{args:?}: {err}");
    assert!(out.starts_with("native-sidecar-policy"), "{out}");
    assert!(out.trim_end().ends_with(env!("CARGO_PKG_VERSION")), "{out}");
}

/// Usage and input errors exit 2, in clap's words, naming the option and
/// pointing at --help; nothing on stdout.
#[rstest]
#[case::no_command(&[], "Usage: native-sidecar-policy <COMMAND>")]
#[case::unknown_command(&["ready"], "unrecognized subcommand 'ready'")]
#[case::unknown_option(&["readiness", "--colour", "red"], "unexpected argument '--colour'")]
#[case::missing_value(&["readiness", "--nodes"], "a value is required for '--nodes <FILE>'")]
#[case::bad_output(&["readiness", "--output", "xml"], "invalid value 'xml' for '--output <OUTPUT>'")]
#[case::missing_file(&["readiness", "--nodes", "/nonexistent.json"], "invalid value '/nonexistent.json' for '--nodes <FILE>'")]
#[case::unparsable_file(&["readiness", "--webhooks", "tests/fixtures/readiness/apiserver-metrics.txt"], "for '--webhooks <FILE>': not a YAML or JSON object")]
#[case::invalid_settings(&["readiness", "--settings", "tests/fixtures/readiness/version.json"], "invalid settings: clientVersion: unknown field")]
#[case::gatekeeper_without_out(&["gatekeeper", "--settings", "policies/validator.yaml"], "the following required arguments were not provided:\n  --out <DIR>")]
#[case::gatekeeper_invalid_settings(&["gatekeeper", "--settings", "tests/fixtures/readiness/version.json", "--out", "/nonexistent"], "invalid value 'tests/fixtures/readiness/version.json' for '--settings <FILE>'")]
#[case::unknown_shell(&["completions", "tcsh"], "invalid value 'tcsh' for '<SHELL>'")]
fn usage_and_input_errors_exit_two(#[case] args: &[&str], #[case] says: &str) {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {says:?} in {err}");
    assert!(err.contains("--help"), "{err}");
    assert!(out.is_empty(), "{out}");
}

/// The completion scripts know the subcommands and their options.
#[rstest]
fn completions_for_each_shell(#[values("bash", "zsh", "fish", "powershell", "elvish")] shell: &str) {
    let (code, out, err) = run(&["completions", shell]);
    assert_eq!(code, 0, "{err}");
    for word in ["readiness", "gatekeeper", "kubectl-version", "node-metrics"] {
        assert!(out.contains(word), "{shell}: {word}");
    }
}

/// The command writes Gatekeeper's folders afresh: files an earlier run wrote
/// that these settings no longer generate go (a `kubectl apply` of the folder
/// would apply them), anything else in the directory stays.
#[test]
fn gatekeeper_removes_what_it_no_longer_generates() {
    let out = std::env::temp_dir().join(format!("native-sidecar-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let out_arg = out.to_string_lossy().into_owned();
    let injector = [
        "gatekeeper",
        "--settings",
        "tests/fixtures/settings/gatekeeper-injector.json",
        "--out",
    ];
    let (code, _, err) = run(&[&injector[..], &[out_arg.as_str()]].concat());
    assert_eq!(code, 0, "{err}");
    let mutators = out.join("mutation");
    assert!(std::fs::read_dir(&mutators).expect("mutators written").count() > 0);
    std::fs::write(out.join("notes.txt"), "mine").expect("write");

    let (code, printed, err) = run(&[
        "gatekeeper",
        "--settings",
        "policies/validator.yaml",
        "--out",
        &out_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(printed.contains("removed "), "{printed}");
    let left: Vec<_> = std::fs::read_dir(&mutators)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(out.join("notes.txt").exists(), "not the command's to remove");
    assert!(out.join("job-sidecars/template.yaml").exists());
    std::fs::remove_dir_all(&out).expect("cleaned up");
}

/// A node-metrics directory holds `<node>.txt` files: a stray file or folder
/// beside them is no node (an editor's swap file once became one, and turned
/// the report's strategy).
#[test]
fn readiness_reads_only_the_node_metrics_files() {
    let dir = std::env::temp_dir().join(format!("native-sidecar-node-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("old")).expect("mkdir");
    std::fs::write(
        dir.join("pool-a-1.txt"),
        "kubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"\"} 1\n",
    )
    .expect("write");
    let report = |dir: &std::path::Path| {
        let (code, out, err) = run(&[
            "readiness",
            "--node-metrics",
            &dir.to_string_lossy(),
            "--output",
            "json",
        ]);
        assert!(code == 0 || code == 1, "{err}");
        out
    };
    let clean = report(&dir);
    std::fs::write(
        dir.join(".notes.swp"),
        "kubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"BETA\"} 0\n",
    )
    .expect("write");
    assert_eq!(report(&dir), clean);
    assert!(!clean.contains(".notes"), "{clean}");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}
