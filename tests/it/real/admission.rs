//! What kubeharden's admission changes do once the real API server enforces them: Pod
//! Security labels and the registry ValidatingAdmissionPolicy.

use super::roundtrip::kh;
use super::{Cluster, kubectl};

fn pod(ns: &str, name: &str, image: &str, security: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  containers:\n    - name: app\n      image: {image}\n{security}"
    )
}

const RESTRICTED: &str = "      securityContext:
        allowPrivilegeEscalation: false
        runAsNonRoot: true
        runAsUser: 1000
        capabilities: {drop: [ALL]}
        seccompProfile: {type: RuntimeDefault}
";

/// A Deployment with a privileged container, and the ReplicaSet and Pod its controllers made.
fn privileged_workload(c: &Cluster, ns: &str) {
    let template = "
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
          securityContext: {privileged: true}";
    let d = c.kubectl_ok(
        &["create", "-o", "jsonpath={.metadata.uid}", "-f", "-"],
        Some(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: web}}{template}"
        )),
    );
    let rs = c.kubectl_ok(
        &["create", "-o", "jsonpath={.metadata.uid}", "-f", "-"],
        Some(&format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-5d8f\n  namespace: {ns}\n  ownerReferences:\n    - {{apiVersion: apps/v1, kind: Deployment, name: web, uid: {d}, controller: true}}\nspec:\n  selector:\n    matchLabels: {{app: web}}{template}"
        )),
    );
    c.kubectl_ok(
        &["create", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-5d8f-abcde\n  namespace: {ns}\n  labels: {{app: web}}\n  ownerReferences:\n    - {{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f, uid: {rs}, controller: true}}\nspec:\n  containers:\n    - name: app\n      image: registry.k8s.io/pause:3.10\n      securityContext: {{privileged: true}}\n"
        )),
    );
}

