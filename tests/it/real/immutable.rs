//! Immutable fields, with the server as the oracle: kubeharden's rules for what an update may
//! not change (bare Pods, Job templates, StatefulSet claims and selectors, Deployment
//! selectors, Service cluster IPs, binding roleRefs, immutable Secrets) agree with what
//! kube-apiserver refuses; a fix that needs one becomes an explicit re-create, asked on its
//! own, that the server accepts and rollback undoes; what cannot be re-created is left out
//! of the bundle with the step to take by hand.

use super::Cluster;
use super::roundtrip::{assert_each_write_dry_run_first, comparable, kh, refused};
use kubeharden::remediate::immutable::refused_change;
use serde_json::{Value, json};

/// An object created for real, as the server holds it.
fn create(c: &Cluster, obj: &Value) -> Value {
    c.kubectl_ok(&["create", "-f", "-"], Some(&obj.to_string()));
    let kind = obj["kind"].as_str().unwrap().to_lowercase();
    let ns = obj["metadata"]["namespace"].as_str();
    let mut got = c
        .get(&kind, ns, obj["metadata"]["name"].as_str().unwrap())
        .unwrap();
    got["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    got
}

/// Whether the server refuses replacing `before` by `after` (a server-side dry run).
fn server_refuses(c: &Cluster, after: &Value) -> (bool, String) {
    let o = c.kubectl(
        &["replace", "--dry-run=server", "-f", "-"],
        Some(&after.to_string()),
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (!o.status.success(), err)
}

fn edited(v: &Value, f: impl FnOnce(&mut Value)) -> Value {
    let mut v = v.clone();
    f(&mut v);
    v
}

fn pod(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
            "securityContext": {"privileged": true}}]}})
}

fn pod_template(name: &str) -> Value {
    json!({"metadata": {"labels": {"app": name}}, "spec": {"containers": [
        {"name": "app", "image": "registry.k8s.io/pause:3.10"}]}})
}

