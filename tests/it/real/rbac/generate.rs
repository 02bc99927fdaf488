//! The generator: Roles, ClusterRoles (aggregated ones too), RoleBindings (of Roles,
//! ClusterRoles, missing roles) and ClusterRoleBindings, with subjects of every kind, rules
//! with resourceNames, subresources, wildcards and nonResourceURLs. Deterministic per seed.

use serde_json::{Value, json};

/// A small deterministic PRNG (xorshift64*), so a failure is reproduced by the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// 1 to `max` distinct items.
    fn some<T: Clone + PartialEq>(&mut self, items: &[T], max: usize) -> Vec<T> {
        let n = 1 + self.below(max);
        let mut out = Vec::new();
        for _ in 0..n {
            let x = self.pick(items).clone();
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }
}

pub const NAMESPACES: &[&str] = &["kh-a", "kh-b", "kh-c"];
const VERBS: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete", "*", "escalate",
];
const GROUPS: &[&str] = &["", "apps", "batch", "rbac.authorization.k8s.io", "*"];
const RESOURCES: &[&str] = &[
    "pods",
    "pods/log",
    "pods/*",
    "*/scale",
    "deployments",
    "deployments/scale",
    "secrets",
    "jobs",
    "roles",
    "nodes",
    "namespaces",
    "*",
];
const NAMES: &[&str] = &["a", "b"];
const URLS: &[&str] = &["/healthz", "/metrics/*", "/metrics", "/logs*", "*"];

fn resource_rule(rng: &mut Rng) -> Value {
    // Wildcard verbs and resources are rarer, so that the grid is not allowed everywhere.
    let verbs: Vec<&str> = rng.some(VERBS, 3);
    let resources: Vec<&str> = rng.some(RESOURCES, 3);
    let mut r = json!({
        "apiGroups": rng.some(GROUPS, 2),
        "resources": resources,
        "verbs": verbs,
    });
    if rng.chance(25) {
        r["resourceNames"] = json!(rng.some(NAMES, 2));
    }
    r
}

fn url_rule(rng: &mut Rng) -> Value {
    json!({"nonResourceURLs": rng.some(URLS, 2), "verbs": rng.some(&["get", "post", "*"], 2)})
}

/// The subjects a binding names. `ServiceAccount` without a namespace is allowed only in a
/// RoleBinding (it means the binding's namespace).
fn subjects(rng: &mut Rng, namespaced: bool) -> Vec<Value> {
    let user =
        |n: &str| json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": n});
    let group =
        |n: &str| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": n});
    let mut pool = vec![
        user("alice"),
        user("bob"),
        user("carol"),
        // The user name a service account's token authenticates as.
        user("system:serviceaccount:kh-b:worker"),
        group("team-x"),
        group("team-y"),
        group("system:serviceaccounts:kh-a"),
        json!({"kind": "ServiceAccount", "name": "app", "namespace": "kh-a"}),
        json!({"kind": "ServiceAccount", "name": "worker", "namespace": "kh-b"}),
        json!({"kind": "ServiceAccount", "name": "app", "namespace": "kh-c"}),
    ];
    if namespaced {
        pool.push(json!({"kind": "ServiceAccount", "name": "app"}));
        pool.push(json!({"kind": "ServiceAccount", "name": "worker"}));
        // An empty namespace is no namespace (the server drops it; manifests keep it).
        pool.push(json!({"kind": "ServiceAccount", "name": "app", "namespace": ""}));
    }
    let mut out = rng.some(&pool, 3);
    // Groups every caller of a kind is in: rare, or everything is allowed to everyone.
    if rng.chance(10) {
        out.push(group("system:authenticated"));
    } else if rng.chance(12) {
        out.push(group("system:serviceaccounts"));
    }
    out
}

/// The generated objects, in creation order, and their namespaces.
pub struct Generated {
    pub namespaces: Vec<Value>,
    pub objects: Vec<Value>,
    pub roles: usize,
    pub cluster_roles: usize,
    pub role_bindings: usize,
    pub cluster_role_bindings: usize,
}

