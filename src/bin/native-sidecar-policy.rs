//! `native-sidecar-policy`: the readiness report, Gatekeeper's objects and
//! shell completions (`native_sidecar_policy::command`).

// A native command: built as WebAssembly (a `cargo build --target wasm32-…`
// of the whole package) it only says so.
#[cfg(target_family = "wasm")]
fn main() {
    eprintln!("native-sidecar-policy: the command runs natively, not as WebAssembly");
    std::process::exit(2);
}

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    native_sidecar_policy::command::main("native-sidecar-policy")
}
