//! What a decision wants done, and the one function that does it to a request object.
//!
//! A `Plan` is a report: the edits to make, the warnings to show, the reasons
//! to reject. Decisions only ever build plans; `apply` is the only place a
//! request object is changed, and it only ever *adds* to it (an insert into a
//! list, a new key in a map) or *moves* a container whole, so nothing the user
//! sent can be lost.

use std::borrow::Cow;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::template::{CONVERTED, native_container};

/// Where an insert goes in a list.
#[derive(Debug, Clone, PartialEq)]
pub enum At {
    Index(usize),
    End,
}

/// One addition to the request object. Pointers are RFC 6901 JSON pointers;
/// missing objects and lists on the way are created. Values are shared with
/// the compiled settings they come from: applying an edit moves its value into
/// the object when nothing else holds it (an instance's first request, every
/// request under the policy-server: its settings are not kept, see
/// `adapter::SettingsCache`), and copies it when something does (settings a
/// warm instance keeps, or an env var added to every container).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Insert `value` into the list at `list`.
    Insert { list: String, at: At, value: Rc<Value> },
    /// Set `key` of the map at `map` to `value`.
    Set {
        map: String,
        key: String,
        value: Rc<Value>,
    },
    /// Take entry `index` out of the list `containers`, give it
    /// `restartPolicy: Always` and the injection marker (`template::CONVERTED`,
    /// so that a webhook that strips the field later leaves conclusive
    /// evidence) and insert it, otherwise untouched, into the list
    /// `init_containers`: a legacy sidecar made native.
    MakeNativeSidecar {
        containers: String,
        index: usize,
        init_containers: String,
        at: At,
    },
}

/// The JSON pointer `base/key` (`key` one segment, or several joined by
/// `/`). Decisions build one for every edit, on every request:
/// concatenating costs far less than `format!`.
pub fn under(base: &str, key: &str) -> String {
    [base, "/", key].concat()
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub edits: Vec<Edit>,
    pub warnings: Vec<String>,
    /// Each a full message for the user; any of them refuses the request.
    pub rejections: Vec<String>,
    /// Key and value of annotations for the API server's audit log: what the
    /// cluster operator should see even when the request is accepted.
    pub audit_annotations: Vec<(String, String)>,
}

impl Plan {
    pub fn rejected(message: String) -> Self {
        Plan {
            rejections: vec![message],
            ..Plan::default()
        }
    }

    /// Adds a warning, once: conversion and injection may both have cause
    /// to say the same thing about one pod.
    pub fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// Adds an edit unless the plan has it already: rules that each give a
    /// pod native sidecars require the same node affinity.
    pub fn add(&mut self, edit: Edit) {
        if !self.edits.contains(&edit) {
            self.edits.push(edit);
        }
    }

    /// Adds an audit annotation; a key said twice keeps both values.
    pub fn audit(&mut self, key: &str, value: String) {
        match self.audit_annotations.iter_mut().find(|(k, _)| k == key) {
            Some((_, said)) => {
                said.push_str("; ");
                said.push_str(&value);
            }
            None => self.audit_annotations.push((key.to_owned(), value)),
        }
    }

    pub fn reject(&mut self, message: String) {
        self.rejections.push(message);
    }

    /// Applies the plan's edits to `object`, consuming them.
    pub fn apply_to(&mut self, object: &mut Value) -> Result<(), String> {
        apply(self.edits.drain(..), object)
    }
}

/// Applies `edits` to `object`, in order. Fails (without panicking) when a
/// pointer crosses something that is neither a map nor a list; the request
/// view has checked the shapes the decisions read, so this means a defect,
/// and the error says so, ready to be the rejection message.
pub fn apply(edits: impl IntoIterator<Item = Edit>, object: &mut Value) -> Result<(), String> {
    apply_each(edits, object)
        .map_err(|defect| format!("native-sidecar-policy could not apply its own plan: {defect}"))
}

