//! A protocol-level fake Kubernetes API server for the test suite.
//!
//! It binds `127.0.0.1:0`, runs hyper on its own thread with its own tokio runtime (tests
//! stay plain `#[test]`), serves discovery and paginated LISTs from fixture objects, can be
//! told to misbehave per resource, records every request, and writes kubeconfig files.

#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The bearer token of the kubeconfig user; it must never show up in any output.
pub const FAKE_TOKEN: &str = "kh-fake-bearer-token-4f9c2a7e1d";

/// The `Accept` header kube sends for a metadata-only list.
pub const METADATA_LIST_ACCEPT: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

/// A resource the server knows: group, version, kind, plural, namespaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl Resource {
    fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Resource {
        Resource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
        }
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The resources served out of the box (the kinds kubeharden reads, and a few more).
fn builtin_resources() -> Vec<Resource> {
    let r = Resource::new;
    vec![
        r("", "v1", "Namespace", "namespaces", false),
        r("", "v1", "Pod", "pods", true),
        r("", "v1", "Service", "services", true),
        r("", "v1", "ConfigMap", "configmaps", true),
        r(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            true,
        ),
        r("", "v1", "ServiceAccount", "serviceaccounts", true),
        r("", "v1", "Secret", "secrets", true),
        r("apps", "v1", "Deployment", "deployments", true),
        r("apps", "v1", "ReplicaSet", "replicasets", true),
        r("apps", "v1", "StatefulSet", "statefulsets", true),
        r("apps", "v1", "DaemonSet", "daemonsets", true),
        r("batch", "v1", "Job", "jobs", true),
        r("batch", "v1", "CronJob", "cronjobs", true),
        r("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        r(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        ),
        r(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            false,
        ),
        r(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            false,
        ),
    ]
}

/// How a resource misbehaves.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 403 with a real `Status` (reason Forbidden).
    Forbidden,
    /// 404 `Status`, and the resource disappears from discovery.
    NotFound,
    /// 410 Gone for the next `n` requests that carry a `continue` token.
    GoneOnContinue(usize),
    /// 500 `Status` (reason InternalError).
    ServerError,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Answer normally, after this delay.
    Delay(Duration),
    /// Ignore `as=PartialObjectMetadataList` and return full objects (a broken server).
    IgnoreMetadataAccept,
    /// Close the connection without answering.
    Hangup,
    /// 401 `Status` (the credentials were rejected).
    Unauthorized,
    /// Once a list is past its first page, hand back the same `continue` token forever.
    RepeatContinue,
}

/// What the server made of a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/api`, `/api/v1`, `/apis`, `/apis/<g>/<v>`, `/version`.
    Discovery,
    /// A collection: the resource's plural and the namespace, if any.
    List {
        plural: String,
        namespace: Option<String>,
    },
    /// One object by name.
    Get {
        plural: String,
        namespace: Option<String>,
        name: String,
    },
    /// Anything else.
    Other,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The query as decoded pairs, in order.
    pub query: Vec<(String, String)>,
    /// Header names lower-case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub route: Route,
    /// The HTTP status the server answered with.
    pub status: u16,
    /// The `continue` token the server handed out in its answer, if any.
    pub issued_continue: Option<String>,
}

