//! Fields the API server refuses to change on an existing object, and what to do instead.
//!
//! The rules follow kube-apiserver's update validation (v1.37: `ValidatePodUpdate`,
//! `ValidateJobSpecUpdate`, `ValidateStatefulSetUpdate`, the apps/v1 selectors,
//! `ValidateServiceUpdate`, the RBAC bindings' `roleRef`, immutable Secrets and ConfigMaps).
//! A change that touches one of them can only land by deleting the object and creating it
//! again: kubeharden offers that as its own form ([`super::Form::Recreate`]) for a bare Pod
//! or Job, and leaves anything else to be changed by hand in the manifest it comes from.
//! `tests/it/real/immutable.rs` holds these rules against a real API server.

use serde_json::{Map, Value};

/// The first field an update from `before` to `after` would change that the server keeps
/// immutable, as a path (`spec.containers[0].securityContext`); `None` when the update is
/// allowed as far as immutability goes.
pub fn refused_change(kind: &str, before: &Value, after: &Value) -> Option<String> {
    let spec = |v: &Value, k: &str| v.get("spec").and_then(|s| s.get(k)).cloned();
    let fields = |names: &[&str]| -> Option<String> {
        names
            .iter()
            .find(|k| !same(spec(before, k).as_ref(), spec(after, k).as_ref()))
            .map(|k| {
                first_difference(
                    spec(before, k).as_ref(),
                    spec(after, k).as_ref(),
                    &format!("spec.{k}"),
                )
            })
    };
    match kind {
        "Pod" => pod_spec_change(before.get("spec"), after.get("spec")),
        "Job" => fields(&[
            "selector",
            "template",
            "completionMode",
            "podFailurePolicy",
            "backoffLimitPerIndex",
            "managedBy",
            "successPolicy",
        ]),
        "StatefulSet" => fields(&[
            "selector",
            "volumeClaimTemplates",
            "serviceName",
            "podManagementPolicy",
        ]),
        "Deployment" | "ReplicaSet" | "DaemonSet" => fields(&["selector"]),
        "Service" => service_change(before, after),
        "RoleBinding" | "ClusterRoleBinding" => {
            (!same(before.get("roleRef"), after.get("roleRef")))
                .then(|| first_difference(before.get("roleRef"), after.get("roleRef"), "roleRef"))
        }
        "Secret" | "ConfigMap" if before.get("immutable") == Some(&Value::Bool(true)) => {
            ["data", "stringData", "binaryData", "immutable"]
                .iter()
                .find(|k| !same(before.get(**k), after.get(**k)))
                .map(|k| k.to_string())
        }
        _ => None,
    }
}

/// A Pod's spec may change only in its containers' images, `activeDeadlineSeconds`,
/// `terminationGracePeriodSeconds` (to 1 from a negative value), added tolerations and
/// removed scheduling gates; everything else is compared as the server does.
fn pod_spec_change(before: Option<&Value>, after: Option<&Value>) -> Option<String> {
    let (Some(Value::Object(b)), Some(Value::Object(a))) = (before, after) else {
        return (!same(before, after)).then(|| "spec".to_string());
    };
    let mut munged = a.clone();
    for list in ["containers", "initContainers"] {
        if let (Some(Value::Array(new)), Some(Value::Array(old))) =
            (munged.get_mut(list), b.get(list))
        {
            for (n, o) in new.iter_mut().zip(old) {
                if let (Some(n), Some(image)) = (n.as_object_mut(), o.get("image")) {
                    n.insert("image".into(), image.clone());
                }
            }
        }
    }
    for (key, keep_old) in [
        ("activeDeadlineSeconds", true),
        ("schedulingGates", true),
        ("tolerations", tolerations_only_added(b, a)),
    ] {
        if keep_old {
            match b.get(key) {
                Some(v) => munged.insert(key.into(), v.clone()),
                None => munged.remove(key),
            };
        }
    }
    let munged = Value::Object(munged);
    let old = Value::Object(b.clone());
    (!same(Some(&old), Some(&munged))).then(|| first_difference(Some(&old), Some(&munged), "spec"))
}

fn tolerations_only_added(b: &Map<String, Value>, a: &Map<String, Value>) -> bool {
    let old = b
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new = a
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    old.iter().all(|t| new.contains(t))
}