/// A named edit of an object.
type Edit = (&'static str, Box<dyn Fn(&mut Value)>);

/// Each object, and edits of it: kubeharden's verdict must be the server's.
fn cases(ns: &str) -> Vec<(Value, Vec<Edit>)> {
    let sel = |name: &str| json!({"matchLabels": {"app": name}});
    vec![
        (
            pod(ns, "bare"),
            vec![
                (
                    "image",
                    Box::new(|v: &mut Value| {
                        v["spec"]["containers"][0]["image"] = json!("registry.k8s.io/pause:3.9")
                    }),
                ),
                (
                    "securityContext",
                    Box::new(|v| {
                        v["spec"]["containers"][0]["securityContext"]["privileged"] = json!(false)
                    }),
                ),
                (
                    "add a toleration",
                    Box::new(|v| {
                        v["spec"]["tolerations"]
                            .as_array_mut()
                            .unwrap()
                            .push(json!({"key": "k", "operator": "Exists", "effect": "NoSchedule"}))
                    }),
                ),
                (
                    "activeDeadlineSeconds",
                    Box::new(|v| v["spec"]["activeDeadlineSeconds"] = json!(600)),
                ),
                (
                    "labels",
                    Box::new(|v| v["metadata"]["labels"] = json!({"team": "a"})),
                ),
                (
                    "hostNetwork",
                    Box::new(|v| v["spec"]["hostNetwork"] = json!(true)),
                ),
            ],
        ),
        (
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job", "namespace": ns},
                "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}}}),
            vec![
                (
                    "parallelism",
                    Box::new(|v: &mut Value| v["spec"]["parallelism"] = json!(2)),
                ),
                (
                    "template securityContext",
                    Box::new(|v| {
                        v["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
                            json!({"runAsNonRoot": true})
                    }),
                ),
                (
                    "completionMode",
                    Box::new(|v| v["spec"]["completionMode"] = json!("Indexed")),
                ),
                (
                    "activeDeadlineSeconds",
                    Box::new(|v| v["spec"]["activeDeadlineSeconds"] = json!(60)),
                ),
            ],
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": ns},
                "spec": {"serviceName": "db", "selector": sel("db"), "template": pod_template("db"),
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
            vec![
                (
                    "replicas",
                    Box::new(|v: &mut Value| v["spec"]["replicas"] = json!(3)),
                ),
                (
                    "template",
                    Box::new(|v| {
                        v["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
                            json!({"runAsNonRoot": true})
                    }),
                ),
                (
                    "volumeClaimTemplates",
                    Box::new(|v| {
                        v["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
                            json!("2Gi")
                    }),
                ),
                (
                    "serviceName",
                    Box::new(|v| v["spec"]["serviceName"] = json!("db2")),
                ),
                (
                    "podManagementPolicy",
                    Box::new(|v| v["spec"]["podManagementPolicy"] = json!("Parallel")),
                ),
                (
                    "minReadySeconds",
                    Box::new(|v| v["spec"]["minReadySeconds"] = json!(5)),
                ),
            ],
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                "spec": {"selector": sel("web"), "template": pod_template("web")}}),
            vec![
                (
                    "template",
                    Box::new(|v: &mut Value| {
                        v["spec"]["template"]["spec"]["hostNetwork"] = json!(false)
                    }),
                ),
                (
                    "selector",
                    Box::new(|v| {
                        v["spec"]["selector"] = json!({"matchLabels": {"app": "web", "tier": "x"}});
                        v["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
                    }),
                ),
            ],
        ),
        (
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            vec![
                (
                    "ports",
                    Box::new(|v: &mut Value| v["spec"]["ports"][0]["port"] = json!(8080)),
                ),
                (
                    "clusterIP",
                    Box::new(|v| {
                        // Another address of the service range (10.0.0.0/24 here).
                        let ip = v["spec"]["clusterIP"].as_str().unwrap().to_string();
                        let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
                        let other = format!("10.0.0.{}", if last == 200 { 201 } else { 200 });
                        v["spec"]["clusterIP"] = json!(other);
                        v["spec"]["clusterIPs"] = json!([other]);
                    }),
                ),
            ],
        ),
        (
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}),
            vec![
                (
                    "subjects",
                    Box::new(|v: &mut Value| v["subjects"][0]["name"] = json!("bob")),
                ),
                (
                    "roleRef",
                    Box::new(|v| v["roleRef"]["name"] = json!("edit")),
                ),
            ],
        ),
        (
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "frozen", "namespace": ns},
                "immutable": true, "data": {"k": "dg=="}}),
            vec![
                (
                    "labels",
                    Box::new(|v: &mut Value| v["metadata"]["labels"] = json!({"a": "b"})),
                ),
                ("data", Box::new(|v| v["data"]["k"] = json!("dzI="))),
            ],
        ),
    ]
}

#[test]
#[allow(clippy::print_stderr)]
fn the_immutable_field_rules_agree_with_the_server() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-immutable", &[]);
    let (mut compared, mut refused_by_server) = (0, 0);
    let mut disagreements = Vec::new();
    for (obj, edits) in cases(&ns) {
        let before = create(c, &obj);
        for (what, edit) in edits {
            let after = edited(&before, |v| {
                if v["spec"]["tolerations"].is_null() && what == "add a toleration" {
                    v["spec"]["tolerations"] = json!([]);
                }
                edit(v)
            });
            let kind = obj["kind"].as_str().unwrap();
            let ours = refused_change(kind, &before, &after);
            let (server, message) = server_refuses(c, &after);
            compared += 1;
            refused_by_server += usize::from(server);
            if server != ours.is_some() {
                disagreements.push(format!(
                    "{kind} {what}: server refuses: {server} ({}), kubeharden: {ours:?}",
                    message.trim()
                ));
            }
        }
    }
    eprintln!(
        "immutable fields: {compared} updates compared with the server ({refused_by_server} refused), {} disagreements",
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

fn bare_job(ns: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": ns},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {"app": "migrate"}}, "spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": false,
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                "securityContext": {"privileged": true}}]}}}})
}

