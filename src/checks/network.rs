//! Network policies: default deny, coverage, open rules, metadata endpoint, etcd.
//!
//! System namespaces (kube-system, kube-public, kube-node-lease) are not judged by the
//! namespace-level checks: their components (CNI, DNS, proxies) usually need host or
//! cluster-wide traffic, and isolating them is a platform decision. Policies that exist
//! there are still evaluated by the rule-level checks.

use super::{CheckDef, Hit, Outcome, Settings, namespace_hit};
use crate::model::inventory::is_system_namespace;
use crate::model::netpol::{Direction, Policy};
use crate::model::{Area, Inventory, Object, PodSpecRef, Severity};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

macro_rules! net_check {
    ($name:ident, $id:literal, $sev:ident, $title:literal, $why:expr, [$($r:literal),*], $run:ident $(, fixable = $fix:literal)?) => {
        #[doc = concat!($id, ": ", $title, ".")]
        pub const $name: CheckDef = CheckDef {
            id: $id,
            area: Area::Network,
            severity: Severity::$sev,
            title: $title,
            rationale: $why,
            references: &[$($r),*],
            pss: None,
            fixable: false $(|| $fix)?,
            run: $run,
        };
    };
}

net_check!(
    CNI_MAY_NOT_ENFORCE,
    "KH-NET-001",
    High,
    "The network plugin may not enforce NetworkPolicies",
    "NetworkPolicies are enforced by the CNI plugin, not by Kubernetes: with a plugin that \
     ignores them (flannel alone, kindnet, VPC CNIs without their policy agent) every policy is \
     silently inert. Judged from the DaemonSets in kube-system; not judged when none are visible.",
    [
        "CIS Kubernetes Benchmark 5.3.1",
        "NSA/CISA Kubernetes Hardening Guidance: Network policies"
    ],
    cni_may_not_enforce
);

net_check!(
    NO_POLICY,
    "KH-NET-002",
    High,
    "Namespace has no NetworkPolicy",
    "A namespace without any NetworkPolicy leaves every pod open in both directions: any \
     compromised pod in the cluster reaches it, and it reaches everything. System namespaces \
     are not judged.",
    [
        "CIS Kubernetes Benchmark 5.3.2",
        "NSA/CISA Kubernetes Hardening Guidance: Network policies"
    ],
    no_policy,
    fixable = true
);

net_check!(
    NO_DEFAULT_DENY_INGRESS,
    "KH-NET-003",
    High,
    "Namespace has no default-deny ingress NetworkPolicy",
    "Pods accept traffic from every pod in the cluster until a NetworkPolicy selects them for \
     ingress. A policy with an empty podSelector, policyType Ingress and no rules denies by \
     default, so that every allowed flow has to be written down. System namespaces are not judged.",
    [
        "CIS Kubernetes Benchmark 5.3.2",
        "NSA/CISA Kubernetes Hardening Guidance: Network policies",
        "kubernetes.io/docs/concepts/services-networking/network-policies#default-deny-all-ingress-traffic"
    ],
    no_default_deny_ingress,
    fixable = true
);

net_check!(
    NO_DEFAULT_DENY_EGRESS,
    "KH-NET-004",
    Medium,
    "Namespace has no default-deny egress NetworkPolicy",
    "Without egress isolation a compromised pod reaches the cloud metadata endpoint (and the \
     node's credentials), the control plane, and the internet for exfiltration. A default-deny \
     egress policy plus a DNS allowance closes that. System namespaces are not judged.",
    [
        "NSA/CISA Kubernetes Hardening Guidance: Network policies",
        "kubernetes.io/docs/concepts/services-networking/network-policies#default-deny-all-egress-traffic"
    ],
    no_default_deny_egress,
    fixable = true
);

net_check!(
    NOT_SELECTED,
    "KH-NET-005",
    Medium,
    "Workload not selected by any NetworkPolicy",
    "In a namespace that has policies, a workload that no policy selects for a direction is \
     open in that direction: usually a label mismatch or a forgotten component. Namespaces \
     without any policy are reported once by KH-NET-002 instead.",
    ["NSA/CISA Kubernetes Hardening Guidance: Network policies"],
    not_selected,
    fixable = true
);

net_check!(
    ALLOW_ALL,
    "KH-NET-006",
    Medium,
    "NetworkPolicy rule allows all traffic",
    "A rule with no peers and no ports, an ipBlock of 0.0.0.0/0 or ::/0 without exceptions, or \
     an empty namespaceSelector allows everything in its direction and undoes the default deny \
     for the pods it selects.",
    ["NSA/CISA Kubernetes Hardening Guidance: Network policies"],
    allow_all
);