/// A Service keeps the cluster IP it was given (`clusterIP`, `clusterIPs`), unless it moves
/// to or from type ExternalName.
fn service_change(before: &Value, after: &Value) -> Option<String> {
    let ty = |v: &Value| {
        v.pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string()
    };
    if ty(before) == "ExternalName" || ty(after) == "ExternalName" {
        return None;
    }
    ["clusterIP", "clusterIPs"].iter().find_map(|k| {
        let old = before.get("spec").and_then(|s| s.get(*k));
        let new = after.get("spec").and_then(|s| s.get(*k));
        let set = old.is_some_and(|v| !is_zero(v));
        (set && !same(old, new)).then(|| format!("spec.{k}"))
    })
}

/// Equal as the server stores them: an absent field, `null` and a zero value (false, 0, "",
/// an empty list or map) are the same, since Go's `omitempty` drops them.
pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (None | Some(Value::Null), Some(v)) | (Some(v), None | Some(Value::Null)) => is_zero(v),
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.keys().chain(y.keys()).all(|k| same(x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(Some(p), Some(q)))
        }
        (Some(x), Some(y)) => x == y,
    }
}

/// Whether a value is what Go's `omitempty` leaves out.
pub fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

/// The path of the first place `a` and `b` differ, below `at`.
fn first_difference(a: Option<&Value>, b: Option<&Value>, at: &str) -> String {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => x
            .keys()
            .chain(y.keys())
            .find(|k| !same(x.get(*k), y.get(*k)))
            .map(|k| first_difference(x.get(k), y.get(k), &format!("{at}.{k}")))
            .unwrap_or_else(|| at.to_string()),
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .position(|(p, q)| !same(Some(p), Some(q)))
            .map(|i| first_difference(x.get(i), y.get(i), &format!("{at}[{i}]")))
            .unwrap_or_else(|| at.to_string()),
        _ => at.to_string(),
    }
}

/// Whether kubeharden may offer to delete and re-create the object: a Pod or a Job that no
/// controller owns (an owned one is re-created by its owner, whose template is the fix's
/// place), and not a Job that has finished (re-creating it would run it again). `Err` says
/// why not.
pub fn recreatable(obj: &Value) -> Result<(), String> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "Pod" | "Job") {
        return Err(format!(
            "the server does not let a {kind} change this field: change it in the manifest the \
             object comes from, then delete and re-create the object (for a workload, \
             `kubectl delete --cascade=orphan` keeps its pods running)"
        ));
    }
    let owned = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| !refs.is_empty());
    if owned {
        return Err(format!(
            "the {kind} has an owner that re-creates it: fix the owner's template"
        ));
    }
    if kind == "Job" && job_finished(obj) {
        return Err(
            "the Job has finished and re-creating it would run it again: change the manifest \
             that creates it, so that its next run is fixed"
                .into(),
        );
    }
    Ok(())
}

fn job_finished(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            matches!(
                c.get("type").and_then(Value::as_str),
                Some("Complete" | "Failed")
            ) && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

/// Labels the Job controller puts on a Job's selector and pod template (unless the Job
/// sets `manualSelector`); a new Job with the old ones is refused, as they carry the old uid.
const JOB_GENERATED_LABELS: &[&str] = &[
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
];

/// The object as it is sent to create it again: without what the server and the
/// controllers set on the old one (uid, resourceVersion, managedFields, status, a
/// scheduler's node binding, a Job's generated selector).
pub fn for_recreate(obj: &Value) -> Value {
    // What every write of the server sets (status, uid, resourceVersion, managedFields, …).
    let mut v = crate::diff::canonical(obj);
    let scheduled_by_scheduler = scheduler_bound(obj);
    let Some(m) = v.as_object_mut() else {
        return v;
    };
    if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
    }
    let kind = m
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = m.get_mut("spec").and_then(Value::as_object_mut) else {
        return v;
    };
    if kind == "Pod" {
        if scheduled_by_scheduler {
            spec.remove("nodeName");
        }
        // Attached to a running Pod only (`kubectl debug`); the server refuses them on create.
        spec.remove("ephemeralContainers");
    }
    if kind == "Job" && spec.get("manualSelector") != Some(&Value::Bool(true)) {
        spec.remove("selector");
        if let Some(labels) = spec
            .get_mut("template")
            .and_then(|t| t.get_mut("metadata"))
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            for l in JOB_GENERATED_LABELS {
                labels.remove(*l);
            }
        }
    }
    v
}

