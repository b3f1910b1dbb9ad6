//! `validate_settings` on arbitrary bytes: never a panic, always an answer,
//! and settings it accepts always compile for `validate`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use native_sidecar_policy::wapc::validate_settings;
use native_sidecar_policy::settings::Settings;

fuzz_target!(|data: &[u8]| {
    let answer = validate_settings(data).expect("validate_settings always answers");
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    if answer["valid"] == true {
        let value: serde_json::Value = serde_json::from_slice(data).expect("valid settings are JSON");
        assert!(Settings::from_value(&value).and_then(Settings::compile).is_ok());
    }
});
