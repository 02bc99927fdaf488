//! One indexed inventory per scan.

use super::Problem;
use super::object::{ObjRef, Object, string_map};
use super::selector::Selector;
use k8s_openapi::api::core::v1::PodSpec;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Kinds that carry a pod spec, and the dotted path to it.
pub const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("Deployment", "spec.template.spec"),
    ("ReplicaSet", "spec.template.spec"),
    ("StatefulSet", "spec.template.spec"),
    ("DaemonSet", "spec.template.spec"),
    ("Job", "spec.template.spec"),
    ("ReplicationController", "spec.template.spec"),
    ("CronJob", "spec.jobTemplate.spec.template.spec"),
];

/// Namespaces that belong to the platform, not to applications.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// Whether a namespace belongs to the platform.
pub fn is_system_namespace(ns: &str) -> bool {
    SYSTEM_NAMESPACES.contains(&ns)
}

/// A pod spec to judge: a bare Pod, or the template of the top-level controller that owns it.
#[derive(Debug, Clone)]
pub struct PodSpecRef {
    /// Index of the owning object in the inventory.
    pub object: usize,
    /// Dotted path of the pod spec inside the object, for example `spec.template.spec`.
    pub path: &'static str,
    /// The typed view of the pod spec.
    pub spec: PodSpec,
    /// Labels the pods get (the template's labels, or the Pod's).
    pub labels: BTreeMap<String, String>,
    /// Annotations the pods get.
    pub annotations: BTreeMap<String, String>,
}

impl PodSpecRef {
    /// The service account the pods run as.
    pub fn service_account(&self) -> &str {
        self.spec
            .service_account_name
            .as_deref()
            .or(self.spec.service_account.as_deref())
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }
}

type Key = (String, Option<String>, String);

/// All objects of one scan with the indexes checks need. Built once; read-only after.
#[derive(Debug, Default)]
pub struct Inventory {
    objects: Vec<Object>,
    by_kind: BTreeMap<String, Vec<usize>>,
    by_namespace: BTreeMap<String, Vec<usize>>,
    by_name: HashMap<Key, usize>,
    pod_specs: Vec<PodSpecRef>,
    by_service_account: BTreeMap<(String, String), Vec<usize>>,
    pods_by_namespace: HashMap<String, Vec<usize>>,
    policies: BTreeMap<String, Vec<usize>>,
    namespaces: BTreeSet<String>,
    problems: Vec<Problem>,
    waive_annotated: std::collections::HashSet<std::sync::Arc<ObjRef>>,
    grants: std::sync::OnceLock<Vec<super::rbac::GrantData>>,
}

/// The typed pod spec at `path` in a workload, with the labels and annotations its pods get,
/// or the problem that keeps it from being judged.
fn typed_pod_spec(obj: &Object, idx: usize, path: &'static str) -> Result<PodSpecRef, Problem> {
    let Some(spec_value) = path.split('.').try_fold(&obj.raw, |v, key| v.get(key)) else {
        return Err(Problem::at_object(obj, format!("no {path}; not judged")));
    };
    // The plain deserializer is the fast path; only a failure is re-run with path tracking,
    // to name the offending field.
    let spec: PodSpec = PodSpec::deserialize(spec_value)
        .or_else(|_| serde_path_to_error::deserialize(spec_value))
        .map_err(|e| {
            let inner = e.path().to_string();
            let at = if inner == "." {
                path.to_string()
            } else {
                format!("{path}.{inner}")
            };
            Problem::at_object(obj, format!("{at}: {}; not judged", e.inner()))
        })?;
    // The pod template's metadata sits beside its spec; a Pod's is its own.
    let meta = match path.strip_suffix(".spec") {
        Some(template) if obj.id.kind != "Pod" => template
            .split('.')
            .try_fold(&obj.raw, |v, key| v.get(key))
            .and_then(|t| t.get("metadata")),
        _ => obj.raw.get("metadata"),
    };
    Ok(PodSpecRef {
        object: idx,
        path,
        spec,
        labels: string_map(meta.and_then(|m| m.get("labels"))),
        annotations: string_map(meta.and_then(|m| m.get("annotations"))),
    })
}

