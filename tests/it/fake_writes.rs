//! The fake API server's writes: server-side apply, JSON patch, create, delete, dry runs,
//! write faults, and the real `kubectl` applying against it.

use crate::fake_api::{FAKE_TOKEN, FIXTURE_MANAGER, FakeApi, Fault, Operation};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::process::{Command, Output};

const WEB: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
const PRIVILEGED: &str = ".spec.template.spec.containers[name=\"web\"].securityContext.privileged";
const APE: &str =
    ".spec.template.spec.containers[name=\"web\"].securityContext.allowPrivilegeEscalation";
const APPLY: &str = "application/apply-patch+yaml";
const JSON_PATCH: &str = "application/json-patch+json";

fn deployment(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "generation": 3,
                     "resourceVersion": "42", "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "registry.example/web:1.0",
                    "securityContext": {"privileged": true},
                }]},
            },
        },
        "status": {"replicas": 2},
    })
}

/// A partial Deployment `shop/web` whose container `web` has this securityContext.
fn web_patch(security_context: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "web", "securityContext": security_context},
        ]}}},
    })
}

/// One answer of the fake.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The fake with a kube client (kube's retries off, so every answer is seen as sent).
struct Fake {
    server: FakeApi,
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

impl Fake {
    fn start() -> Fake {
        let server = FakeApi::start();
        server.add(deployment("shop", "web"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = kube::Config::new(server.url().parse().expect("url"));
        config.default_retry = false;
        // The client spawns its buffer task, so it is built inside the runtime.
        let client = {
            let _guard = runtime.enter();
            kube::Client::try_from(config).expect("client")
        };
        Fake {
            server,
            runtime,
            client,
        }
    }

    fn call(&self, method: &str, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = http::Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let request = request
            .body(kube::client::Body::from(body))
            .expect("request");
        self.runtime.block_on(async {
            let response = self.client.send(request).await.expect("send");
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            Answer {
                status,
                headers,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            }
        })
    }

    /// Server-side apply of `body` (sent as YAML) with this query.
    fn apply(&self, path: &str, query: &str, body: &Value) -> Answer {
        let yaml = serde_yaml::to_string(body).expect("YAML");
        self.call(
            "PATCH",
            &format!("{path}?{query}"),
            Some(APPLY),
            yaml.into_bytes(),
        )
    }

    fn json_patch(&self, path: &str, query: &str, ops: &Value) -> Answer {
        self.call(
            "PATCH",
            &format!("{path}?{query}"),
            Some(JSON_PATCH),
            ops.to_string().into_bytes(),
        )
    }

    fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, Vec::new())
    }

    fn web(&self) -> Value {
        self.server
            .object("deployments", Some("shop"), "web")
            .expect("shop/web is stored")
    }

    fn owned(&self, manager: &str) -> Vec<String> {
        self.server
            .owned_by("deployments", Some("shop"), "web", manager)
            .into_iter()
            .collect()
    }
}

fn container(object: &Value) -> &Value {
    &object["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn ssa_creates_what_does_not_exist_and_a_repeat_is_a_no_op() {
    let fake = Fake::start();
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop", "labels": {"team": "shop"}},
        "data": {"mode": "strict"},
    });
    let path = "/api/v1/namespaces/shop/configmaps/settings";
    let created = fake.apply(path, "fieldManager=kubeharden", &cm);
    assert_eq!(created.status, 201, "{}", created.body);
    let meta = &created.body["metadata"];
    assert!(meta["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(meta["creationTimestamp"].as_str().is_some());
    let rv = meta["resourceVersion"].as_str().expect("resourceVersion");
    assert_eq!(rv, fake.server.resource_version().to_string());
    assert!(meta.get("managedFields").is_none());

    let stored = fake
        .server
        .object("configmaps", Some("shop"), "settings")
        .expect("stored");
    assert_eq!(stored, created.body);
    assert_eq!(fake.get(path).body, stored, "GET answers the stored object");
    let managed = fake
        .server
        .managed_fields("configmaps", Some("shop"), "settings");
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager, "kubeharden");
    assert_eq!(managed[0].operation, Operation::Apply);
    assert_eq!(
        managed[0].fields.iter().collect::<Vec<_>>(),
        [".data.mode", ".metadata.labels.team"]
    );

    // The same apply again changes nothing: same object, same resourceVersion.
    let again = fake.apply(path, "fieldManager=kubeharden", &cm);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, stored);
    assert_eq!(fake.server.resource_version().to_string(), rv);
}

