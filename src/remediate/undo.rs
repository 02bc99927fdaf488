//! The inverse of an applied JSON patch, against the object as it is when it is rolled back.
//!
//! An inverse built from the backup alone assumes the live object holds exactly what the
//! patch wrote. The API server does not keep that: it drops zero values of `omitempty`
//! fields (`hostNetwork: false` vanishes, an emptied `capabilities.add` vanishes), and an
//! `add …/-` has no index until it lands. So [`inverse`] replays the forward operations on
//! the backup to learn each one's value before and the index every append landed at, then
//! walks them in reverse against the live object:
//!
//! - an `add` becomes `test` + `remove` where the value is still there, nothing where the
//!   server normalised it away;
//! - a `replace` becomes `test` + `replace` back, or an `add` of the old value where the
//!   server dropped the zero value it wrote;
//! - a `remove` becomes an `add` of the old value, first re-creating parents the server
//!   dropped once they were empty.
//!
//! Where the live object holds something other than what the patch wrote (beyond a zero
//! value dropped), another writer changed it since: the rollback is refused, naming the path,
//! because it must never overwrite another writer's change silently. Finally the inverse is
//! applied locally to the live object and must give the backup's values at every path the
//! forward patch touched (modulo the same normalisation). Nothing here performs I/O.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// What one forward operation did to the object, in the coordinates of the moment it ran.
#[derive(Debug, Clone)]
struct Done {
    kind: Kind,
    /// The concrete pointer (an append's `-` replaced by the index it landed at).
    path: String,
    /// Whether the path's parent is a list (an `add` inserts, a `remove` shifts).
    in_list: bool,
    /// The value written (`add`, `replace`).
    written: Value,
    /// The value before (`replace`, `remove`, an `add` over an existing member).
    before: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

/// The inverse JSON patch of `forward` (applied to the object `backup` held), for the object
/// as `live` holds it now; an error names the path another writer changed since, or why the
/// change cannot be undone.
pub fn inverse(backup: &Value, forward: &[Value], live: &Value) -> Result<Vec<Value>, String> {
    let (done, shifted) = replay(backup, forward)?;
    let mut cur = live.clone();
    let mut out = Vec::new();
    for d in done.iter().rev() {
        undo_one(d, &mut cur, &mut out)?;
    }
    verify(backup, &cur, &done, &shifted)?;
    Ok(out)
}

/// Applies the forward operations one by one to a copy of the backup, recording each one's
/// concrete path and value before; also the lists that gained or lost items.
fn replay(backup: &Value, forward: &[Value]) -> Result<(Vec<Done>, BTreeSet<String>), String> {
    let mut doc = backup.clone();
    let mut done = Vec::new();
    let mut shifted = BTreeSet::new();
    for op in forward {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("an operation without a path")?;
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        let (parent, last) = split(path);
        let parent_is_list = matches!(doc.pointer(&parent), Some(Value::Array(_)));
        let d = match kind {
            "test" => continue,
            "add" => {
                let path = if parent_is_list && last == "-" {
                    let n = doc
                        .pointer(&parent)
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    format!("{parent}/{n}")
                } else {
                    path.to_string()
                };
                if parent_is_list {
                    shifted.insert(parent.clone());
                }
                Done {
                    kind: Kind::Add,
                    before: if parent_is_list {
                        None
                    } else {
                        doc.pointer(&path).cloned()
                    },
                    path,
                    in_list: parent_is_list,
                    written: value,
                }
            }
            "replace" | "remove" => {
                let before = doc.pointer(path).cloned().ok_or_else(|| {
                    format!("the change's {kind} of {path} does not apply to the backup")
                })?;
                if kind == "remove" && parent_is_list {
                    shifted.insert(parent.clone());
                }
                Done {
                    kind: if kind == "remove" {
                        Kind::Remove
                    } else {
                        Kind::Replace
                    },
                    path: path.to_string(),
                    in_list: parent_is_list,
                    written: value,
                    before: Some(before),
                }
            }
            other => return Err(format!("a {other:?} operation at {path} is not undone")),
        };
        let concrete = match d.kind {
            Kind::Remove => json!({"op": "remove", "path": d.path}),
            Kind::Add => json!({"op": "add", "path": d.path, "value": d.written}),
            Kind::Replace => json!({"op": "replace", "path": d.path, "value": d.written}),
        };
        apply(&mut doc, concrete)
            .map_err(|e| format!("the change does not apply to the backup at {path}: {e}"))?;
        done.push(d);
    }
    Ok((done, shifted))
}

/// The inverse of one forward operation against `cur` (the live object with the later
/// operations already undone), appended to `out` and applied to `cur`.
fn undo_one(d: &Done, cur: &mut Value, out: &mut Vec<Value>) -> Result<(), String> {
    let now = cur.pointer(&d.path).cloned();
    let mut ops = Vec::new();
    match (d.kind, &d.before) {
        (Kind::Add, None) => match now {
            Some(lv) => {
                if !same(&d.written, &lv) {
                    return Err(changed(&d.path, &d.written, Some(&lv)));
                }
                ops.push(json!({"op": "test", "path": d.path, "value": lv}));
                ops.push(json!({"op": "remove", "path": d.path}));
            }
            // Dropped by the server (a zero value), or by another writer: either way it is
            // as the backup has it. A list item gone is a list changed since, though: the
            // items after it would be shifted.
            None if d.in_list && !is_zero(&d.written) => {
                return Err(changed(&d.path, &d.written, None));
            }
            None => {}
        },
        (Kind::Add | Kind::Replace, Some(before)) => match now {
            Some(lv) => {
                if !same(&d.written, &lv) {
                    return Err(changed(&d.path, &d.written, Some(&lv)));
                }
                ops.push(json!({"op": "test", "path": d.path, "value": lv}));
                ops.push(json!({"op": "replace", "path": d.path, "value": before}));
            }
            None if is_zero(&d.written) => {
                parents(cur, &d.path, &mut ops)?;
                ops.push(json!({"op": "add", "path": d.path, "value": before}));
            }
            None => return Err(changed(&d.path, &d.written, None)),
        },
        (Kind::Remove, before) => {
            let before = before.clone().unwrap_or(Value::Null);
            parents(cur, &d.path, &mut ops)?;
            if d.in_list {
                let (parent, last) = split(&d.path);
                let len = cur
                    .pointer(&parent)
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if last.parse::<usize>().map_or(true, |i| i > len) {
                    return Err(format!(
                        "{parent} has {len} items now, too few to put back item {last}: \
                         another writer changed the list since; not rolled back"
                    ));
                }
            } else if let Some(lv) = &now {
                // The field the change removed is back: someone set it since.
                if same(&before, lv) {
                    return Ok(());
                }
                return Err(format!(
                    "{} holds {} now, which the change had removed: another writer set it \
                     since; not rolled back",
                    d.path,
                    short(lv)
                ));
            }
            ops.push(json!({"op": "add", "path": d.path, "value": before}));
        }
        (Kind::Replace, None) => unreachable!("recorded with a value before"),
    }
    for op in ops {
        apply(cur, op.clone()).map_err(|e| format!("undoing {}: {e}", d.path))?;
        out.push(op);
    }
    Ok(())
}

/// `add` operations that re-create the missing objects above `path` (the server drops an
/// object or list left empty). A missing list item is not re-created: that list changed.
fn parents(cur: &mut Value, path: &str, ops: &mut Vec<Value>) -> Result<(), String> {
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    for i in 1..segs.len() {
        let prefix = format!("/{}", segs[..i].join("/"));
        if cur.pointer(&prefix).is_some() {
            continue;
        }
        let (up, _) = split(&prefix);
        if !matches!(cur.pointer(&up), Some(Value::Object(_))) {
            return Err(format!(
                "{prefix} is gone: another writer changed the object since; not rolled back"
            ));
        }
        let empty = if segs[i] == "-" || segs[i].parse::<usize>().is_ok() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
        let op = json!({"op": "add", "path": prefix, "value": empty});
        apply(cur, op.clone()).map_err(|e| format!("re-creating {prefix}: {e}"))?;
        ops.push(op);
    }
    Ok(())
}

/// The inverse applied to the live object must give the backup's value at every path the
/// forward patch touched (a path inside a list that gained or lost items: the whole list).
fn verify(
    backup: &Value,
    restored: &Value,
    done: &[Done],
    shifted: &BTreeSet<String>,
) -> Result<(), String> {
    let mut paths = BTreeSet::new();
    for d in done {
        let p = shifted
            .iter()
            .filter(|s| d.path.starts_with(&format!("{s}/")))
            .min_by_key(|s| s.len())
            .cloned()
            .unwrap_or_else(|| d.path.clone());
        paths.insert(p);
    }
    for p in paths {
        let want = normalised(backup.pointer(&p).unwrap_or(&Value::Null));
        let got = normalised(restored.pointer(&p).unwrap_or(&Value::Null));
        if want != got {
            return Err(format!(
                "after the rollback {p} would be {}, the backup has {}: another writer \
                 changed it since; not rolled back",
                short(&got),
                short(&want)
            ));
        }
    }
    Ok(())
}

fn changed(path: &str, written: &Value, live: Option<&Value>) -> String {
    match live {
        Some(lv) => format!(
            "{path} is {} now, not {} as the change wrote: another writer changed it since; \
             not rolled back",
            short(lv),
            short(written)
        ),
        None => format!(
            "{path} is gone, the change wrote {}: another writer changed it since; not \
             rolled back",
            short(written)
        ),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// Whether the server may drop a value as empty (Go's `omitempty`).
fn is_zero(v: &Value) -> bool {
    match normalised(v) {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// A value with the members the server may drop (zero values, recursively) taken out.
fn normalised(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normalised(v)))
                .filter(|(_, v)| !is_zero(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalised).collect()),
        Value::Number(n) => match n.as_f64() {
            // 1 and 1.0 are one number (a backup went through YAML).
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => v.clone(),
        },
        _ => v.clone(),
    }
}

/// Whether the live value is what the change wrote, modulo the server's normalisation.
fn same(written: &Value, live: &Value) -> bool {
    normalised(written) == normalised(live)
}

/// A pointer's parent and last segment (still escaped).
fn split(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some((p, l)) => (p.to_string(), l.to_string()),
        None => (String::new(), path.to_string()),
    }
}

fn apply(doc: &mut Value, op: Value) -> Result<(), String> {
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(vec![op])).map_err(|e| e.to_string())?;
    json_patch::patch(doc, &patch).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "data", "resourceVersion": "41"},
            "spec": {"serviceName": "db", "replicas": 1,
                "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                    "spec": {"hostNetwork": true,
                        "containers": [{"name": "db", "image": "postgres:16",
                            "ports": [{"containerPort": 5432, "hostPort": 5432, "protocol": "TCP"}],
                            "securityContext": {"capabilities": {"add": ["NET_RAW"]}}}]}}}})
    }

    fn patch(doc: &Value, ops: &[Value]) -> Result<Value, String> {
        let mut d = doc.clone();
        let p: json_patch::Patch =
            serde_json::from_value(Value::Array(ops.to_vec())).map_err(|e| e.to_string())?;
        json_patch::patch(&mut d, &p).map_err(|e| e.to_string())?;
        Ok(d)
    }

    /// What the API server stores: zero values of omitempty fields and emptied lists gone.
    fn as_stored(mut v: Value, dropped: &[&str]) -> Value {
        for p in dropped {
            let (parent, last) = split(p);
            if let Some(Value::Object(m)) = v.pointer_mut(&parent) {
                m.remove(&last);
            }
        }
        if let Some(m) = v["metadata"].as_object_mut() {
            m.insert("resourceVersion".into(), json!("42"));
        }
        v
    }

    fn roundtrip(backup: &Value, forward: &[Value], dropped: &[&str]) -> Value {
        let live = as_stored(patch(backup, forward).unwrap(), dropped);
        let inv = inverse(backup, forward, &live).unwrap();
        let restored = patch(&live, &inv).unwrap();
        let mut want = backup.clone();
        want["metadata"]["resourceVersion"] = json!("42");
        assert_eq!(restored, want, "inverse: {inv:#?}");
        Value::Array(inv)
    }

    const POD: &str = "/spec/template/spec";

    #[test]
    fn host_network_replaced_by_false_and_dropped_is_added_back() {
        let p = format!("{POD}/hostNetwork");
        let fwd = [
            json!({"op": "test", "path": p, "value": true}),
            json!({"op": "replace", "path": p, "value": false}),
        ];
        let inv = roundtrip(&sts(), &fwd, &[&p]);
        assert_eq!(inv, json!([{"op": "add", "path": p, "value": true}]));
        // Where the server keeps the false, a guarded replace.
        let inv = roundtrip(&sts(), &fwd, &[]);
        assert_eq!(
            inv,
            json!([{"op": "test", "path": p, "value": false},
                {"op": "replace", "path": p, "value": true}])
        );
    }

    #[test]
    fn an_emptied_capabilities_add_is_recreated() {
        let caps = format!("{POD}/containers/0/securityContext/capabilities");
        let fwd = [
            json!({"op": "test", "path": format!("{caps}/add/0"), "value": "NET_RAW"}),
            json!({"op": "remove", "path": format!("{caps}/add/0")}),
        ];
        let inv = roundtrip(&sts(), &fwd, &[&format!("{caps}/add")]);
        assert_eq!(
            inv,
            json!([{"op": "add", "path": format!("{caps}/add"), "value": []},
                {"op": "add", "path": format!("{caps}/add/0"), "value": "NET_RAW"}])
        );
    }

    #[test]
    fn an_append_is_removed_at_the_index_it_landed_at() {
        let caps = format!("{POD}/containers/0/securityContext/capabilities");
        let fwd = [
            json!({"op": "add", "path": format!("{caps}/drop"), "value": []}),
            json!({"op": "add", "path": format!("{caps}/drop/-"), "value": "ALL"}),
            json!({"op": "add", "path": format!("{caps}/add/-"), "value": "NET_BIND_SERVICE"}),
        ];
        let inv = roundtrip(&sts(), &fwd, &[]);
        assert_eq!(
            inv,
            json!([
                {"op": "test", "path": format!("{caps}/add/1"), "value": "NET_BIND_SERVICE"},
                {"op": "remove", "path": format!("{caps}/add/1")},
                {"op": "test", "path": format!("{caps}/drop/0"), "value": "ALL"},
                {"op": "remove", "path": format!("{caps}/drop/0")},
                {"op": "test", "path": format!("{caps}/drop"), "value": []},
                {"op": "remove", "path": format!("{caps}/drop")},
            ])
        );
    }

    #[test]
    fn a_replaced_nested_object_is_replaced_back() {
        let sc = format!("{POD}/containers/0/securityContext");
        let fwd = [
            json!({"op": "test", "path": sc, "value": {"capabilities": {"add": ["NET_RAW"]}}}),
            json!({"op": "replace", "path": sc, "value":
                {"capabilities": {"drop": ["ALL"]}, "privileged": false, "runAsNonRoot": true}}),
        ];
        // The server drops `privileged: false`? It keeps it (a pointer); either way.
        roundtrip(&sts(), &fwd, &[&format!("{sc}/privileged")]);
        roundtrip(&sts(), &fwd, &[]);
    }

    #[test]
    fn a_removed_container_field_is_put_back() {
        let port = format!("{POD}/containers/0/ports/0");
        let fwd = [
            json!({"op": "test", "path": format!("{port}/hostPort"), "value": 5432}),
            json!({"op": "remove", "path": format!("{port}/hostPort")}),
            json!({"op": "remove", "path": format!("{POD}/hostNetwork")}),
        ];
        let inv = roundtrip(&sts(), &fwd, &[]);
        assert_eq!(
            inv,
            json!([{"op": "add", "path": format!("{POD}/hostNetwork"), "value": true},
                {"op": "add", "path": format!("{port}/hostPort"), "value": 5432}])
        );
    }

    #[test]
    fn another_writers_change_is_refused_naming_the_path() {
        let p = format!("{POD}/hostNetwork");
        let fwd = [json!({"op": "replace", "path": p, "value": false})];
        let mut live = patch(&sts(), &fwd).unwrap();
        live["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
        let e = inverse(&sts(), &fwd, &live).unwrap_err();
        assert!(e.contains(&p) && e.contains("another writer"), "{e}");

        // A field the change removed that someone set again.
        let hp = format!("{POD}/containers/0/ports/0/hostPort");
        let fwd = [json!({"op": "remove", "path": hp})];
        let mut live = patch(&sts(), &fwd).unwrap();
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPort"] = json!(8080);
        let e = inverse(&sts(), &fwd, &live).unwrap_err();
        assert!(e.contains(&hp) && e.contains("8080"), "{e}");

        // An item appended that another writer replaced.
        let add = format!("{POD}/containers/0/securityContext/capabilities/add");
        let fwd = [json!({"op": "add", "path": format!("{add}/-"), "value": "CHOWN"})];
        let mut live = patch(&sts(), &fwd).unwrap();
        live["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
            [1] = json!("SYS_ADMIN");
        let e = inverse(&sts(), &fwd, &live).unwrap_err();
        assert!(e.contains(&format!("{add}/1")), "{e}");
    }

    #[test]
    fn a_value_the_other_writer_left_alone_beside_the_change_is_kept() {
        let p = format!("{POD}/hostNetwork");
        let fwd = [json!({"op": "replace", "path": p, "value": false})];
        let mut live = as_stored(patch(&sts(), &fwd).unwrap(), &[&p]);
        live["spec"]["replicas"] = json!(3);
        let inv = inverse(&sts(), &fwd, &live).unwrap();
        let restored = patch(&live, &inv).unwrap();
        assert_eq!(restored["spec"]["replicas"], json!(3));
        assert_eq!(
            restored["spec"]["template"]["spec"]["hostNetwork"],
            json!(true)
        );
    }
}
