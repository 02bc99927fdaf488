//! RBAC with the server as the oracle: a deterministic generator writes Roles, ClusterRoles
//! (aggregated ones too), RoleBindings and ClusterRoleBindings into a dedicated server, then
//! a grid of identities × requests is asked of the server (SubjectAccessReview) and of
//! kubeharden (`model::rbac::allows` over the inventory a live scan reads). Every
//! disagreement is listed and fails the test.

use super::Cluster;
use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use kubeharden::model::Inventory;
use kubeharden::model::rbac::{self, Request, Subject};
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

const NAMESPACES: &[&str] = &["kh-a", "kh-b", "kh-c"];
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

/// The generated objects, in creation order (namespaces first).
pub struct Generated {
    pub objects: Vec<Value>,
    pub roles: usize,
    pub cluster_roles: usize,
    pub role_bindings: usize,
    pub cluster_role_bindings: usize,
}

pub fn generate(seed: u64) -> Generated {
    let mut rng = Rng::new(seed);
    let mut objects: Vec<Value> = NAMESPACES
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect();
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
    // Plain ClusterRoles, some labelled for aggregation.
    let mut cluster_roles: Vec<(String, Value, Vec<Value>)> = Vec::new();
    for i in 0..8 {
        let mut rules: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| resource_rule(&mut rng))
            .collect();
        if rng.chance(35) {
            rules.push(url_rule(&mut rng));
        }
        let label = ["x", "y", "z"][i % 3];
        let labels = json!({"kh-test/agg": label});
        cluster_roles.push((format!("kh-cr-{i}"), labels, rules));
    }
    // Aggregated ClusterRoles. No controller-manager runs on the test server, so the
    // aggregation controller never fills their rules: the test does it as the controller
    // would, `rules` = the union of the rules of every ClusterRole a selector matches (the
    // role itself left out; nested aggregation through the already filled rules). The labels
    // are the test's own, so no built-in ClusterRole is selected.
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
    ];
    let label_of = |labels: &Value| labels["kh-test/agg"].as_str().map(str::to_string);
    let selects = |selectors: &Value, label: &Option<String>| {
        selectors.as_array().unwrap().iter().any(|s| {
            let l = label.as_deref();
            s["matchLabels"]["kh-test/agg"]
                .as_str()
                .is_some_and(|v| Some(v) == l)
                || s["matchExpressions"].as_array().is_some_and(|es| {
                    es.iter().all(|e| {
                        e["values"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|v| v.as_str() == l)
                    })
                })
        })
    };
    for (name, selectors, labels) in aggregations {
        let mut rules: Vec<Value> = Vec::new();
        let mut sources: Vec<&(String, Value, Vec<Value>)> = cluster_roles
            .iter()
            .filter(|(_, l, _)| selects(selectors, &label_of(l)))
            .collect();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, _, rs) in sources {
            for r in rs {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
        cluster_roles.push((name.to_string(), labels.clone(), rules));
        objects.push(json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "aggregationRule": {"clusterRoleSelectors": selectors},
            "rules": cluster_roles.last().unwrap().2}));
    }
    for (name, labels, rules) in &cluster_roles {
        if !name.starts_with("kh-agg") {
            objects.push(json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
                "metadata": {"name": name, "labels": labels}, "rules": rules}));
        }
    }
    let cr_names: Vec<String> = cluster_roles.iter().map(|c| c.0.clone()).collect();
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
                _ => json!({"kind": "ClusterRole", "name": rng.pick(&cr_names)}),
            };
            objects.push(json!({"apiVersion": rbac_v1, "kind": "RoleBinding",
                "metadata": {"name": format!("rb-{i}"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_ref["kind"], "name": role_ref["name"]},
                "subjects": subjects(&mut rng, true)}));
            role_bindings += 1;
        }
    }
    let mut cluster_role_bindings = 0;
    for i in 0..6 {
        objects.push(json!({"apiVersion": rbac_v1, "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("kh-crb-{i}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": rng.pick(&cr_names)},
            "subjects": subjects(&mut rng, false)}));
        cluster_role_bindings += 1;
    }
    Generated {
        objects,
        roles: roles.len(),
        cluster_roles: cluster_roles.len(),
        role_bindings,
        cluster_role_bindings,
    }
}

/// A caller: the user name and groups the server sees, and the identities kubeharden
/// matches subjects against.
struct Caller {
    user: String,
    groups: Vec<String>,
    identities: Vec<Subject>,
}

fn callers() -> Vec<Caller> {
    let mut out = Vec::new();
    for (user, groups) in [
        ("alice", vec!["team-x"]),
        ("bob", vec!["team-y"]),
        ("carol", vec![]),
    ] {
        let mut groups: Vec<String> = groups.into_iter().map(String::from).collect();
        groups.push("system:authenticated".into());
        let mut identities = vec![Subject {
            kind: "User".into(),
            name: user.into(),
            namespace: None,
        }];
        identities.extend(groups.iter().map(|g| Subject {
            kind: "Group".into(),
            name: g.clone(),
            namespace: None,
        }));
        out.push(Caller {
            user: user.into(),
            groups,
            identities,
        });
    }
    for (ns, sa) in [
        ("kh-a", "app"),
        ("kh-a", "worker"),
        ("kh-b", "app"),
        ("kh-b", "worker"),
        ("kh-c", "app"),
    ] {
        out.push(Caller {
            user: format!("system:serviceaccount:{ns}:{sa}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            identities: rbac::service_account_identities(ns, sa),
        });
    }
    out
}

/// One question of the grid: the attributes, owned.
#[derive(Debug, Clone)]
enum Ask {
    Resource {
        verb: &'static str,
        group: &'static str,
        resource: &'static str,
        subresource: &'static str,
        name: &'static str,
        namespace: Option<&'static str>,
    },
    NonResource {
        verb: &'static str,
        path: &'static str,
    },
}

impl Ask {
    fn request(&self) -> Request<'_> {
        match *self {
            Ask::Resource {
                verb,
                group,
                resource,
                subresource,
                name,
                namespace,
            } => Request::Resource {
                verb,
                group,
                resource,
                subresource,
                name,
                namespace,
            },
            Ask::NonResource { verb, path } => Request::NonResource { verb, path },
        }
    }
}

