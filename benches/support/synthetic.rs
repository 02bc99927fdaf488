//! The synthetic cluster generator shared by `examples/gen_cluster.rs` and the benchmarks:
//! N namespaces of realistic objects, deterministic for a seed. About 17.5 objects per
//! namespace: workloads of every kind (with ReplicaSets and Pods owned by them), Services,
//! ServiceAccounts, RBAC, NetworkPolicies, ConfigMaps and Secrets with placeholder values;
//! a third hardened, a third typical, a third misconfigured.
#![allow(dead_code, clippy::indexing_slicing)]

use std::fmt::Write as _;

/// splitmix64: small, deterministic, good enough for picking variants.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            let _ = write!(s, "{:016x}", self.next());
        }
        s.truncate(len);
        s
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Posture {
    Hardened,
    Typical,
    Misconfigured,
}

const IMAGES: &[&str] = &[
    "registry.example.com/shop/web",
    "registry.example.com/payments/api",
    "ghcr.io/acme/worker",
    "docker.io/library/nginx",
    "quay.io/prometheus/node-exporter",
    "redis",
    "bitnami/postgresql",
];

fn image(rng: &mut Rng, posture: Posture) -> String {
    let base = IMAGES[rng.below(IMAGES.len() as u64) as usize];
    match posture {
        Posture::Hardened => format!(
            "{base}:1.{}.{}@sha256:{}",
            rng.below(20),
            rng.below(10),
            rng.hex(64)
        ),
        Posture::Typical => format!("{base}:{}.{}", 1 + rng.below(5), rng.below(30)),
        Posture::Misconfigured => {
            if rng.below(2) == 0 {
                format!("{base}:latest")
            } else {
                base.to_string()
            }
        }
    }
}

fn security(posture: Posture, indent: &str) -> String {
    match posture {
        Posture::Hardened => format!(
            "{indent}securityContext:\n{indent}  allowPrivilegeEscalation: false\n{indent}  readOnlyRootFilesystem: true\n{indent}  capabilities:\n{indent}    drop: [ALL]\n"
        ),
        Posture::Typical => String::new(),
        Posture::Misconfigured => format!(
            "{indent}securityContext:\n{indent}  privileged: true\n{indent}  capabilities:\n{indent}    add: [NET_ADMIN, SYS_TIME]\n"
        ),
    }
}

fn pod_spec(rng: &mut Rng, posture: Posture, app: &str, indent: &str) -> String {
    let mut s = String::new();
    let i = indent;
    if posture == Posture::Hardened {
        let _ = write!(
            s,
            "{i}securityContext:\n{i}  runAsNonRoot: true\n{i}  runAsUser: 10001\n{i}  seccompProfile:\n{i}    type: RuntimeDefault\n{i}automountServiceAccountToken: false\n{i}serviceAccountName: {app}\n"
        );
    }
    if posture == Posture::Misconfigured {
        let _ = write!(
            s,
            "{i}hostNetwork: true\n{i}volumes:\n{i}- name: host\n{i}  hostPath:\n{i}    path: /var/run\n"
        );
    }
    let _ = write!(
        s,
        "{i}containers:\n{i}- name: {app}\n{i}  image: {}\n{i}  ports:\n{i}  - containerPort: 8080\n{i}  resources:\n{i}    requests: {{cpu: 100m, memory: 128Mi}}\n{}",
        image(rng, posture),
        security(posture, &format!("{i}  "))
    );
    s
}

fn labels(app: &str, indent: &str) -> String {
    format!("{indent}labels:\n{indent}  app: {app}\n{indent}  app.kubernetes.io/part-of: bench\n")
}

