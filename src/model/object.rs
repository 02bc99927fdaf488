//! One Kubernetes object as loaded: identity, origin and the raw tree.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Annotation that waives findings on one object: `"KH-POD-101: reason; KH-IMG-002: reason"`.
pub const WAIVE_ANNOTATION: &str = "kubeharden.io/waive";

/// Annotation that `kubectl apply` writes; on a Secret it holds the Secret's data.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Origin {
    /// Read from a live cluster.
    Cluster,
    /// Read from a file on disk (or `-` for stdin).
    File {
        /// The path as given, joined with the path inside a given folder.
        path: String,
        /// 0-based index of the YAML document (or JSON value) in the file.
        document: usize,
        /// 0-based index inside a `List` document, when the object was a list item.
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
        /// 1-based line where the document starts.
        line: usize,
    },
    /// Part of the demo cluster embedded in the binary.
    Demo {
        /// The asset file name.
        path: String,
        /// 0-based index of the YAML document in that file.
        document: usize,
    },
    /// Not an object of the source: a cluster-wide statement (for example "cannot verify").
    Synthetic,
}

impl Origin {
    /// The file and the line its document starts on, for objects read from disk only.
    pub fn file_line(&self) -> Option<(&str, usize)> {
        match self {
            Origin::File { path, line, .. } => Some((path.as_str(), *line)),
            _ => None,
        }
    }

    /// The file and document, for objects read from disk only.
    pub fn file_document(&self) -> Option<(&str, usize)> {
        match self {
            Origin::File { path, document, .. } => Some((path.as_str(), *document)),
            _ => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Cluster => write!(f, "cluster"),
            Origin::File {
                path,
                document,
                item: None,
                ..
            } => write!(f, "{path} (document {document})"),
            Origin::File {
                path,
                document,
                item: Some(i),
                ..
            } => write!(f, "{path} (document {document}, item {i})"),
            Origin::Demo { path, document } => write!(f, "demo:{path} (document {document})"),
            Origin::Synthetic => write!(f, "-"),
        }
    }
}

/// The identity of an object: apiVersion, kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjRef {
    /// `apiVersion`, for example `apps/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`, for example `Deployment`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjRef {
    /// A reference built from its parts.
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Why a document is not an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAnObject {
    /// An empty document (only comments or nothing).
    Empty,
    /// A document that is not a Kubernetes object (no apiVersion/kind/name); the reason.
    Foreign(String),
}

/// A Kubernetes object: its identity, where it came from, and the whole tree as loaded.
#[derive(Debug, Clone)]
pub struct Object {
    /// apiVersion, kind, namespace, name.
    pub id: std::sync::Arc<ObjRef>,
    /// `metadata.uid`, when present.
    pub uid: Option<String>,
    /// Where it came from.
    pub origin: std::sync::Arc<Origin>,
    /// The whole object, Secrets redacted to metadata and type.
    pub raw: Value,
}

impl Object {
    /// Builds an object from a parsed tree, redacting Secret values and dropping
    /// `metadata.managedFields`.
    ///
    /// Fails (without panicking) when the tree is not a Kubernetes object.
    pub fn from_value(mut raw: Value, origin: Origin) -> Result<Object, NotAnObject> {
        if raw.is_null() {
            return Err(NotAnObject::Empty);
        }
        let Some(map) = raw.as_object() else {
            return Err(NotAnObject::Foreign(format!(
                "not a mapping but {}",
                json_type(&raw)
            )));
        };
        let api_version = match map.get("apiVersion") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(NotAnObject::Foreign("no apiVersion".into())),
        };
        let kind = match map.get("kind") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(NotAnObject::Foreign("no kind".into())),
        };
        let meta = map.get("metadata");
        let name = match meta.and_then(|m| m.get("name")) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => match meta.and_then(|m| m.get("generateName")) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(NotAnObject::Foreign(format!(
                        "{kind} without metadata.name"
                    )));
                }
            },
        };
        let namespace = match meta.and_then(|m| m.get("namespace")) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let uid = match meta.and_then(|m| m.get("uid")) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        if kind == "Secret" {
            redact_secret(&mut raw);
        }
        // The server's field bookkeeping: never judged, hidden by kubectl, and often a third
        // of an object read from the API or dumped with --show-managed-fields.
        if let Some(meta) = raw.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.shift_remove("managedFields");
        }
        Ok(Object {
            id: std::sync::Arc::new(ObjRef {
                api_version,
                kind,
                namespace,
                name,
            }),
            uid,
            origin: std::sync::Arc::new(origin),
            raw,
        })
    }

    /// The kind.
    pub fn kind(&self) -> &str {
        &self.id.kind
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.id.name
    }

    /// The namespace, if namespaced.
    pub fn namespace(&self) -> Option<&str> {
        self.id.namespace.as_deref()
    }

    /// `metadata.labels` as strings (non-string values are skipped).
    pub fn labels(&self) -> BTreeMap<String, String> {
        string_map(self.raw.pointer("/metadata/labels"))
    }

    /// One label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.raw
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
    }

    /// The controller owner reference (`controller: true`), or the only owner reference.
    pub fn controller_owner(&self) -> Option<OwnerRef> {
        let refs = self.raw.pointer("/metadata/ownerReferences")?.as_array()?;
        let parse = |r: &Value| -> Option<OwnerRef> {
            Some(OwnerRef {
                kind: r.get("kind")?.as_str()?.to_string(),
                name: r.get("name")?.as_str()?.to_string(),
                uid: r.get("uid").and_then(Value::as_str).map(str::to_string),
            })
        };
        let controller = refs
            .iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
        match controller {
            Some(r) => parse(r),
            None if refs.len() == 1 => refs.first().and_then(parse),
            None => None,
        }
    }
}

/// An owner reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    /// Owner kind.
    pub kind: String,
    /// Owner name (same namespace as the owned object).
    pub name: String,
    /// Owner uid, when given.
    pub uid: Option<String>,
}

/// Removes every place a Secret's value can hide: `data`, `stringData` and the
/// last-applied annotation (which repeats them).
pub fn redact_secret(raw: &mut Value) {
    if let Some(map) = raw.as_object_mut() {
        map.remove("data");
        map.remove("stringData");
    }
    if let Some(ann) = raw
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        ann.remove(LAST_APPLIED);
    }
}

/// A JSON map of strings, skipping non-string values.
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON list of strings, skipping non-string items; empty when absent or not a list.
pub fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A short name for the JSON type of a value, for messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_lose_values_and_last_applied() {
        let raw = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"a",
            "annotations":{LAST_APPLIED:"{\"data\":{\"k\":\"c2VjcmV0\"}}","keep":"me"}},
            "type":"Opaque","data":{"k":"c2VjcmV0"},"stringData":{"p":"plain"}});
        let o = Object::from_value(raw, Origin::Cluster).unwrap();
        let text = o.raw.to_string();
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(!text.contains("plain"), "{text}");
        assert!(text.contains("keep"));
        assert_eq!(o.raw["type"], "Opaque");
    }

    #[test]
    fn foreign_documents_are_named() {
        let e = Object::from_value(json!({"name": "x"}), Origin::Cluster).unwrap_err();
        assert_eq!(e, NotAnObject::Foreign("no apiVersion".into()));
        let e = Object::from_value(json!([1, 2]), Origin::Cluster).unwrap_err();
        assert_eq!(e, NotAnObject::Foreign("not a mapping but a list".into()));
    }
}
