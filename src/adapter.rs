//! Payload bytes in, verdict out: the one evaluation both front ends run (the
//! waPC module in `wapc`, the browser playground in `web`). The only place the
//! request object itself is changed (through `Plan::apply_to`); `decide` only
//! ever applies edits to a copy, to plan on top of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::cluster::Cluster;
use crate::decide::decide;
use crate::plan::Plan;
use crate::request::Request;
use crate::settings::{Settings, is_json_map};

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
    let plan = match Settings::from_json(payload.settings()).and_then(Settings::compile) {
        Err(e) => Plan::rejected(e.to_string()),
        Ok(compiled) => match Request::from_admission_request(&payload.request) {
            Ok(request) => decide(&compiled, &request, cluster),
            Err(malformed) => Plan::rejected(malformed.0),
        },
    };
    let object = payload.request.get_mut("object").map(Value::take);
    respond(plan, object)
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
