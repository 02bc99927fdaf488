//! Network policies: default deny per namespace.

use super::{CheckDef, Outcome, namespace_hit};
use crate::model::inventory::is_system_namespace;
use crate::model::selector::Selector;
use crate::model::{Area, Inventory, Object, Severity};
use serde_json::Value;

/// KH-NET-003: a namespace with workloads and no default-deny ingress policy.
pub const NO_DEFAULT_DENY_INGRESS: CheckDef = CheckDef {
    id: "KH-NET-003",
    area: Area::Network,
    severity: Severity::High,
    title: "Namespace has no default-deny ingress NetworkPolicy",
    rationale: "Pods accept traffic from every pod in the cluster until a NetworkPolicy selects \
        them for ingress. A policy with an empty podSelector, policyType Ingress and no rules \
        denies by default, so that every allowed flow has to be written down.",
    references: &[
        "CIS Kubernetes Benchmark 5.3.2",
        "NSA/CISA Kubernetes Hardening Guidance: Network policies",
        "kubernetes.io/docs/concepts/services-networking/network-policies#default-deny-all-ingress-traffic",
    ],
    pss: None,
    fixable: false,
    run: no_default_deny_ingress,
};

/// KH-NET-004: a namespace with workloads and no default-deny egress policy.
pub const NO_DEFAULT_DENY_EGRESS: CheckDef = CheckDef {
    id: "KH-NET-004",
    area: Area::Network,
    severity: Severity::Medium,
    title: "Namespace has no default-deny egress NetworkPolicy",
    rationale: "Without egress isolation a compromised pod reaches the cloud metadata endpoint \
        (and the node's credentials), the control plane, and the internet for exfiltration. \
        A default-deny egress policy plus a DNS allowance closes that.",
    references: &[
        "NSA/CISA Kubernetes Hardening Guidance: Network policies",
        "kubernetes.io/docs/concepts/services-networking/network-policies#default-deny-all-egress-traffic",
    ],
    pss: None,
    fixable: false,
    run: no_default_deny_egress,
};

/// The direction a policy isolates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn type_name(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
    fn rules_field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The policy types a policy has, with the API's defaulting: omitted `policyTypes` means
/// Ingress, plus Egress when egress rules are present.
fn policy_types(policy: &Object) -> Vec<&str> {
    let spec = policy.raw.get("spec");
    match spec
        .and_then(|s| s.get("policyTypes"))
        .and_then(Value::as_array)
    {
        Some(types) => types.iter().filter_map(Value::as_str).collect(),
        None => {
            let mut t = vec!["Ingress"];
            if spec
                .and_then(|s| s.get("egress"))
                .and_then(Value::as_array)
                .is_some_and(|e| !e.is_empty())
            {
                t.push("Egress");
            }
            t
        }
    }
}

/// A policy that selects every pod of its namespace and allows nothing in one direction.
fn is_default_deny(policy: &Object, dir: Direction) -> bool {
    let spec = policy.raw.get("spec");
    let selects_all = Selector::parse(spec.and_then(|s| s.get("podSelector"))).is_everything();
    let isolates = policy_types(policy).contains(&dir.type_name());
    let no_rules = spec
        .and_then(|s| s.get(dir.rules_field()))
        .is_none_or(|r| r.is_null() || r.as_array().is_some_and(Vec::is_empty));
    selects_all && isolates && no_rules
}

fn missing_default_deny(inv: &Inventory, dir: Direction) -> Outcome {
    let mut out = Outcome::default();
    for ns in inv.namespaces() {
        if is_system_namespace(ns) || inv.pods_in_namespace(ns).next().is_none() {
            continue;
        }
        out.evaluated += 1;
        if inv.network_policies(ns).any(|p| is_default_deny(p, dir)) {
            continue;
        }
        let workloads = inv.pods_in_namespace(ns).count();
        let others = inv.network_policies(ns).count();
        let what = match dir {
            Direction::Ingress => {
                "every pod accepts traffic from the whole cluster until a policy selects it"
            }
            Direction::Egress => {
                "pods can reach the metadata endpoint, the control plane and the internet"
            }
        };
        let message = format!(
            "no default-deny {} policy for {workloads} workload(s) ({others} other polic{}): {what}",
            dir.rules_field(),
            if others == 1 { "y" } else { "ies" }
        );
        out.hits.push(namespace_hit(inv, ns, "", message));
    }
    out
}

fn no_default_deny_ingress(inv: &Inventory) -> Outcome {
    missing_default_deny(inv, Direction::Ingress)
}

fn no_default_deny_egress(inv: &Inventory) -> Outcome {
    missing_default_deny(inv, Direction::Egress)
}
