//! API access: RBAC grants.

use super::{CheckDef, Hit, Outcome, Settings};
use crate::model::inventory::is_system_namespace;
use crate::model::rbac::{self, Grant, Rule};
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
    fixable: true,
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
                // kubeharden rewrites a cluster-wide grant to a service account (into
                // admin of its namespace); people and groups need a human decision.
                let fixable = kind == "ClusterRoleBinding" && skind == "ServiceAccount";
                out.hits.push(
                    Hit::on(
                        binding,
                        format!("subjects[{i}]"),
                        format!("grants cluster-admin {scope} to {who}"),
                    )
                    .fixable_if(fixable),
                );
            }
        }
    }
    out
}

/// Whether a grant is reported. Built-in identities count in every computation but are not
/// reported: bindings labelled `kubernetes.io/bootstrapping: rbac-defaults` (unless their
/// auto-update is switched off, which marks them as changed), and subjects named `system:*`
/// other than the anonymous, unauthenticated and authenticated groups (reported by
/// KH-RBAC-003/004).
fn reportable(g: &Grant<'_>) -> bool {
    let system_subject = g.subject.name.starts_with("system:")
        && !matches!(
            g.subject.name.as_str(),
            "system:anonymous" | "system:unauthenticated" | "system:authenticated"
        );
    !is_default_binding(g) && !system_subject
}

/// A built-in binding that the API server reconciles: labelled rbac-defaults and not
/// switched off from auto-update.
fn is_default_binding(g: &Grant<'_>) -> bool {
    g.binding.label("kubernetes.io/bootstrapping") == Some("rbac-defaults")
        && g.binding
            .raw
            .pointer("/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate")
            .and_then(Value::as_str)
            != Some("false")
}

fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        other => other,
    }
}

/// One finding per reportable grant whose rules match `pred`, on the binding's subject.
fn permission_check(
    inv: &Inventory,
    what: &str,
    cluster: Severity,
    pred: impl Fn(&Rule) -> bool,
) -> Outcome {
    permission_check_with(inv, what, cluster, true, pred)
}

fn permission_check_with(
    inv: &Inventory,
    what: &str,
    cluster: Severity,
    skip_full_wildcards: bool,
    pred: impl Fn(&Rule) -> bool,
) -> Outcome {
    let mut out = Outcome::default();
    for g in rbac::grants(inv).iter().filter(|g| reportable(g)) {
        out.evaluated += 1;
        // A rule of * on */* is reported once, by KH-RBAC-001, not by every permission check.
        let full_wildcard = |r: &Rule| {
            [&r.verbs, &r.resources, &r.api_groups]
                .iter()
                .all(|l| l.iter().any(|v| v == "*"))
        };
        let matching = g
            .rules
            .iter()
            .find(|r| pred(r) && (!skip_full_wildcards || !full_wildcard(r)));
        if let Some(rule) = matching {
            let severity = if g.namespace.is_some() {
                lower(cluster)
            } else {
                cluster
            };
            let mut hit = Hit::on(
                g.binding,
                format!("subjects[{}]", g.subject_index),
                format!(
                    "{} can {what} {} through {} {} ({})",
                    g.subject,
                    g.scope(),
                    g.role_kind,
                    g.role_name,
                    rule.describe()
                ),
            );
            hit.severity = Some(severity);
            out.hits.push(hit);
        }
    }
    out
}

macro_rules! rbac_check {
    ($name:ident, $id:literal, $sev:ident, $title:literal, $why:expr, [$($r:literal),*], $run:ident $(, fixable = $fix:literal)?) => {
        #[doc = concat!($id, ": ", $title, ".")]
        pub const $name: CheckDef = CheckDef {
            id: $id,
            area: Area::ApiAccess,
            severity: Severity::$sev,
            title: $title,
            rationale: $why,
            references: &[$($r,)* "NSA/CISA Kubernetes Hardening Guidance: Role-based access control"],
            pss: None,
            fixable: false $(|| $fix)?,
            run: $run,
        };
    };
}