#[test]
fn ssa_merges_into_the_live_object_and_shares_agreeing_fields() {
    let fake = Fake::start();
    let rv = fake.server.resource_version();
    let mut body = web_patch(json!({"allowPrivilegeEscalation": false}));
    // The fixture's value: no conflict, and the two managers share the field.
    body["spec"]["replicas"] = json!(2);
    let answer = fake.apply(WEB, "fieldManager=kubeharden", &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let web = fake.web();
    assert_eq!(answer.body, web);
    assert_eq!(
        container(&web),
        &json!({"name": "web", "image": "registry.example/web:1.0",
                "securityContext": {"privileged": true, "allowPrivilegeEscalation": false}})
    );
    assert_eq!(web["status"], json!({"replicas": 2}));
    assert_eq!(web["metadata"]["uid"], "uid-web");
    assert_eq!(web["metadata"]["generation"], 4);
    assert_eq!(
        web["metadata"]["resourceVersion"],
        (rv + 1).to_string().as_str()
    );
    assert_eq!(
        fake.owned("kubeharden"),
        [
            ".spec.replicas",
            ".spec.template.spec.containers[name=\"web\"].name",
            APE,
        ]
    );
    let fixture = fake.owned(FIXTURE_MANAGER);
    assert!(fixture.contains(&".spec.replicas".to_string()));
    assert!(fixture.contains(&PRIVILEGED.to_string()));
    assert!(!fixture.contains(&APE.to_string()));
}

#[test]
fn ssa_removes_the_fields_an_applier_stops_setting() {
    let fake = Fake::start();
    let mut first = web_patch(json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true}));
    first["metadata"]["labels"] = json!({"hardened": "true"});
    first["spec"]["replicas"] = json!(2);
    assert_eq!(
        fake.apply(WEB, "fieldManager=kubeharden", &first).status,
        200
    );
    assert_eq!(fake.web()["metadata"]["labels"]["hardened"], "true");

    // The second apply omits the label, runAsNonRoot and replicas.
    let second = web_patch(json!({"allowPrivilegeEscalation": false}));
    let answer = fake.apply(WEB, "fieldManager=kubeharden", &second);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let web = fake.web();
    // Only kubeharden owned these: they are gone.
    assert_eq!(web["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(
        container(&web)["securityContext"],
        json!({"privileged": true, "allowPrivilegeEscalation": false})
    );
    // The fixture's manager still owns replicas: it stays.
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(
        fake.owned("kubeharden"),
        [".spec.template.spec.containers[name=\"web\"].name", APE]
    );
}

#[test]
fn ssa_conflicts_without_force_and_takes_over_with_force() {
    let fake = Fake::start();
    let before = fake.web();
    let rv = fake.server.resource_version();
    let body = web_patch(json!({"privileged": false}));

    let refused = fake.apply(WEB, "fieldManager=kubeharden", &body);
    assert_eq!(refused.status, 409);
    let s = &refused.body;
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["status"], "Failure");
    assert_eq!(s["reason"], "Conflict");
    assert_eq!(s["code"], 409);
    assert_eq!(
        s["message"],
        format!(
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using \
             apps/v1: {PRIVILEGED}"
        )
    );
    assert_eq!(
        s["details"]["causes"],
        json!([{
            "reason": "FieldManagerConflict",
            "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
            "field": PRIVILEGED,
        }])
    );
    assert_eq!(fake.web(), before);
    assert_eq!(fake.server.resource_version(), rv);

    // Two conflicts are listed per manager.
    let mut two = body.clone();
    two["spec"]["replicas"] = json!(5);
    let refused = fake.apply(WEB, "fieldManager=kubeharden", &two);
    assert_eq!(
        refused.body["message"],
        format!(
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using \
             apps/v1:\n- .spec.replicas\n- {PRIVILEGED}"
        )
    );

    let forced = fake.apply(WEB, "fieldManager=kubeharden&force=true", &body);
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(
        container(&fake.web())["securityContext"]["privileged"],
        false
    );
    assert!(fake.owned("kubeharden").contains(&PRIVILEGED.to_string()));
    assert!(
        !fake
            .owned(FIXTURE_MANAGER)
            .contains(&PRIVILEGED.to_string())
    );

    // kubeharden alone owns it now: omitting it removes it (the empty securityContext it
    // still applies stays).
    let answer = fake.apply(WEB, "fieldManager=kubeharden", &web_patch(json!({})));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(container(&fake.web())["securityContext"], json!({}));
    // Applying the container without any securityContext removes the map too.
    let bare = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "web", "namespace": "shop"},
                      "spec": {"template": {"spec": {"containers": [{"name": "web"}]}}}});
    assert_eq!(
        fake.apply(WEB, "fieldManager=kubeharden", &bare).status,
        200
    );
    assert_eq!(container(&fake.web()).get("securityContext"), None);
    assert_eq!(container(&fake.web())["image"], "registry.example/web:1.0");
}

