//! The mechanics of a fix, independent of any check: dotted paths resolved on an object,
//! partial objects built along them, and the split of a desired state into the fields
//! server-side apply may add and the JSON patch operations that change or remove existing
//! values under a `test` guard. Performs no I/O.

use crate::diff::list_keys;
use serde_json::{Map, Value, json};

/// One step of a path inside an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Resolves a dotted path of a finding (`spec.template.spec.containers[0].securityContext`,
/// `metadata.annotations.container.apparmor.security.beta.kubernetes.io/web`) on an object.
///
/// Keys may contain dots; where the object has them the longest key that exists wins. The
/// walk stops at the first segment that does not exist: the rest is returned as plain keys,
/// so that a path to a field still to be set resolves as well. `None` when the path
/// cannot be read (an index on something that is not a list, or out of range).
pub fn resolve(obj: &Value, dotted: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    let mut cur = Some(obj);
    let mut rest = dotted;
    while !rest.is_empty() {
        // A segment: a key (possibly with dots, matched greedily) then optional [i] suffixes.
        let (key, after) = match cur.and_then(Value::as_object) {
            Some(map) => longest_key(map, rest),
            None => None,
        }
        .unwrap_or_else(|| {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            (
                rest.get(..end).unwrap_or(rest),
                rest.get(end..).unwrap_or(""),
            )
        });
        if !key.is_empty() {
            cur = cur.and_then(|v| v.get(key));
            out.push(Seg::Key(key.to_string()));
        }
        rest = after;
        while let Some(tail) = rest.strip_prefix('[') {
            let close = tail.find(']')?;
            let index: usize = tail.get(..close)?.parse().ok()?;
            let list = cur?.as_array()?;
            cur = list.get(index);
            cur?;
            out.push(Seg::Index(index));
            rest = tail.get(close + 1..)?;
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Some(out)
}

/// The longest key of `map` that `rest` starts with and that ends at a segment boundary.
fn longest_key<'r>(map: &Map<String, Value>, rest: &'r str) -> Option<(&'r str, &'r str)> {
    map.keys()
        .filter(|k| {
            rest.starts_with(k.as_str())
                && matches!(rest.as_bytes().get(k.len()), None | Some(b'.') | Some(b'['))
        })
        .max_by_key(|k| k.len())
        .and_then(|k| Some((rest.get(..k.len())?, rest.get(k.len()..)?)))
}

/// The JSON pointer (RFC 6901) of a path.
pub fn pointer(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        out.push('/');
        match s {
            Seg::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// The value at a resolved path.
pub fn get<'a>(obj: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    segs.iter().try_fold(obj, |v, s| match s {
        Seg::Key(k) => v.get(k.as_str()),
        Seg::Index(i) => v.get(*i),
    })
}

/// A tree that sets `leaf` at `segs`, with list items identified by their merge keys
/// (containers by name) so that server-side apply finds them. Atomic lists on the way are
/// copied whole with the one item changed. `None` when a list item on the way has no key.
pub fn partial_at(obj: &Value, segs: &[Seg], leaf: Value) -> Option<Value> {
    build(Some(obj), segs, "", leaf)
}

fn build(cur: Option<&Value>, segs: &[Seg], field: &str, leaf: Value) -> Option<Value> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(leaf);
    };
    match first {
        Seg::Key(k) => {
            let child = build(cur.and_then(|v| v.get(k.as_str())), rest, k, leaf)?;
            let mut map = Map::new();
            map.insert(k.clone(), child);
            Some(Value::Object(map))
        }
        Seg::Index(i) => {
            let list = cur?.as_array()?;
            let item = list.get(*i)?;
            match list_keys(field) {
                Some(keys) => {
                    let child = build(Some(item), rest, "", leaf)?;
                    let Value::Object(fields) = child else {
                        return None;
                    };
                    let mut map = Map::new();
                    for k in keys {
                        if let Some(v) = item.get(*k) {
                            map.insert((*k).to_string(), v.clone());
                        }
                    }
                    map.extend(fields);
                    Some(Value::Array(vec![Value::Object(map)]))
                }
                None => {
                    let mut whole = list.clone();
                    let changed = crate::diff::merge(item, &build(Some(item), rest, "", leaf)?);
                    *whole.get_mut(*i)? = changed;
                    Some(Value::Array(whole))
                }
            }
        }
    }
}

/// The identity of an object as server-side apply needs it: apiVersion, kind, name and
/// namespace.
pub fn identity(obj: &crate::model::ObjRef) -> Value {
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(obj.name.clone()));
    if let Some(ns) = &obj.namespace {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    json!({"apiVersion": obj.api_version, "kind": obj.kind, "metadata": meta})
}

/// A desired state split against the live object.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Split {
    /// Fields that do not exist yet, as a partial tree for server-side apply (without the
    /// identity); `None` when there are none.
    pub apply: Option<Value>,
    /// `test` + `replace` operations for fields that exist with another value.
    pub ops: Vec<Value>,
}

