//! Field ownership as server-side apply reports it: the conflicts of a refused apply (who owns
//! which field, by which operation) and the part of an object those fields make up, so that a
//! rollback can hand fields taken with `--force-conflicts` back to the manager that had them.
//!
//! The API server names a field with structured-merge-diff's path syntax:
//! `.spec.template.spec.containers[name="app"].securityContext.runAsNonRoot` — `.name` for a
//! map key, `[k="v",…]` for a list item by its keys, `[=value]` for a set item, `[3]` for an
//! atomic list's index. Map keys may themselves hold dots (`.metadata.labels.app.kubernetes.io/name`),
//! so a path is resolved against the object it names, longest matching key first.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How a manager last wrote its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// Server-side apply (`helm`, `kubectl apply --server-side`, Flux, Argo CD with SSA).
    Apply,
    /// A create, update or patch (`kubectl-client-side-apply`, `kubectl-edit`, controllers).
    Update,
}

/// The fields one manager held that a forced apply took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    /// The field manager's name.
    pub manager: String,
    /// Its operation.
    pub operation: Operation,
    /// The fields, in the API server's path syntax.
    pub fields: Vec<String>,
}

/// The conflicts of a 409 answer to a server-side apply, grouped by manager (sorted).
/// Fields of a subresource (`status`) are left out: an apply to the object never takes them.
pub fn conflicts(status: &Value) -> Vec<Taken> {
    let mut out: Vec<Taken> = Vec::new();
    let causes = status
        .pointer("/details/causes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for c in causes {
        let (Some(message), Some(field)) = (
            c.get("message").and_then(Value::as_str),
            c.get("field").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Some((manager, rest)) = quoted_manager(message) else {
            continue;
        };
        if rest.trim_start().starts_with("with subresource") {
            continue;
        }
        // The server prints `"name" using v1 [at TIME]` for an Update manager, `"name"` alone
        // for an Apply manager.
        let operation = if rest.trim_start().starts_with("using ") {
            Operation::Update
        } else {
            Operation::Apply
        };
        match out
            .iter_mut()
            .find(|t| t.manager == manager && t.operation == operation)
        {
            Some(t) => t.fields.push(field.to_string()),
            None => out.push(Taken {
                manager,
                operation,
                fields: vec![field.to_string()],
            }),
        }
    }
    out.sort_by(|a, b| a.manager.cmp(&b.manager));
    out
}

/// `conflict with "NAME" …` → (NAME, the rest after the closing quote).
fn quoted_manager(message: &str) -> Option<(String, &str)> {
    let start = message.find('"')?;
    let mut escaped = false;
    for (i, ch) in message[start + 1..].char_indices() {
        match ch {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => {
                let end = start + 1 + i + 1;
                let name: String = serde_json::from_str(&message[start..end]).ok()?;
                return Some((name, &message[end..]));
            }
            _ => escaped = false,
        }
    }
    None
}

/// The part of `object` that `field` names: the value at the field, inside the maps and the
/// list items (with their key fields) that lead to it. `None` when the object does not hold it.
pub fn part(object: &Value, field: &str) -> Option<Value> {
    if field.is_empty() {
        return Some(object.clone());
    }
    if let Some(rest) = field.strip_prefix('.') {
        let map = object.as_object()?;
        let (key, value) = map
            .iter()
            .filter(|(k, _)| {
                rest.strip_prefix(k.as_str())
                    .is_some_and(|after| after.is_empty() || after.starts_with(['.', '[']))
            })
            .max_by_key(|(k, _)| k.len())?;
        let inner = part(value, &rest[key.len()..])?;
        let mut out = Map::new();
        out.insert(key.clone(), inner);
        return Some(Value::Object(out));
    }
    let rest = field.strip_prefix('[')?;
    let close = closing_bracket(rest)?;
    let (selector, after) = (&rest[..close], &rest[close + 1..]);
    let items = object.as_array()?;
    if let Some(value) = selector.strip_prefix('=') {
        let value: Value = serde_json::from_str(value).ok()?;
        return items.contains(&value).then(|| Value::Array(vec![value]));
    }
    if selector.parse::<usize>().is_ok() {
        // An index names an item of an atomic list, which is owned whole.
        return None;
    }
    let keys = item_keys(selector)?;
    let item = items.iter().find(|i| {
        keys.iter()
            .all(|(k, v)| i.get(k.as_str()).is_some_and(|x| x == v))
    })?;
    let mut inner = part(item, after)?;
    let map = inner.as_object_mut()?;
    for (k, v) in keys {
        map.insert(k, v);
    }
    Some(Value::Array(vec![inner]))
}

/// The part of `object` all of `fields` make up, merged (lists by their keys).
pub fn parts(object: &Value, fields: &[String]) -> Option<Value> {
    let mut out: Option<Value> = None;
    for f in fields {
        let p = part(object, f)?;
        out = Some(match out {
            Some(acc) => crate::diff::merge(&acc, &p),
            None => p,
        });
    }
    out
}

/// The fields a manager holds on `object` (its `metadata.managedFields` entry, `fieldsV1`), as
/// paths [`part`] resolves: a list item held only as itself (`.`) is named by its key fields.
pub fn managed_paths(object: &Value, manager: &str, operation: Operation) -> Vec<String> {
    let op = match operation {
        Operation::Apply => "Apply",
        Operation::Update => "Update",
    };
    let mut out = Vec::new();
    let entries = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for e in entries.filter(|e| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some(op)
            && e.get("subresource")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
    }) {
        if let Some(f) = e.get("fieldsV1") {
            fields_v1_paths(f, String::new(), &mut out);
        }
    }
    out
}