#[test]
fn ssa_rejects_requests_a_real_server_rejects() {
    let fake = Fake::start();
    let body = web_patch(json!({"runAsNonRoot": true}));
    let no_manager = fake.apply(WEB, "", &body);
    assert_eq!(no_manager.status, 400);
    assert_eq!(no_manager.body["reason"], "BadRequest");
    assert_eq!(
        no_manager.body["message"],
        "fieldManager is required for apply requests"
    );

    let mut renamed = body.clone();
    renamed["metadata"]["name"] = json!("api");
    assert_eq!(fake.apply(WEB, "fieldManager=kh", &renamed).status, 400);
    let mut other_kind = body.clone();
    other_kind["kind"] = json!("StatefulSet");
    assert_eq!(fake.apply(WEB, "fieldManager=kh", &other_kind).status, 400);
    let mut stale = body.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let answer = fake.apply(WEB, "fieldManager=kh", &stale);
    assert_eq!(answer.status, 409);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified"),
        "{}",
        answer.body
    );
    assert_eq!(
        fake.apply(WEB, "fieldManager=kh&dryRun=Some", &body).status,
        400
    );
    let garbage = fake.call(
        "PATCH",
        &format!("{WEB}?fieldManager=kh"),
        Some(APPLY),
        b"spec: [unclosed".to_vec(),
    );
    assert_eq!(garbage.status, 400);
    assert_eq!(fake.web(), deployment("shop", "web"));
}

#[test]
fn dry_run_answers_like_a_write_and_stores_nothing() {
    let fake = Fake::start();
    let rv = fake.server.resource_version();
    let before = fake.web();

    // Apply over a conflict, with force.
    let body = web_patch(json!({"privileged": false}));
    let answer = fake.apply(WEB, "fieldManager=kubeharden&force=true&dryRun=All", &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        container(&answer.body)["securityContext"]["privileged"],
        false
    );
    assert_eq!(answer.body["metadata"]["generation"], 4);
    // Nothing stored: the object, its ownership and the resourceVersion stay.
    assert_eq!(answer.body["metadata"]["resourceVersion"], "42");
    assert_eq!(fake.web(), before);
    assert!(fake.owned("kubeharden").is_empty());
    // Without force, a dry run conflicts exactly like a write.
    let refused = fake.apply(WEB, "fieldManager=kubeharden&dryRun=All", &body);
    assert_eq!(refused.status, 409);

    // Apply that would create.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "new", "namespace": "shop"}, "data": {"a": "b"}});
    let cm_path = "/api/v1/namespaces/shop/configmaps/new";
    let created = fake.apply(cm_path, "fieldManager=kh&dryRun=All", &cm);
    assert_eq!(created.status, 201);
    assert_eq!(created.body["data"], json!({"a": "b"}));
    assert!(created.body["metadata"]["uid"].is_string());
    assert_eq!(fake.server.object("configmaps", Some("shop"), "new"), None);
    assert_eq!(fake.get(cm_path).status, 404);

    // POST, JSON patch and DELETE.
    let posted = fake.call(
        "POST",
        "/api/v1/namespaces/shop/configmaps?dryRun=All",
        Some("application/json"),
        cm.to_string().into_bytes(),
    );
    assert_eq!(posted.status, 201);
    assert_eq!(fake.server.object("configmaps", Some("shop"), "new"), None);
    let ops = json!([{"op": "replace", "path": "/spec/replicas", "value": 0}]);
    let patched = fake.json_patch(WEB, "dryRun=All", &ops);
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["spec"]["replicas"], 0);
    let deleted = fake.call("DELETE", &format!("{WEB}?dryRun=All"), None, Vec::new());
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["status"], "Success");

    assert_eq!(fake.web(), before);
    assert_eq!(fake.server.resource_version(), rv);
    assert!(fake.server.objects("configmaps").is_empty());
    let dry: Vec<_> = fake.server.writes();
    assert_eq!(dry.len(), 6);
    assert!(dry.iter().all(|w| w.param("dryRun") == Some("All")));
}

