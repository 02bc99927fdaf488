//! API access: RBAC grants.

use super::{CheckDef, Hit, Outcome, Settings};
use crate::model::{Area, Inventory, Severity};
use serde_json::Value;

/// Subjects that hold cluster-admin by design.
const CLUSTER_ADMIN_ALLOWED: &[(&str, &str)] = &[
    ("Group", "system:masters"),
    ("Group", "kubeadm:cluster-admins"),
];

/// KH-RBAC-002: cluster-admin bound to anything but the built-in admin groups.
pub const CLUSTER_ADMIN_BINDING: CheckDef = CheckDef {
    id: "KH-RBAC-002",
    area: Area::ApiAccess,
    severity: Severity::Critical,
    title: "cluster-admin bound to a user, group or service account",
    rationale: "cluster-admin allows every verb on every resource, Secrets included. Bound to a \
        service account, a compromise of any pod that runs as it is a compromise of the cluster; \
        bound to a person, it removes every guard rail. Grant narrower roles per namespace.",
    references: &[
        "CIS Kubernetes Benchmark 5.1.1",
        "NSA/CISA Kubernetes Hardening Guidance: Role-based access control",
        "kubernetes.io/docs/concepts/security/rbac-good-practices",
    ],
    pss: None,
    fixable: false,
    run: cluster_admin_bindings,
};

fn cluster_admin_bindings(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for binding in inv.of_kind(kind) {
            out.evaluated += 1;
            let role_ref = binding.raw.get("roleRef");
            let role_kind = role_ref.and_then(|r| r.get("kind")).and_then(Value::as_str);
            let role_name = role_ref.and_then(|r| r.get("name")).and_then(Value::as_str);
            if role_kind != Some("ClusterRole") || role_name != Some("cluster-admin") {
                continue;
            }
            let subjects = binding
                .raw
                .get("subjects")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (i, subject) in subjects.iter().enumerate() {
                let skind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
                let sname = subject.get("name").and_then(Value::as_str).unwrap_or("");
                if CLUSTER_ADMIN_ALLOWED.contains(&(skind, sname)) {
                    continue;
                }
                let who = match (skind, subject.get("namespace").and_then(Value::as_str)) {
                    ("ServiceAccount", Some(ns)) => format!("ServiceAccount {ns}/{sname}"),
                    ("ServiceAccount", None) => format!(
                        "ServiceAccount {}/{sname}",
                        binding.namespace().unwrap_or("?")
                    ),
                    _ => format!("{skind} {sname}"),
                };
                let scope = match binding.namespace() {
                    Some(ns) => format!("in namespace {ns}"),
                    None => "cluster-wide".to_string(),
                };
                out.hits.push(Hit::on(
                    binding,
                    format!("subjects[{i}]"),
                    format!("grants cluster-admin {scope} to {who}"),
                ));
            }
        }
    }
    out
}
