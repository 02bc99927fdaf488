//! The demo cluster, loaded into a real API server as its controllers and kubelet would have
//! left it: owners first (ownerReferences carry the uids the server gave), each namespace's
//! `default` ServiceAccount, a Node for the static pod, the pods' status written through the
//! `status` subresource (the image digests the kubelet reports), and the Pod Security labels
//! and admission policies last (they came after the workloads, which they would refuse).

use super::Cluster;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `kind/namespace/name` of an object or an owner reference.
fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

fn meta_str<'a>(o: &'a Value, field: &str) -> &'a str {
    o["metadata"][field].as_str().unwrap_or("")
}

/// What the demo holds, ready to create: server-set metadata, status and PSA labels removed.
struct Prepared {
    creates: Vec<Value>,
    /// Pod status to write after the create: (namespace, name, status).
    statuses: Vec<(String, String, Value)>,
    /// Namespace labels to set once the workloads exist.
    psa_labels: Vec<(String, String, String)>,
    /// Admission policies and their bindings, created last.
    late: Vec<Value>,
}

fn prepare() -> Prepared {
    let mut p = Prepared {
        creates: Vec::new(),
        statuses: Vec::new(),
        psa_labels: Vec::new(),
        late: Vec::new(),
    };
    for o in kubeharden::source::demo::load().objects {
        let mut raw = o.raw;
        let meta = raw["metadata"].as_object_mut().unwrap();
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            meta.remove(f);
        }
        let kind = raw["kind"].as_str().unwrap().to_string();
        let (ns, name) = (
            meta_str(&raw, "namespace").to_string(),
            meta_str(&raw, "name").to_string(),
        );
        if let Some(status) = raw.as_object_mut().unwrap().remove("status")
            && kind == "Pod"
        {
            p.statuses.push((ns.clone(), name.clone(), status));
        }
        if kind == "Namespace"
            && let Some(labels) = raw["metadata"]["labels"].as_object_mut()
        {
            let psa: Vec<String> = labels
                .keys()
                .filter(|k| k.starts_with("pod-security.kubernetes.io/"))
                .cloned()
                .collect();
            for k in psa {
                let v = labels.remove(&k).unwrap();
                p.psa_labels
                    .push((name.clone(), k, v.as_str().unwrap().to_string()));
            }
        }
        if kind.starts_with("ValidatingAdmissionPolicy") {
            p.late.push(raw);
        } else {
            p.creates.push(raw);
        }
    }
    p
}

/// Creates `o` (as the admin) and returns the server's object; an object the server already
/// holds (its own bootstrap roles, `default`, `kube-system`) is read instead.
fn create(c: &Cluster, o: &Value) -> Value {
    let out = c.kubectl(&["create", "-o", "json", "-f", "-"], Some(&o.to_string()));
    if out.status.success() {
        return serde_json::from_slice(&out.stdout).unwrap();
    }
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // Already there (the server's own `kubernetes` Service answers with its clusterIP
    // taken before it says AlreadyExists): read it.
    let existing = c.kubectl(&["get", "-o", "json", "-f", "-"], Some(&o.to_string()));
    assert!(
        existing.status.success(),
        "creating {}: {err}",
        key(
            o["kind"].as_str().unwrap(),
            meta_str(o, "namespace"),
            meta_str(o, "name")
        )
    );
    serde_json::from_slice(&existing.stdout).unwrap()
}

/// Loads the demo into `c`; returns how many objects it created.
pub fn load(c: &Cluster) -> usize {
    let p = prepare();
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    // The node the static pod names as its owner.
    let node = create(
        c,
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cp-1"}}),
    );
    uids.insert(key("Node", "", "cp-1"), meta_str(&node, "uid").to_string());
    let mut pending: Vec<Value> = p.creates;
    let mut created = 0;
    // Namespaces first, then whatever has all its owners in place, round by round.
    pending.sort_by_key(|o| o["kind"] != "Namespace");
    while !pending.is_empty() {
        let before = pending.len();
        let mut next = Vec::new();
        for mut o in pending {
            let ns = meta_str(&o, "namespace").to_string();
            let owners_ready = o["metadata"]["ownerReferences"]
                .as_array()
                .is_none_or(|refs| {
                    refs.iter().all(|r| {
                        let owner_ns = if r["kind"] == "Node" { "" } else { ns.as_str() };
                        uids.contains_key(&key(
                            r["kind"].as_str().unwrap(),
                            owner_ns,
                            r["name"].as_str().unwrap(),
                        ))
                    })
                });
            if !owners_ready {
                next.push(o);
                continue;
            }
            if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                for r in refs {
                    let owner_ns = if r["kind"] == "Node" { "" } else { ns.as_str() };
                    let k = key(
                        r["kind"].as_str().unwrap(),
                        owner_ns,
                        r["name"].as_str().unwrap(),
                    );
                    r["uid"] = json!(uids[&k]);
                }
            }
            if o["kind"] == "Namespace" {
                let name = meta_str(&o, "name").to_string();
                let made = create(c, &o);
                uids.insert(
                    key("Namespace", "", &name),
                    meta_str(&made, "uid").to_string(),
                );
                // The ServiceAccount controller's work: every namespace has `default`.
                create(
                    c,
                    &json!({"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": {"name": "default", "namespace": name}}),
                );
                created += 1;
                continue;
            }
            let made = create(c, &o);
            uids.insert(
                key(o["kind"].as_str().unwrap(), &ns, meta_str(&o, "name")),
                meta_str(&made, "uid").to_string(),
            );
            created += 1;
        }
        assert!(next.len() < before, "owners never created: {next:#?}");
        pending = next;
    }
    for (ns, name, status) in p.statuses {
        let patch = json!({ "status": status }).to_string();
        c.kubectl_ok(
            &[
                "-n",
                &ns,
                "patch",
                "pod",
                &name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ],
            None,
        );
    }
    for (ns, k, v) in p.psa_labels {
        c.kubectl_ok(
            &[
                "label",
                "namespace",
                &ns,
                "--overwrite",
                &format!("{k}={v}"),
            ],
            None,
        );
    }
    for o in p.late {
        create(c, &o);
        created += 1;
    }
    created
}