#[test]
fn json_patch_is_atomic_and_moves_ownership_of_what_it_changes() {
    let fake = Fake::start();
    let before = fake.web();
    let failing = json!([
        {"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": false},
        {"op": "test", "path": "/spec/replicas", "value": 5},
    ]);
    let answer = fake.json_patch(WEB, "fieldManager=kubeharden", &failing);
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["reason"], "Invalid");
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.contains("value did not match"), "{message}");
    assert_eq!(fake.web(), before);

    let bad_path = json!([{"op": "remove", "path": "/spec/template/spec/volumes/0"}]);
    let answer = fake.json_patch(WEB, "fieldManager=kubeharden", &bad_path);
    assert_eq!(answer.status, 422);
    assert!(answer.body["message"].as_str().unwrap().contains("path"));
    assert_eq!(fake.web(), before);

    let rename = json!([{"op": "replace", "path": "/metadata/name", "value": "api"}]);
    assert_eq!(fake.json_patch(WEB, "", &rename).status, 422);

    let ok = json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": false},
        {"op": "add", "path": "/metadata/labels/hardened", "value": "true"},
    ]);
    let answer = fake.json_patch(WEB, "fieldManager=kubeharden", &ok);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let web = fake.web();
    assert_eq!(answer.body, web);
    assert_eq!(container(&web)["securityContext"]["privileged"], false);
    assert_eq!(web["metadata"]["labels"]["hardened"], "true");
    let managed = fake
        .server
        .managed_fields("deployments", Some("shop"), "web");
    let kh = managed.iter().find(|m| m.manager == "kubeharden").unwrap();
    assert_eq!(kh.operation, Operation::Update);
    assert_eq!(
        kh.fields.iter().collect::<Vec<_>>(),
        [".metadata.labels.hardened", PRIVILEGED]
    );
    assert!(
        !fake
            .owned(FIXTURE_MANAGER)
            .contains(&PRIVILEGED.to_string())
    );

    // Without a fieldManager the changes go to "unknown".
    let replicas = json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]);
    assert_eq!(fake.json_patch(WEB, "", &replicas).status, 200);
    assert_eq!(fake.owned("unknown"), [".spec.replicas"]);
    // A stale resourceVersion set by the patch is a precondition that fails.
    let stale = json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}]);
    assert_eq!(fake.json_patch(WEB, "", &stale).status, 409);
    // Not found.
    let missing = "/apis/apps/v1/namespaces/shop/deployments/nope";
    let answer = fake.json_patch(missing, "", &replicas);
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.body["message"],
        "deployments.apps \"nope\" not found"
    );
}

#[test]
fn merge_and_strategic_merge_patches_are_unsupported() {
    let fake = Fake::start();
    for ct in [
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ] {
        let answer = fake.call(
            "PATCH",
            WEB,
            Some(ct),
            b"{\"spec\":{\"replicas\":0}}".to_vec(),
        );
        assert_eq!(answer.status, 415, "{ct}");
        assert_eq!(answer.body["reason"], "UnsupportedMediaType");
    }
    assert_eq!(fake.web(), deployment("shop", "web"));
}