pub fn generate(seed: u64) -> Generated {
    let mut rng = Rng::new(seed);
    let namespaces: Vec<Value> = NAMESPACES
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect();
    let mut objects: Vec<Value> = Vec::new();
    let rbac_v1 = "rbac.authorization.k8s.io/v1";
    let mut roles = Vec::new();
    for ns in NAMESPACES {
        for i in 0..3 {
            let rules: Vec<Value> = (0..1 + rng.below(3))
                .map(|_| resource_rule(&mut rng))
                .collect();
            let name = format!("role-{i}");
            objects.push(json!({"apiVersion": rbac_v1, "kind": "Role",
                "metadata": {"name": name, "namespace": ns}, "rules": rules}));
            roles.push((ns.to_string(), name));
        }
    }
    // Plain ClusterRoles, labelled for aggregation (and some for exclusion from it).
    let mut cluster_roles: Vec<String> = Vec::new();
    for i in 0..8 {
        let mut rules: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| resource_rule(&mut rng))
            .collect();
        if rng.chance(35) {
            rules.push(url_rule(&mut rng));
        }
        let label = ["x", "y", "z"][i % 3];
        let mut labels = json!({"kh-test/agg": label});
        if i % 4 == 3 {
            labels["kh-test/skip"] = json!("true");
        }
        let name = format!("kh-cr-{i}");
        objects.push(json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels}, "rules": rules}));
        cluster_roles.push(name);
    }
    // Aggregated ClusterRoles, written as a user writes them: no rules. No controller-manager
    // runs on the test server, so `aggregate` below fills them as its aggregation controller
    // would. `kh-agg-all` selects every ClusterRole (an empty selector), cluster-admin too.
    let aggregations: &[(&str, Value, Value)] = &[
        (
            "kh-agg-x",
            json!([{"matchLabels": {"kh-test/agg": "x"}}]),
            json!({"kh-test/agg": "nested"}),
        ),
        (
            "kh-agg-yz",
            json!([{"matchExpressions": [{"key": "kh-test/agg", "operator": "In", "values": ["y", "z"]}]}]),
            json!({}),
        ),
        (
            "kh-agg-nested",
            json!([{"matchLabels": {"kh-test/agg": "nested"}}, {"matchLabels": {"kh-test/agg": "z"}}]),
            json!({}),
        ),
        (
            "kh-agg-not-x",
            json!([{"matchExpressions": [
                {"key": "kh-test/agg", "operator": "Exists"},
                {"key": "kh-test/agg", "operator": "NotIn", "values": ["x"]},
                {"key": "kh-test/skip", "operator": "DoesNotExist"}]}]),
            json!({}),
        ),
        ("kh-agg-all", json!([{}]), json!({})),
    ];
    for (name, selectors, labels) in aggregations {
        objects.push(json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "aggregationRule": {"clusterRoleSelectors": selectors}}));
        if *name != "kh-agg-all" {
            cluster_roles.push(name.to_string());
        }
    }
    let cr_names = cluster_roles.clone();
    // The built-in aggregated roles may be bound by RoleBindings (their rules filled by
    // `aggregate` too).
    let mut rb_cluster_roles = cr_names.clone();
    rb_cluster_roles.extend(["admin", "edit", "view"].map(String::from));
    let mut role_bindings = 0;
    for ns in NAMESPACES {
        for i in 0..5 {
            let role_ref = match rng.below(5) {
                0 | 1 => {
                    let own: Vec<&(String, String)> =
                        roles.iter().filter(|(n, _)| n == ns).collect();
                    json!({"kind": "Role", "name": rng.pick(&own).1})
                }
                // A role that does not exist grants nothing.
                2 if rng.chance(30) => json!({"kind": "Role", "name": "missing"}),
                _ => json!({"kind": "ClusterRole", "name": rng.pick(&rb_cluster_roles)}),
            };
            objects.push(json!({"apiVersion": rbac_v1, "kind": "RoleBinding",
                "metadata": {"name": format!("rb-{i}"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_ref["kind"], "name": role_ref["name"]},
                "subjects": subjects(&mut rng, true)}));
            role_bindings += 1;
        }
    }
    // A narrow grant to a service account subject with an empty namespace, which means the
    // binding's namespace.
    objects.push(json!({"apiVersion": rbac_v1, "kind": "Role",
        "metadata": {"name": "escalate-c", "namespace": "kh-b"},
        "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"], "resourceNames": ["c"]}]}));
    objects.push(json!({"apiVersion": rbac_v1, "kind": "RoleBinding",
        "metadata": {"name": "escalate-c", "namespace": "kh-b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "escalate-c"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": ""}]}));
    role_bindings += 1;
    // Everything, but to one user in one namespace.
    objects.push(json!({"apiVersion": rbac_v1, "kind": "RoleBinding",
        "metadata": {"name": "all", "namespace": "kh-c"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kh-agg-all"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "dave"}]}));
    role_bindings += 1;
    let mut cluster_role_bindings = 0;
    for i in 0..6 {
        objects.push(json!({"apiVersion": rbac_v1, "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("kh-crb-{i}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": rng.pick(&cr_names)},
            "subjects": subjects(&mut rng, false)}));
        cluster_role_bindings += 1;
    }
    Generated {
        namespaces,
        objects,
        roles: roles.len() + 1,
        cluster_roles: cluster_roles.len() + 1,
        role_bindings,
        cluster_role_bindings,
    }
}