rbac_check!(
    WILDCARDS,
    "KH-RBAC-001",
    Critical,
    "Wildcard in RBAC verbs, resources or API groups",
    "A * in a bound rule grants every present and future verb, resource or API group, including CRDs installed later. * on both verbs and resources is cluster-admin under another name. Namespaced grants are one severity lower.",
    ["CIS Kubernetes Benchmark 5.1.3"],
    wildcards,
    fixable = true
);
rbac_check!(
    ANONYMOUS,
    "KH-RBAC-003",
    Critical,
    "Permissions granted to anonymous or unauthenticated users",
    "A binding to system:anonymous or system:unauthenticated grants its rights to anyone who can reach the API server. Only system:public-info-viewer is bound so by default.",
    ["CIS Kubernetes Benchmark 1.2.1 (anonymous auth)"],
    anonymous,
    fixable = true
);
rbac_check!(
    ALL_AUTHENTICATED,
    "KH-RBAC-004",
    High,
    "Permissions granted to every authenticated identity",
    "system:authenticated includes every user and every service account of every pod. Beyond the defaults (system:basic-user, system:discovery, system:public-info-viewer) such a grant hands its rights to any compromised workload.",
    ["kubernetes.io/docs/concepts/security/rbac-good-practices"],
    all_authenticated,
    fixable = true
);
rbac_check!(
    SECRET_READ,
    "KH-RBAC-006",
    Critical,
    "Read access to Secrets",
    "get, list or watch on secrets reads every credential in scope; list and watch return the values, not only the names. Namespaced grants are one severity lower.",
    ["CIS Kubernetes Benchmark 5.1.2"],
    secret_read
);
rbac_check!(
    WORKLOAD_CREATE,
    "KH-RBAC-007",
    High,
    "Can create Pods or workload controllers",
    "Whoever can create a Pod, or a Deployment, DaemonSet, StatefulSet, ReplicaSet, Job or CronJob that creates one, can mount any Secret and run as any service account of the namespace, and run privileged pods where Pod Security does not forbid it.",
    ["CIS Kubernetes Benchmark 5.1.4"],
    workload_create
);
rbac_check!(
    POD_EXEC,
    "KH-RBAC-008",
    High,
    "Can exec, attach or port-forward into pods",
    "pods/exec, pods/attach and pods/portforward (create, or get for WebSocket clients) and pods/ephemeralcontainers (update, patch) run code or open connections inside running pods, with their service accounts and mounted Secrets.",
    ["kubernetes.io/docs/concepts/security/rbac-good-practices"],
    pod_exec
);
rbac_check!(
    ESCALATION,
    "KH-RBAC-009",
    Critical,
    "Can escalate, bind or impersonate",
    "escalate and bind on roles bypass RBAC's escalation prevention; impersonate on users, groups or service accounts acts as any identity, cluster-admin included.",
    ["CIS Kubernetes Benchmark 5.1.8"],
    escalation
);
rbac_check!(
    NODE_PROXY,
    "KH-RBAC-010",
    Critical,
    "Access to nodes/proxy",
    "nodes/proxy reaches the kubelet API of every node: exec in any pod on it, without admission or audit of the exec. get alone is enough.",
    ["CIS Kubernetes Benchmark 5.1.10"],
    node_proxy
);
rbac_check!(
    TOKEN_CREATE,
    "KH-RBAC-011",
    High,
    "Can create service account tokens",
    "create on serviceaccounts/token mints a token for any service account in scope, and with it that account's permissions.",
    ["CIS Kubernetes Benchmark 5.1.13"],
    token_create
);
rbac_check!(
    CSR_APPROVAL,
    "KH-RBAC-012",
    High,
    "Can approve certificate signing requests",
    "update on certificatesigningrequests/approval lets a subject approve client certificates for any name, including system components and system:masters.",
    ["CIS Kubernetes Benchmark 5.1.11"],
    csr_approval
);
rbac_check!(
    WEBHOOK_WRITE,
    "KH-RBAC-013",
    High,
    "Can change admission webhook configurations",
    "Writing validating or mutating webhook configurations can switch admission policy off or send every admitted object, Secrets included, to an endpoint of the writer's choice.",
    ["CIS Kubernetes Benchmark 5.1.12"],
    webhook_write
);
rbac_check!(
    DEFAULT_SA_TOKEN,
    "KH-RBAC-016",
    Medium,
    "Workload runs as the default service account with its token mounted",
    "Every pod that names no service account runs as default, so whatever is bound to default is shared by all of them, and a mounted token is one file read away for an attacker in any of them. Give workloads their own service account and set automountServiceAccountToken: false where they never call the API. System namespaces are not judged.",
    ["CIS Kubernetes Benchmark 5.1.5, 5.1.6"],
    default_sa_token,
    fixable = true
);
rbac_check!(
    UNNEEDED_TOKEN,
    "KH-RBAC-017",
    Medium,
    "Service account token mounted where nothing is granted",
    "A workload whose service account has no RBAC grant beyond the defaults every identity gets does not need the API, yet its mounted token is one file read away for an attacker and outlives the pod. Set automountServiceAccountToken: false on the pod or the service account. The default service account is reported by KH-RBAC-016; system namespaces are not judged.",
    ["CIS Kubernetes Benchmark 5.1.6"],
    unneeded_token,
    fixable = true
);
rbac_check!(
    POWERFUL_WORKLOAD,
    "KH-RBAC-018",
    Critical,
    "Workload's service account holds critical permissions",
    "A pod whose mounted token carries cluster-wide wildcards, Secret reads, escalate/bind/impersonate or nodes/proxy turns any code execution in that pod into a cluster compromise. Group subjects (system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated) count.",
    ["CIS Kubernetes Benchmark 5.1.6"],
    powerful_workload
);
rbac_check!(
    DANGLING_BINDING,
    "KH-RBAC-020",
    Low,
    "Binding refers to a role that does not exist",
    "A binding to a missing role grants nothing today, but whoever later creates a role with that name inherits every subject of the binding. Built-in ClusterRoles (admin, edit, view, cluster-admin, system:*) are never missing; judged only when the input holds roles of that kind.",
    ["kubernetes.io/docs/reference/access-authn-authz/rbac"],
    dangling_binding
);

