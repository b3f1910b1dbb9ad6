//! Payload bytes in, verdict out: the one evaluation both front ends run (the
//! waPC module in `wapc`, the browser playground in `web`). The only place the
//! request object itself is changed (through `Plan::apply_to`); `decide` only
//! ever applies edits to a copy, to plan on top of them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::cluster::Cluster;
use crate::decide::decide;
use crate::plan::Plan;
use crate::request::Request;
use crate::settings::{Compiled, Settings, SettingsError, is_json_map};

/// What the policy answers about one request: Kubewarden's
/// `ValidationResponse`, field for field and serialised the same way (so the
/// tests and fuzzers read the module's answers back into it).
#[derive(Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    pub mutated_object: Option<Value>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

impl Verdict {
    /// What every answer of the policy satisfies, whatever the request: the
    /// one check the tests, the property tests and the fuzzers share. `Err`
    /// names the rule broken.
    pub fn well_formed(&self) -> Result<(), String> {
        let blank = |text: &String| text.trim().is_empty();
        if self.accepted {
            if self.message.is_some() || self.code.is_some() {
                return Err("an accepted request carries a message or a code".to_owned());
            }
        } else {
            if self.message.as_ref().is_none_or(blank) {
                return Err("a rejection without a message".to_owned());
            }
            if !self.code.is_some_and(|code| (400..600).contains(&code)) {
                return Err(format!("a rejection with code {:?}", self.code));
            }
            if self.mutated_object.is_some() {
                return Err("a rejection that mutates".to_owned());
            }
        }
        if self
            .warnings
            .as_ref()
            .is_some_and(|warnings| warnings.is_empty() || warnings.iter().any(blank))
        {
            return Err("an empty warning list, or a blank warning".to_owned());
        }
        if self
            .audit_annotations
            .as_ref()
            .is_some_and(|a| a.is_empty() || a.iter().any(|(k, v)| blank(k) || blank(v)))
        {
            return Err("an empty audit annotation".to_owned());
        }
        if self
            .mutated_object
            .as_ref()
            .is_some_and(|object| !object.is_object())
        {
            return Err("a mutated object that is not an object".to_owned());
        }
        Ok(())
    }
}

/// What `validate_settings` decides about a settings payload: the policy
/// loads, or the message that names the offending field.
pub fn check_settings(payload: &[u8]) -> Result<(), String> {
    Settings::from_json(payload)
        .map_err(|e| e.to_string())
        .and_then(|settings| settings.check())
}

/// A validation payload as Kubewarden sends it. The settings stay text, to
/// be read straight into their types.
#[derive(Deserialize)]
pub struct Payload<'a> {
    #[serde(borrow, default)]
    settings: Option<&'a RawValue>,
    #[serde(default)]
    pub request: Value,
}

impl<'a> Payload<'a> {
    /// Reads a payload; `Err` is the rejection message.
    pub fn read(bytes: &'a [u8]) -> Result<Self, String> {
        if !is_json_map(bytes) {
            return Err("malformed validation payload: not a JSON map".to_owned());
        }
        serde_json::from_slice(bytes).map_err(|e| format!("malformed validation payload: {e}"))
    }

    /// The settings' JSON text (`null` when there are none).
    pub fn settings(&self) -> &'a [u8] {
        self.settings.map_or("null", RawValue::get).as_bytes()
    }
}

/// The whole evaluation of one `{"settings": …, "request": …}` payload.
pub fn evaluate(payload: &[u8], cluster: &dyn Cluster) -> Verdict {
    let mut payload = match Payload::read(payload) {
        Ok(payload) => payload,
        Err(message) => return respond_rejected(message),
    };
    let plan = match COMPILED.with_borrow_mut(|cache| cache.compile(payload.settings())) {
        Err(e) => Plan::rejected(e.to_string()),
        Ok(compiled) => match Request::from_admission_request(&payload.request) {
            Ok(request) => decide(&compiled, &request, cluster),
            Err(malformed) => Plan::rejected(malformed.0),
        },
    };
    let object = payload.request.get_mut("object").map(Value::take);
    respond(plan, object)
}

thread_local! {
    static COMPILED: RefCell<SettingsCache> = RefCell::default();
}