impl Recorded {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Type`, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// `Accept`, if any.
    pub fn accept(&self) -> Option<&str> {
        self.header("accept")
    }
}

#[derive(Default)]
struct State {
    port: u16,
    resources: Vec<Resource>,
    /// Fixture objects per plural, in the order added (apiVersion and kind kept).
    objects: HashMap<String, Vec<Value>>,
    faults: HashMap<String, Fault>,
    /// Continue token → (plural, namespace, offset).
    tokens: HashMap<String, (String, Option<String>, usize)>,
    next_token: u64,
    /// The token the list being answered handed out (taken right after, under the lock).
    issued: Option<String>,
    resource_version: u64,
    log: Vec<Recorded>,
}

/// A running fake API server; stops when dropped.
pub struct FakeApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeApi {
    /// Starts a server on `127.0.0.1:0`.
    pub fn start() -> FakeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            port: addr.port(),
            resources: builtin_resources(),
            resource_version: 1000,
            ..State::default()
        }));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("fake-api-{}", addr.port()))
            .spawn(move || serve(listener, shared, rx))
            .expect("spawn the fake API thread");
        FakeApi {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Adds a fixture object; its apiVersion and kind pick the resource.
    pub fn add(&self, object: Value) {
        let api_version = object["apiVersion"]
            .as_str()
            .expect("apiVersion")
            .to_string();
        let kind = object["kind"].as_str().expect("kind").to_string();
        let mut st = lock(&self.state);
        let plural = match st
            .resources
            .iter()
            .find(|r| r.api_version() == api_version && r.kind == kind)
        {
            Some(r) => r.plural.clone(),
            None => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
                let plural = guess_plural(&kind);
                let namespaced = object.pointer("/metadata/namespace").is_some();
                st.resources
                    .push(Resource::new(group, version, &kind, &plural, namespaced));
                plural
            }
        };
        st.resource_version += 1;
        st.objects.entry(plural).or_default().push(object);
    }

    /// Adds many fixture objects.
    pub fn add_all(&self, objects: impl IntoIterator<Item = Value>) {
        for o in objects {
            self.add(o);
        }
    }

    /// Makes a resource (by plural) misbehave.
    pub fn fault(&self, plural: &str, fault: Fault) {
        lock(&self.state).faults.insert(plural.to_string(), fault);
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Recorded> {
        lock(&self.state).log.clone()
    }

    /// The requests whose path is exactly `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.log().into_iter().filter(|r| r.path == path).collect()
    }

    /// Writes a kubeconfig with one context pointing at this server; returns its path.
    pub fn kubeconfig(&self, context: &str) -> PathBuf {
        let cluster = format!("{context}-cluster");
        self.write_kubeconfig(
            &format!("{context}.kubeconfig"),
            &[(context, &cluster, &self.url())],
            context,
        )
    }

    /// Writes a kubeconfig with several `(context, cluster, server)` entries, all using the
    /// fake bearer-token user, and `current` as the current context; returns its path.
    pub fn write_kubeconfig(
        &self,
        file: &str,
        contexts: &[(&str, &str, &str)],
        current: &str,
    ) -> PathBuf {
        let clusters: Vec<Value> = contexts
            .iter()
            .map(|(_, cluster, server)| json!({"name": cluster, "cluster": {"server": server}}))
            .collect();
        let ctxs: Vec<Value> = contexts
            .iter()
            .map(|(ctx, cluster, _)| {
                json!({"name": ctx, "context": {"cluster": cluster, "user": "ci"}})
            })
            .collect();
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": current,
            "clusters": clusters,
            "contexts": ctxs,
            "users": [{"name": "ci", "user": {"token": FAKE_TOKEN}}],
        });
        let path = self.dir.path().join(file);
        let yaml = serde_yaml::to_string(&config).expect("kubeconfig YAML");
        std::fs::write(&path, yaml).expect("write kubeconfig");
        path
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn guess_plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("fake API runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let state = Arc::clone(&state);
                            async move { handle(req, state).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    });
}

type Reply = Response<Full<Bytes>>;

fn reply(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = code;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

fn json_reply(code: StatusCode, body: &Value) -> Reply {
    reply(code, "application/json", body.to_string())
}

fn status(code: u16, reason: &str, message: &str) -> Reply {
    json_reply(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {},
            "code": code,
        }),
    )
}

fn not_found() -> Reply {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `(group, version, rest)` of an API path, or `None` for discovery and other paths.
fn split_api_path(path: &str) -> Option<(String, String, Vec<String>)> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    match segs.first().map(String::as_str) {
        Some("api") if segs.len() > 2 => Some((String::new(), segs[1].clone(), segs[2..].to_vec())),
        Some("apis") if segs.len() > 3 => {
            Some((segs[1].clone(), segs[2].clone(), segs[3..].to_vec()))
        }
        _ => None,
    }
}

fn route_of(st: &State, path: &str) -> (Route, Option<Resource>) {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let is_discovery = matches!(
        segs.as_slice(),
        ["api"] | ["api", _] | ["apis"] | ["apis", _, _] | ["version"]
    );
    if is_discovery {
        return (Route::Discovery, None);
    }
    let Some((group, version, rest)) = split_api_path(trimmed) else {
        return (Route::Other, None);
    };
    let find = |plural: &str| {
        st.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    };
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    match r.as_slice() {
        ["namespaces", ns, plural] => (
            Route::List {
                plural: (*plural).to_string(),
                namespace: Some((*ns).to_string()),
            },
            find(plural),
        ),
        ["namespaces", ns, plural, name] => (
            Route::Get {
                plural: (*plural).to_string(),
                namespace: Some((*ns).to_string()),
                name: (*name).to_string(),
            },
            find(plural),
        ),
        [plural] => (
            Route::List {
                plural: (*plural).to_string(),
                namespace: None,
            },
            find(plural),
        ),
        [plural, name] => (
            Route::Get {
                plural: (*plural).to_string(),
                namespace: None,
                name: (*name).to_string(),
            },
            find(plural),
        ),
        _ => (Route::Other, None),
    }
}