#[test]
fn post_creates_and_delete_removes() {
    let fake = Fake::start();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings", "namespace": "elsewhere"}, "data": {"a": "b"}});
    let collection = "/api/v1/namespaces/shop/configmaps";
    let path = "/api/v1/namespaces/shop/configmaps/settings";
    let created = fake.call(
        "POST",
        &format!("{collection}?fieldManager=kubeharden"),
        Some("application/json"),
        cm.to_string().into_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["metadata"]["namespace"], "shop",
        "the path wins"
    );
    assert_eq!(created.body["metadata"]["generation"], 1);
    assert_eq!(fake.get(path).body, created.body);
    assert_eq!(
        fake.server
            .owned_by("configmaps", Some("shop"), "settings", "kubeharden")
            .into_iter()
            .collect::<Vec<_>>(),
        [".data.a"]
    );

    let again = fake.call(
        "POST",
        collection,
        Some("application/json"),
        cm.to_string().into_bytes(),
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.body["reason"], "AlreadyExists");
    assert_eq!(
        again.body["message"],
        "configmaps \"settings\" already exists"
    );

    let generated = json!({"metadata": {"generateName": "kh-"}, "data": {}});
    let answer = fake.call(
        "POST",
        collection,
        Some("application/json"),
        generated.to_string().into_bytes(),
    );
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["kind"], "ConfigMap");
    assert!(
        answer.body["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("kh-")
    );

    let deleted = fake.call("DELETE", path, None, Vec::new());
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["kind"], "Status");
    assert_eq!(deleted.body["status"], "Success");
    assert_eq!(deleted.body["details"]["name"], "settings");
    assert_eq!(
        fake.server.object("configmaps", Some("shop"), "settings"),
        None
    );
    assert_eq!(fake.get(path).status, 404);
    assert_eq!(fake.call("DELETE", path, None, Vec::new()).status, 404);

    // Cluster-scoped.
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let answer = fake.call(
        "POST",
        "/api/v1/namespaces",
        Some("application/json"),
        ns.to_string().into_bytes(),
    );
    assert_eq!(answer.status, 201);
    assert!(fake.server.object("namespaces", None, "shop").is_some());
    assert_eq!(
        fake.call("DELETE", "/api/v1/namespaces/shop", None, Vec::new())
            .status,
        200
    );
    assert!(fake.server.objects("namespaces").is_empty());
    // PUT is not implemented.
    assert_eq!(fake.call("PUT", path, None, Vec::new()).status, 405);
}

#[test]
fn write_status_fault_answers_the_next_writes_only() {
    let fake = Fake::start();
    fake.server.fault(
        "deployments",
        Fault::WriteStatus {
            code: 429,
            reason: "TooManyRequests".into(),
            message: "too many requests, please try again later".into(),
            times: 2,
        },
    );
    let body = web_patch(json!({"runAsNonRoot": true}));
    for _ in 0..2 {
        let answer = fake.apply(WEB, "fieldManager=kubeharden", &body);
        assert_eq!(answer.status, 429);
        assert_eq!(answer.body["reason"], "TooManyRequests");
        assert_eq!(answer.header("retry-after"), Some("1"));
        // GETs are unaffected and do not use up the fault.
        assert_eq!(fake.get(WEB).status, 200);
    }
    assert_eq!(
        container(&fake.web())["securityContext"]["runAsNonRoot"],
        Value::Null
    );
    let answer = fake.apply(WEB, "fieldManager=kubeharden", &body);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("retry-after"), None);
    assert_eq!(
        container(&fake.web())["securityContext"]["runAsNonRoot"],
        true
    );

    fake.server.fault(
        "deployments",
        Fault::WriteStatus {
            code: 403,
            reason: "Forbidden".into(),
            message: "deployments.apps \"web\" is forbidden: User \"ci\" cannot patch resource"
                .into(),
            times: usize::MAX,
        },
    );
    for _ in 0..3 {
        let answer = fake.call("DELETE", WEB, None, Vec::new());
        assert_eq!(answer.status, 403);
        assert_eq!(answer.body["reason"], "Forbidden");
        assert_eq!(answer.header("retry-after"), None);
    }
    assert!(
        fake.server
            .object("deployments", Some("shop"), "web")
            .is_some()
    );
    let statuses: Vec<u16> = fake.server.writes().iter().map(|w| w.status).collect();
    assert_eq!(statuses, [429, 429, 200, 403, 403, 403]);
}

