//! Local previews of patches: server-side-apply style merging and unified diffs.
//!
//! The merge follows the Kubernetes schema's list semantics for the fields remediations
//! touch: maps merge key by key; `containers`, `initContainers`, `ephemeralContainers`,
//! `volumes`, `env` and `imagePullSecrets` merge by `name`, `ports` by `containerPort` and
//! `protocol`, `volumeMounts` by `mountPath`; every other list is atomic and replaced.
//! A server-side dry run remains the proof; this is the preview. Performs no I/O.

use serde_json::Value;
use similar::TextDiff;

/// The key fields of a list that merges by key, by the list's field name.
pub fn list_keys(field: &str) -> Option<&'static [&'static str]> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => Some(&["name"]),
        "ports" => Some(&["containerPort", "protocol"]),
        "volumeMounts" => Some(&["mountPath"]),
        _ => None,
    }
}

fn key_of(item: &Value, keys: &[&str]) -> Option<Vec<Value>> {
    let map = item.as_object()?;
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        match (map.get(*k), *k) {
            (Some(v), _) => out.push(v.clone()),
            // protocol defaults to TCP
            (None, "protocol") => out.push(Value::String("TCP".into())),
            (None, _) => return None,
        }
    }
    Some(out)
}

/// Merges `patch` into `live` the way server-side apply would for the fields it sets.
pub fn merge(live: &Value, patch: &Value) -> Value {
    merge_field(live, patch, "")
}

fn merge_field(live: &Value, patch: &Value, field: &str) -> Value {
    match (live, patch) {
        (Value::Object(l), Value::Object(p)) => {
            let mut out = l.clone();
            for (k, pv) in p {
                let merged = match l.get(k) {
                    Some(lv) => merge_field(lv, pv, k),
                    None => pv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(p)) => match list_keys(field) {
            Some(keys) => {
                let mut out = l.clone();
                for item in p {
                    let found = key_of(item, keys).and_then(|k| {
                        out.iter()
                            .position(|existing| key_of(existing, keys).as_ref() == Some(&k))
                    });
                    match found.and_then(|i| out.get_mut(i)) {
                        Some(existing) => *existing = merge_field(existing, item, ""),
                        None => out.push(item.clone()),
                    }
                }
                Value::Array(out)
            }
            None => patch.clone(),
        },
        _ => patch.clone(),
    }
}

/// Drops what the server owns (status, managedFields, resourceVersion, uid, generation,
/// creationTimestamp) so that diffs show only intent.
pub fn canonical(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "selfLink",
            ] {
                meta.remove(k);
            }
        }
    }
    v
}

/// A unified diff of two objects rendered as YAML (empty when they are equal).
pub fn unified(before: &Value, after: &Value, before_label: &str, after_label: &str) -> String {
    let (a, _) = crate::model::yaml::render(&canonical(before));
    let (b, _) = crate::model::yaml::render(&canonical(after));
    if a == b {
        return String::new();
    }
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(before_label, after_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_atomic_lists_are_replaced() {
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x:1", "securityContext": {"capabilities": {"drop": ["NET_RAW"]}}},
            {"name": "b", "image": "y:1", "ports": [{"containerPort": 80}]}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "b", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]},
            {"name": "a", "securityContext": {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": false}}]}}}});
        let merged = merge(&live, &patch);
        let c = &merged["spec"]["template"]["spec"]["containers"];
        assert_eq!(c.as_array().unwrap().len(), 2);
        assert_eq!(c[0]["image"], "x:1");
        assert_eq!(
            c[0]["securityContext"]["capabilities"]["drop"],
            json!(["ALL"])
        );
        assert_eq!(c[0]["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(
            c[1]["ports"],
            json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
        );
    }

    #[test]
    fn unified_diff_shows_only_changes_and_ignores_server_fields() {
        let live = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "a", "uid": "1", "resourceVersion": "9", "labels": {"x": "y"}}, "status": {"phase": "Active"}});
        let after = merge(
            &live,
            &json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}),
        );
        let d = unified(&live, &after, "live", "patched");
        assert!(
            d.contains("+    pod-security.kubernetes.io/enforce: baseline"),
            "{d}"
        );
        assert!(
            !d.contains("resourceVersion") && !d.contains("phase"),
            "{d}"
        );
        assert_eq!(unified(&live, &live, "a", "b"), "");
    }
}