/// Whether a Pod's node came from the scheduler's binding (its managedFields say so)
/// rather than from the manifest.
fn scheduler_bound(obj: &Value) -> bool {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            e.get("subresource").and_then(Value::as_str) == Some("binding")
                || e.get("manager").and_then(Value::as_str) == Some("kube-scheduler")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(sc: Value, image: &str) -> Value {
        json!({"kind": "Pod", "spec": {"containers": [{"name": "a", "image": image, "securityContext": sc}]}})
    }

    #[test]
    fn a_pod_may_change_its_image_not_its_security_context() {
        let before = pod(json!({"privileged": true}), "nginx:1");
        assert_eq!(
            refused_change("Pod", &before, &pod(json!({"privileged": true}), "nginx:2")),
            None
        );
        assert_eq!(
            refused_change(
                "Pod",
                &before,
                &pod(json!({"privileged": false}), "nginx:1")
            )
            .as_deref(),
            Some("spec.containers[0].securityContext.privileged")
        );
    }

    #[test]
    fn a_pod_may_gain_tolerations_but_not_lose_them() {
        let t = |ts: Value| json!({"kind": "Pod", "spec": {"containers": [], "tolerations": ts}});
        let one = t(json!([{"key": "a", "operator": "Exists"}]));
        let two =
            t(json!([{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]));
        assert_eq!(refused_change("Pod", &one, &two), None);
        assert_eq!(
            refused_change("Pod", &two, &one).as_deref(),
            Some("spec.tolerations")
        );
    }

    #[test]
    fn a_jobs_template_and_a_statefulsets_claims_are_fixed_but_replicas_are_not() {
        let job = |sc: bool| json!({"kind": "Job", "spec": {"parallelism": 1, "template": {"spec": {"hostNetwork": sc}}}});
        assert_eq!(
            refused_change("Job", &job(true), &job(false)).as_deref(),
            Some("spec.template.spec.hostNetwork")
        );
        let sts = |replicas: u32, size: &str| json!({"kind": "StatefulSet", "spec": {"replicas": replicas, "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": size}}}}]}});
        assert_eq!(
            refused_change("StatefulSet", &sts(1, "1Gi"), &sts(3, "1Gi")),
            None
        );
        assert!(
            refused_change("StatefulSet", &sts(1, "1Gi"), &sts(1, "2Gi"))
                .unwrap()
                .starts_with("spec.volumeClaimTemplates")
        );
    }

    #[test]
    fn zero_values_are_absent_as_the_server_stores_them() {
        assert!(same(
            Some(&json!({"hostNetwork": false, "a": []})),
            Some(&json!({}))
        ));
        assert!(!same(Some(&json!({"hostNetwork": true})), Some(&json!({}))));
    }

    #[test]
    fn a_service_keeps_its_cluster_ip() {
        let svc = |ip: &str| json!({"kind": "Service", "spec": {"clusterIP": ip, "ports": [{"port": 80}]}});
        assert_eq!(
            refused_change("Service", &svc("10.0.0.1"), &svc("10.0.0.1")),
            None
        );
        assert_eq!(
            refused_change("Service", &svc("10.0.0.1"), &svc("10.0.0.2")).as_deref(),
            Some("spec.clusterIP")
        );
        assert_eq!(refused_change("Service", &svc(""), &svc("10.0.0.2")), None);
    }

    #[test]
    fn only_a_bare_unfinished_pod_or_job_is_recreated() {
        assert!(recreatable(&json!({"kind": "Pod", "metadata": {"name": "p"}})).is_ok());
        let owned = json!({"kind": "Pod", "metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "r"}]}});
        assert!(recreatable(&owned).unwrap_err().contains("owner"));
        let done = json!({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert!(recreatable(&done).unwrap_err().contains("run it again"));
        assert!(
            recreatable(&json!({"kind": "StatefulSet"}))
                .unwrap_err()
                .contains("manifest")
        );
    }

    #[test]
    fn a_recreated_job_drops_the_selector_and_labels_of_the_old_uid() {
        let job = json!({
            "kind": "Job",
            "metadata": {"name": "j", "uid": "u1", "resourceVersion": "7", "labels": {"team": "a"}},
            "spec": {
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "u1", "controller-uid": "u1", "job-name": "j", "batch.kubernetes.io/job-name": "j", "app": "x"}}}
            },
            "status": {"active": 1}
        });
        assert_eq!(
            for_recreate(&job),
            json!({
                "kind": "Job",
                "metadata": {"name": "j", "labels": {"team": "a"}},
                "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}
            })
        );
    }

    #[test]
    fn a_pod_placed_by_the_scheduler_is_placed_again() {
        let p = json!({"kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "kube-scheduler", "subresource": "binding"}]}, "spec": {"nodeName": "n1"}});
        assert_eq!(for_recreate(&p)["spec"], json!({}));
        let pinned = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        assert_eq!(for_recreate(&pinned)["spec"], json!({"nodeName": "n1"}));
    }
}