fn fields_v1_paths(node: &Value, prefix: String, out: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        return;
    };
    let children: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| *k != ".").collect();
    if children.is_empty() {
        if let Some(keys) = prefix
            .rsplit_once('[')
            .and_then(|(_, sel)| sel.strip_suffix(']'))
            .filter(|sel| !sel.starts_with('='))
            .and_then(item_keys)
        {
            // The item itself: its key fields.
            for (k, _) in keys {
                out.push(format!("{prefix}.{k}"));
            }
        } else if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    }
    for (k, child) in children {
        let path = if let Some(name) = k.strip_prefix("f:") {
            format!("{prefix}.{name}")
        } else if let Some(keys) = k.strip_prefix("k:") {
            let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
                continue;
            };
            let sel: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{prefix}[{}]", sel.join(","))
        } else if let Some(v) = k.strip_prefix("v:") {
            format!("{prefix}[={v}]")
        } else {
            continue;
        };
        fields_v1_paths(child, path, out);
    }
}

/// The index of the `]` that closes a selector, skipping brackets inside JSON strings.
fn closing_bracket(s: &str) -> Option<usize> {
    let (mut in_string, mut escaped) = (false, false);
    for (i, ch) in s.char_indices() {
        match ch {
            '\\' if in_string && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => in_string = !in_string,
            ']' if !in_string => return Some(i),
            _ => {}
        }
        escaped = false;
    }
    None
}

