//! RBAC as the authorizer evaluates it: rules of Roles and ClusterRoles (aggregated
//! ClusterRoles resolved), bindings, subjects, and the grants they make.
//!
//! Only bound rules grant anything. A ClusterRole bound by a RoleBinding grants in the
//! binding's namespace; bound by a ClusterRoleBinding it grants everywhere. A ServiceAccount
//! subject without a namespace in a RoleBinding means the binding's namespace.

use super::inventory::Inventory;
use super::object::Object;
use super::selector::Selector;
use serde_json::Value;
use std::collections::BTreeSet;

/// One policy rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources`, subresources as `pods/exec`.
    pub resources: Vec<String>,
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `resourceNames`: when present the rule covers only those objects.
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`.
    pub non_resource_urls: Vec<String>,
}

use super::object::string_list as strings;

impl Rule {
    fn parse(v: &Value) -> Rule {
        Rule {
            api_groups: strings(v.get("apiGroups")),
            resources: strings(v.get("resources")),
            verbs: strings(v.get("verbs")),
            resource_names: strings(v.get("resourceNames")),
            non_resource_urls: strings(v.get("nonResourceURLs")),
        }
    }

    /// Whether the rule allows a verb on a resource of an API group (any object name).
    pub fn allows(&self, verb: &str, group: &str, resource: &str) -> bool {
        let any = |list: &[String], x: &str| list.iter().any(|v| v == "*" || v == x);
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || r == resource
                || r.strip_prefix("*/")
                    .is_some_and(|sub| resource.split_once('/').is_some_and(|(_, s)| s == sub))
        });
        any(&self.verbs, verb) && any(&self.api_groups, group) && resource_ok
    }

    /// Whether the rule has a wildcard in verbs, resources or apiGroups.
    pub fn has_wildcard(&self) -> bool {
        [&self.verbs, &self.resources, &self.api_groups]
            .iter()
            .any(|l| l.iter().any(|v| v == "*"))
    }

    /// Short text: `verbs on group/resources`.
    pub fn describe(&self) -> String {
        if !self.non_resource_urls.is_empty() {
            return format!(
                "{} on {}",
                self.verbs.join(","),
                self.non_resource_urls.join(",")
            );
        }
        let groups: Vec<&str> = self
            .api_groups
            .iter()
            .map(|g| if g.is_empty() { "core" } else { g.as_str() })
            .collect();
        let mut s = format!(
            "{} on {}/{}",
            self.verbs.join(","),
            groups.join(","),
            self.resources.join(",")
        );
        if !self.resource_names.is_empty() {
            s.push_str(&format!(" (only {})", self.resource_names.join(",")));
        }
        s
    }
}

/// The rules of a role object.
pub fn own_rules(role: &Object) -> Vec<Rule> {
    role.raw
        .get("rules")
        .and_then(Value::as_array)
        .map(|rs| rs.iter().map(Rule::parse).collect())
        .unwrap_or_default()
}

/// The rules a ClusterRole grants: with an aggregationRule, the union of the rules of every
/// ClusterRole its selectors match (recursively, cycles cut), as the controller writes them.
/// An empty selector (`{}`) selects every ClusterRole, as the controller's
/// `LabelSelectorAsSelector` makes it.
pub fn cluster_role_rules(inv: &Inventory, role: &Object) -> Vec<Rule> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    collect_cluster_role(inv, role, &mut seen, &mut out);
    out
}

fn collect_cluster_role(
    inv: &Inventory,
    role: &Object,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<Rule>,
) {
    if !seen.insert(role.name().to_string()) {
        return;
    }
    for r in own_rules(role) {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    let Some(selectors) = role
        .raw
        .pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
    else {
        return;
    };
    let selectors: Vec<Selector> = selectors.iter().map(|s| Selector::parse(Some(s))).collect();
    for other in inv.of_kind("ClusterRole") {
        let labels = other.labels();
        if other.name() != role.name() && selectors.iter().any(|s| s.matches(&labels)) {
            collect_cluster_role(inv, other, seen, out);
        }
    }
}

/// A binding subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (service accounts; defaulted to a RoleBinding's namespace).
    pub namespace: Option<String>,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) if self.kind == "ServiceAccount" => {
                write!(f, "ServiceAccount {ns}/{}", self.name)
            }
            _ => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// What one subject of one binding is granted.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// The binding.
    pub binding: &'a Object,
    /// Index of the subject in `subjects`.
    pub subject_index: usize,
    /// The subject.
    pub subject: &'a Subject,
    /// `Role` or `ClusterRole`.
    pub role_kind: &'a str,
    /// The role's name.
    pub role_name: &'a str,
    /// The role object, when the inventory has it.
    pub role: Option<&'a Object>,
    /// The rules granted (empty when the role is missing).
    pub rules: &'a [Rule],
    /// Where the grant applies: a namespace, or `None` for cluster-wide.
    pub namespace: Option<&'a str>,
}

impl Grant<'_> {
    /// `cluster-wide` or `in namespace X`.
    pub fn scope(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("in namespace {ns}"),
            None => "cluster-wide".into(),
        }
    }
}

/// A grant as the inventory caches it: objects by index, computed once per inventory
/// because a dozen checks walk the grants.
#[derive(Debug)]
pub struct GrantData {
    binding: usize,
    subject_index: usize,
    subject: Subject,
    role_kind: String,
    role_name: String,
    role: Option<usize>,
    rules: std::sync::Arc<[Rule]>,
    namespace: Option<String>,
}

/// Every grant of every RoleBinding and ClusterRoleBinding.
pub fn grants(inv: &Inventory) -> Vec<Grant<'_>> {
    inv.grant_cache()
        .get_or_init(|| compute_grants(inv))
        .iter()
        .filter_map(|d| {
            Some(Grant {
                binding: inv.get(d.binding)?,
                subject_index: d.subject_index,
                subject: &d.subject,
                role_kind: &d.role_kind,
                role_name: &d.role_name,
                role: d.role.and_then(|i| inv.get(i)),
                rules: &d.rules,
                namespace: d.namespace.as_deref(),
            })
        })
        .collect()
}

fn compute_grants(inv: &Inventory) -> Vec<GrantData> {
    let mut out = Vec::new();
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for &bi in inv.indices_of_kind(kind) {
            let Some(binding) = inv.get(bi) else { continue };
            let role_ref = binding.raw.get("roleRef");
            let role_kind = role_ref
                .and_then(|r| r.get("kind"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let role_name = role_ref
                .and_then(|r| r.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let namespace = binding.namespace().map(str::to_string);
            let role = match role_kind {
                "ClusterRole" => inv.find_index("ClusterRole", None, role_name),
                "Role" => inv.find_index("Role", binding.namespace(), role_name),
                _ => None,
            };
            let rules: Vec<Rule> = match (role_kind, role.and_then(|i| inv.get(i))) {
                ("ClusterRole", Some(r)) => cluster_role_rules(inv, r),
                (_, Some(r)) => own_rules(r),
                // cluster-admin exists in every cluster even when the input omits it.
                ("ClusterRole", None) if role_name == "cluster-admin" => vec![Rule {
                    api_groups: vec!["*".into()],
                    resources: vec!["*".into()],
                    verbs: vec!["*".into()],
                    ..Rule::default()
                }],
                _ => Vec::new(),
            };
            let rules: std::sync::Arc<[Rule]> = rules.into();
            let subjects = binding.raw.get("subjects").and_then(Value::as_array);
            for (i, s) in subjects.into_iter().flatten().enumerate() {
                let skind = s
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let sname = s
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                // An empty namespace is none: the authorizer defaults it too.
                let sns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .or_else(|| {
                        (skind == "ServiceAccount")
                            .then(|| namespace.clone())
                            .flatten()
                    });
                out.push(GrantData {
                    binding: bi,
                    subject_index: i,
                    subject: Subject {
                        kind: skind,
                        name: sname,
                        namespace: sns,
                    },
                    role_kind: role_kind.to_string(),
                    role_name: role_name.to_string(),
                    role,
                    rules: rules.clone(),
                    namespace: namespace.clone(),
                });
            }
        }
    }
    out
}

/// The identities a pod's token carries: its service account user and groups.
pub fn service_account_identities(namespace: &str, name: &str) -> Vec<Subject> {
    vec![
        Subject {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: Some(namespace.into()),
        },
        Subject {
            kind: "Group".into(),
            name: "system:serviceaccounts".into(),
            namespace: None,
        },
        Subject {
            kind: "Group".into(),
            name: format!("system:serviceaccounts:{namespace}"),
            namespace: None,
        },
        Subject {
            kind: "Group".into(),
            name: "system:authenticated".into(),
            namespace: None,
        },
    ]
}

/// Whether a grant's subject is one of the identities (a `User system:serviceaccount:ns:sa`
/// subject matches the service account too).
pub fn subject_matches(subject: &Subject, identities: &[Subject]) -> bool {
    identities.iter().any(|id| {
        (subject.kind == id.kind
            && subject.name == id.name
            && (subject.kind != "ServiceAccount" || subject.namespace == id.namespace))
            || (subject.kind == "User"
                && id.kind == "ServiceAccount"
                && subject.name
                    == format!(
                        "system:serviceaccount:{}:{}",
                        id.namespace.as_deref().unwrap_or(""),
                        id.name
                    ))
    })
}

/// Grants indexed by subject, for looking up what one identity holds without scanning
/// every binding.
pub struct GrantIndex<'g, 'a> {
    by_subject: std::collections::HashMap<(String, Option<String>, String), Vec<&'g Grant<'a>>>,
}

impl<'g, 'a> GrantIndex<'g, 'a> {
    /// Indexes grants by (kind, namespace for service accounts, name).
    pub fn new(grants: &'g [Grant<'a>]) -> Self {
        let mut by_subject: std::collections::HashMap<_, Vec<&'g Grant<'a>>> =
            std::collections::HashMap::new();
        for g in grants {
            let ns = if g.subject.kind == "ServiceAccount" {
                g.subject.namespace.clone()
            } else {
                None
            };
            by_subject
                .entry((g.subject.kind.clone(), ns, g.subject.name.clone()))
                .or_default()
                .push(g);
        }
        GrantIndex { by_subject }
    }

    /// Every grant whose subject is one of a service account's identities (its own subject,
    /// the `system:serviceaccount:<ns>:<name>` user, and its groups).
    pub fn of_service_account(&self, namespace: &str, name: &str) -> Vec<&'g Grant<'a>> {
        let keys = [
            (
                "ServiceAccount".to_string(),
                Some(namespace.to_string()),
                name.to_string(),
            ),
            (
                "User".to_string(),
                None,
                format!("system:serviceaccount:{namespace}:{name}"),
            ),
            (
                "Group".to_string(),
                None,
                "system:serviceaccounts".to_string(),
            ),
            (
                "Group".to_string(),
                None,
                format!("system:serviceaccounts:{namespace}"),
            ),
            (
                "Group".to_string(),
                None,
                "system:authenticated".to_string(),
            ),
        ];
        keys.iter()
            .filter_map(|k| self.by_subject.get(k))
            .flatten()
            .copied()
            .collect()
    }
}

mod authorize;
mod explicit;
pub use authorize::{Request, allows};
pub use explicit::{BUILTIN_RESOURCES, EXPLICIT_VERBS, bound_role, explicit_rules};