#[test]
fn a_bare_pod_and_job_are_re_created_only_when_asked_and_rollback_re_creates_the_backups() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-recreate", &[]);
    let before_pod = create(c, &pod(&ns, "debug"));
    let before_job = create(c, &bare_job(&ns));
    let me = c.admin();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let b = bundle.to_str().unwrap();
    // Pod security only: the image policy is cluster-scoped, and other tests on the shared
    // server write their own.
    let r = kh(
        &me,
        &["-n", &ns, "fix", "--area", "pod-security", "--out", b],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let recreated: Vec<String> = std::fs::read_dir(bundle.join("recreate"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(recreated.len(), 2, "{recreated:?}");
    assert!(
        recreated
            .iter()
            .any(|f| f.contains("-pod-") && f.contains("-debug-"))
    );
    assert!(
        recreated
            .iter()
            .any(|f| f.contains("-job-") && f.contains("-migrate-"))
    );
    let readme = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    assert!(
        readme.contains("kubectl replace --force -f recreate/"),
        "{readme}"
    );
    let kustomization = std::fs::read_to_string(bundle.join("kustomization.yaml")).unwrap();
    assert!(!kustomization.contains("recreate/"), "{kustomization}");

    // --yes alone does not delete anything.
    let r = kh(&me, &["apply", "--yes", b]);
    assert!(
        r.stderr
            .contains("confirm it on its own, or pass --allow-recreate"),
        "{}",
        r.stderr
    );
    let uid =
        |kind: &str, name: &str| c.get(kind, Some(&ns), name).unwrap()["metadata"]["uid"].clone();
    assert_eq!(uid("pod", "debug"), before_pod["metadata"]["uid"]);
    assert_eq!(uid("job", "migrate"), before_job["metadata"]["uid"]);

    let start = c.audit(&me.user).len();
    let r = kh(&me, &["apply", "--yes", "--allow-recreate", b]);
    let events = c.audit(&me.user)[start..].to_vec();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(refused(&events).is_empty(), "{:#?}", refused(&events));
    assert_each_write_dry_run_first(&events);
    for kind in ["pods", "jobs"] {
        let deletes = events
            .iter()
            .filter(|e| e["verb"] == "delete" && e["objectRef"]["resource"] == kind)
            .count();
        assert_eq!(deletes, 2, "{kind}: a dry-run delete, then the delete");
    }
    let pod_now = c.get("pod", Some(&ns), "debug").unwrap();
    assert_ne!(pod_now["metadata"]["uid"], before_pod["metadata"]["uid"]);
    assert_eq!(
        pod_now["spec"]["containers"][0]["securityContext"]["privileged"],
        json!(false)
    );
    assert_eq!(
        pod_now["spec"]["containers"][0]["securityContext"]["runAsNonRoot"],
        json!(true)
    );
    let job_now = c.get("job", Some(&ns), "migrate").unwrap();
    assert_ne!(job_now["metadata"]["uid"], before_job["metadata"]["uid"]);
    assert_eq!(
        job_now["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"],
        json!(false)
    );
    // The server chose the new Job's selector from its own uid.
    assert_eq!(
        job_now["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        job_now["metadata"]["uid"]
    );
    let (scan, _) = super::scan::scan_json(&me.kubeconfig, &["-n", &ns]);
    let left: Vec<&Value> = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fixable"] == true && f["area"] == "pod-security")
        .collect();
    assert!(left.is_empty(), "{left:#?}");

    let start = c.audit(&me.user).len();
    let r = kh(&me, &["rollback", "--yes", "--allow-recreate", b]);
    let events = c.audit(&me.user)[start..].to_vec();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(refused(&events).is_empty(), "{:#?}", refused(&events));
    assert_each_write_dry_run_first(&events);
    let same_spec = |kind: &str, name: &str, before: &Value| {
        let mut now = comparable(c.get(kind, Some(&ns), name).unwrap());
        let mut was = comparable(before.clone());
        for v in [&mut now, &mut was] {
            v.as_object_mut().unwrap().remove("status");
            // A re-created Job gets a selector of its own uid: the labels say which.
            if kind == "job" {
                v["spec"].as_object_mut().unwrap().remove("selector");
                let labels = v["spec"]["template"]["metadata"]["labels"]
                    .as_object_mut()
                    .unwrap();
                labels.retain(|k, _| !k.contains("controller-uid"));
                v["metadata"]["labels"]
                    .as_object_mut()
                    .unwrap()
                    .retain(|k, _| !k.contains("controller-uid"));
            }
        }
        assert_eq!(now, was, "{kind} {name} after rollback");
    };
    same_spec("pod", "debug", &before_pod);
    same_spec("job", "migrate", &before_job);
}

#[test]
fn what_cannot_be_re_created_stays_out_of_the_bundle_with_the_step_by_hand() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-byhand", &[]);
    // A finished Job: re-creating it would run it again.
    let job = bare_job(&ns);
    create(c, &job);
    let status = json!({"status": {"conditions": [
        {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Complete", "status": "True", "lastProbeTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:01Z", "succeeded": 1}});
    c.kubectl_ok(
        &[
            "patch",
            "job",
            "migrate",
            "-n",
            &ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
        None,
    );
    let me = c.admin();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let b = bundle.to_str().unwrap();
    // Pod security only: the image policy is cluster-scoped, and other tests on the shared
    // server write their own.
    let r = kh(
        &me,
        &["-n", &ns, "fix", "--area", "pod-security", "--out", b],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!bundle.join("recreate").exists());
    let manifest = std::fs::read_to_string(bundle.join("manifest.json")).unwrap();
    assert!(!manifest.contains("\"Job\""), "{manifest}");
    let readme = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    assert!(
        readme.contains("Job/")
            && readme.contains("re-creating it would run it again: change the manifest"),
        "{readme}"
    );
    // And the server agrees the in-place change would be refused.
    let (refuses, _) = server_refuses(
        c,
        &edited(&c.get("job", Some(&ns), "migrate").unwrap(), |v| {
            v["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] =
                json!(false)
        }),
    );
    assert!(refuses);
}

#[test]
fn in_the_tui_a_bare_pods_fix_is_shown_dry_run_and_confirmed_as_a_re_create() {
    use crate::e2e::Tmux;
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-tui-recreate", &[]);
    let before = create(c, &pod(&ns, "debug"));
    let me = c.admin();
    let home = tempfile::tempdir().unwrap();
    let command = format!(
        "cd {home} && env HOME={home} XDG_DATA_HOME={home}/data KUBECONFIG= {bin} --kubeconfig {kc} -n {ns}",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_kubeharden"),
        kc = me.kubeconfig.display()
    );
    let tmux = Tmux::start(format!("kh-real-recreate-{}", std::process::id()), &command);
    tmux.wait_for("objects");
    tmux.keys(&["3"]);
    tmux.wait_for("Pod security");
    tmux.keys(&[
        "/", "p", "r", "i", "v", "i", "l", "e", "g", "e", "d", "Enter", "Enter",
    ]);
    tmux.wait_for("Pod security · finding");
    tmux.keys(&["f"]);
    let s = tmux.wait_for("Change 1/1: recreate of Pod");
    assert!(s.contains("y deletes the live one and creates this"), "{s}");
    tmux.keys(&["d"]);
    let s = tmux.wait_for("dry run passed");
    assert!(s.contains("Server dry run"), "{s}");
    assert_eq!(
        c.get("pod", Some(&ns), "debug").unwrap()["metadata"]["uid"],
        before["metadata"]["uid"],
        "d writes nothing"
    );
    tmux.keys(&["y"]);
    let s = tmux.wait_for("confirm");
    assert!(s.contains("recreate: DELETED and created again"), "{s}");
    tmux.keys(&["y"]);
    let s = tmux.wait_for("Results of the last run");
    assert!(s.contains("Pod") && s.contains("/debug: Applied"), "{s}");
    let now = c.get("pod", Some(&ns), "debug").unwrap();
    assert_ne!(now["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        now["spec"]["containers"][0]["securityContext"]["privileged"],
        json!(false)
    );
    tmux.keys(&["Escape", "q"]);
}