net_check!(
    METADATA_REACHABLE,
    "KH-NET-007",
    High,
    "Pods can reach the cloud metadata endpoint",
    "The instance metadata endpoint (169.254.169.254, fd00:ec2::254) hands out the node's cloud \
     credentials to anyone who asks. Pods that are not egress-isolated, or whose egress rules \
     allow 0.0.0.0/0 or ::/0 without excepting it, can steal them.",
    [
        "NSA/CISA Kubernetes Hardening Guidance: Protecting sensitive cloud infrastructure",
        "kubernetes.io/docs/tasks/administer-cluster/securing-a-cluster"
    ],
    metadata_reachable,
    fixable = true
);

net_check!(
    ETCD_REACHABLE,
    "KH-NET-008",
    Medium,
    "Egress to etcd, API server or kubelet ports allowed from an application namespace",
    "etcd (TCP 2379-2380) holds every object of the cluster, Secrets included, and should be \
     reachable only from the API servers; the API server's node port (TCP 6443) and the \
     kubelet (TCP 10250) are the next targets after a pod compromise. Egress rules of \
     application namespaces that open those ports to private addresses (where control-plane \
     nodes live) let pods attack them directly; allow 6443 only for pods that call the API.",
    [
        "NSA/CISA Kubernetes Hardening Guidance: Network separation and hardening",
        "CIS Kubernetes Benchmark 2 (etcd)"
    ],
    etcd_reachable
);

net_check!(
    DENY_WITHOUT_DNS,
    "KH-NET-009",
    Medium,
    "Default-deny egress without a DNS allowance",
    "Pods that are egress-isolated and allowed no UDP port 53 cannot resolve names: the \
     default deny breaks the workload, and the usual reaction is to remove it. Allow UDP and \
     TCP 53 to the cluster DNS (k8s-app=kube-dns in kube-system).",
    ["kubernetes.io/docs/concepts/services-networking/network-policies"],
    deny_without_dns,
    fixable = true
);

net_check!(
    SELECTS_NOTHING,
    "KH-NET-010",
    Low,
    "NetworkPolicy selects no workload",
    "A policy whose podSelector matches no pod of its namespace protects nothing: usually a \
     typo in a label. Judged only in namespaces that have workloads in the input.",
    ["NSA/CISA Kubernetes Hardening Guidance: Network policies"],
    selects_nothing
);

net_check!(
    HOST_NETWORK,
    "KH-NET-012",
    Low,
    "hostNetwork pods bypass NetworkPolicies",
    "Pods on the host network use the node's network namespace: most plugins do not apply \
     NetworkPolicies to them, so they sit outside every isolation rule.",
    ["NSA/CISA Kubernetes Hardening Guidance: Network policies"],
    host_network
);

/// Metadata endpoints: AWS, GCP and Azure IPv4, AWS Nitro IPv6.
const METADATA: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// Application namespaces that have workloads, sorted.
fn app_namespaces(inv: &Inventory) -> Vec<&str> {
    inv.namespaces()
        .iter()
        .map(String::as_str)
        .filter(|ns| !is_system_namespace(ns) && inv.pods_in_namespace(ns).next().is_some())
        .collect()
}

fn policies<'a>(inv: &'a Inventory, ns: &str) -> Vec<Policy<'a>> {
    inv.network_policies(ns).map(Policy::parse).collect()
}

/// Policies of the pod's namespace that select it and isolate the direction.
fn selecting<'p, 'a>(
    policies: &'p [Policy<'a>],
    pod: &PodSpecRef,
    dir: Direction,
) -> Vec<&'p Policy<'a>> {
    policies
        .iter()
        .filter(|p| p.isolates(dir) && p.selector.matches(&pod.labels))
        .collect()
}

fn owner<'a>(inv: &'a Inventory, pod: &PodSpecRef) -> Option<&'a Object> {
    inv.owner_of(pod)
}

fn names(inv: &Inventory, pods: &[&PodSpecRef]) -> String {
    let mut names: Vec<String> = pods
        .iter()
        .filter_map(|p| owner(inv, p))
        .map(|o| format!("{} {}", o.kind(), o.name()))
        .collect();
    let more = names.len().saturating_sub(5);
    names.truncate(5);
    if more > 0 {
        names.push(format!("{more} more"));
    }
    names.join(", ")
}