/// Splits `desired` (a partial tree) against `live`: what is absent goes to server-side
/// apply, what exists with another value becomes a guarded JSON patch replace (so that a
/// field another manager owns changes only if it still holds the value that was reviewed),
/// what already holds the desired value is dropped.
pub fn split(live: Option<&Value>, desired: &Value) -> Split {
    let mut ops = Vec::new();
    let apply = walk(live, desired, &mut String::new(), "", &mut ops);
    Split { apply, ops }
}

fn walk(
    live: Option<&Value>,
    desired: &Value,
    ptr: &mut String,
    field: &str,
    ops: &mut Vec<Value>,
) -> Option<Value> {
    let live = live.filter(|v| !v.is_null());
    match (live, desired) {
        (None, d) => Some(d.clone()),
        (Some(Value::Object(l)), Value::Object(d)) => {
            let mut rest = Map::new();
            for (k, dv) in d {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&k.replace('~', "~0").replace('/', "~1"));
                if let Some(v) = walk(l.get(k), dv, ptr, k, ops) {
                    rest.insert(k.clone(), v);
                }
                ptr.truncate(len);
            }
            (!rest.is_empty()).then_some(Value::Object(rest))
        }
        (Some(Value::Array(l)), Value::Array(d)) if list_keys(field).is_some() => {
            let keys = list_keys(field).unwrap_or(&[]);
            let mut rest = Vec::new();
            for item in d {
                let found = l
                    .iter()
                    .position(|x| keys.iter().all(|k| key_eq(x, item, k)));
                match found.and_then(|i| Some((i, l.get(i)?))) {
                    None => rest.push(item.clone()),
                    Some((i, existing)) => {
                        let len = ptr.len();
                        ptr.push_str(&format!("/{i}"));
                        let mut inner = Vec::new();
                        let sub =
                            walk(Some(existing), &strip_keys(item, keys), ptr, "", &mut inner);
                        if !inner.is_empty() {
                            // Guard the index: the item must still be the one reviewed.
                            for k in keys {
                                if let Some(v) = existing.get(*k) {
                                    ops.push(json!({"op": "test", "path": format!("{ptr}/{k}"), "value": v}));
                                }
                            }
                            ops.extend(inner);
                        }
                        if let Some(Value::Object(m)) = sub {
                            // The merge keys first, as people write list items.
                            let mut keyed = Map::new();
                            for k in keys {
                                if let Some(v) = item.get(*k).or_else(|| existing.get(*k)) {
                                    keyed.insert((*k).to_string(), v.clone());
                                }
                            }
                            keyed.extend(m);
                            rest.push(Value::Object(keyed));
                        }
                        ptr.truncate(len);
                    }
                }
            }
            (!rest.is_empty()).then_some(Value::Array(rest))
        }
        (Some(l), d) if l == d => None,
        (Some(l), d) => {
            ops.push(json!({"op": "test", "path": ptr.clone(), "value": l}));
            ops.push(json!({"op": "replace", "path": ptr.clone(), "value": d}));
            None
        }
    }
}

/// JSON patch `add` operations for the absent fields of a [`Split`] (`apply`), against the
/// live object: for a change that must also replace values, so that the whole change is one
/// request the server can dry-run on its own (two requests on one object cannot be dry-run
/// together: the second would be judged without the first).
pub fn adds(live: &Value, apply: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    add_ops(live, apply, &mut String::new(), "", &mut ops);
    ops
}

fn add_ops(live: &Value, apply: &Value, ptr: &mut String, field: &str, ops: &mut Vec<Value>) {
    match (live, apply) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, av) in a {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&k.replace('~', "~0").replace('/', "~1"));
                match l.get(k).filter(|v| !v.is_null()) {
                    Some(lv) => add_ops(lv, av, ptr, k, ops),
                    None => ops.push(json!({"op": "add", "path": ptr.clone(), "value": av})),
                }
                ptr.truncate(len);
            }
        }
        (Value::Array(l), Value::Array(a)) => {
            let keys = list_keys(field).unwrap_or(&[]);
            for item in a {
                let found = l
                    .iter()
                    .position(|x| !keys.is_empty() && keys.iter().all(|k| key_eq(x, item, k)));
                match found.and_then(|i| Some((i, l.get(i)?))) {
                    Some((i, existing)) => {
                        let len = ptr.len();
                        ptr.push_str(&format!("/{i}"));
                        // Guard the index: the item must still be the one reviewed.
                        for k in keys {
                            if let Some(v) = existing.get(*k) {
                                ops.push(
                                    json!({"op": "test", "path": format!("{ptr}/{k}"), "value": v}),
                                );
                            }
                        }
                        add_ops(existing, &strip_keys(item, keys), ptr, "", ops);
                        ptr.truncate(len);
                    }
                    None => {
                        ops.push(json!({"op": "add", "path": format!("{ptr}/-"), "value": item}))
                    }
                }
            }
        }
        _ => {}
    }
}

