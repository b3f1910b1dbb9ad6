//! native-sidecar-policy: a Kubewarden policy that injects Kubernetes native
//! sidecars (init containers with `restartPolicy: Always`).
//!
//! This file only registers the waPC functions (`wapc`); `adapter` turns
//! payloads into calls of the pure `decide`. With the `web` feature instead,
//! `web` exports the same evaluation to the browser playground.

// A panic traps the module, and with `failurePolicy: Fail` that blocks every
// pod in scope: no path from request or settings input may panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod adapter;
pub mod catalog;
pub mod cluster;
// The command line (src/bin): native only.
#[cfg(not(target_family = "wasm"))]
pub mod command;
pub mod compat;
pub mod decide;
pub mod endless;
// Gatekeeper's objects from the same settings: for the command line.
#[cfg(not(target_family = "wasm"))]
pub mod gatekeeper;
pub mod image;
pub mod inject;
pub mod jobs;
// The readiness report's inputs from a live cluster: for the command line.
#[cfg(not(target_family = "wasm"))]
pub mod live;
pub mod meshes;
pub mod path;
pub mod plan;
pub mod quantity;
// The readiness report runs the policy over a snapshot of the cluster: the
// command line and the playground use it, the policy module does not.
#[cfg(any(feature = "web", not(target_family = "wasm")))]
pub mod readiness;
pub mod recognise;
pub mod request;
pub mod settings;
pub mod stripped;
pub mod template;
#[cfg(feature = "wapc")]
pub mod wapc;
#[cfg(feature = "web")]
pub mod web;

#[cfg(feature = "wapc")]
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    use kubewarden_policy_sdk::protocol_version_guest;
    use kubewarden_policy_sdk::wapc_guest::register_function;

    register_function("validate", wapc::validate);
    register_function("validate_settings", wapc::validate_settings);
    register_function("protocol_version", protocol_version_guest);
}
