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
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::{ListParams, PostParams};
use kubeharden::model::Inventory;
use kubeharden::model::Object;
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
        objects,
        roles: roles.len() + 1,
        cluster_roles: cluster_roles.len() + 1,
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
        ("dave", vec![]),
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

/// A `LabelSelector` as the query string `kubectl get -l` sends, so that the server decides
/// which ClusterRoles it selects.
fn selector_query(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => panic!("operator {other}"),
        });
    }
    parts.join(",")
}

/// What the aggregation controller does (kube-controller-manager's clusterroleaggregation,
/// which does not run here): the rules of every ClusterRole with an aggregationRule become
/// the union, in name order, of the rules of the ClusterRoles its selectors match (itself
/// left out), until nothing changes (nested aggregation). The server selects.
async fn aggregate(client: &kube::Client) -> usize {
    let api: Api<ClusterRole> = Api::all(client.clone());
    for pass in 1..10 {
        let mut changed = false;
        let all = api.list(&ListParams::default()).await.unwrap().items;
        for role in all.iter().filter(|r| r.aggregation_rule.is_some()) {
            let name = role.metadata.name.clone().unwrap();
            let mut rules: Vec<PolicyRule> = Vec::new();
            let selectors = role
                .aggregation_rule
                .as_ref()
                .unwrap()
                .cluster_role_selectors
                .clone();
            for s in selectors.iter().flatten() {
                let lp = ListParams::default().labels(&selector_query(s));
                let mut selected = api.list(&lp).await.unwrap().items;
                selected.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
                for other in selected
                    .iter()
                    .filter(|o| o.metadata.name.as_deref() != Some(&name))
                {
                    for r in other.rules.iter().flatten() {
                        if !rules.contains(r) {
                            rules.push(r.clone());
                        }
                    }
                }
            }
            if role.rules.clone().unwrap_or_default() != rules {
                let mut updated = role.clone();
                updated.rules = Some(rules);
                api.replace(&name, &PostParams::default(), &updated)
                    .await
                    .unwrap();
                changed = true;
            }
        }
        if !changed {
            return pass;
        }
    }
    panic!("aggregation does not settle");
}

/// The admin's client and the objects a live scan of the cluster reads.
async fn client_and_objects(c: &Cluster) -> (kube::Client, Vec<Object>) {
    let opts = kubeharden::source::ClusterOptions {
        kubeconfig: Some(c.kubeconfig.clone()),
        ..Default::default()
    };
    let conn = kubeharden::source::live::connect(&opts).await.unwrap();
    let loaded =
        kubeharden::source::live::load_with(conn.client.clone(), conn.info.clone(), None, &|_| {})
            .await
            .unwrap();
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    (conn.client, loaded.objects)
}

/// The same objects before the aggregation controller ran (as in manifests): aggregated
/// ClusterRoles without rules, so kubeharden must work out what they grant.
fn before_aggregation(objects: &[Object]) -> Vec<Object> {
    objects
        .iter()
        .cloned()
        .map(|mut o| {
            if o.kind() == "ClusterRole" && o.raw.get("aggregationRule").is_some() {
                if let Some(m) = o.raw.as_object_mut() {
                    m.remove("rules");
                }
            }
            o
        })
        .collect()
}

/// What a scan of the generated manifests (read by the files source, unnormalised by the
/// server) with the cluster's built-in objects sees: aggregated ClusterRoles unfilled.
fn manifests(generated: &[Value], live: &[Object]) -> Vec<Object> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": generated});
    std::fs::write(&path, list.to_string()).unwrap();
    let loaded = kubeharden::source::files::load_with(
        &[path.to_string_lossy().into_owned()],
        &mut std::io::empty(),
        64,
        &|_| {},
    )
    .unwrap();
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    assert_eq!(loaded.objects.len(), generated.len());
    let ours: std::collections::BTreeSet<(String, Option<String>, String)> = loaded
        .objects
        .iter()
        .map(|o| {
            (
                o.kind().to_string(),
                o.namespace().map(String::from),
                o.name().to_string(),
            )
        })
        .collect();
    let mut all: Vec<Object> = live
        .iter()
        .filter(|o| {
            !ours.contains(&(
                o.kind().to_string(),
                o.namespace().map(String::from),
                o.name().to_string(),
            ))
        })
        .cloned()
        .collect();
    all.extend(loaded.objects);
    before_aggregation(&all)
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
        let (client, _) = client_and_objects(&c).await;
        let passes = aggregate(&client).await;
        let (client, objects) = client_and_objects(&c).await;
        let views = [
            ("live", Inventory::new(objects.clone())),
            ("before aggregation", Inventory::new(before_aggregation(&objects))),
            ("manifests", Inventory::new(manifests(&generated.objects, &objects))),
        ];
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
        for (view, inv) in &views {
            for (caller, ask, server) in &answers {
                let ours = rbac::allows(inv, &caller.identities, &ask.request());
                if ours != *server {
                    disagreements.push(format!(
                        "[{view}] {} {ask:?}: server {}, kubeharden {}",
                        caller.user,
                        if *server { "allows" } else { "denies" },
                        if ours { "allows" } else { "denies" },
                    ));
                }
            }
        }
        let allowed = answers.iter().filter(|a| a.2).count();
        eprintln!(
            "rbac differential (seed {seed:#x}): {} Roles, {} ClusterRoles, {} RoleBindings, {} ClusterRoleBindings; {} SubjectAccessReviews compared ({allowed} allowed), {} disagreements over {} views; aggregation settled in {passes} passes; {:.1}s",
            generated.roles,
            generated.cluster_roles,
            generated.role_bindings,
            generated.cluster_role_bindings,
            answers.len(),
            disagreements.len(),
            views.len(),
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