fn grid() -> Vec<Ask> {
    let targets: &[(&str, &str, &str)] = &[
        ("", "pods", ""),
        ("", "pods", "log"),
        ("", "pods", "exec"),
        ("apps", "deployments", ""),
        ("apps", "deployments", "scale"),
        ("", "secrets", ""),
        ("batch", "jobs", ""),
        ("rbac.authorization.k8s.io", "roles", ""),
        ("", "nodes", ""),
    ];
    let mut out = Vec::new();
    for verb in ["get", "list", "create", "delete", "patch", "escalate"] {
        for &(group, resource, subresource) in targets {
            for name in ["", "a", "c"] {
                for namespace in [Some("kh-a"), Some("kh-b"), Some("kh-c"), None] {
                    out.push(Ask::Resource {
                        verb,
                        group,
                        resource,
                        subresource,
                        name,
                        namespace,
                    });
                }
            }
        }
    }
    for verb in ["get", "post", "delete"] {
        for path in [
            "/healthz",
            "/healthz/etcd",
            "/metrics",
            "/metrics/cadvisor",
            "/logs/x",
            "/version",
            "/api",
            "/apis/apps",
        ] {
            out.push(Ask::NonResource { verb, path });
        }
    }
    out
}

fn review(caller: &Caller, ask: &Ask) -> SubjectAccessReview {
    let s = |x: &str| (!x.is_empty()).then(|| x.to_string());
    let mut spec = SubjectAccessReviewSpec {
        user: Some(caller.user.clone()),
        groups: Some(caller.groups.clone()),
        ..Default::default()
    };
    match *ask {
        Ask::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            namespace,
        } => {
            spec.resource_attributes = Some(ResourceAttributes {
                verb: s(verb),
                group: Some(group.to_string()),
                resource: s(resource),
                subresource: s(subresource),
                name: s(name),
                namespace: namespace.map(str::to_string),
                ..Default::default()
            })
        }
        Ask::NonResource { verb, path } => {
            spec.non_resource_attributes = Some(NonResourceAttributes {
                verb: s(verb),
                path: s(path),
            })
        }
    }
    SubjectAccessReview {
        spec,
        ..Default::default()
    }
}

/// The admin's client and the inventory a live scan of the cluster reads.
pub async fn client_and_inventory(c: &Cluster) -> (kube::Client, Inventory) {
    let opts = kubeharden::source::ClusterOptions {
        kubeconfig: Some(c.kubeconfig.clone()),
        ..Default::default()
    };
    let conn = kubeharden::source::live::connect(&opts).await.unwrap();
    let loaded = kubeharden::source::live::load_with(conn.client.clone(), conn.info, None, &|_| {})
        .await
        .unwrap();
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    (conn.client, Inventory::new(loaded.objects))
}

#[test]
#[allow(clippy::print_stderr)]
fn the_server_and_kubeharden_agree_on_every_access_review() {
    let Some(c) = super::dedicated() else { return };
    let started = std::time::Instant::now();
    let seed = 0x6b68_7262_6163;
    let generated = generate(seed);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": generated.objects});
    c.kubectl_ok(&["create", "-f", "-"], Some(&list.to_string()));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let callers = callers();
    let grid = grid();
    let (compared, disagreements) = rt.block_on(async {
        let (client, inv) = client_and_inventory(&c).await;
        let api: Api<SubjectAccessReview> = Api::all(client);
        let pairs: Vec<(&Caller, &Ask)> = callers
            .iter()
            .flat_map(|c| grid.iter().map(move |a| (c, a)))
            .collect();
        let answers: Vec<(&Caller, &Ask, bool)> = futures::stream::iter(pairs)
            .map(|(caller, ask)| {
                let api = api.clone();
                async move {
                    let r = api
                        .create(&PostParams::default(), &review(caller, ask))
                        .await
                        .unwrap();
                    let status = r.status.unwrap();
                    assert!(status.evaluation_error.is_none(), "{status:?}");
                    (caller, ask, status.allowed)
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let mut disagreements = Vec::new();
        for (caller, ask, server) in &answers {
            let ours = rbac::allows(&inv, &caller.identities, &ask.request());
            if ours != *server {
                disagreements.push(format!(
                    "{} {ask:?}: server {}, kubeharden {}",
                    caller.user,
                    if *server { "allows" } else { "denies" },
                    if ours { "allows" } else { "denies" },
                ));
            }
        }
        let allowed = answers.iter().filter(|a| a.2).count();
        eprintln!(
            "rbac differential (seed {seed:#x}): {} Roles, {} ClusterRoles, {} RoleBindings, {} ClusterRoleBindings; {} SubjectAccessReviews compared ({allowed} allowed), {} disagreements, {:.1}s",
            generated.roles,
            generated.cluster_roles,
            generated.role_bindings,
            generated.cluster_role_bindings,
            answers.len(),
            disagreements.len(),
            started.elapsed().as_secs_f64()
        );
        // A grid where everything is allowed or nothing is would prove little.
        assert!(allowed > answers.len() / 20 && allowed < answers.len() / 2, "{allowed}");
        (answers.len(), disagreements)
    });
    assert!(compared > 5000, "{compared}");
    assert!(
        disagreements.is_empty(),
        "{} of {compared} access reviews disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