fn any_of(rule: &Rule, verbs: &[&str], group: &str, resources: &[&str]) -> bool {
    verbs
        .iter()
        .any(|v| resources.iter().any(|r| rule.allows(v, group, r)))
}

fn wildcards(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = permission_check_with(
        inv,
        "use wildcards",
        Severity::High,
        false,
        Rule::has_wildcard,
    );
    // kubeharden rewrites a wildcard role to explicit rules when it may (not built-in, not
    // aggregated, only built-in API groups under a wildcard).
    for h in &mut out.hits {
        let fixable = inv
            .resolve(&h.object)
            .and_then(|b| rbac::bound_role(inv, b))
            .is_some_and(|role| rbac::explicit_rules(role).is_ok());
        h.fixable = Some(fixable);
    }
    // * on verbs and resources is cluster-admin under another name.
    for h in &mut out.hits {
        if h.message.contains("(* on ") && h.message.contains("/*)") {
            h.severity = Some(if h.message.contains(" cluster-wide ") {
                Severity::Critical
            } else {
                Severity::High
            });
        }
    }
    out
}

fn anonymous(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for g in rbac::grants(inv) {
        let anon = (g.subject.kind == "Group" && g.subject.name == "system:unauthenticated")
            || (g.subject.kind == "User" && g.subject.name == "system:anonymous");
        if !anon {
            continue;
        }
        out.evaluated += 1;
        if g.role_name != "system:public-info-viewer" {
            out.hits.push(Hit::on(
                g.binding,
                format!("subjects[{}]", g.subject_index),
                format!(
                    "{} {} is granted {} {}: anyone who reaches the API server has it",
                    g.subject.kind, g.subject.name, g.role_kind, g.role_name
                ),
            ));
        }
    }
    out
}

fn all_authenticated(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for g in rbac::grants(inv) {
        if !(g.subject.kind == "Group" && g.subject.name == "system:authenticated") {
            continue;
        }
        out.evaluated += 1;
        if !matches!(
            g.role_name,
            "system:basic-user" | "system:discovery" | "system:public-info-viewer"
        ) {
            out.hits.push(Hit::on(
                g.binding,
                format!("subjects[{}]", g.subject_index),
                format!("every authenticated identity, every pod's service account included, is granted {} {} {}", g.role_kind, g.role_name, g.scope()),
            ));
        }
    }
    out
}

fn secret_read(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(inv, "read Secrets", Severity::Critical, |r| {
        any_of(r, &["get", "list", "watch"], "", &["secrets"])
    })
}

const CONTROLLERS: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("", "replicationcontrollers"),
];

fn workload_create(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(
        inv,
        "create pods or workload controllers",
        Severity::High,
        |r| {
            r.allows("create", "", "pods")
                || CONTROLLERS
                    .iter()
                    .any(|(g, res)| any_of(r, &["create", "update", "patch"], g, &[res]))
        },
    )
}

fn pod_exec(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(
        inv,
        "exec, attach or port-forward into pods",
        Severity::High,
        |r| {
            any_of(
                r,
                &["create", "get"],
                "",
                &["pods/exec", "pods/attach", "pods/portforward"],
            ) || any_of(r, &["update", "patch"], "", &["pods/ephemeralcontainers"])
        },
    )
}