/// One namespace's objects: its name and one YAML text per object.
pub fn namespace(rng: &mut Rng, n: usize) -> (String, Vec<String>) {
    let ns = format!("team-{n:05}");
    let posture = match n % 3 {
        0 => Posture::Hardened,
        1 => Posture::Typical,
        _ => Posture::Misconfigured,
    };
    let mut docs = Vec::new();
    let psa = match posture {
        Posture::Hardened => {
            "    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/enforce-version: v1.34\n"
        }
        Posture::Typical => "    pod-security.kubernetes.io/warn: baseline\n",
        Posture::Misconfigured => "",
    };
    docs.push(format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    kubernetes.io/metadata.name: {ns}\n{psa}"
    ));
    for d in 0..2 {
        let app = format!("web{d}");
        let uid = format!("{}-{}", rng.hex(8), rng.hex(12));
        let rs = format!("{app}-{}", rng.hex(9));
        let rs_uid = format!("{}-{}", rng.hex(8), rng.hex(12));
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  namespace: {ns}\n  uid: {uid}\n{}spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n{}    spec:\n{}",
            labels(&app, "  "),
            labels(&app, "      "),
            pod_spec(rng, posture, &app, "      ")
        ));
        docs.push(format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: {rs}\n  namespace: {ns}\n  uid: {rs_uid}\n  ownerReferences:\n  - apiVersion: apps/v1\n    kind: Deployment\n    name: {app}\n    uid: {uid}\n    controller: true\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n{}    spec:\n{}",
            labels(&app, "      "),
            pod_spec(rng, posture, &app, "      ")
        ));
        for p in 0..2 {
            docs.push(format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {rs}-{}{p}\n  namespace: {ns}\n{}  ownerReferences:\n  - apiVersion: apps/v1\n    kind: ReplicaSet\n    name: {rs}\n    uid: {rs_uid}\n    controller: true\nspec:\n{}",
                rng.hex(4),
                labels(&app, "  "),
                pod_spec(rng, posture, &app, "  ")
            ));
        }
    }
    docs.push(format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: {ns}\nspec:\n  serviceName: db\n  selector:\n    matchLabels:\n      app: db\n  template:\n    metadata:\n{}    spec:\n{}",
        labels("db", "      "),
        pod_spec(rng, posture, "db", "      ")
    ));
    docs.push(format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: report\n  namespace: {ns}\nspec:\n  schedule: \"0 {} * * *\"\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n{}        spec:\n          restartPolicy: OnFailure\n{}",
        rng.below(24),
        labels("report", "          "),
        pod_spec(rng, posture, "report", "          ")
    ));
    if n % 10 == 0 {
        docs.push(format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n{}    spec:\n{}",
            labels("agent", "      "),
            pod_spec(rng, posture, "agent", "      ")
        ));
    }
    docs.push(format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web0\n  namespace: {ns}\nspec:\n  selector:\n    app: web0\n  ports:\n  - port: 80\n    targetPort: 8080\n"
    ));
    docs.push(format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web0\n  namespace: {ns}\n{}",
        if posture == Posture::Hardened {
            "automountServiceAccountToken: false\n"
        } else {
            ""
        }
    ));
    let verbs = match posture {
        Posture::Misconfigured => "[\"*\"]",
        _ => "[get, list, watch]",
    };
    let resources = match posture {
        Posture::Misconfigured => "[secrets, pods/exec]",
        _ => "[configmaps]",
    };
    docs.push(format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: app\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: {resources}\n  verbs: {verbs}\n"
    ));
    docs.push(format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: app\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: app\nsubjects:\n- kind: ServiceAccount\n  name: web0\n  namespace: {ns}\n"
    ));
    if posture != Posture::Misconfigured {
        docs.push(format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: {ns}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress{}]\n",
            if posture == Posture::Hardened { ", Egress" } else { "" }
        ));
    }
    docs.push(format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  LOG_LEVEL: info\n  FEATURE_FLAGS: \"a,b,c\"\n"
    ));
    docs.push(format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: credentials\n  namespace: {ns}\ntype: Opaque\ndata:\n  password: UExBQ0VIT0xERVI=\n"
    ));
    (ns, docs)
}

/// A whole cluster: `(namespace, objects as YAML)` per namespace.
pub fn cluster(namespaces: usize, seed: u64) -> Vec<(String, Vec<String>)> {
    let mut rng = Rng(seed);
    (0..namespaces).map(|n| namespace(&mut rng, n)).collect()
}

/// The objects of a cluster as one `kubectl get -o yaml` style List.
pub fn as_list(cluster: &[(String, Vec<String>)]) -> String {
    let mut out =
        String::from("apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n");
    for (_, docs) in cluster {
        for d in docs {
            for (i, line) in d.lines().enumerate() {
                out.push_str(if i == 0 { "- " } else { "  " });
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