fn key_eq(a: &Value, b: &Value, key: &str) -> bool {
    match (a.get(key), b.get(key)) {
        (Some(x), Some(y)) => x == y,
        // protocol defaults to TCP
        (None, Some(Value::String(s))) | (Some(Value::String(s)), None) if key == "protocol" => {
            s == "TCP"
        }
        (None, None) => key == "protocol",
        _ => false,
    }
}

fn strip_keys(item: &Value, keys: &[&str]) -> Value {
    let mut v = item.clone();
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

/// `test` then `remove` for the value at a path.
pub fn guarded_remove(obj: &Value, segs: &[Seg]) -> Option<Vec<Value>> {
    let current = get(obj, segs)?;
    let p = pointer(segs);
    Some(vec![
        json!({"op": "test", "path": p, "value": current}),
        json!({"op": "remove", "path": p}),
    ])
}

/// Orders a JSON patch so that it applies in one pass: every `test` first (they guard the
/// state that was reviewed), then the other operations, removals of list items from the
/// highest index down so that earlier removals do not shift later ones. Duplicates go.
pub fn normalise_ops(ops: Vec<Value>) -> Vec<Value> {
    let mut tests = Vec::new();
    let mut others = Vec::new();
    for op in ops {
        let target = if op.get("op").and_then(Value::as_str) == Some("test") {
            &mut tests
        } else {
            &mut others
        };
        if !target.contains(&op) {
            target.push(op);
        }
    }
    // Removals of deeper or later list items first; stable for everything else.
    others.sort_by(|a, b| {
        let pa = index_key(a);
        let pb = index_key(b);
        pb.cmp(&pa)
    });
    tests.extend(others);
    tests
}

/// Sort key of a removal: its path with list indices compared as numbers. Operations other
/// than remove keep their relative order (key `None` sorts last in a descending sort).
fn index_key(op: &Value) -> Option<Vec<(String, usize)>> {
    if op.get("op").and_then(Value::as_str) != Some("remove") {
        return None;
    }
    let path = op.get("path").and_then(Value::as_str)?;
    Some(
        path.split('/')
            .map(|s| match s.parse::<usize>() {
                Ok(n) => (String::new(), n),
                Err(_) => (s.to_string(), 0),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop",
                "annotations": {"container.apparmor.security.beta.kubernetes.io/web": "unconfined"}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "side", "image": "s:1"},
                {"name": "web", "image": "w:1", "securityContext": {"privileged": true}}]}}}})
    }

    #[test]
    fn resolves_dotted_keys_indices_and_missing_tails() {
        let d = deploy();
        let segs = resolve(
            &d,
            "metadata.annotations.container.apparmor.security.beta.kubernetes.io/web",
        )
        .unwrap();
        assert_eq!(
            pointer(&segs),
            "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1web"
        );
        let segs = resolve(
            &d,
            "spec.template.spec.containers[1].securityContext.runAsNonRoot",
        )
        .unwrap();
        assert_eq!(
            pointer(&segs),
            "/spec/template/spec/containers/1/securityContext/runAsNonRoot"
        );
        assert!(resolve(&d, "spec.template.spec.containers[7].name").is_none());
    }

    #[test]
    fn partial_identifies_containers_by_name() {
        let d = deploy();
        let segs = resolve(
            &d,
            "spec.template.spec.containers[1].securityContext.allowPrivilegeEscalation",
        )
        .unwrap();
        assert_eq!(
            partial_at(&d, &segs, json!(false)).unwrap(),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "securityContext": {"allowPrivilegeEscalation": false}}]}}}})
        );
    }

    #[test]
    fn split_applies_new_fields_and_guards_changed_ones() {
        let d = deploy();
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "securityContext": {"privileged": false, "runAsNonRoot": true}},
            {"name": "side", "image": "s:1"}]}}}});
        let s = split(Some(&d), &desired);
        assert_eq!(
            s.apply,
            Some(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "securityContext": {"runAsNonRoot": true}}]}}}}))
        );
        assert_eq!(
            s.ops,
            vec![
                json!({"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "web"}),
                json!({"op": "test", "path": "/spec/template/spec/containers/1/securityContext/privileged", "value": true}),
                json!({"op": "replace", "path": "/spec/template/spec/containers/1/securityContext/privileged", "value": false}),
            ]
        );
        assert_eq!(
            split(Some(&d), &json!({"metadata": {"name": "web"}})),
            Split::default()
        );
    }

    #[test]
    fn removals_run_from_the_highest_index_after_all_tests() {
        let ops = normalise_ops(vec![
            json!({"op": "test", "path": "/v/1", "value": 1}),
            json!({"op": "remove", "path": "/v/1"}),
            json!({"op": "test", "path": "/v/10", "value": 2}),
            json!({"op": "remove", "path": "/v/10"}),
            json!({"op": "remove", "path": "/v/1"}),
        ]);
        let paths: Vec<(&str, &str)> = ops
            .iter()
            .map(|o| (o["op"].as_str().unwrap(), o["path"].as_str().unwrap()))
            .collect();
        assert_eq!(
            paths,
            [
                ("test", "/v/1"),
                ("test", "/v/10"),
                ("remove", "/v/10"),
                ("remove", "/v/1")
            ]
        );
    }
}
