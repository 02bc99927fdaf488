//! Objects other field managers wrote: `kubectl apply` (client-side) and a server-side manager
//! (`helm`). A change that would take their fields is a conflict naming the manager;
//! `--force-conflicts` takes the fields; rollback hands the values back.

use super::roundtrip::{assert_each_write_dry_run_first, kh};
use serde_json::Value;

fn deployment(ns: &str, name: &str, security_context: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
{security_context}"
    )
}

/// Who manages `field` of the first container's securityContext, by the managedFields.
fn managers_of(o: &Value, field: &str) -> Vec<String> {
    o["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["fieldsV1"]
                .to_string()
                .contains(&format!("\"f:{field}\""))
        })
        .map(|m| m["manager"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn conflicts_name_the_manager_force_takes_the_fields_and_rollback_hands_them_back() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-managers", &[]);
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&deployment(&ns, "by-kubectl", "")),
    );
    c.kubectl_ok(
        &["apply", "--server-side", "--field-manager=helm", "-f", "-"],
        Some(&deployment(&ns, "by-helm", "")),
    );
    let me = c.admin();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let b = bundle.to_str().unwrap();
    let r = kh(
        &me,
        &[
            "-n",
            &ns,
            "fix",
            "--check",
            "KH-POD-201,KH-POD-202,KH-POD-203,KH-POD-204",
            "--out",
            b,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // After the bundle was written, the owners set the fields it adds, with other values.
    let runs_as_root = "          securityContext:\n            runAsNonRoot: false\n";
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&deployment(&ns, "by-kubectl", runs_as_root)),
    );
    c.kubectl_ok(
        &["apply", "--server-side", "--field-manager=helm", "-f", "-"],
        Some(&deployment(&ns, "by-helm", runs_as_root)),
    );

    let r = kh(&me, &["apply", "--yes", b]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("conflict"), "{}", r.stderr);
    assert!(
        r.stderr.contains("\"helm\""),
        "the manager is named: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("kubectl-client-side-apply"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force-conflicts"), "{}", r.stderr);
    for name in ["by-kubectl", "by-helm"] {
        let d = c.get("deployment", Some(&ns), name).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"],
            false,
            "nothing of a conflicting change is written"
        );
    }

    let r = kh(&me, &["apply", "--yes", "--force-conflicts", b]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for name in ["by-kubectl", "by-helm"] {
        let d = c.get("deployment", Some(&ns), name).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"],
            true
        );
        assert_eq!(managers_of(&d, "runAsNonRoot"), ["kubeharden"], "{name}");
    }
    assert_each_write_dry_run_first(&c.audit(&me.user));

    let r = kh(&me, &["rollback", "--yes", b]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (name, owner) in [
        ("by-kubectl", "kubectl-client-side-apply"),
        ("by-helm", "helm"),
    ] {
        let d = c.get("deployment", Some(&ns), name).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"],
            false,
            "{name}: the owner's value is back"
        );
        assert_eq!(
            managers_of(&d, "runAsNonRoot"),
            [owner],
            "{name}: the field is its owner's again"
        );
        assert_eq!(
            managers_of(&d, "image"),
            [owner],
            "{name}: kubeharden took no other field"
        );
        assert!(
            !managers_of(&d, "runAsNonRoot").contains(&"kubeharden".to_string()),
            "{name}: kubeharden no longer claims the field: {:?}",
            managers_of(&d, "runAsNonRoot")
        );
    }
    assert_each_write_dry_run_first(&c.audit(&me.user));
}
