//! `validate_settings` on arbitrary bytes: never a panic, always an answer,
//! and the same answer `validate` gives: settings it refuses make `validate`
//! refuse every request with that very message; settings it accepts never do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use native_sidecar_policy::adapter::{check_settings, evaluate};
use native_sidecar_policy::wapc::validate_settings;
use serde_json::{Value, json};

mod common;

fuzz_target!(|data: &[u8]| {
    let answer = validate_settings(data).expect("validate_settings always answers");
    let answer: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    let Ok(settings) = serde_json::from_slice::<Value>(data) else {
        assert_eq!(answer["valid"], false, "bytes that are not JSON are refused");
        return;
    };
    let request = json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "n",
        "object": {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}});
    let payload = json!({"settings": settings, "request": request}).to_string();
    let verdict = evaluate(payload.as_bytes(), &common::SmallCluster);
    common::assert_verdict(&verdict);
    match check_settings(data) {
        Ok(()) => {
            assert_eq!(answer["valid"], true);
            assert!(
                !verdict
                    .message
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("invalid settings"),
                "accepted settings refused by validate: {verdict:?}"
            );
        }
        Err(refusal) => {
            assert_eq!(answer["valid"], false);
            assert_eq!(answer["message"], json!(refusal));
            // validate compiles without the load-time type checks, so it may
            // accept what validate_settings refuses; never the reverse.
            if !verdict.accepted {
                assert!(verdict.message.is_some());
            }
        }
    }
});
