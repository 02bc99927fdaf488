//! Rolling back JSON patches in a real API server, which normalises what a patch writes: a
//! `false` set by `replace` vanishes (`omitempty`), a list emptied by `remove` vanishes, an
//! append lands at an index of its own. The inverse is built against the object as it is then
//! (`remediate::undo`), so every rollback goes through and gives back the object as it was;
//! a field another writer changed since is refused, naming the path, and left alone.

use super::roundtrip::{assert_each_write_dry_run_first, comparable, kh, refused, targets};
use super::{Cluster, Identity};
use serde_json::Value;
use std::collections::BTreeMap;

fn pod_spec(host: &str, security_context: &str, ports: &str) -> String {
    format!(
        "{host}      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
{ports}          securityContext:
{security_context}"
    )
}

/// A StatefulSet, a CronJob, a DaemonSet and a Deployment with the host access and the
/// capabilities the bench's generated cluster has.
fn workloads(ns: &str) -> String {
    let sts = pod_spec(
        "      hostNetwork: true\n",
        "            capabilities:\n              add: [NET_RAW]\n",
        "",
    );
    let ds = pod_spec(
        "      hostPID: true\n      hostIPC: true\n",
        "            privileged: true\n            capabilities:\n              add: [SYS_ADMIN, NET_RAW]\n",
        "          ports:\n            - containerPort: 9100\n              hostPort: 9100\n            - containerPort: 9101\n              hostPort: 9101\n",
    );
    let dep = pod_spec(
        "      volumes:\n        - name: cache\n          emptyDir: {}\n        - name: root\n          hostPath: {path: /}\n",
        "            runAsUser: 0\n            allowPrivilegeEscalation: true\n",
        "",
    );
    let cron = pod_spec(
        "      restartPolicy: OnFailure\n      hostNetwork: true\n",
        "            privileged: true\n            capabilities:\n              add: [NET_ADMIN]\n",
        "",
    )
    .lines()
    .map(|l| format!("    {l}\n"))
    .collect::<String>();
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: {ns}}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
{sts}---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
{ds}---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
{dep}---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: report, namespace: {ns}}}
spec:
  schedule: \"0 3 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
{cron}"
    )
}

type Targets = Vec<(String, Option<String>, String, String)>;

fn snapshot(c: &Cluster, targets: &Targets) -> BTreeMap<String, Option<Value>> {
    targets
        .iter()
        .map(|(res, ns, name, _)| {
            (
                format!("{res} {}/{name}", ns.as_deref().unwrap_or("")),
                c.get(res, ns.as_deref(), name).map(|o| {
                    let mut o = comparable(o);
                    // The DaemonSet controller's counter of template changes (server-set).
                    if let Some(a) = o["metadata"]["annotations"].as_object_mut() {
                        a.remove("deprecated.daemonset.template.generation");
                    }
                    o
                }),
            )
        })
        .collect()
}