impl Inventory {
    /// Indexes the objects. Duplicates (same kind, namespace and name) keep the first
    /// and are reported; pod specs that do not parse are reported and not judged.
    pub fn new(objects: Vec<Object>) -> Inventory {
        let mut inv = Inventory::default();
        inv.objects.reserve_exact(objects.len());
        inv.by_name.reserve(objects.len());
        for obj in objects {
            let key: Key = (
                obj.id.kind.clone(),
                obj.id.namespace.clone(),
                obj.id.name.clone(),
            );
            if let Some(&first) = inv.by_name.get(&key) {
                let first_origin = inv
                    .objects
                    .get(first)
                    .map(|o| o.origin.to_string())
                    .unwrap_or_default();
                inv.problems.push(Problem::at_origin(
                    &obj.origin,
                    format!(
                        "duplicate {}: first seen in {first_origin}; ignored",
                        obj.id
                    ),
                ));
                continue;
            }
            let idx = inv.objects.len();
            inv.by_name.insert(key, idx);
            // Looked up before inserting: the keys repeat, and cloning one per object costs.
            match inv.by_kind.get_mut(&obj.id.kind) {
                Some(list) => list.push(idx),
                None => {
                    inv.by_kind.insert(obj.id.kind.clone(), vec![idx]);
                }
            }
            if let Some(ns) = &obj.id.namespace {
                match inv.by_namespace.get_mut(ns) {
                    Some(list) => list.push(idx),
                    None => {
                        inv.by_namespace.insert(ns.clone(), vec![idx]);
                        inv.namespaces.insert(ns.clone());
                    }
                }
            }
            if obj.id.kind == "Namespace" {
                inv.namespaces.insert(obj.id.name.clone());
            }
            if obj
                .raw
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(super::object::WAIVE_ANNOTATION))
                .is_some()
            {
                inv.waive_annotated.insert(obj.id.clone());
            }
            inv.objects.push(obj);
        }
        inv.index_pod_specs();
        for (i, o) in inv.objects.iter().enumerate() {
            if o.id.kind == "NetworkPolicy" {
                if let Some(ns) = &o.id.namespace {
                    inv.policies.entry(ns.clone()).or_default().push(i);
                }
            }
        }
        inv
    }

    fn index_pod_specs(&mut self) {
        let candidates: Vec<(usize, &'static str)> = self
            .objects
            .iter()
            .enumerate()
            .filter_map(|(idx, obj)| {
                let &(_, path) = WORKLOAD_KINDS.iter().find(|(k, _)| *k == obj.id.kind)?;
                (!self.owned_by_workload_in_inventory(obj)).then_some((idx, path))
            })
            .collect();
        // On one thread: the typed specs are built where they stay (parsing them on two
        // threads took as long, because allocation is the cost, and left 100 MB of spare
        // pages in the second thread's heap at 100,000 objects).
        let parsed: Vec<Option<Result<PodSpecRef, Problem>>> = candidates
            .iter()
            .map(|&(idx, path)| {
                self.objects
                    .get(idx)
                    .map(|obj| typed_pod_spec(obj, idx, path))
            })
            .collect();
        for spec_ref in parsed.into_iter().flatten() {
            let spec_ref = match spec_ref {
                Ok(s) => s,
                Err(problem) => {
                    self.problems.push(problem);
                    continue;
                }
            };
            let Some(obj) = self.objects.get(spec_ref.object) else {
                continue;
            };
            let ns = obj.id.namespace.clone().unwrap_or_else(|| "default".into());
            let sa = spec_ref.service_account().to_string();
            if let Some(real) = &obj.id.namespace {
                self.pods_by_namespace
                    .entry(real.clone())
                    .or_default()
                    .push(self.pod_specs.len());
            }
            self.by_service_account
                .entry((ns, sa))
                .or_default()
                .push(self.pod_specs.len());
            self.pod_specs.push(spec_ref);
        }
    }

    /// True when the object's controller is a workload that this inventory holds.
    fn owned_by_workload_in_inventory(&self, obj: &Object) -> bool {
        let Some(owner) = obj.controller_owner() else {
            return false;
        };
        if !WORKLOAD_KINDS.iter().any(|(k, _)| *k == owner.kind) {
            return false;
        }
        let key: Key = (
            owner.kind.clone(),
            obj.id.namespace.clone(),
            owner.name.clone(),
        );
        match self.by_name.get(&key).and_then(|&i| self.objects.get(i)) {
            Some(found) => match (&owner.uid, &found.uid) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            },
            None => false,
        }
    }

    /// All objects, in load order.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when there are no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// One object by index.
    pub fn get(&self, idx: usize) -> Option<&Object> {
        self.objects.get(idx)
    }

    /// Objects of one kind.
    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Object> + 'a {
        self.by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.objects.get(i))
    }

    /// Namespaced objects of one namespace.
    pub fn in_namespace<'a>(&'a self, ns: &str) -> impl Iterator<Item = &'a Object> + 'a {
        self.by_namespace
            .get(ns)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.objects.get(i))
    }

    /// One object by kind, namespace and name.
    pub fn find(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Object> {
        self.find_index(kind, namespace, name)
            .and_then(|i| self.objects.get(i))
    }

    /// The index of one object, by kind, namespace and name.
    pub fn find_index(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<usize> {
        let key: Key = (
            kind.to_string(),
            namespace.map(str::to_string),
            name.to_string(),
        );
        self.by_name.get(&key).copied()
    }

    /// Indexes of the objects of one kind, in load order.
    pub fn indices_of_kind(&self, kind: &str) -> &[usize] {
        self.by_kind.get(kind).map_or(&[], Vec::as_slice)
    }

    /// The grants of this inventory's bindings, computed on first use ([`super::rbac::grants`]).
    pub(crate) fn grant_cache(&self) -> &std::sync::OnceLock<Vec<super::rbac::GrantData>> {
        &self.grants
    }

    /// One object by its reference.
    pub fn resolve(&self, id: &ObjRef) -> Option<&Object> {
        self.find(&id.kind, id.namespace.as_deref(), &id.name)
    }

    /// Whether an object carries the `kubeharden.io/waive` annotation.
    pub fn has_waive_annotation(&self, id: &ObjRef) -> bool {
        self.waive_annotated.contains(id)
    }

    /// Every pod spec to judge: bare Pods and top-level controllers' templates.
    pub fn pod_specs(&self) -> &[PodSpecRef] {
        &self.pod_specs
    }

    /// The object that holds a pod spec.
    pub fn owner_of(&self, spec: &PodSpecRef) -> Option<&Object> {
        self.objects.get(spec.object)
    }

    /// Pod specs that run as a service account.
    pub fn pods_of_service_account<'a>(
        &'a self,
        namespace: &str,
        name: &str,
    ) -> impl Iterator<Item = &'a PodSpecRef> + 'a {
        self.by_service_account
            .get(&(namespace.to_string(), name.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|&i| self.pod_specs.get(i))
    }

    /// NetworkPolicies of a namespace.
    pub fn network_policies<'a>(
        &'a self,
        namespace: &str,
    ) -> impl Iterator<Item = &'a Object> + 'a {
        self.policies
            .get(namespace)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.objects.get(i))
    }

    /// Pod specs of a namespace whose pod labels a selector matches.
    pub fn select_pods<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a Selector,
    ) -> impl Iterator<Item = &'a PodSpecRef> + 'a {
        self.pods_in_namespace(namespace)
            .filter(move |p| selector.matches(&p.labels))
    }

    /// Pod specs of a namespace.
    pub fn pods_in_namespace<'a>(
        &'a self,
        namespace: &str,
    ) -> impl Iterator<Item = &'a PodSpecRef> + 'a {
        self.pods_by_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.pod_specs.get(i))
    }

    /// Every namespace seen: Namespace objects and namespaces of namespaced objects.
    pub fn namespaces(&self) -> &BTreeSet<String> {
        &self.namespaces
    }

    /// What indexing found wrong: duplicates, pod specs that do not parse.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The raw value at a dotted path of an object, for display.
    pub fn value_at<'a>(obj: &'a Object, path: &str) -> Option<&'a Value> {
        let pointer = format!("/{}", path.replace('.', "/"));
        obj.raw.pointer(&pointer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        Object::from_value(v, Origin::Cluster).unwrap()
    }

    fn template(image: &str) -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}})
    }

    #[test]
    fn controller_owned_pods_are_judged_through_the_top_owner() {
        let inv = Inventory::new(vec![
            obj(
                json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"a","uid":"d1"},
                "spec":{"template": template("nginx:1")}}),
            ),
            obj(
                json!({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-1","namespace":"a","uid":"r1",
                "ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"d1","controller":true}]},
                "spec":{"template": template("nginx:1")}}),
            ),
            obj(
                json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1-x","namespace":"a","labels":{"app":"web"},
                "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","uid":"r1","controller":true}]},
                "spec":{"containers":[{"name":"c","image":"nginx:1"}]}}),
            ),
            obj(
                json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"orphan","namespace":"a",
                "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"gone","uid":"zz","controller":true}]},
                "spec":{"containers":[{"name":"c","image":"nginx:1"}]}}),
            ),
        ]);
        let owners: Vec<String> = inv
            .pod_specs()
            .iter()
            .map(|p| inv.owner_of(p).unwrap().id.to_string())
            .collect();
        assert_eq!(owners, vec!["Deployment a/web", "Pod a/orphan"]);
        assert_eq!(inv.pods_of_service_account("a", "default").count(), 2);
        assert_eq!(inv.pod_specs()[0].labels.get("app").unwrap(), "web");
    }

    #[test]
    fn duplicates_and_invalid_specs_are_problems_not_panics() {
        let inv = Inventory::new(vec![
            obj(
                json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"a"},"spec":{"containers":null}}),
            ),
            obj(
                json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"a"},"spec":{"containers":[]}}),
            ),
            obj(
                json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"q","namespace":"a"},
                "spec":{"containers":[{"name":"c","securityContext":"yes"}]}}),
            ),
        ]);
        assert_eq!(inv.len(), 2);
        let msgs: Vec<String> = inv.problems().iter().map(|p| p.to_string()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("duplicate Pod a/p")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("spec.containers[0].securityContext")),
            "{msgs:?}"
        );
        // `containers: null` reads as no containers (k8s-openapi's defaulting); the pod with
        // a string securityContext is not judged.
        assert_eq!(inv.pod_specs().len(), 1);
    }
}
