//! The integration tests: one test binary (one link of wasmtime, one compile
//! of the policy module per run), a module per subject.

mod apiserver;
mod command;
mod docs;
mod gatekeeper;
mod golden;
mod harness;
mod hostile;
mod injection;
mod live;
mod manifests;
mod meshes;
mod mixed_clusters;
mod playground;
mod properties;
mod readiness;
mod release;
mod replay;
mod security;
mod shim;
mod validation;
