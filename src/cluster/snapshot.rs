//! A cluster made of given objects: what the playground and the tests ask
//! instead of Kubewarden's host.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::Cluster;

/// A cluster that holds exactly the given objects (Nodes, controllers), as
/// the host's cache would answer about them; field masks are not applied:
/// the decisions read only the fields they ask for. The readiness report
/// asks it about every workload of a cluster, so an object is found by name
/// without a scan, and a list is written once per question, as the
/// policy-server keeps one cache per question.
#[derive(Debug, Default)]
pub struct Snapshot {
    objects: Vec<Value>,
    /// `(apiVersion, kind, namespace, name)` → index in `objects`.
    named: HashMap<(String, String, String, String), usize>,
    /// `(apiVersion, kind, label selector)` → the list's JSON.
    lists: Mutex<HashMap<(String, String, String), Vec<u8>>>,
}

impl Snapshot {
    /// A snapshot of these objects.
    pub fn new(objects: Vec<Value>) -> Snapshot {
        let text = |object: &Value, pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut named = HashMap::new();
        for (index, object) in objects.iter().enumerate() {
            let key = (
                text(object, "/apiVersion"),
                text(object, "/kind"),
                text(object, "/metadata/namespace"),
                text(object, "/metadata/name"),
            );
            // The first of two alike, as a scan would find it.
            named.entry(key).or_insert(index);
        }
        Snapshot {
            objects,
            named,
            lists: Mutex::default(),
        }
    }

    /// The objects of some documents, each a list, a `List` or `NodeList`
    /// (whose items may leave out the `apiVersion` and `kind` the list
    /// implies, as `kubectl get -o json` prints them), or one object.
    pub fn from_documents(documents: impl IntoIterator<Item = Value>) -> Snapshot {
        let objects = documents.into_iter().flat_map(|document| match document {
            Value::Array(items) => items,
            Value::Object(mut list) => match list.remove("items") {
                Some(Value::Array(items)) => items.into_iter().map(|item| implied(item, &list)).collect(),
                Some(other) => {
                    list.insert("items".to_owned(), other);
                    vec![Value::Object(list)]
                }
                None => vec![Value::Object(list)],
            },
            _ => Vec::new(),
        });
        Snapshot::new(objects.collect())
    }

    fn of_kind<'s>(&'s self, api_version: &'s str, kind: &'s str) -> impl Iterator<Item = &'s Value> {
        self.objects.iter().filter(move |object| {
            object.get("apiVersion").and_then(Value::as_str) == Some(api_version)
                && object.get("kind").and_then(Value::as_str) == Some(kind)
        })
    }
}

/// Whether an object's labels meet every `key=value` of a label selector,
/// as the host's list asks the API server.
fn selected(label_selector: &str, object: &Value) -> bool {
    let labels = object.pointer("/metadata/labels");
    label_selector
        .split(',')
        .filter(|requirement| !requirement.is_empty())
        .all(|requirement| {
            let (key, value) = requirement.split_once('=').unwrap_or((requirement, ""));
            labels.and_then(|l| l.get(key)).and_then(Value::as_str) == Some(value)
        })
}

/// A list item with the `apiVersion` and `kind` its list implies, where it
/// has none.
fn implied(mut item: Value, list: &Map<String, Value>) -> Value {
    let list_kind = list.get("kind").and_then(Value::as_str).unwrap_or_default();
    let implied = [
        ("apiVersion", list.get("apiVersion").and_then(Value::as_str)),
        (
            "kind",
            list_kind.strip_suffix("List").filter(|kind| !kind.is_empty()),
        ),
    ];
    if let Value::Object(fields) = &mut item {
        for (key, value) in implied {
            if let (false, Some(value)) = (fields.contains_key(key), value) {
                fields.insert(key.to_owned(), Value::from(value));
            }
        }
    }
    item
}

impl Cluster for Snapshot {
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        _fields: &[&str],
    ) -> Result<Value, String> {
        let key = (
            api_version.to_owned(),
            kind.to_owned(),
            namespace.to_owned(),
            name.to_owned(),
        );
        self.named
            .get(&key)
            .and_then(|&index| self.objects.get(index))
            .cloned()
            .ok_or_else(|| format!("{kind} {namespace}/{name} not found"))
    }

    fn list_all(
        &self,
        api_version: &str,
        kind: &str,
        label_selector: &str,
        _fields: &[&str],
    ) -> Result<Vec<u8>, String> {
        let question = (api_version.to_owned(), kind.to_owned(), label_selector.to_owned());
        let mut lists = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(list) = lists.get(&question) {
            return Ok(list.clone());
        }
        let items: Vec<&Value> = self
            .of_kind(api_version, kind)
            .filter(|object| selected(label_selector, object))
            .collect();
        let list = serde_json::to_vec(&serde_json::json!({"items": items})).map_err(|e| e.to_string())?;
        lists.insert(question, list.clone());
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(objects: Vec<Value>) -> Vec<String> {
        objects
            .iter()
            .map(|o| format!("{} {}", o["kind"].as_str().unwrap_or("?"), o["metadata"]["name"]))
            .collect()
    }

    #[test]
    fn list_items_take_the_kind_their_list_implies_and_keep_their_own() {
        let snapshot = Snapshot::from_documents([
            json!({"apiVersion": "v1", "kind": "NodeList", "items": [
                {"metadata": {"name": "a"}},
                {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b"}},
            ]}),
            json!([{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "c"}}]),
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "shop"}}),
            json!({"apiVersion": "v1", "kind": "List", "items": [{"metadata": {"name": "kindless"}}]}),
            json!("not an object"),
        ]);
        let nodes = listed(snapshot.list_all("v1", "Node", "", &[]));
        assert_eq!(names(nodes), ["Node \"a\"", "Node \"b\"", "Node \"c\""]);
        assert_eq!(
            snapshot.objects.len(),
            5,
            "the kindless item is kept, the string is not"
        );
    }

    fn listed(list: Result<Vec<u8>, String>) -> Vec<Value> {
        let list: Value = serde_json::from_slice(&list.expect("a list")).expect("JSON");
        list["items"].as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn a_list_keeps_what_its_label_selector_selects() {
        let node = |name: &str, labels: Value| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}});
        let snapshot = Snapshot::from_documents([
            node("a", json!({"pool": "x", "zone": "1"})),
            node("b", json!({"pool": "x", "zone": "2"})),
            node("c", json!({"pool": "y"})),
            node("d", json!(null)),
        ]);
        let selected = |selector: &str| names(listed(snapshot.list_all("v1", "Node", selector, &[])));
        assert_eq!(selected("pool=x").len(), 2);
        assert_eq!(selected("pool=x,zone=2"), ["Node \"b\""]);
        assert_eq!(selected("pool=z"), Vec::<String>::new());
        assert_eq!(selected("").len(), 4);
    }

    #[test]
    fn a_resource_is_found_by_kind_namespace_and_name_only() {
        let snapshot = Snapshot::from_documents([
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "shop"}}),
        ]);
        assert!(
            snapshot
                .get_resource("apps/v1", "ReplicaSet", "shop", "web", &[])
                .is_ok()
        );
        for (kind, namespace, name) in [
            ("ReplicaSet", "other", "web"),
            ("ReplicaSet", "shop", "api"),
            ("Job", "shop", "web"),
        ] {
            let missing = snapshot.get_resource("apps/v1", kind, namespace, name, &[]);
            assert_eq!(missing, Err(format!("{kind} {namespace}/{name} not found")));
        }
    }
}
