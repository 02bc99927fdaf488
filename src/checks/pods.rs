//! Pod security: Pod Security Standards controls and Pod Security Admission labels.

use super::{CheckDef, Hit, Outcome, Settings, containers};
use crate::model::inventory::is_system_namespace;
use crate::model::{Area, Inventory, PssLevel, Severity};

/// KH-POD-001: a namespace that does not enforce at least the baseline standard.
pub const NAMESPACE_NOT_ENFORCING: CheckDef = CheckDef {
    id: "KH-POD-001",
    area: Area::PodSecurity,
    severity: Severity::High,
    title: "Namespace does not enforce a Pod Security Standard",
    rationale: "Without a pod-security.kubernetes.io/enforce label of baseline or restricted, Pod \
        Security Admission admits privileged pods into the namespace, and anyone who can create a \
        pod there can take over its node.",
    references: &[
        "CIS Kubernetes Benchmark 5.2.1",
        "NSA/CISA Kubernetes Hardening Guidance: Pod security enforcement",
        "kubernetes.io/docs/concepts/security/pod-security-admission",
    ],
    pss: None,
    fixable: false,
    run: namespace_not_enforcing,
};

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

fn namespace_not_enforcing(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for ns in inv.of_kind("Namespace") {
        if is_system_namespace(ns.name()) {
            continue;
        }
        out.evaluated += 1;
        let path = format!("metadata.labels.{ENFORCE}");
        match ns.label(ENFORCE) {
            Some("baseline") | Some("restricted") => {}
            Some(level) => out.hits.push(Hit::on(
                ns,
                path,
                format!(
                    "enforces {level:?}: privileged pods are admitted (set baseline or restricted)"
                ),
            )),
            None => out.hits.push(Hit::on(
                ns,
                path,
                format!("no {ENFORCE} label: privileged pods are admitted"),
            )),
        }
    }
    out
}

/// KH-POD-101: a privileged container (Pod Security Standards, baseline).
pub const PRIVILEGED: CheckDef = CheckDef {
    id: "KH-POD-101",
    area: Area::PodSecurity,
    severity: Severity::Critical,
    title: "Privileged container",
    rationale: "A privileged container has every capability and all host devices: it is root on \
        the node, can load kernel modules and escape to the host and every other pod on it. \
        Forbidden by the baseline Pod Security Standard.",
    references: &[
        "Pod Security Standards: baseline / Privileged Containers",
        "CIS Kubernetes Benchmark 5.2.2",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: false,
    run: privileged,
};

fn privileged(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for spec in inv.pod_specs() {
        let Some(obj) = inv.owner_of(spec) else {
            continue;
        };
        out.evaluated += 1;
        for c in containers(&spec.spec) {
            if c.security_context.and_then(|s| s.privileged) == Some(true) {
                out.hits.push(Hit::on(
                    obj,
                    format!("{}.securityContext.privileged", c.path(spec.path)),
                    format!(
                        "{} {:?} runs privileged (baseline forbids securityContext.privileged: true)",
                        container_word(c.list),
                        c.name
                    ),
                ));
            }
        }
    }
    out
}

/// "container", "init container" or "ephemeral container".
pub(crate) fn container_word(list: &str) -> &'static str {
    match list {
        "initContainers" => "init container",
        "ephemeralContainers" => "ephemeral container",
        _ => "container",
    }
}
