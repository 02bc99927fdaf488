//! Wildcard rules rewritten to explicit ones, and the role a binding refers to.

use super::{Inventory, Object, Rule};
use serde_json::Value;

/// The verbs a `*` in `verbs` is rewritten to: the standard ones. `escalate`, `bind`,
/// `impersonate`, `approve`, `sign` and `use` are left out on purpose: they are what makes
/// a wildcard dangerous, and a reviewer adds one back only where it is needed.
pub const EXPLICIT_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// The built-in API groups of Kubernetes 1.35 and their top-level resources. Subresources
/// (`pods/exec`, `nodes/proxy`, `serviceaccounts/token`) are not listed: a wildcard that is
/// rewritten loses them, and a reviewer adds back only the ones that are needed.
pub const BUILTIN_RESOURCES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "bindings",
            "componentstatuses",
            "configmaps",
            "endpoints",
            "events",
            "limitranges",
            "namespaces",
            "nodes",
            "persistentvolumeclaims",
            "persistentvolumes",
            "pods",
            "podtemplates",
            "replicationcontrollers",
            "resourcequotas",
            "secrets",
            "serviceaccounts",
            "services",
        ],
    ),
    (
        "admissionregistration.k8s.io",
        &[
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "validatingwebhookconfigurations",
        ],
    ),
    ("apiextensions.k8s.io", &["customresourcedefinitions"]),
    ("apiregistration.k8s.io", &["apiservices"]),
    (
        "apps",
        &[
            "controllerrevisions",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
        ],
    ),
    (
        "authentication.k8s.io",
        &["selfsubjectreviews", "tokenreviews"],
    ),
    (
        "authorization.k8s.io",
        &[
            "localsubjectaccessreviews",
            "selfsubjectaccessreviews",
            "selfsubjectrulesreviews",
            "subjectaccessreviews",
        ],
    ),
    ("autoscaling", &["horizontalpodautoscalers"]),
    ("batch", &["cronjobs", "jobs"]),
    ("certificates.k8s.io", &["certificatesigningrequests"]),
    ("coordination.k8s.io", &["leases"]),
    ("discovery.k8s.io", &["endpointslices"]),
    ("events.k8s.io", &["events"]),
    (
        "flowcontrol.apiserver.k8s.io",
        &["flowschemas", "prioritylevelconfigurations"],
    ),
    (
        "networking.k8s.io",
        &[
            "ingressclasses",
            "ingresses",
            "ipaddresses",
            "networkpolicies",
            "servicecidrs",
        ],
    ),
    ("node.k8s.io", &["runtimeclasses"]),
    ("policy", &["poddisruptionbudgets"]),
    (
        "rbac.authorization.k8s.io",
        &[
            "clusterrolebindings",
            "clusterroles",
            "rolebindings",
            "roles",
        ],
    ),
    (
        "resource.k8s.io",
        &[
            "deviceclasses",
            "resourceclaims",
            "resourceclaimtemplates",
            "resourceslices",
        ],
    ),
    ("scheduling.k8s.io", &["priorityclasses"]),
    (
        "storage.k8s.io",
        &[
            "csidrivers",
            "csinodes",
            "csistoragecapacities",
            "storageclasses",
            "volumeattachments",
            "volumeattributesclasses",
        ],
    ),
];

/// The role a binding refers to, when the inventory has it.
pub fn bound_role<'a>(inv: &'a Inventory, binding: &Object) -> Option<&'a Object> {
    let role_ref = binding.raw.get("roleRef")?;
    let name = role_ref.get("name")?.as_str()?;
    match role_ref.get("kind")?.as_str()? {
        "ClusterRole" => inv.find("ClusterRole", None, name),
        "Role" => inv.find("Role", binding.namespace(), name),
        _ => None,
    }
}

/// Rewrites the wildcard rules of a role to explicit API groups, resources and verbs, one
/// rule per group (rules without a wildcard are kept as they are). Fails, naming the
/// reason, for roles kubeharden must not rewrite: built-in `system:` roles and
/// cluster-admin, aggregated ClusterRoles (the controller owns their rules), and wildcards
/// over API groups that are not built in (their resources are unknown offline).
pub fn explicit_rules(role: &Object) -> Result<Vec<Value>, String> {
    let name = role.name();
    if name.starts_with("system:") || name == "cluster-admin" {
        return Err(format!(
            "{} is a built-in role: bind a narrower one instead",
            role.id
        ));
    }
    if role.raw.get("aggregationRule").is_some() {
        return Err(format!(
            "{} is aggregated: its rules come from the roles it selects",
            role.id
        ));
    }
    let rules = role
        .raw
        .get("rules")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{} has no rules", role.id))?;
    let catalogue = |g: &str| {
        BUILTIN_RESOURCES
            .iter()
            .find(|(group, _)| *group == g)
            .map(|(_, r)| *r)
    };
    let mut out = Vec::new();
    for raw in rules {
        let rule = Rule::parse(raw);
        if !rule.has_wildcard() {
            out.push(raw.clone());
            continue;
        }
        let verbs: Vec<String> = if rule.verbs.iter().any(|v| v == "*") {
            EXPLICIT_VERBS.iter().map(|v| v.to_string()).collect()
        } else {
            rule.verbs.clone()
        };
        let any_resource = rule.resources.iter().any(|r| r == "*");
        let groups: Vec<String> = if rule.api_groups.iter().any(|g| g == "*") {
            if any_resource {
                BUILTIN_RESOURCES
                    .iter()
                    .map(|(g, _)| g.to_string())
                    .collect()
            } else {
                // The groups that serve the named resources.
                let mut gs = Vec::new();
                for r in &rule.resources {
                    let top = r.split('/').next().unwrap_or(r);
                    let found: Vec<&str> = BUILTIN_RESOURCES
                        .iter()
                        .filter(|(_, rs)| rs.contains(&top))
                        .map(|(g, _)| *g)
                        .collect();
                    if found.is_empty() {
                        return Err(format!(
                            "{}: resource {r:?} is not built in: name its API group",
                            role.id
                        ));
                    }
                    for g in found {
                        if !gs.iter().any(|x: &String| x == g) {
                            gs.push(g.to_string());
                        }
                    }
                }
                gs
            }
        } else {
            rule.api_groups.clone()
        };
        for g in groups {
            let resources: Vec<String> = if any_resource {
                catalogue(&g)
                    .ok_or_else(|| {
                        format!(
                            "{}: API group {g:?} is not built in: list its resources by hand",
                            role.id
                        )
                    })?
                    .iter()
                    .map(|r| r.to_string())
                    .collect()
            } else if rule.api_groups.iter().any(|x| x == "*") {
                let served = catalogue(&g).unwrap_or(&[]);
                rule.resources
                    .iter()
                    .filter(|r| served.contains(&r.split('/').next().unwrap_or(r)))
                    .cloned()
                    .collect()
            } else {
                rule.resources.clone()
            };
            let mut r = serde_json::Map::new();
            r.insert("apiGroups".into(), serde_json::json!([g]));
            r.insert("resources".into(), serde_json::json!(resources));
            if !rule.resource_names.is_empty() {
                r.insert(
                    "resourceNames".into(),
                    serde_json::json!(rule.resource_names),
                );
            }
            r.insert("verbs".into(), serde_json::json!(verbs));
            out.push(Value::Object(r));
        }
    }
    Ok(out)
}