/// `name="app",port=80` → [(name, "app"), (port, 80)] (values are JSON).
fn item_keys(selector: &str) -> Option<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let mut rest = selector;
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].to_string();
        let value_text = &rest[eq + 1..];
        // The value runs to the next comma outside a string.
        let (mut in_string, mut escaped, mut end) = (false, false, value_text.len());
        for (i, ch) in value_text.char_indices() {
            match ch {
                '\\' if in_string && !escaped => {
                    escaped = true;
                    continue;
                }
                '"' if !escaped => in_string = !in_string,
                ',' if !in_string => {
                    end = i;
                    break;
                }
                _ => {}
            }
            escaped = false;
        }
        out.push((key, serde_json::from_str(&value_text[..end]).ok()?));
        rest = value_text.get(end + 1..).unwrap_or("");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_conflict_answer_names_managers_and_their_operations() {
        // As kube-apiserver v1.37 answers a server-side apply that touches others' fields.
        let status = json!({"kind": "Status", "code": 409, "reason": "Conflict", "details": {
        "causes": [
            {"reason": "FieldManagerConflict", "message": "conflict with \"helm\"",
             "field": ".spec.template.spec.containers[name=\"app\"].securityContext.runAsNonRoot"},
            {"reason": "FieldManagerConflict",
             "message": "conflict with \"kubectl-client-side-apply\" using apps/v1 at 2026-12-03T01:00:00Z",
             "field": ".spec.replicas"},
            {"reason": "FieldManagerConflict", "message": "conflict with \"helm\"",
             "field": ".metadata.labels.app.kubernetes.io/name"},
            {"reason": "FieldManagerConflict",
             "message": "conflict with \"kubelet\" with subresource \"status\" using v1",
             "field": ".status.phase"}
        ]}});
        let taken = conflicts(&status);
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].manager, "helm");
        assert_eq!(taken[0].operation, Operation::Apply);
        assert_eq!(taken[0].fields.len(), 2);
        assert_eq!(taken[1].manager, "kubectl-client-side-apply");
        assert_eq!(taken[1].operation, Operation::Update);
        assert_eq!(taken[1].fields, [".spec.replicas"]);
    }

    #[test]
    fn a_managers_fields_as_paths() {
        let helm_fields = json!({
            "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
            "f:spec": {
                "f:finalizers": {"v:\"a/b\"": {}},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}},
                    "k:{\"name\":\"side\"}": {".": {}}
                }}}
            }
        });
        let o = json!({"metadata": {"managedFields": [
            {"manager": "helm", "operation": "Apply", "fieldsV1": helm_fields},
            {"manager": "helm", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]}});
        let mut paths = managed_paths(&o, "helm", Operation::Apply);
        paths.sort();
        assert_eq!(
            paths,
            [
                ".metadata.labels.app.kubernetes.io/name",
                ".spec.finalizers[=\"a/b\"]",
                ".spec.template.spec.containers[name=\"app\"].image",
                ".spec.template.spec.containers[name=\"app\"].name",
                ".spec.template.spec.containers[name=\"side\"].name",
            ]
        );
    }

    #[test]
    fn the_part_of_an_object_a_field_path_names() {
        let o = json!({
            "metadata": {"labels": {"app": "x", "app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "side", "image": "b"},
                {"name": "app", "image": "a", "securityContext": {"runAsNonRoot": false}}
            ]}}, "ports": [{"port": 80, "protocol": "TCP", "name": "http"}],
            "finalizers": ["a/b", "c"]}
        });
        assert_eq!(
            part(
                &o,
                ".spec.template.spec.containers[name=\"app\"].securityContext.runAsNonRoot"
            ),
            Some(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "securityContext": {"runAsNonRoot": false}}]}}}}))
        );
        assert_eq!(
            part(&o, ".metadata.labels.app.kubernetes.io/name"),
            Some(json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}}}))
        );
        assert_eq!(
            part(&o, ".spec.ports[port=80,protocol=\"TCP\"].name"),
            Some(json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "name": "http"}]}}))
        );
        assert_eq!(
            part(&o, ".spec.finalizers[=\"a/b\"]"),
            Some(json!({"spec": {"finalizers": ["a/b"]}}))
        );
        assert_eq!(
            part(&o, ".spec.template.spec.containers[name=\"gone\"].image"),
            None
        );
        assert_eq!(part(&o, ".spec.absent"), None);
        let both = parts(
            &o,
            &[
                ".spec.template.spec.containers[name=\"app\"].image".into(),
                ".spec.template.spec.containers[name=\"app\"].securityContext.runAsNonRoot".into(),
            ],
        );
        assert_eq!(
            both,
            Some(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "a", "securityContext": {"runAsNonRoot": false}}]}}}}))
        );
    }
}