fn apply_each(edits: impl IntoIterator<Item = Edit>, object: &mut Value) -> Result<(), String> {
    for edit in edits {
        match edit {
            Edit::Insert { list, at, value } => insert(object, &list, at, owned(value))?,
            Edit::Set { map, key, value } => {
                container_at(object, &map, || Value::Object(Map::new()))?
                    .as_object_mut()
                    .ok_or_else(|| format!("{map} is not a map"))?
                    .insert(key, owned(value));
            }
            Edit::MakeNativeSidecar {
                containers,
                index,
                init_containers,
                at,
            } => {
                let list = container_at(object, &containers, || Value::Array(Vec::new()))?
                    .as_array_mut()
                    .ok_or_else(|| format!("{containers} is not a list"))?;
                if index >= list.len() {
                    return Err(format!("{containers}: no element {index}"));
                }
                let Value::Object(container) = list.remove(index) else {
                    return Err(format!("{containers}/{index} is not a map"));
                };
                insert(
                    object,
                    &init_containers,
                    at,
                    native_container(container, CONVERTED),
                )?;
            }
        }
    }
    Ok(())
}

/// An edit's value, moved out when this edit holds the last reference.
fn owned(value: Rc<Value>) -> Value {
    Rc::try_unwrap(value).unwrap_or_else(|shared| (*shared).clone())
}

fn insert(object: &mut Value, list: &str, at: At, value: Value) -> Result<(), String> {
    let items = container_at(object, list, || Value::Array(Vec::new()))?
        .as_array_mut()
        .ok_or_else(|| format!("{list} is not a list"))?;
    let index = match at {
        At::Index(i) if i <= items.len() => i,
        At::Index(i) => return Err(format!("{list}: index {i} is past the end")),
        At::End => items.len(),
    };
    items.insert(index, value);
    Ok(())
}

/// The value at `pointer`, created with `empty` when it (or a map on the way)
/// is missing or null.
fn container_at<'v>(
    root: &'v mut Value,
    pointer: &str,
    empty: impl Fn() -> Value,
) -> Result<&'v mut Value, String> {
    let Some(path) = pointer.strip_prefix('/') else {
        return Ok(root);
    };
    let mut segments = path.split('/').peekable();
    let mut current = root;
    while let Some(raw) = segments.next() {
        let segment = unescape(raw);
        let fresh = match segments.peek() {
            None => empty(),
            Some(_) => Value::Object(Map::new()),
        };
        current = match current {
            Value::Object(map) => {
                // Only a missing (or null) entry costs an owned key.
                if map.get(segment.as_ref()).is_none_or(Value::is_null) {
                    map.insert(segment.clone().into_owned(), fresh);
                }
                map.get_mut(segment.as_ref())
                    .ok_or_else(|| format!("{pointer}: no entry {segment}"))?
            }
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| format!("{pointer}: no element {segment}"))?,
            _ => return Err(format!("{pointer}: {segment} is inside a scalar")),
        };
    }
    Ok(current)
}

/// The value at `pointer` (RFC 6901), as `Value::pointer` finds it, without
/// its cost: serde_json's unescapes every segment into a new string (two
/// substring searches each), 5,000 instructions for `/spec/template/spec`,
/// on every request.
pub fn lookup<'v>(root: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(root);
    }
    pointer
        .strip_prefix('/')?
        .split('/')
        .try_fold(root, |current, raw| match current {
            Value::Object(map) => map.get(unescape(raw).as_ref()),
            Value::Array(items) => list_index(raw).and_then(|i| items.get(i)),
            _ => None,
        })
}

/// A list index as RFC 6901 writes it: digits, no sign, no leading zero.
fn list_index(segment: &str) -> Option<usize> {
    match segment.as_bytes() {
        [b'0', _, ..] | [b'+', ..] => None,
        _ => segment.parse().ok(),
    }
}

