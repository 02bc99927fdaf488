//! `kubeharden rbac` against a real server: the ClusterRoles it prints are enough for a full
//! scan (`kubeharden-scan`) and for applying and rolling back a bundle (`kubeharden-apply`),
//! and a user without them is told which verb on which resource is missing.
//!
//! A dedicated server: the token file's `kh-*` users are global, so their bindings would
//! change what other tests see.

use super::Cluster;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn kh(kubeconfig: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    crate::util::run(&all, None)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A few objects of every kind a scan lists, with findings `fix` can remediate: a
/// Deployment without a securityContext, a namespace without Pod Security labels or
/// NetworkPolicies. No controller-manager runs, so the namespace's default ServiceAccount is
/// created as the controller would. No bare Pod: its fix is refused by the server (a Pod's
/// spec is immutable), which is no question of RBAC.
fn load_objects(c: &Cluster) -> (String, String) {
    let app = c.namespace("kh-roles-app", &[]);
    let other = c.namespace(
        "kh-roles-other",
        &[("pod-security.kubernetes.io/enforce", "baseline")],
    );
    let container = r#"{"name": "web", "image": "nginx:1.27.3"}"#;
    let objects = format!(
        r#"{{"apiVersion": "v1", "kind": "List", "items": [
  {{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "web", "namespace": "{app}"}},
    "spec": {{"replicas": 1, "selector": {{"matchLabels": {{"app": "web"}}}},
      "template": {{"metadata": {{"labels": {{"app": "web"}}}}, "spec": {{"containers": [{container}]}}}}}}}},
  {{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {{"name": "db", "namespace": "{other}"}},
    "spec": {{"serviceName": "db", "selector": {{"matchLabels": {{"app": "db"}}}},
      "template": {{"metadata": {{"labels": {{"app": "db"}}}}, "spec": {{"containers": [{container}]}}}}}}}},
  {{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {{"name": "tick", "namespace": "{other}"}},
    "spec": {{"schedule": "0 * * * *", "jobTemplate": {{"spec": {{"template": {{"spec": {{"restartPolicy": "Never", "containers": [{container}]}}}}}}}}}}}},
  {{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {{"name": "robot", "namespace": "{app}"}}}},
  {{"apiVersion": "v1", "kind": "Secret", "metadata": {{"name": "creds", "namespace": "{app}"}}, "stringData": {{"password": "hunter2"}}}},
  {{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {{"name": "reader", "namespace": "{app}"}},
    "rules": [{{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}}]}},
  {{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {{"name": "reader", "namespace": "{app}"}},
    "roleRef": {{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}},
    "subjects": [{{"kind": "ServiceAccount", "name": "robot"}}]}},
  {{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {{"name": "deny", "namespace": "{other}"}},
    "spec": {{"podSelector": {{}}, "policyTypes": ["Ingress", "Egress"]}}}},
  {{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {{"name": "kh-roles-replicas"}},
    "spec": {{"matchConstraints": {{"resourceRules": [{{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}}]}},
      "validations": [{{"expression": "object.spec.replicas <= 50"}}]}}}},
  {{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {{"name": "kh-roles-replicas"}},
    "spec": {{"policyName": "kh-roles-replicas", "validationActions": ["Deny"]}}}}
]}}"#
    );
    c.kubectl_ok(&["create", "-f", "-"], Some(&objects));
    (app, other)
}

#[test]
fn the_printed_cluster_roles_are_enough_to_scan_apply_and_roll_back() {
    let Some(c) = super::dedicated() else { return };
    let roles = crate::util::run(&["rbac"], None);
    assert!(roles.status.success(), "{}", text(&roles));
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&String::from_utf8_lossy(&roles.stdout)),
    );
    for (user, role) in [
        ("kh-scan", "kubeharden-scan"),
        ("kh-apply", "kubeharden-apply"),
    ] {
        c.kubectl_ok(
            &[
                "create",
                "clusterrolebinding",
                user,
                &format!("--clusterrole={role}"),
                &format!("--user={user}"),
            ],
            None,
        );
    }
    let (app, _other) = load_objects(&c);
    let scan = c.user("kh-scan");
    let apply = c.user("kh-apply");
    let none = c.user("kh-none");

    // A full live scan as kh-scan reads every kind.
    let o = kh(&scan.kubeconfig, &["scan", "-o", "json"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["skipped"], serde_json::json!([]), "{}", text(&o));
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| { f["object"]["namespace"] == app.as_str() && f["object"]["name"] == "web" }),
        "the scan sees the Deployment: {}",
        text(&o)
    );

    // fix (read as kh-scan), then apply and rollback as kh-apply.
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let o = kh(&scan.kubeconfig, &["fix", "--out", b]);
    assert!(o.status.success(), "{}", text(&o));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    assert!(
        manifest.to_string().contains(&app),
        "the bundle changes the app namespace: {manifest}"
    );

    // Without any grant a scan reads nothing, and says why for every kind.
    let o = kh(&none.kubeconfig, &["scan", "-o", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let skipped = report["skipped"].as_array().unwrap();
    let kinds = kubeharden::source::live::KINDS.len();
    assert_eq!(skipped.len(), kinds, "{}", text(&o));
    let secrets = skipped.iter().find(|s| s["kind"] == "Secret").unwrap();
    assert!(
        secrets["reason"]
            .as_str()
            .unwrap()
            .contains("User \"kh-none\" cannot list resource \"secrets\""),
        "{secrets}"
    );

    // Without any grant: the first request is refused, and the user is told what to grant.
    let o = kh(&none.kubeconfig, &["apply", "--yes", b]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o));
    // The bundle's first change is the Deployment: its backup GET is the first request.
    let want = format!(
        "forbidden: kubeharden needs `get` on deployments.apps in namespace {app} (see `kubeharden rbac`)"
    );
    assert!(err.contains(&want), "{want}\n{}", text(&o));
    assert!(
        err.contains("User \"kh-none\" cannot get resource \"deployments\""),
        "{}",
        text(&o)
    );

    let o = kh(&apply.kubeconfig, &["apply", "--yes", b]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("forbidden"), "{}", text(&o));
    let deployment = c.get("deployments", Some(&app), "web").unwrap();
    assert!(
        deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
            == false,
        "the fix reached the server: {deployment}"
    );

    let o = kh(&apply.kubeconfig, &["rollback", "--yes", b]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("forbidden"), "{}", text(&o));
    let deployment = c.get("deployments", Some(&app), "web").unwrap();
    assert!(
        deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"].is_null(),
        "rolled back: {deployment}"
    );
}