/// Answers one request; an `Err` makes hyper drop the connection without an answer.
async fn handle(req: Request<Incoming>, state: Arc<Mutex<State>>) -> Result<Reply, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (index, route, resource, delay, hangup) = {
        let mut st = lock(&state);
        let (route, resource) = route_of(&st, &path);
        st.log.push(Recorded {
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body,
            route: route.clone(),
            status: 0,
            issued_continue: None,
        });
        let delay = resource
            .as_ref()
            .and_then(|r| match st.faults.get(&r.plural) {
                Some(Fault::Delay(d)) => Some(*d),
                _ => None,
            });
        let hangup = resource
            .as_ref()
            .is_some_and(|r| matches!(st.faults.get(&r.plural), Some(Fault::Hangup)));
        (st.log.len() - 1, route, resource, delay, hangup)
    };
    if hangup {
        return Err(std::io::Error::other("hang up"));
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let accept = headers
        .iter()
        .find(|(k, _)| k == "accept")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut st = lock(&state);
    let (reply, issued) = if parts.method == hyper::Method::GET {
        respond(&mut st, route, resource, &path, &query, &accept)
    } else {
        (
            status(405, "MethodNotAllowed", "the fake API server only reads"),
            None,
        )
    };
    if let Some(entry) = st.log.get_mut(index) {
        entry.status = reply.status().as_u16();
        entry.issued_continue = issued;
    }
    Ok(reply)
}

fn respond(
    st: &mut State,
    route: Route,
    resource: Option<Resource>,
    path: &str,
    query: &[(String, String)],
    accept: &str,
) -> (Reply, Option<String>) {
    let reply = match route {
        Route::Discovery => discovery(st, path),
        Route::Other => not_found(),
        Route::Get {
            plural,
            namespace,
            name,
        } => {
            let Some(resource) = resource else {
                return (not_found(), None);
            };
            let found = st.objects.get(&plural).and_then(|objs| {
                objs.iter()
                    .find(|o| {
                        o.pointer("/metadata/name").and_then(Value::as_str) == Some(&name)
                            && o.pointer("/metadata/namespace").and_then(Value::as_str)
                                == namespace.as_deref()
                    })
                    .cloned()
            });
            match found {
                Some(o) => json_reply(StatusCode::OK, &o),
                None => status(
                    404,
                    "NotFound",
                    &format!(
                        "{} {name:?} not found",
                        if resource.group.is_empty() {
                            resource.plural.clone()
                        } else {
                            format!("{}.{}", resource.plural, resource.group)
                        }
                    ),
                ),
            }
        }
        Route::List { namespace, .. } => {
            let Some(resource) = resource else {
                return (not_found(), None);
            };
            let reply = list(st, &resource, namespace.as_deref(), query, accept);
            return (reply, st.issued.take());
        }
    };
    (reply, None)
}

fn discovery(st: &State, path: &str) -> Reply {
    let served = |r: &&Resource| !matches!(st.faults.get(&r.plural), Some(Fault::NotFound));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let resource_list = |group: &str, version: &str| {
        let resources: Vec<Value> = st
            .resources
            .iter()
            .filter(served)
            .filter(|r| r.group == group && r.version == version)
            .map(|r| {
                json!({
                    "name": r.plural,
                    "singularName": r.kind.to_ascii_lowercase(),
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                })
            })
            .collect();
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        if resources.is_empty() {
            return not_found();
        }
        json_reply(
            StatusCode::OK,
            &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    };
    match segs.as_slice() {
        ["version"] => json_reply(
            StatusCode::OK,
            &json!({"major": "1", "minor": "35", "gitVersion": "v1.35.0-fake", "platform": "linux/amd64"}),
        ),
        ["api"] => json_reply(
            StatusCode::OK,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", st.port)}],
            }),
        ),
        ["api", version] => resource_list("", version),
        ["apis"] => {
            let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for r in st
                .resources
                .iter()
                .filter(served)
                .filter(|r| !r.group.is_empty())
            {
                let versions = groups.entry(&r.group).or_default();
                if !versions.contains(&r.version.as_str()) {
                    versions.push(&r.version);
                }
            }
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|(g, vs)| {
                    let versions: Vec<Value> = vs
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                        .collect();
                    let preferred = versions.first().cloned().unwrap_or(Value::Null);
                    json!({"name": g, "versions": versions, "preferredVersion": preferred})
                })
                .collect();
            json_reply(
                StatusCode::OK,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        ["apis", group, version] => resource_list(group, version),
        _ => not_found(),
    }
}