fn unescape(segment: &str) -> Cow<'_, str> {
    match segment.contains('~') {
        true => Cow::Owned(segment.replace("~1", "/").replace("~0", "~")),
        false => Cow::Borrowed(segment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[rstest::rstest]
    fn lookup_finds_what_serde_json_finds(
        #[values(
            "",
            "/",
            "/a",
            "/a/b~1c",
            "/a/m~0n",
            "/a/~01",
            "/a/x",
            "/list/0",
            "/list/1/k",
            "/list/01",
            "/list/+1",
            "/list/-",
            "/list/7",
            "/n/0",
            "a",
            "/a/b~1c/deeper",
            "/ "
        )]
        pointer: &str,
    ) {
        let value = json!({"a": {"b/c": 1, "m~n": 2, "~1": 3, "x": null}, "list": [10, {"k": "v"}], "n": 5,
                           "": "empty key", " ": "space"});
        assert_eq!(lookup(&value, pointer), value.pointer(pointer), "{pointer:?}");
    }

    #[test]
    fn edits_create_what_is_missing_and_keep_everything_else() {
        let mut object = json!({"metadata": {"name": "p", "x-unknown": 1},
                                "spec": {"initContainers": null, "containers": [{"name": "a"}]}});
        let mut plan = Plan {
            edits: vec![
                Edit::Insert {
                    list: "/spec/initContainers".into(),
                    at: At::Index(0),
                    value: json!({"name": "s"}).into(),
                },
                Edit::Insert {
                    list: "/spec/containers/0/env".into(),
                    at: At::End,
                    value: json!({"name": "E"}).into(),
                },
                Edit::Set {
                    map: "/metadata/annotations".into(),
                    key: "example.io/k".into(),
                    value: json!("v").into(),
                },
            ],
            ..Plan::default()
        };
        plan.apply_to(&mut object).expect("applies");
        assert_eq!(
            object,
            json!({"metadata": {"name": "p", "x-unknown": 1, "annotations": {"example.io/k": "v"}},
                   "spec": {"initContainers": [{"name": "s"}],
                            "containers": [{"name": "a", "env": [{"name": "E"}]}]}})
        );
        assert!(plan.edits.is_empty(), "edits are consumed");
    }

    #[test]
    fn edits_that_do_not_fit_fail_without_panicking() {
        let mut object = json!({"spec": {"containers": "oops"}, "a": [1]});
        let insert = |list: &str, at| Plan {
            edits: vec![Edit::Insert {
                list: list.into(),
                at,
                value: json!(1).into(),
            }],
            ..Plan::default()
        };
        assert!(insert("/spec/containers", At::End).apply_to(&mut object).is_err());
        assert!(
            insert("/spec/containers/0/env", At::End)
                .apply_to(&mut object)
                .is_err()
        );
        assert!(insert("/a", At::Index(5)).apply_to(&mut object).is_err());
        assert!(insert("/a/7/b", At::End).apply_to(&mut object).is_err());
    }

    #[test]
    fn a_moved_container_is_untouched_but_for_its_restart_policy_and_marker() {
        let sidecar = json!({"name": "proxy", "image": "envoy", "zUnknown": {"a": [1]}});
        let mut object = json!({"spec": {"containers": [{"name": "job"}, sidecar],
                                         "initContainers": [{"name": "setup"}]}});
        let mut plan = Plan {
            edits: vec![Edit::MakeNativeSidecar {
                containers: "/spec/containers".into(),
                index: 1,
                init_containers: "/spec/initContainers".into(),
                at: At::Index(0),
            }],
            ..Plan::default()
        };
        plan.apply_to(&mut object).expect("applies");
        let mut native = sidecar.clone();
        native["restartPolicy"] = json!("Always");
        native["env"] = json!([{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "(converted)"}]);
        assert_eq!(
            object,
            json!({"spec": {"containers": [{"name": "job"}], "initContainers": [native, {"name": "setup"}]}})
        );

        let mut out_of_range = Plan {
            edits: vec![Edit::MakeNativeSidecar {
                containers: "/spec/containers".into(),
                index: 9,
                init_containers: "/spec/initContainers".into(),
                at: At::End,
            }],
            ..Plan::default()
        };
        assert!(out_of_range.apply_to(&mut object).is_err());
    }

    #[test]
    fn pointer_segments_are_unescaped() {
        let mut object = json!({"a/b": {"c~d": []}});
        let mut plan = Plan {
            edits: vec![Edit::Insert {
                list: "/a~1b/c~0d".into(),
                at: At::End,
                value: json!(1).into(),
            }],
            ..Plan::default()
        };
        plan.apply_to(&mut object).expect("applies");
        assert_eq!(object, json!({"a/b": {"c~d": [1]}}));
    }
}