fn escalation(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(
        inv,
        "escalate, bind or impersonate",
        Severity::Critical,
        |r| {
            any_of(
                r,
                &["escalate", "bind"],
                "rbac.authorization.k8s.io",
                &["roles", "clusterroles"],
            ) || any_of(
                r,
                &["impersonate"],
                "",
                &["users", "groups", "serviceaccounts"],
            ) || any_of(
                r,
                &["impersonate"],
                "authentication.k8s.io",
                &["uids", "userextras/*"],
            )
        },
    )
}

fn node_proxy(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(
        inv,
        "reach the kubelet through nodes/proxy",
        Severity::Critical,
        |r| {
            any_of(
                r,
                &[
                    "get", "create", "update", "patch", "delete", "list", "watch",
                ],
                "",
                &["nodes/proxy"],
            )
        },
    )
}

fn token_create(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(inv, "mint service account tokens", Severity::High, |r| {
        r.allows("create", "", "serviceaccounts/token")
    })
}

fn csr_approval(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(
        inv,
        "approve certificate signing requests",
        Severity::High,
        |r| {
            r.allows(
                "update",
                "certificates.k8s.io",
                "certificatesigningrequests/approval",
            )
        },
    )
}

fn webhook_write(inv: &Inventory, _: &Settings) -> Outcome {
    permission_check(inv, "change admission webhooks", Severity::High, |r| {
        any_of(
            r,
            &["create", "update", "patch", "delete"],
            "admissionregistration.k8s.io",
            &[
                "validatingwebhookconfigurations",
                "mutatingwebhookconfigurations",
            ],
        )
    })
}

/// Whether a pod spec gets a service account token: the pod's setting wins over the
/// service account's; a projected serviceAccountToken volume mounts one regardless.
/// Whether a pod spec mounts a token through a projected serviceAccountToken volume (which
/// automountServiceAccountToken does not control, so kubeharden does not fix it).
fn projected_token(spec: &crate::model::PodSpecRef) -> bool {
    spec.spec.volumes.iter().flatten().any(|v| {
        v.projected.as_ref().is_some_and(|p| {
            p.sources
                .iter()
                .flatten()
                .any(|s| s.service_account_token.is_some())
        })
    })
}

fn token_mounted(inv: &Inventory, spec: &crate::model::PodSpecRef, namespace: &str) -> bool {
    let projected = projected_token(spec);
    let automount = spec
        .spec
        .automount_service_account_token
        .unwrap_or_else(|| {
            inv.find("ServiceAccount", Some(namespace), spec.service_account())
                .and_then(|sa| {
                    sa.raw
                        .get("automountServiceAccountToken")
                        .and_then(Value::as_bool)
                })
                .unwrap_or(true)
        });
    automount || projected
}

fn default_sa_token(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for spec in inv.pod_specs() {
        let Some(obj) = inv.owner_of(spec) else {
            continue;
        };
        let Some(ns) = obj.namespace() else { continue };
        if is_system_namespace(ns) {
            continue;
        }
        out.evaluated += 1;
        if spec.service_account() == "default" && token_mounted(inv, spec, ns) {
            out.hits.push(
                Hit::on(
                    obj,
                    format!("{}.serviceAccountName", spec.path),
                    "runs as the default service account with its token mounted",
                )
                .fixable_if(!projected_token(spec)),
            );
        }
    }
    out
}

/// Workloads in application namespaces whose pods get a token: (pod spec, owner, namespace).
fn token_workloads(
    inv: &Inventory,
) -> impl Iterator<Item = (&crate::model::PodSpecRef, &crate::model::Object, &str)> {
    inv.pod_specs().iter().filter_map(move |spec| {
        let obj = inv.owner_of(spec)?;
        let ns = obj.namespace()?;
        (!is_system_namespace(ns) && token_mounted(inv, spec, ns)).then_some((spec, obj, ns))
    })
}

fn unneeded_token(inv: &Inventory, _: &Settings) -> Outcome {
    let grants = rbac::grants(inv);
    let index = rbac::GrantIndex::new(&grants);
    let mut out = Outcome::default();
    for (spec, obj, ns) in token_workloads(inv) {
        let sa = spec.service_account();
        if sa == "default" {
            continue; // KH-RBAC-016
        }
        out.evaluated += 1;
        let granted = index
            .of_service_account(ns, sa)
            .iter()
            .any(|g| !is_default_binding(g) && g.namespace.is_none_or(|n| n == ns));
        if !granted {
            out.hits.push(
                Hit::on(
                    obj,
                    format!("{}.automountServiceAccountToken", spec.path),
                    format!(
                        "mounts the token of ServiceAccount {ns}/{sa}, which is granted nothing beyond the defaults: set automountServiceAccountToken: false"
                    ),
                )
                .fixable_if(!projected_token(spec)),
            );
        }
    }
    out
}