#[test]
fn pod_security_labels_show_the_servers_warnings_then_refuse_violating_pods() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-psa", &[]);
    privileged_workload(c, &ns);
    let me = c.admin();
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("b");
    let r = kh(
        &me,
        &[
            "-n",
            &ns,
            "fix",
            "--area",
            "pod-security",
            "--out",
            b.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let manifest = std::fs::read_to_string(b.join("manifest.json")).unwrap();
    assert!(
        !manifest.contains("\"name\": \"default\""),
        "-n {ns} touches only {ns}: {manifest}"
    );

    // The dry run of the label change carries the server's own warning: the pod the old
    // ReplicaSet still runs violates the new level.
    let r = kh(&me, &["apply", "--dry-run", b.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "warning: existing pods in namespace \"{ns}\" violate the new PodSecurity enforce level"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("web-5d8f-abcde: privileged"),
        "{}",
        r.stderr
    );

    let r = kh(&me, &["apply", "--yes", b.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let labels = c.get("namespace", None, &ns).unwrap()["metadata"]["labels"].clone();
    let level = labels["pod-security.kubernetes.io/enforce"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(level == "restricted" || level == "baseline", "{labels}");

    // The server enforces it: a privileged pod is refused, a compliant one admitted.
    let bad = c.kubectl(
        &["create", "--dry-run=server", "-f", "-"],
        Some(&pod(
            &ns,
            "bad",
            "registry.k8s.io/pause:3.10",
            "      securityContext: {privileged: true}\n",
        )),
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("violates PodSecurity"),
        "{err}"
    );
    let good = c.kubectl(
        &["create", "--dry-run=server", "-f", "-"],
        Some(&pod(&ns, "good", "registry.k8s.io/pause:3.10", RESTRICTED)),
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}

/// A workload of `kind` whose containers and init containers run `image`.
fn workload(kind: &str, ns: &str, name: &str, image: &str, init_image: &str) -> String {
    let spec = format!(
        "initContainers:\n  - name: init\n    image: {init_image}\ncontainers:\n  - name: app\n    image: {image}\nrestartPolicy: {}\n",
        if matches!(kind, "Job" | "CronJob") {
            "Never"
        } else {
            "Always"
        }
    );
    let indent = |text: &str, n: usize| -> String {
        text.lines()
            .map(|l| format!("{}{l}\n", " ".repeat(n)))
            .collect()
    };
    let template = format!(
        "template:\n  metadata:\n    labels: {{app: {name}}}\n  spec:\n{}",
        indent(&spec, 4)
    );
    let selector = format!("selector:\n  matchLabels: {{app: {name}}}\n");
    let (api, body) = match kind {
        "Pod" => ("v1", format!("spec:\n{}", indent(&spec, 2))),
        "ReplicationController" => (
            "v1",
            format!(
                "spec:\n  selector: {{app: {name}}}\n{}",
                indent(&template, 2)
            ),
        ),
        "Deployment" | "ReplicaSet" | "DaemonSet" => (
            "apps/v1",
            format!("spec:\n{}{}", indent(&selector, 2), indent(&template, 2)),
        ),
        "StatefulSet" => (
            "apps/v1",
            format!(
                "spec:\n  serviceName: {name}\n{}{}",
                indent(&selector, 2),
                indent(&template, 2)
            ),
        ),
        "Job" => ("batch/v1", format!("spec:\n{}", indent(&template, 2))),
        "CronJob" => (
            "batch/v1",
            format!(
                "spec:\n  schedule: \"0 * * * *\"\n  jobTemplate:\n    spec:\n{}",
                indent(&template, 6)
            ),
        ),
        other => panic!("{other}"),
    };
    format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n{body}")
}

const KINDS: [&str; 8] = [
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

#[test]
fn the_registry_policy_warns_then_denies_and_admits_what_the_list_allows() {
    let Some(c) = super::dedicated() else { return };
    let ns = c.namespace("kh-vap", &[]);
    let me = c.admin();
    let trusted = "registry.example.com/team/";
    c.kubectl_ok(
        &["create", "-f", "-"],
        Some(&workload(
            "Deployment",
            &ns,
            "running",
            &format!("{trusted}api:1"),
            &format!("{trusted}init:1"),
        )),
    );
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("b");
    let r = kh(
        &me,
        &[
            "fix",
            "--allowed-registries",
            trusted,
            "--check",
            "KH-IMG-005",
            "--out",
            b.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = kh(&me, &["apply", "--yes", b.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        c.get(
            "validatingadmissionpolicy",
            None,
            "kubeharden-trusted-registries"
        )
        .is_some()
    );

    // Warn: admitted, with the policy's message as a warning (once the admission plugin's
    // informer has the new policy: it lags the write by a moment).
    let warned = (0..100).any(|_| {
        let o = c.kubectl(
            &["create", "--dry-run=server", "-f", "-"],
            Some(&pod(&ns, "outsider", "nginx:1.27", "")),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let warned = String::from_utf8_lossy(&o.stderr)
            .contains("images must come from the trusted registries");
        if !warned {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        warned
    });
    assert!(warned, "no warning for an image outside the list");

    // Deny, through kubeharden's own fix.
    let b2 = tmp.path().join("b2");
    let r = kh(
        &me,
        &[
            "fix",
            "--allowed-registries",
            trusted,
            "--check",
            "KH-IMG-006",
            "--out",
            b2.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = kh(&me, &["apply", "--yes", b2.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let binding = c
        .get(
            "validatingadmissionpolicybinding",
            None,
            "kubeharden-trusted-registries",
        )
        .unwrap();
    assert_eq!(
        binding["spec"]["validationActions"],
        serde_json::json!(["Deny", "Audit"])
    );

    // The admission plugin sees the new binding once its informer has it.
    let refused = (0..100).any(|_| {
        let o = c.kubectl(
            &["create", "--dry-run=server", "-f", "-"],
            Some(&pod(&ns, "outsider", "nginx:1.27", "")),
        );
        if o.status.success() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        !o.status.success()
    });
    assert!(refused, "the outsider pod is still admitted under Deny");

    // Every kind the policy matches: trusted images are admitted (a CEL error would refuse
    // them all: the policy fails closed), an outsider in any container list is refused.
    for kind in KINDS {
        let name = format!("w-{}", kind.to_lowercase());
        let ok = workload(
            kind,
            &ns,
            &name,
            &format!("{trusted}api:2"),
            &format!("{trusted}init:2"),
        );
        let o = c.kubectl(&["create", "--dry-run=server", "-f", "-"], Some(&ok));
        assert!(
            o.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for (image, init) in [
            ("docker.io/library/nginx:1", format!("{trusted}i:1")),
            (
                format!("{trusted}a:1").leak() as &str,
                "busybox".to_string(),
            ),
        ] {
            let bad = workload(kind, &ns, &name, image, &init);
            let o = c.kubectl(&["create", "--dry-run=server", "-f", "-"], Some(&bad));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                !o.status.success(),
                "{kind} with {image}/{init} was admitted"
            );
            assert!(
                err.contains("images must come from the trusted registries"),
                "{kind}: {err}"
            );
        }
    }
    // The workload that was running before is still admitted on update.
    let o = c.kubectl(
        &[
            "-n",
            &ns,
            "label",
            "deployment",
            "running",
            "touched=yes",
            "--dry-run=server",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Ephemeral containers go through their own subresource.
    c.kubectl_ok(
        &["create", "-f", "-"],
        Some(&pod(&ns, "target", &format!("{trusted}api:1"), "")),
    );
    let debug = |image: &str| {
        let body = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"target\",\"namespace\":\"{ns}\"}},\"spec\":{{\"containers\":[{{\"name\":\"app\",\"image\":\"{trusted}api:1\"}}],\"ephemeralContainers\":[{{\"name\":\"dbg\",\"image\":\"{image}\"}}]}}}}"
        );
        kubectl(
            &c.kubeconfig,
            &[
                "patch",
                "pod",
                "target",
                "-n",
                &ns,
                "--subresource=ephemeralcontainers",
                "--type=strategic",
                "--dry-run=server",
                "-p",
                &body,
            ],
            None,
        )
    };
    let o = debug("busybox");
    assert!(
        !o.status.success(),
        "an outsider ephemeral container was admitted"
    );
    let o = debug(&format!("{trusted}debug:1"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
