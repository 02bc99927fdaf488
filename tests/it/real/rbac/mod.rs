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

mod generate;
use generate::generate;

/// A caller: the user name and groups the server sees, and the identities kubeharden
/// matches subjects against.
struct Caller {
    user: String,
    groups: Vec<String>,
    identities: Vec<Subject>,
}

fn callers() -> Vec<Caller> {
    let mut out = Vec::new();
    // The built-in identities test the bootstrap policy the server creates.
    for (user, groups) in [
        ("alice", vec!["team-x", "system:authenticated"]),
        ("bob", vec!["team-y", "system:authenticated"]),
        ("carol", vec!["system:authenticated"]),
        ("dave", vec!["system:authenticated"]),
        ("system:anonymous", vec!["system:unauthenticated"]),
        ("system:kube-scheduler", vec!["system:authenticated"]),
    ] {
        let groups: Vec<String> = groups.into_iter().map(String::from).collect();
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
        ("kube-system", "deployment-controller"),
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

/// Fills the aggregated ClusterRoles, asks the server every question of the grid for every
/// caller, and kubeharden the same over three views of the objects: the number of reviews and
/// the disagreements.
#[allow(clippy::print_stderr)]
async fn compare(
    c: &Cluster,
    generated: &generate::Generated,
    callers: &[Caller],
    grid: &[Ask],
    seed: u64,
) -> (usize, Vec<String>) {
    let started = std::time::Instant::now();
    let (client, _) = client_and_objects(c).await;
    let passes = aggregate(&client).await;
    let (client, objects) = client_and_objects(c).await;
    let views = [
        ("live", Inventory::new(objects.clone())),
        (
            "before aggregation",
            Inventory::new(before_aggregation(&objects)),
        ),
        (
            "manifests",
            Inventory::new(manifests(&generated.objects, &objects)),
        ),
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
                    "[seed {seed}, {view}] {} {ask:?}: server {}, kubeharden {}",
                    caller.user,
                    if *server { "allows" } else { "denies" },
                    if ours { "allows" } else { "denies" },
                ));
            }
        }
    }
    let allowed = answers.iter().filter(|a| a.2).count();
    eprintln!(
        "rbac differential (seed {seed}): {} Roles, {} ClusterRoles, {} RoleBindings, {} ClusterRoleBindings; {} SubjectAccessReviews ({allowed} allowed), {} disagreements over {} views; aggregation settled in {passes} passes; {:.1}s",
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
    assert!(
        allowed > answers.len() / 20 && allowed < answers.len() / 2,
        "seed {seed}: {allowed} of {} allowed",
        answers.len()
    );
    (answers.len(), disagreements)
}

#[test]
#[allow(clippy::print_stderr)]
fn the_server_and_kubeharden_agree_on_every_access_review() {
    let Some(c) = super::dedicated() else { return };
    let started = std::time::Instant::now();
    // KH_RBAC_SEEDS=1,2,3 reproduces or widens a run.
    let seeds: Vec<u64> = match std::env::var("KH_RBAC_SEEDS") {
        Ok(s) => s.split(',').map(|x| x.trim().parse().unwrap()).collect(),
        Err(_) => vec![0x6b68_7262_6163, 7, 1_000_003],
    };
    let namespaces = json!({"apiVersion": "v1", "kind": "List",
        "items": generate(1).namespaces});
    c.kubectl_ok(&["create", "-f", "-"], Some(&namespaces.to_string()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let callers = callers();
    let grid = grid();
    let mut compared = 0;
    let mut disagreements = Vec::new();
    for seed in seeds {
        let generated = generate(seed);
        let list = json!({"apiVersion": "v1", "kind": "List", "items": generated.objects});
        c.kubectl_ok(&["create", "-f", "-"], Some(&list.to_string()));
        let (n, mut found) = rt.block_on(compare(&c, &generated, &callers, &grid, seed));
        compared += n;
        disagreements.append(&mut found);
        c.kubectl_ok(
            &["delete", "--wait=false", "-f", "-"],
            Some(&list.to_string()),
        );
    }
    eprintln!(
        "rbac differential: {compared} SubjectAccessReviews compared in all, {} disagreements, {:.1}s",
        disagreements.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(compared > 5000, "{compared}");
    assert!(
        disagreements.is_empty(),
        "{} of {compared} access reviews disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