fn critical_rule(r: &Rule, cluster_wide: bool) -> Option<&'static str> {
    if r.verbs.iter().any(|v| v == "*") && r.resources.iter().any(|v| v == "*") {
        return Some("use every verb on every resource");
    }
    if cluster_wide && any_of(r, &["get", "list", "watch"], "", &["secrets"]) {
        return Some("read every Secret");
    }
    if any_of(
        r,
        &["escalate", "bind"],
        "rbac.authorization.k8s.io",
        &["roles", "clusterroles"],
    ) || any_of(
        r,
        &["impersonate"],
        "",
        &["users", "groups", "serviceaccounts"],
    ) {
        return Some("escalate, bind or impersonate");
    }
    if any_of(r, &["get", "create"], "", &["nodes/proxy"]) {
        return Some("reach every kubelet through nodes/proxy");
    }
    None
}

fn powerful_workload(inv: &Inventory, _: &Settings) -> Outcome {
    let grants = rbac::grants(inv);
    let index = rbac::GrantIndex::new(&grants);
    let mut out = Outcome::default();
    for (spec, obj, ns) in token_workloads(inv) {
        out.evaluated += 1;
        let found = index
            .of_service_account(ns, spec.service_account())
            .into_iter()
            .filter(|g| !is_default_binding(g) && g.namespace.is_none_or(|n| n == ns))
            .find_map(|g| {
                g.rules
                    .iter()
                    .find_map(|r| critical_rule(r, g.namespace.is_none()))
                    .map(|what| (g, what))
            });
        if let Some((g, what)) = found {
            out.hits.push(Hit::on(
                obj,
                format!("{}.serviceAccountName", spec.path),
                format!(
                    "runs as ServiceAccount {ns}/{} with a mounted token that can {what} ({} {} via {} {})",
                    spec.service_account(),
                    g.role_kind,
                    g.role_name,
                    g.binding.kind(),
                    g.binding.name()
                ),
            ));
        }
    }
    out
}

fn dangling_binding(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    let have_cluster_roles = inv.of_kind("ClusterRole").next().is_some();
    let have_roles = inv.of_kind("Role").next().is_some();
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for b in inv.of_kind(kind) {
            let role_ref = b.raw.get("roleRef");
            let rk = role_ref
                .and_then(|r| r.get("kind"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let rn = role_ref
                .and_then(|r| r.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let builtin = matches!(rn, "cluster-admin" | "admin" | "edit" | "view")
                || rn.starts_with("system:");
            let judged = match rk {
                "ClusterRole" => have_cluster_roles && !builtin,
                "Role" => have_roles,
                _ => false,
            };
            if !judged {
                continue;
            }
            out.evaluated += 1;
            let exists = match rk {
                "ClusterRole" => inv.find("ClusterRole", None, rn).is_some(),
                _ => inv.find("Role", b.namespace(), rn).is_some(),
            };
            if !exists {
                out.hits.push(Hit::on(b, "roleRef", format!("{rk} {rn} does not exist: whoever creates it inherits this binding's subjects")));
            }
        }
    }
    // Service account subjects that do not exist, in namespaces whose service accounts the
    // input holds.
    for g in rbac::grants(inv)
        .iter()
        .filter(|g| !is_default_binding(g) && g.subject.kind == "ServiceAccount")
    {
        let Some(ns) = g.subject.namespace.as_deref() else {
            continue;
        };
        // Only accounts read from the source say that it covers the namespace's accounts:
        // one a remediation adds (the default account's automount) does not.
        if inv
            .in_namespace(ns)
            .all(|o| o.kind() != "ServiceAccount" || *o.origin == crate::model::Origin::Synthetic)
        {
            continue;
        }
        out.evaluated += 1;
        if inv
            .find("ServiceAccount", Some(ns), &g.subject.name)
            .is_none()
        {
            out.hits.push(Hit::on(
                g.binding,
                format!("subjects[{}]", g.subject_index),
                format!(
                    "{} does not exist: whoever creates it inherits {} {}",
                    g.subject, g.role_kind, g.role_name
                ),
            ));
        }
    }
    out
}
