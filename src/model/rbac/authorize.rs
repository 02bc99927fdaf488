//! The RBAC authorizer's answer for one request: whether any grant of the inventory allows
//! it to a set of identities. Matching follows the Kubernetes authorizer
//! (`pkg/apis/rbac/v1/evaluation_helpers.go`, `plugin/pkg/auth/authorizer/rbac`) and is built
//! on the same grants the checks walk, so what this answers is what the checks see.

use super::{Grant, Inventory, Rule, Subject, grants, subject_matches};

/// One request as the authorizer sees it: the attributes of a SubjectAccessReview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'r> {
    /// A request on an API resource.
    Resource {
        /// `get`, `list`, `create`, …
        verb: &'r str,
        /// The API group (`""` for core).
        group: &'r str,
        /// The resource, for example `pods`.
        resource: &'r str,
        /// The subresource, for example `log` (`""` for none).
        subresource: &'r str,
        /// The object's name (`""` for none, as for `list` or `create`).
        name: &'r str,
        /// The namespace, `None` for cluster-scoped resources and requests across namespaces.
        namespace: Option<&'r str>,
    },
    /// A request on a path outside the API (`/healthz`, `/metrics`).
    NonResource {
        /// `get`, `post`, …
        verb: &'r str,
        /// The URL path.
        path: &'r str,
    },
}

impl Rule {
    /// Whether the rule allows the request, as the authorizer's `RuleAllows` decides: a
    /// resource request needs the verb, the group, the resource (or `*/subresource`) and,
    /// when the rule lists `resourceNames`, a name among them; a non-resource request needs
    /// the verb and a URL (exact, `*`, or a prefix ending in `*`).
    pub fn matches(&self, request: &Request<'_>) -> bool {
        let any = |list: &[String], x: &str| list.iter().any(|v| v == "*" || v == x);
        match *request {
            Request::Resource {
                verb,
                group,
                resource,
                subresource,
                name,
                ..
            } => {
                let combined = if subresource.is_empty() {
                    resource.to_string()
                } else {
                    format!("{resource}/{subresource}")
                };
                let resource_ok = self.resources.iter().any(|r| {
                    r == "*"
                        || *r == combined
                        || (!subresource.is_empty()
                            && r.strip_prefix("*/").is_some_and(|s| s == subresource))
                });
                let name_ok =
                    self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name);
                any(&self.verbs, verb) && any(&self.api_groups, group) && resource_ok && name_ok
            }
            Request::NonResource { verb, path } => {
                any(&self.verbs, verb)
                    && self.non_resource_urls.iter().any(|u| {
                        u == "*"
                            || u == path
                            || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
                    })
            }
        }
    }
}

/// Whether a grant applies to a request's scope: a ClusterRoleBinding everywhere, a
/// RoleBinding only to requests in its own namespace (never to cluster-scoped or
/// non-resource requests).
fn in_scope(grant: &Grant<'_>, request: &Request<'_>) -> bool {
    match (grant.namespace, request) {
        (None, _) => true,
        (
            Some(ns),
            Request::Resource {
                namespace: Some(r), ..
            },
        ) => ns == *r,
        (Some(_), _) => false,
    }
}

