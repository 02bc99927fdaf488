//! The RBAC engine: aggregation, bindings, subjects, rule matching.

use crate::util::load_stdin;
use kubeharden::model::Inventory;
use kubeharden::model::rbac::{self, Rule};

fn inv(text: &str) -> Inventory {
    Inventory::new(load_stdin(text).objects)
}

#[test]
fn aggregated_cluster_roles_take_the_rules_of_matching_roles() {
    let i = inv(r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring-edit}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-monitoring: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: prom-secrets, labels: {example.com/aggregate-to-monitoring: "true"}}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: unrelated}
rules:
- {apiGroups: [""], resources: [pods], verbs: [delete]}
"#);
    let role = i.find("ClusterRole", None, "monitoring-edit").unwrap();
    let rules = rbac::cluster_role_rules(&i, role);
    assert_eq!(rules.len(), 1);
    assert!(rules[0].allows("get", "", "secrets"));
    assert!(!rules.iter().any(|r| r.allows("delete", "", "pods")));
}

#[test]
fn role_bindings_scope_grants_and_default_service_account_namespaces() {
    let i = inv(r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: api}
- {kind: Group, name: system:serviceaccounts:web}
"#);
    let grants = rbac::grants(&i);
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[0].namespace, Some("web"));
    assert_eq!(grants[0].subject.namespace.as_deref(), Some("web"));
    assert_eq!(grants[0].subject.to_string(), "ServiceAccount web/api");
    let ids = rbac::service_account_identities("web", "worker");
    assert!(!rbac::subject_matches(grants[0].subject, &ids));
    assert!(
        rbac::subject_matches(grants[1].subject, &ids),
        "group subjects reach every SA of the namespace"
    );
    let other = rbac::service_account_identities("shop", "worker");
    assert!(!rbac::subject_matches(grants[1].subject, &other));
}

#[test]
fn rule_matching_handles_wildcards_and_subresources() {
    let r = Rule {
        api_groups: vec!["".into()],
        resources: vec!["*/exec".into(), "secrets".into()],
        verbs: vec!["create".into(), "get".into()],
        ..Rule::default()
    };
    assert!(r.allows("create", "", "pods/exec"));
    assert!(!r.allows("create", "", "pods"));
    assert!(!r.allows("create", "apps", "pods/exec"));
    assert!(r.allows("get", "", "secrets"));
    assert!(!r.allows("list", "", "secrets"));
    assert!(!r.has_wildcard());
    let all = Rule {
        api_groups: vec!["*".into()],
        resources: vec!["*".into()],
        verbs: vec!["*".into()],
        ..Rule::default()
    };
    assert!(all.allows("impersonate", "", "users") && all.has_wildcard());
}

#[test]
fn a_user_subject_for_a_service_account_matches_it() {
    let i = inv(r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: User, name: "system:serviceaccount:ci:deployer"}
"#);
    let g = &rbac::grants(&i)[0];
    assert!(rbac::subject_matches(
        g.subject,
        &rbac::service_account_identities("ci", "deployer")
    ));
}
