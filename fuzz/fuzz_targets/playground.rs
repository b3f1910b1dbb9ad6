//! The playground's `evaluate` on arbitrary pasted texts (object, oldObject,
//! settings, cluster, split at NUL bytes; the first byte picks the
//! operation): never a panic, always a JSON answer, and an answer without
//! input errors under valid settings always carries a verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use native_sidecar_policy::adapter::Verdict;
use native_sidecar_policy::web::evaluate;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let operation = ["CREATE", "UPDATE", "DELETE"][usize::from(*first) % 3];
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let mut next = || parts.next().unwrap_or_default();
    let (object, old_object, settings, cluster) = (next(), next(), next(), next());
    let answer = evaluate(operation, object, old_object, settings, cluster);
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("the answer is JSON");
    let clean = answer["inputErrors"].as_array().is_some_and(Vec::is_empty);
    if clean && answer["settings"]["valid"] == true {
        let verdict: Verdict = serde_json::from_value(answer["verdict"].clone()).expect("a verdict");
        if let Err(broken) = verdict.well_formed() {
            panic!("an ill-formed answer ({broken}): {answer}");
        }
    }
});