#[test]
fn kube_retries_a_429_write_after_retry_after() {
    let server = FakeApi::start();
    server.add(deployment("shop", "web"));
    server.fault(
        "deployments",
        Fault::WriteStatus {
            code: 429,
            reason: "TooManyRequests".into(),
            message: "slow down".into(),
            times: 1,
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = {
        let _guard = runtime.enter();
        kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap()
    };
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client,
        "shop",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    );
    let params = kube::api::PatchParams::apply("kubeharden");
    let patch = kube::api::Patch::Apply(web_patch(json!({"runAsNonRoot": true})));
    let applied = runtime
        .block_on(api.patch("web", &params, &patch))
        .expect("applied after one retry");
    assert_eq!(applied.data["spec"]["replicas"], 2);
    let statuses: Vec<u16> = server.writes().iter().map(|w| w.status).collect();
    assert_eq!(statuses, [429, 200]);
}

#[test]
fn warnings_come_with_every_write_answer_and_with_other_faults() {
    let fake = Fake::start();
    fake.server
        .add(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    let warning = "would violate PodSecurity \"restricted:latest\": privileged (container \"web\" \
                   must not set securityContext.privileged=true)";
    fake.server
        .fault("namespaces", Fault::Warning(warning.into()));
    fake.server.fault(
        "namespaces",
        Fault::WriteStatus {
            code: 500,
            reason: "InternalError".into(),
            message: "etcdserver: request timed out".into(),
            times: 1,
        },
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop",
                    "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
    let expected = "299 - \"would violate PodSecurity \\\"restricted:latest\\\": privileged \
                    (container \\\"web\\\" must not set securityContext.privileged=true)\"";
    let failed = fake.apply("/api/v1/namespaces/shop", "fieldManager=kubeharden", &ns);
    assert_eq!(failed.status, 500);
    assert_eq!(failed.header("warning"), Some(expected));
    let labelled = fake.apply("/api/v1/namespaces/shop", "fieldManager=kubeharden", &ns);
    assert_eq!(labelled.status, 200, "{}", labelled.body);
    assert_eq!(labelled.header("warning"), Some(expected));
    assert_eq!(
        labelled.body["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    // Reads carry no warning; other resources' writes neither.
    assert_eq!(fake.get("/api/v1/namespaces/shop").header("warning"), None);
    let other = fake.apply(WEB, "fieldManager=kubeharden", &web_patch(json!({})));
    assert_eq!(other.status, 200);
    assert_eq!(other.header("warning"), None);
}

#[test]
fn writes_are_recorded_with_everything_they_carried() {
    let fake = Fake::start();
    let body = web_patch(json!({"runAsNonRoot": true}));
    fake.apply(WEB, "fieldManager=kubeharden&force=true", &body);
    fake.get(WEB);
    fake.call("DELETE", WEB, None, Vec::new());
    let writes = fake.server.writes();
    assert_eq!(writes.len(), 2);
    let (apply, delete) = (&writes[0], &writes[1]);
    assert_eq!(apply.method, "PATCH");
    assert_eq!(apply.path, WEB);
    assert_eq!(apply.content_type(), Some(APPLY));
    assert_eq!(apply.param("fieldManager"), Some("kubeharden"));
    assert_eq!(apply.param("force"), Some("true"));
    assert_eq!(apply.status, 200);
    let sent: Value = serde_yaml::from_slice(&apply.body).unwrap();
    assert_eq!(sent, body);
    assert_eq!(delete.method, "DELETE");
    assert_eq!(delete.status, 200);
    assert_eq!(fake.server.log().len(), 3);
}

// ---------------------------------------------------------------------------------------
// The real kubectl
// ---------------------------------------------------------------------------------------

/// What kubectl printed, and its exit status.
struct Kubectl {
    out: Output,
}

impl Kubectl {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// The requests, for failure messages: method, path, query and status (never headers,
    /// which carry the token).
    fn describe(server: &FakeApi) -> String {
        server
            .log()
            .iter()
            .map(|r| format!("{} {} {:?} -> {}", r.method, r.path, r.query, r.status))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs `kubectl apply --server-side --field-manager=kubeharden` with `file` against the fake.
/// No `--validate=false`: the fake serves the OpenAPI v3 kubectl checks for server-side
/// field validation, so kubectl validates the way it does against a real server.
fn kubectl_apply(server: &FakeApi, yaml: &str, extra: &[&str]) -> Kubectl {
    let kubeconfig = server.kubeconfig("kind-fake");
    let file = server.dir().join("bundle.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new("kubectl")
        .args(["apply", "--server-side", "--field-manager=kubeharden"])
        .args(extra)
        .arg("-f")
        .arg(&file)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        // A discovery cache of its own, not the user's ~/.kube/cache.
        .arg("--cache-dir")
        .arg(server.dir().join("kube-cache"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kubectl (it must be on the PATH)");
    let run = Kubectl { out };
    for text in [run.stdout(), run.stderr(), Kubectl::describe(server)] {
        assert!(!text.contains(FAKE_TOKEN), "the token leaked:\n{text}");
    }
    run
}

const BUNDLE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: web
        securityContext:
          allowPrivilegeEscalation: false
";

#[test]
fn kubectl_server_side_dry_run_apply_is_answered_and_stores_nothing() {
    let server = FakeApi::start();
    server.add(deployment("shop", "web"));
    let run = kubectl_apply(&server, BUNDLE, &["--dry-run=server"]);
    let requests = Kubectl::describe(&server);
    assert!(
        run.out.status.success(),
        "stdout: {}\nstderr: {}\n{requests}",
        run.stdout(),
        run.stderr()
    );
    assert_eq!(
        run.stdout(),
        "deployment.apps/web serverside-applied (server dry run)\n"
    );
    let writes = server.writes();
    assert_eq!(writes.len(), 1, "{requests}");
    let patch = &writes[0];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.path, WEB);
    assert_eq!(patch.content_type(), Some(APPLY));
    assert_eq!(patch.param("fieldManager"), Some("kubeharden"));
    assert_eq!(patch.param("dryRun"), Some("All"));
    assert_eq!(patch.param("force"), Some("false"));
    assert_eq!(patch.param("fieldValidation"), Some("Strict"));
    assert_eq!(patch.status, 200);
    let sent: Value = serde_yaml::from_slice(&patch.body).unwrap();
    assert_eq!(
        container(&sent)["securityContext"],
        json!({"allowPrivilegeEscalation": false})
    );
    // Discovery and the OpenAPI v3 documents it asked for were all answered.
    let reads: Vec<String> = server
        .log()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| {
            assert_eq!(r.status, 200, "{requests}");
            r.path.clone()
        })
        .collect();
    for p in [
        "/openapi/v3",
        "/openapi/v3/apis/apps/v1",
        "/api",
        "/apis",
        "/apis/apps/v1",
    ] {
        assert!(
            reads.iter().any(|r| r == p),
            "{p} not requested:\n{requests}"
        );
    }
    assert_eq!(
        server.object("deployments", Some("shop"), "web"),
        Some(deployment("shop", "web"))
    );
    assert!(
        server
            .owned_by("deployments", Some("shop"), "web", "kubeharden")
            .is_empty()
    );
}

#[test]
fn kubectl_sees_the_conflict_and_forces_it() {
    let server = FakeApi::start();
    server.add(deployment("shop", "web"));
    let bundle = BUNDLE.replace("allowPrivilegeEscalation: false", "privileged: false");
    let run = kubectl_apply(&server, &bundle, &[]);
    assert!(!run.out.status.success(), "stdout: {}", run.stdout());
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using \
             apps/v1: {PRIVILEGED}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--force-conflicts"), "{stderr}");
    assert_eq!(
        server.object("deployments", Some("shop"), "web"),
        Some(deployment("shop", "web"))
    );

    let run = kubectl_apply(&server, &bundle, &["--force-conflicts"]);
    assert!(run.out.status.success(), "stderr: {}", run.stderr());
    assert_eq!(run.stdout(), "deployment.apps/web serverside-applied\n");
    let web = server.object("deployments", Some("shop"), "web").unwrap();
    assert_eq!(container(&web)["securityContext"]["privileged"], false);
    let forced = server.writes().pop().unwrap();
    assert_eq!(forced.param("force"), Some("true"));
    assert!(
        server
            .owned_by("deployments", Some("shop"), "web", "kubeharden")
            .contains(PRIVILEGED)
    );
}