fn cni_may_not_enforce(inv: &Inventory, _: &Settings) -> Outcome {
    let daemonsets: Vec<&Object> = inv
        .of_kind("DaemonSet")
        .filter(|d| d.namespace() == Some("kube-system"))
        .collect();
    if daemonsets.is_empty() {
        return Outcome::default();
    }
    let has = |needles: &[&str]| {
        daemonsets
            .iter()
            .any(|d| needles.iter().any(|n| d.name().contains(n)))
    };
    let enforcing = [
        "calico-node",
        "cilium",
        "antrea-agent",
        "kube-router",
        "weave-net",
        "canal",
        "anetd",
    ];
    let mut out = Outcome {
        evaluated: 1,
        hits: Vec::new(),
    };
    if has(&enforcing) {
        return out;
    }
    let (message, severity) = if has(&["aws-node"]) {
        (
            "the AWS VPC CNI (aws-node) enforces NetworkPolicies only with its network policy agent \
             enabled (v1.14+, EKS 1.25+, not on Fargate or Windows): verify it"
                .to_string(),
            Some(Severity::Info),
        )
    } else if has(&["flannel"]) {
        (
            "flannel alone does not enforce NetworkPolicies: every policy in the cluster is inert"
                .to_string(),
            None,
        )
    } else {
        (
            "no known policy-enforcing network plugin (Calico, Cilium, Antrea, kube-router, Weave) \
             runs in kube-system: NetworkPolicies may be inert"
                .to_string(),
            Some(Severity::Info),
        )
    };
    let mut hit = namespace_hit(inv, "kube-system", "", message);
    hit.severity = severity;
    out.hits.push(hit);
    out
}

fn no_policy(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for ns in app_namespaces(inv) {
        out.evaluated += 1;
        if inv.network_policies(ns).next().is_none() {
            let n = inv.pods_in_namespace(ns).count();
            out.hits.push(namespace_hit(
                inv,
                ns,
                "",
                format!("no NetworkPolicy: {n} workload(s) are open in both directions"),
            ));
        }
    }
    out
}

fn missing_default_deny(inv: &Inventory, dir: Direction) -> Outcome {
    let mut out = Outcome::default();
    for ns in app_namespaces(inv) {
        out.evaluated += 1;
        let pols = policies(inv, ns);
        if pols.iter().any(|p| p.is_default_deny(dir)) {
            continue;
        }
        let what = match dir {
            Direction::Ingress => {
                "pods accept traffic from the whole cluster unless a policy selects them"
            }
            Direction::Egress => {
                "pods can reach the metadata endpoint, the control plane and the internet unless a policy selects them"
            }
        };
        out.hits.push(namespace_hit(
            inv,
            ns,
            "",
            format!(
                "no default-deny {} policy ({} other polic{}): {what}",
                dir.field(),
                pols.len(),
                if pols.len() == 1 { "y" } else { "ies" }
            ),
        ));
    }
    out
}

fn no_default_deny_ingress(inv: &Inventory, _: &Settings) -> Outcome {
    missing_default_deny(inv, Direction::Ingress)
}

fn no_default_deny_egress(inv: &Inventory, _: &Settings) -> Outcome {
    missing_default_deny(inv, Direction::Egress)
}

fn not_selected(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for ns in app_namespaces(inv) {
        let pols = policies(inv, ns);
        if pols.is_empty() {
            continue;
        }
        for pod in inv.pods_in_namespace(ns) {
            if pod.spec.host_network == Some(true) {
                continue; // KH-NET-012
            }
            out.evaluated += 1;
            let open: Vec<&str> = [Direction::Ingress, Direction::Egress]
                .into_iter()
                .filter(|d| selecting(&pols, pod, *d).is_empty())
                .map(Direction::field)
                .collect();
            if let (false, Some(obj)) = (open.is_empty(), owner(inv, pod)) {
                out.hits.push(Hit::on(
                    obj,
                    format!(
                        "{}metadata.labels",
                        pod.path.strip_suffix("spec").unwrap_or("")
                    ),
                    format!(
                        "no NetworkPolicy selects it for {}: open in that direction",
                        open.join(" or ")
                    ),
                ));
            }
        }
    }
    out
}

fn allow_all(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for obj in inv.of_kind("NetworkPolicy") {
        out.evaluated += 1;
        let p = Policy::parse(obj);
        for dir in [Direction::Ingress, Direction::Egress] {
            if !p.isolates(dir) {
                continue;
            }
            for rule in p.rules(dir).iter().filter(|r| r.allows_all()) {
                let scope = if p.selector.is_everything() {
                    "every pod of the namespace"
                } else {
                    "the pods it selects"
                };
                out.hits.push(Hit::on(
                    obj,
                    format!("spec.{}[{}]", dir.field(), rule.index),
                    format!(
                        "{} rule {} allows all traffic for {scope}",
                        dir.field(),
                        rule.index
                    ),
                ));
            }
        }
    }
    out
}