/// Whether RBAC allows the request to a caller with these identities (its user, or its
/// service account, and its groups: see [`super::service_account_identities`]).
pub fn allows(inv: &Inventory, identities: &[Subject], request: &Request<'_>) -> bool {
    grants(inv).iter().any(|g| {
        in_scope(g, request)
            && subject_matches(g.subject, identities)
            && g.rules.iter().any(|r| r.matches(request))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> Rule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Rule {
            api_groups: v(groups),
            resources: v(resources),
            verbs: v(verbs),
            resource_names: v(names),
            non_resource_urls: Vec::new(),
        }
    }

    fn res<'a>(verb: &'a str, resource: &'a str, sub: &'a str, name: &'a str) -> Request<'a> {
        Request::Resource {
            verb,
            group: "",
            resource,
            subresource: sub,
            name,
            namespace: Some("ns"),
        }
    }

    #[test]
    fn subresources_match_exactly_or_through_star_slash() {
        let r = rule(&[""], &["pods/log", "*/scale"], &["get"], &[]);
        assert!(r.matches(&res("get", "pods", "log", "")));
        assert!(r.matches(&res("get", "deployments", "scale", "")));
        assert!(!r.matches(&res("get", "pods", "", "")));
        assert!(!r.matches(&res("get", "pods", "exec", "")));
        // `pods/*` is no wildcard: it matches only a subresource literally named `*`.
        let star = rule(&[""], &["pods/*"], &["get"], &[]);
        assert!(!star.matches(&res("get", "pods", "log", "")));
        assert!(!star.matches(&res("get", "pods", "", "")));
    }

    #[test]
    fn resource_names_need_a_name_among_them() {
        let r = rule(&[""], &["secrets"], &["get", "list"], &["a"]);
        assert!(r.matches(&res("get", "secrets", "", "a")));
        assert!(!r.matches(&res("get", "secrets", "", "b")));
        assert!(!r.matches(&res("list", "secrets", "", "")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        let r = Rule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/metrics/*".into()],
            ..Rule::default()
        };
        let nr = |path| Request::NonResource { verb: "get", path };
        assert!(r.matches(&nr("/healthz")));
        assert!(!r.matches(&nr("/healthz/etcd")));
        assert!(r.matches(&nr("/metrics/cadvisor")));
        assert!(r.matches(&nr("/metrics/")));
        assert!(!r.matches(&nr("/metrics")));
        assert!(!r.matches(&Request::NonResource {
            verb: "post",
            path: "/healthz"
        }));
        // A resource rule never allows a path, nor a URL rule a resource.
        assert!(!rule(&["*"], &["*"], &["*"], &[]).matches(&nr("/healthz")));
        assert!(!r.matches(&res("get", "pods", "", "")));
    }
}

#[cfg(test)]
mod inventory_tests {
    use super::*;
    use crate::model::object::{Object, Origin};
    use serde_json::json;

    fn inventory(objects: Vec<serde_json::Value>) -> Inventory {
        Inventory::new(
            objects
                .into_iter()
                .map(|v| Object::from_value(v, Origin::Cluster).unwrap())
                .collect(),
        )
    }

    fn user(name: &str) -> Vec<Subject> {
        vec![Subject {
            kind: "User".into(),
            name: name.into(),
            namespace: None,
        }]
    }

    // Found by the differential test against kube-apiserver (tests/it/real/rbac.rs): the
    // aggregation controller turns an empty selector into "everything".
    #[test]
    fn an_empty_aggregation_selector_selects_every_cluster_role() {
        let inv = inventory(vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "pods-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "all"},
                "aggregationRule": {"clusterRoleSelectors": [{}]}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "all", "namespace": "ns"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "all"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "dave"}]}),
        ]);
        let get_pods = |ns| Request::Resource {
            verb: "get",
            group: "",
            resource: "pods",
            subresource: "",
            name: "",
            namespace: ns,
        };
        assert!(allows(&inv, &user("dave"), &get_pods(Some("ns"))));
        assert!(!allows(&inv, &user("dave"), &get_pods(Some("other"))));
        assert!(!allows(&inv, &user("dave"), &get_pods(None)));
        assert!(!allows(&inv, &user("erin"), &get_pods(Some("ns"))));
    }

    // Found by the differential test: the authorizer reads a ServiceAccount subject's empty
    // namespace as none, so a RoleBinding's namespace applies.
    #[test]
    fn an_empty_service_account_namespace_is_the_binding_namespace() {
        let inv = inventory(vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "r", "namespace": "ns"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "r", "namespace": "ns"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": ""}]}),
        ]);
        let get_pods = Request::Resource {
            verb: "get",
            group: "",
            resource: "pods",
            subresource: "",
            name: "",
            namespace: Some("ns"),
        };
        let app = super::super::service_account_identities("ns", "app");
        assert!(allows(&inv, &app, &get_pods));
        let other = super::super::service_account_identities("other", "app");
        assert!(!allows(&inv, &other, &get_pods));
    }
}