fn list(
    st: &mut State,
    resource: &Resource,
    namespace: Option<&str>,
    query: &[(String, String)],
    accept: &str,
) -> Reply {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let token = param("continue").map(str::to_string);
    match st.faults.get(&resource.plural).cloned() {
        Some(Fault::Forbidden) => {
            let scope = match namespace {
                Some(ns) => format!("in the namespace \"{ns}\""),
                None => "at the cluster scope".to_string(),
            };
            return status(
                403,
                "Forbidden",
                &format!(
                    "{} is forbidden: User \"ci\" cannot list resource \"{}\" in API group \"{}\" {scope}",
                    resource.plural, resource.plural, resource.group
                ),
            );
        }
        Some(Fault::NotFound) => return not_found(),
        Some(Fault::Unauthorized) => return status(401, "Unauthorized", "Unauthorized"),
        Some(Fault::ServerError) => {
            return status(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: leader changed",
            );
        }
        Some(Fault::Malformed) => {
            return reply(
                StatusCode::OK,
                "application/json",
                "{\"kind\":\"PodList\",\"items\":[{\"metadata\":",
            );
        }
        Some(Fault::GoneOnContinue(n)) if n > 0 && token.is_some() => {
            st.faults
                .insert(resource.plural.clone(), Fault::GoneOnContinue(n - 1));
            return status(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter, or use the continue \
                 token in this response to retrieve the remainder of the results.",
            );
        }
        _ => {}
    }
    let ignore_metadata = matches!(
        st.faults.get(&resource.plural),
        Some(Fault::IgnoreMetadataAccept)
    );
    let offset = match &token {
        None => 0,
        Some(t) => match st.tokens.get(t) {
            Some((plural, ns, offset))
                if *plural == resource.plural && ns.as_deref() == namespace =>
            {
                *offset
            }
            _ => {
                return status(
                    400,
                    "BadRequest",
                    "continue key is not valid: illegal base64 data",
                );
            }
        },
    };
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0);
    let all: Vec<&Value> = st
        .objects
        .get(&resource.plural)
        .map(|objs| {
            objs.iter()
                .filter(|o| match namespace {
                    Some(ns) => {
                        o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
                    }
                    None => true,
                })
                .collect()
        })
        .unwrap_or_default();
    let end = match limit {
        Some(l) => (offset + l).min(all.len()),
        None => all.len(),
    };
    let metadata_only = accept.contains("as=PartialObjectMetadataList") && !ignore_metadata;
    let items: Vec<Value> = all
        .get(offset.min(all.len())..end)
        .unwrap_or_default()
        .iter()
        .map(|o| {
            if metadata_only {
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
                })
            } else {
                let mut item = (*o).clone();
                if let Some(map) = item.as_object_mut() {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                item
            }
        })
        .collect();
    let more = end < all.len();
    let mut meta = json!({"resourceVersion": st.resource_version.to_string()});
    let repeat = matches!(st.faults.get(&resource.plural), Some(Fault::RepeatContinue));
    if let (true, Some(t)) = (more && repeat, &token) {
        meta["continue"] = Value::String(t.clone());
        st.issued = Some(t.clone());
    } else if more {
        st.next_token += 1;
        let t = format!("eyJ2IjoibWV0YS5rOHMuaW8vdjEi{:06x}", st.next_token * 7919);
        st.tokens.insert(
            t.clone(),
            (resource.plural.clone(), namespace.map(str::to_string), end),
        );
        meta["continue"] = Value::String(t.clone());
        st.issued = Some(t);
        meta["remainingItemCount"] = json!(all.len() - end);
    }
    let body = if metadata_only {
        json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": items,
        })
    } else {
        json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": meta,
            "items": items,
        })
    };
    json_reply(StatusCode::OK, &body)
}