fn metadata_reachable(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    // Rules that open the endpoint, reported on the policy.
    for obj in inv.of_kind("NetworkPolicy") {
        if obj.namespace().is_some_and(is_system_namespace) {
            continue;
        }
        let p = Policy::parse(obj);
        if !p.isolates(Direction::Egress) {
            continue;
        }
        out.evaluated += 1;
        for rule in &p.egress {
            if let Some(ip) = METADATA
                .iter()
                .find(|ip| rule.allows_ip(ip) && rule.allows_port("TCP", 80, false))
            {
                out.hits.push(
                    Hit::on(
                        obj,
                        format!("spec.egress[{}]", rule.index),
                        format!(
                            "egress rule {} allows {ip} port 80: add it to the ipBlock's except list",
                            rule.index
                        ),
                    )
                    // The rule is someone's intent: kubeharden does not rewrite it.
                    .unfixable(),
                );
            }
        }
    }
    // Workloads with no egress isolation at all, reported once per namespace.
    for ns in app_namespaces(inv) {
        let pols = policies(inv, ns);
        let open: Vec<&PodSpecRef> = inv
            .pods_in_namespace(ns)
            .filter(|p| {
                p.spec.host_network != Some(true)
                    && selecting(&pols, p, Direction::Egress).is_empty()
            })
            .collect();
        out.evaluated += 1;
        if !open.is_empty() {
            out.hits.push(namespace_hit(
                inv,
                ns,
                "",
                format!(
                    "{} workload(s) are not egress-isolated and can reach 169.254.169.254: {}",
                    open.len(),
                    names(inv, &open)
                ),
            ));
        }
    }
    out
}

fn etcd_reachable(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    let any = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10));
    for obj in inv.of_kind("NetworkPolicy") {
        if obj.namespace().is_none_or(is_system_namespace) {
            continue;
        }
        let p = Policy::parse(obj);
        if !p.isolates(Direction::Egress) {
            continue;
        }
        out.evaluated += 1;
        for rule in &p.egress {
            let open_block = rule.peers.is_empty() || rule.allows_ip(&any);
            let targets: Vec<&str> = [
                (2379, "etcd (2379-2380)"),
                (2380, "etcd (2379-2380)"),
                (6443, "the API server (6443)"),
                (10250, "the kubelet (10250)"),
            ]
            .into_iter()
            .filter(|(port, _)| rule.allows_port("TCP", *port, false))
            .map(|(_, what)| what)
            .fold(Vec::new(), |mut v, w| {
                if !v.contains(&w) {
                    v.push(w);
                }
                v
            });
            if open_block && !targets.is_empty() {
                out.hits.push(Hit::on(
                    obj,
                    format!("spec.egress[{}]", rule.index),
                    format!(
                        "egress rule {} allows {} on private addresses, where control-plane nodes live",
                        rule.index,
                        targets.join(", ")
                    ),
                ));
            }
        }
    }
    out
}

fn deny_without_dns(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for ns in app_namespaces(inv) {
        let pols = policies(inv, ns);
        if !pols.iter().any(|p| p.is_default_deny(Direction::Egress)) {
            continue;
        }
        for pod in inv.pods_in_namespace(ns) {
            if pod.spec.host_network == Some(true) {
                continue;
            }
            out.evaluated += 1;
            let dns = selecting(&pols, pod, Direction::Egress)
                .iter()
                .any(|p| p.egress.iter().any(|r| r.allows_port("UDP", 53, true)));
            if !dns {
                if let Some(obj) = owner(inv, pod) {
                    out.hits.push(Hit::on(
                        obj,
                        String::new(),
                        "egress-isolated with no UDP 53 allowed: name resolution fails".to_string(),
                    ));
                }
            }
        }
    }
    out
}

fn selects_nothing(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for obj in inv.of_kind("NetworkPolicy") {
        let Some(ns) = obj.namespace() else { continue };
        if inv.pods_in_namespace(ns).next().is_none() {
            continue;
        }
        out.evaluated += 1;
        let p = Policy::parse(obj);
        if p.selector.is_everything() {
            continue;
        }
        if inv
            .pods_in_namespace(ns)
            .all(|pod| !p.selector.matches(&pod.labels))
        {
            out.hits.push(Hit::on(
                obj,
                "spec.podSelector",
                "its podSelector matches no workload of the namespace: it protects nothing",
            ));
        }
    }
    out
}

fn host_network(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for pod in inv.pod_specs() {
        let Some(obj) = owner(inv, pod) else { continue };
        if obj.namespace().is_some_and(is_system_namespace) {
            continue;
        }
        out.evaluated += 1;
        if pod.spec.host_network == Some(true) {
            out.hits.push(Hit::on(
                obj,
                format!("{}.hostNetwork", pod.path),
                "runs on the host network: NetworkPolicies do not isolate it",
            ));
        }
    }
    out
}
