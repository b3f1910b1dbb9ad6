//! `kubectl native-sidecar …`: the same command as a kubectl plugin. kubectl
//! runs `kubectl-native_sidecar` from PATH for it (a plugin's dashes are
//! underscores in its file name).

#[cfg(target_family = "wasm")]
fn main() {
    eprintln!("kubectl-native_sidecar: the command runs natively, not as WebAssembly");
    std::process::exit(2);
}

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    native_sidecar_policy::command::main("kubectl native-sidecar")
}
