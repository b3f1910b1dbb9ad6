//! `validate` on arbitrary payload bytes: never a panic, always a verdict.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use native_sidecar_policy::adapter::evaluate;

fuzz_target!(|data: &[u8]| {
    common::assert_verdict(&evaluate(data, &common::SmallCluster));
});