/// The settings compiled for the requests of one instance. Kubewarden sends
/// the settings with every request; a host that keeps its instance (`kwctl
/// run` and `kwctl bench`, the readiness report, the playground) would
/// compile the same text again each time. The policy-server instead
/// instantiates the module for every evaluation, so there each request is an
/// instance's first: then the cache only copies the settings' text, and does
/// not keep the compiled settings, which are dropped before the plan is
/// applied so that the values a template inserts move into the pod instead
/// of being copied (`plan::owned`). They are kept from the second request
/// with the same text on, and then shared.
#[derive(Default)]
pub struct SettingsCache {
    text: Vec<u8>,
    compiled: Option<Rc<Compiled>>,
}

impl SettingsCache {
    /// The settings in `text`, compiled (or the error naming the field at
    /// fault, which is never kept).
    pub fn compile(&mut self, text: &[u8]) -> Result<Rc<Compiled>, SettingsError> {
        let seen = self.text == text;
        if let (true, Some(compiled)) = (seen, &self.compiled) {
            return Ok(Rc::clone(compiled));
        }
        let compiled = Rc::new(Settings::from_json(text)?.compile()?);
        if seen {
            self.compiled = Some(Rc::clone(&compiled));
        } else {
            self.compiled = None;
            self.text.clear();
            self.text.extend_from_slice(text);
        }
        Ok(compiled)
    }
}

/// Turns a plan into the response: rejected, accepted, or accepted with the
/// request object plus the plan's additions.
fn respond(mut plan: Plan, object: Option<Value>) -> Verdict {
    let warnings = Some(std::mem::take(&mut plan.warnings)).filter(|w| !w.is_empty());
    let audit_annotations = Some(plan.audit_annotations.drain(..).collect::<BTreeMap<_, _>>())
        .filter(|annotations| !annotations.is_empty());
    if !plan.rejections.is_empty() {
        return Verdict {
            accepted: false,
            message: Some(plan.rejections.join("\n")),
            code: Some(400),
            mutated_object: None,
            audit_annotations,
            warnings,
        };
    }
    let mutated_object = match object {
        Some(mut object) if !plan.edits.is_empty() => match plan.apply_to(&mut object) {
            Ok(()) => Some(object),
            Err(defect) => return respond_rejected(defect),
        },
        _ => None,
    };
    Verdict {
        accepted: true,
        message: None,
        code: None,
        mutated_object,
        audit_annotations,
        warnings,
    }
}

fn respond_rejected(message: String) -> Verdict {
    respond(Plan::rejected(message), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Snapshot;

    const INJECTOR: &str = include_str!("../tests/fixtures/settings/injector.json");

    #[test]
    fn settings_are_kept_from_the_second_request_with_the_same_text() {
        let mut cache = SettingsCache::default();
        let first = cache.compile(INJECTOR.as_bytes()).expect("compiles");
        assert_eq!(
            Rc::strong_count(&first),
            1,
            "an instance's first request keeps nothing"
        );
        let second = cache.compile(INJECTOR.as_bytes()).expect("compiles");
        assert_eq!(Rc::strong_count(&second), 2, "the second keeps what it compiled");
        let third = cache.compile(INJECTOR.as_bytes()).expect("compiles");
        assert!(Rc::ptr_eq(&second, &third), "the third compiles nothing");

        let other = cache.compile(b"{}").expect("compiles");
        assert_eq!(Rc::strong_count(&other), 1);
        assert_eq!(Rc::strong_count(&third), 2, "other settings drop what was kept");
        assert!(cache.compile(br#"{"mutate": 1}"#).is_err());
        let again = cache.compile(b"{}").expect("compiles");
        assert_eq!(
            Rc::strong_count(&again),
            2,
            "an error is not kept, nor forgets the text before it"
        );
    }

    #[test]
    fn an_instance_answers_the_same_request_the_same_whether_it_compiles_or_reuses() {
        let request = include_str!("../tests/fixtures/requests/pod-create-plain.json");
        let payload = format!(r#"{{"settings": {INJECTOR}, "request": {request}}}"#);
        let verdicts: Vec<Verdict> = (0..3)
            .map(|_| evaluate(payload.as_bytes(), &Snapshot::default()))
            .collect();
        assert!(verdicts[0].mutated_object.is_some(), "{:?}", verdicts[0]);
        let answers: Vec<String> = verdicts
            .iter()
            .map(|verdict| serde_json::to_string(verdict).expect("serialises"))
            .collect();
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[1], answers[2]);
    }
}
