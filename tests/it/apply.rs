//! `apply`, `rollback` and `rbac`: the engine against the fake API server, and the CLI.

use crate::util::run;

#[test]
fn rbac_prints_a_read_only_scan_role_and_the_apply_verbs() {
    let o = run(&["rbac"], None);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert_eq!(docs[0]["metadata"]["name"], "kubeharden-scan");
    for rule in docs[0]["rules"].as_array().unwrap() {
        assert_eq!(rule["verbs"], serde_json::json!(["get", "list"]), "{rule}");
    }
    let scan_resources: Vec<&str> = docs[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap())
        .collect();
    for r in [
        "pods",
        "deployments",
        "secrets",
        "networkpolicies",
        "clusterrolebindings",
    ] {
        assert!(scan_resources.contains(&r), "{r} missing");
    }
    assert_eq!(docs[1]["metadata"]["name"], "kubeharden-apply");
    let writes = serde_json::to_string(&docs[1]["rules"]).unwrap();
    assert!(writes.contains("patch") && writes.contains("create") && writes.contains("delete"));
    assert!(!writes.contains("secrets"), "apply never touches Secrets");
    assert!(text.contains("metadata"), "the Secrets caveat is explained");
}

#[test]
fn apply_and_rollback_refuse_what_is_not_a_bundle_or_not_a_cluster() {
    let o = run(&["apply", "/nonexistent/bundle"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/bundle/manifest.json"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b");
    assert!(
        run(&["fix", "--demo", "--out", b.to_str().unwrap()], None)
            .status
            .success()
    );
    let o = run(&["apply", "--demo", b.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("live cluster"));
    let o = run(&["rollback", "-f", "x.yaml", b.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
}