/// `fix` in `ns` for `checks` (all when empty), then `apply --yes`, which must go through.
fn fix_and_apply(c: &Cluster, me: &Identity, ns: &str, checks: &str, b: &str) -> Targets {
    let mut args = vec!["-n", ns, "fix", "--out", b];
    if !checks.is_empty() {
        args.extend(["--check", checks]);
    }
    let r = kh(me, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = kh(me, &["apply", "--yes", b]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let events = c.audit(&me.user);
    let refused_apply = refused(&events);
    assert!(refused_apply.is_empty(), "{refused_apply:#?}");
    targets(std::path::Path::new(b))
}

#[test]
#[allow(clippy::print_stderr)]
fn json_patches_the_server_normalised_roll_back_to_the_objects_before() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-undo", &[]);
    c.kubectl_ok(&["apply", "-f", "-"], Some(&workloads(&ns)));
    let me = c.admin();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let b = bundle.to_str().unwrap();
    // Snapshot before apply: fix writes nothing. Pod security only: the image policy is
    // cluster-scoped, and other tests on the shared server write their own.
    let r = kh(
        &me,
        &["-n", &ns, "fix", "--area", "pod-security", "--out", b],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let targets = targets(&bundle);
    let patches = targets.iter().filter(|t| t.3 == "json-patch").count();
    assert!(patches >= 4, "{targets:#?}");
    let before = snapshot(c, &targets);

    let r = kh(&me, &["apply", "--yes", b]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let refused_apply = refused(&c.audit(&me.user));
    assert!(refused_apply.is_empty(), "{refused_apply:#?}");
    // The server did normalise: the hostNetwork false is gone, not false.
    let sts = c.get("statefulset", Some(&ns), "db").unwrap();
    assert!(
        sts["spec"]["template"]["spec"].get("hostNetwork").is_none(),
        "{:#}",
        sts["spec"]["template"]["spec"]
    );

    let start = c.audit(&me.user).len();
    let r = kh(&me, &["rollback", "--yes", b]);
    let events = c.audit(&me.user)[start..].to_vec();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("refused"), "{}", r.stderr);
    let refused_rollback = refused(&events);
    assert!(refused_rollback.is_empty(), "{refused_rollback:#?}");
    let writes = assert_each_write_dry_run_first(&events);
    let after = snapshot(c, &targets);
    let differing: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    for k in &differing {
        eprintln!(
            "{k}\nbefore: {:#}\nafter: {:#}",
            before[*k].clone().unwrap_or_default(),
            after[*k].clone().unwrap_or_default()
        );
    }
    eprintln!(
        "rollback in kube-apiserver: {} changes ({patches} JSON patches), {writes} writes, \
         refused 0, objects differing from before apply: {}",
        targets.len(),
        differing.len()
    );
    assert!(differing.is_empty(), "{differing:#?}");
}

#[test]
fn a_field_another_writer_changed_after_apply_is_refused_and_left_alone() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-undo-other", &[]);
    c.kubectl_ok(&["apply", "-f", "-"], Some(&workloads(&ns)));
    let me = c.admin();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let b = bundle.to_str().unwrap();
    // Remove the host ports (a JSON patch remove), run as UID 65532 (a replace of 0).
    fix_and_apply(c, &me, &ns, "KH-POD-106,KH-POD-203", b);
    let ds = c.get("daemonset", Some(&ns), "agent").unwrap();
    let port = &ds["spec"]["template"]["spec"]["containers"][0]["ports"][0];
    assert!(port.get("hostPort").is_none(), "{port}");

    // Another writer sets the fields the patches changed.
    c.kubectl_ok(
        &[
            "-n",
            &ns,
            "patch",
            "daemonset",
            "agent",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/template/spec/containers/0/ports/0/hostPort","value":9200}]"#,
        ],
        None,
    );
    c.kubectl_ok(
        &[
            "-n",
            &ns,
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/securityContext/runAsUser","value":1000}]"#,
        ],
        None,
    );
    let ds_before = comparable(c.get("daemonset", Some(&ns), "agent").unwrap());
    let web_before = comparable(c.get("deployment", Some(&ns), "web").unwrap());

    let start = c.audit(&me.user).len();
    let r = kh(&me, &["rollback", "--yes", b]);
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = format!("{}\n{}", r.stdout, r.stderr);
    for path in [
        "/spec/template/spec/containers/0/ports/0/hostPort",
        "/spec/template/spec/containers/0/securityContext/runAsUser",
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains(path) && l.contains("another writer")),
            "{path} not named:\n{out}"
        );
    }
    // Nothing was written to either object: no write, not even a dry run.
    let events = c.audit(&me.user)[start..].to_vec();
    let written: Vec<&str> = events
        .iter()
        .filter(|e| !matches!(e["verb"].as_str(), Some("get" | "list" | "watch")))
        .filter_map(|e| e["requestURI"].as_str())
        .filter(|u| u.contains("/daemonsets/agent") || u.contains("/deployments/web"))
        .collect();
    assert!(written.is_empty(), "{written:#?}");
    assert_eq!(
        comparable(c.get("daemonset", Some(&ns), "agent").unwrap()),
        ds_before
    );
    assert_eq!(
        comparable(c.get("deployment", Some(&ns), "web").unwrap()),
        web_before
    );
}
