//! A protocol-level fake Kubernetes API server for the test suite.
//!
//! It binds `127.0.0.1:0`, runs hyper on its own thread with its own tokio runtime (tests
//! stay plain `#[test]`), serves discovery and paginated LISTs from fixture objects, can be
//! told to misbehave per resource, records every request, and writes kubeconfig files.
//!
//! It also writes, well enough for an apply engine: server-side apply (with simplified field
//! ownership and conflicts), JSON patch, create, delete and `dryRun=All`; see [`write`].
//! Fixture objects are owned by the manager [`FIXTURE_MANAGER`], the way objects created with
//! client-side `kubectl apply` are.

#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The bearer token of the kubeconfig user; it must never show up in any output.
pub const FAKE_TOKEN: &str = "kh-fake-bearer-token-4f9c2a7e1d";

/// The field manager that owns every field of a fixture object added with [`FakeApi::add`].
pub const FIXTURE_MANAGER: &str = "kubectl-client-side-apply";

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
    /// Answer the next `times` write (non-GET) requests with this `Status`, then behave
    /// normally again; `usize::MAX` means always. A 429 also carries `Retry-After: 1`.
    /// GETs are unaffected.
    WriteStatus {
        code: u16,
        reason: String,
        message: String,
        times: usize,
    },
    /// Add `Warning: 299 - "<text>"` to every write answer (whatever its status). Kept apart
    /// from the other faults, so a resource can have both.
    Warning(String),
}

/// The operation a field manager last used, as in `metadata.managedFields[].operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Anything else that writes: create, JSON patch.
    Update,
}

/// One entry of an object's (simplified) field ownership.
///
/// Fields are leaf paths rendered the way the API server prints them in conflicts:
/// `.spec.replicas`, `.spec.template.spec.containers[name="web"].image`,
/// `.spec.ports[containerPort=80,protocol="TCP"].name`. Items of the lists that
/// `kubeharden::diff::list_keys` knows are addressed by their key fields (by index when an
/// item lacks them); every other list is atomic and owned as one leaf, as are empty maps.
/// `apiVersion`, `kind`, `status` and the server-set metadata (name, namespace, uid,
/// resourceVersion, ...) are never owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFields {
    pub manager: String,
    pub operation: Operation,
    /// The API version the manager wrote with (printed in conflicts of `Update` managers).
    pub api_version: String,
    pub fields: BTreeSet<String>,
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
    /// `/openapi/v3` and its group-version documents (`/openapi/v2` is not served).
    OpenApi,
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
    /// `Fault::Warning` texts per plural.
    warnings: HashMap<String, String>,
    /// Field ownership per object; an object without an entry is a fixture, owned wholly by
    /// [`FIXTURE_MANAGER`] (computed when first needed, so big fixtures cost nothing).
    managed: HashMap<ObjectKey, Vec<ManagedFields>>,
    /// Counter for uids and generated names.
    next_uid: u64,
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

    /// Makes a resource (by plural) misbehave. A `Fault::Warning` is kept apart from, and
    /// combines with, the other faults; any other fault replaces the plural's previous one.
    pub fn fault(&self, plural: &str, fault: Fault) {
        let mut st = lock(&self.state);
        match fault {
            Fault::Warning(text) => {
                st.warnings.insert(plural.to_string(), text);
            }
            other => {
                st.faults.insert(plural.to_string(), other);
            }
        }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Recorded> {
        lock(&self.state).log.clone()
    }

    /// The write (non-GET) requests so far, in order.
    pub fn writes(&self) -> Vec<Recorded> {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.method != "GET")
            .cloned()
            .collect()
    }

    /// The stored object, as a GET answers it.
    /// Removes a stored object, as if someone deleted it behind the client's back.
    pub fn remove(&self, plural: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let mut st = lock(&self.state);
        let i = st.find(plural, namespace, name)?;
        st.resource_version += 1;
        st.objects.get_mut(plural).map(|objs| objs.remove(i))
    }

    pub fn object(&self, plural: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let st = lock(&self.state);
        st.find(plural, namespace, name)
            .map(|i| st.objects[plural][i].clone())
    }

    /// The stored objects of a plural (all namespaces), in the order they were added.
    pub fn objects(&self, plural: &str) -> Vec<Value> {
        lock(&self.state)
            .objects
            .get(plural)
            .cloned()
            .unwrap_or_default()
    }

    /// The field ownership of a stored object (empty when there is no such object).
    pub fn managed_fields(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Vec<ManagedFields> {
        let st = lock(&self.state);
        match st.find(plural, namespace, name) {
            Some(i) => st.managers_of(plural, &st.objects[plural][i]),
            None => Vec::new(),
        }
    }

    /// The fields `manager` owns in a stored object (under any operation).
    pub fn owned_by(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        manager: &str,
    ) -> BTreeSet<String> {
        self.managed_fields(plural, namespace, name)
            .into_iter()
            .filter(|m| m.manager == manager)
            .flat_map(|m| m.fields)
            .collect()
    }

    /// The server's current resourceVersion (bumped by every stored write).
    pub fn resource_version(&self) -> u64 {
        lock(&self.state).resource_version
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
    status_with(code, reason, message, json!({}))
}

fn status_with(code: u16, reason: &str, message: &str, details: Value) -> Reply {
    json_reply(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
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
    if segs.first() == Some(&"openapi") {
        return (Route::OpenApi, None);
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
            body: body.clone(),
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
        let request = WriteRequest {
            method: &parts.method,
            route: &route,
            resource: resource.as_ref(),
            query: &query,
            headers: &headers,
            body: &body,
        };
        (write(&mut st, &request), None)
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
        Route::OpenApi => openapi(st, path),
        Route::Other => not_found(),
        Route::Get {
            plural,
            namespace,
            name,
        } => {
            let Some(resource) = resource else {
                return (not_found(), None);
            };
            match st.find(&plural, namespace.as_deref(), &name) {
                Some(i) => json_reply(StatusCode::OK, &st.objects[&plural][i]),
                None => object_not_found(&resource, &name),
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

// ---------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------

/// `(plural, namespace, name)` of a stored object.
type ObjectKey = (String, Option<String>, String);

impl State {
    /// The index of a stored object in `objects[plural]`.
    fn find(&self, plural: &str, namespace: Option<&str>, name: &str) -> Option<usize> {
        self.objects.get(plural)?.iter().position(|o| {
            o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                && o.pointer("/metadata/namespace").and_then(Value::as_str) == namespace
        })
    }

    /// An object's field managers; a fixture without an entry is owned by
    /// [`FIXTURE_MANAGER`] (an `Update` manager, as client-side apply is).
    fn managers_of(&self, plural: &str, object: &Value) -> Vec<ManagedFields> {
        let key = object_key(plural, object);
        if let Some(m) = self.managed.get(&key) {
            return m.clone();
        }
        vec![ManagedFields {
            manager: FIXTURE_MANAGER.to_string(),
            operation: Operation::Update,
            api_version: object["apiVersion"].as_str().unwrap_or("v1").to_string(),
            fields: leaves(object).into_keys().collect(),
        }]
    }

    fn next_uid(&mut self) -> u64 {
        self.next_uid += 1;
        self.next_uid
    }
}

fn object_key(plural: &str, object: &Value) -> ObjectKey {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    (
        plural.to_string(),
        s("/metadata/namespace"),
        s("/metadata/name").unwrap_or_default(),
    )
}

/// `deployments.apps`, or `pods` for the core group.
fn group_resource(r: &Resource) -> String {
    if r.group.is_empty() {
        r.plural.clone()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
}

/// The `details` of a Status about one object.
fn details(r: &Resource, name: &str) -> Value {
    json!({"name": name, "group": r.group, "kind": r.plural})
}

fn object_not_found(r: &Resource, name: &str) -> Reply {
    status_with(
        404,
        "NotFound",
        &format!("{} {name:?} not found", group_resource(r)),
        details(r, name),
    )
}

/// The 409 a stale `metadata.resourceVersion` gets.
fn modified_conflict(r: &Resource, name: &str) -> Reply {
    status_with(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
             please apply your changes to the latest version and try again",
            group_resource(r)
        ),
        details(r, name),
    )
}

/// A non-GET request, borrowed from [`handle`].
struct WriteRequest<'a> {
    method: &'a hyper::Method,
    route: &'a Route,
    resource: Option<&'a Resource>,
    query: &'a [(String, String)],
    headers: &'a [(String, String)],
    body: &'a [u8],
}

impl WriteRequest<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field manager of a non-apply write (the real server derives one from the user
    /// agent when the query has none; the fake says "unknown").
    fn manager(&self) -> String {
        self.param("fieldManager")
            .filter(|m| !m.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    /// The media type of the body, without parameters.
    fn content_type(&self) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    }
}

/// Answers a write: PATCH (server-side apply, JSON patch) and DELETE on an object path, POST
/// on a collection. A `Fault::WriteStatus` answers first; a `Fault::Warning` is added to any
/// answer. `dryRun=All` computes the answer a real write would give and stores nothing.
fn write(st: &mut State, req: &WriteRequest<'_>) -> Reply {
    let plural = match req.route {
        Route::Get { plural, .. } | Route::List { plural, .. } => Some(plural.clone()),
        Route::Discovery | Route::OpenApi | Route::Other => None,
    };
    let mut reply = match plural.as_deref().and_then(|p| write_fault(st, p)) {
        Some(r) => r,
        None => write_verb(st, req),
    };
    if let Some(text) = plural.as_deref().and_then(|p| st.warnings.get(p)) {
        let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = format!("299 - \"{escaped}\"").parse() {
            reply.headers_mut().append(hyper::header::WARNING, v);
        }
    }
    reply
}

/// The `Fault::WriteStatus` answer, if the plural has one left.
fn write_fault(st: &mut State, plural: &str) -> Option<Reply> {
    let Some(Fault::WriteStatus {
        code,
        reason,
        message,
        times,
    }) = st.faults.get_mut(plural)
    else {
        return None;
    };
    if *times == 0 {
        return None;
    }
    if *times != usize::MAX {
        *times -= 1;
    }
    let (code, mut reply) = (*code, status(*code, reason, message));
    if code == 429 {
        reply.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
    }
    if matches!(
        st.faults.get(plural),
        Some(Fault::WriteStatus { times: 0, .. })
    ) {
        st.faults.remove(plural);
    }
    Some(reply)
}

fn write_verb(st: &mut State, req: &WriteRequest<'_>) -> Reply {
    let Some(resource) = req.resource else {
        return not_found();
    };
    if matches!(st.faults.get(&resource.plural), Some(Fault::NotFound)) {
        return not_found();
    }
    // A DELETE may carry its dry run in the DeleteOptions body (kube's client does), which
    // the API server honours like the query parameter.
    let body_dry_run = *req.method == hyper::Method::DELETE
        && serde_json::from_slice::<Value>(req.body)
            .ok()
            .and_then(|b| b.get("dryRun").cloned())
            .is_some_and(|d| d == json!(["All"]));
    let dry_run = match req.param("dryRun") {
        None => body_dry_run,
        Some("All") => true,
        Some(other) => {
            return status(
                400,
                "BadRequest",
                &format!("Invalid dry run value: {other:?}; the only supported value is \"All\""),
            );
        }
    };
    let method = req.method;
    match req.route {
        Route::Get {
            namespace, name, ..
        } => {
            if namespace.is_some() != resource.namespaced {
                return not_found();
            }
            let ns = namespace.as_deref();
            if method == hyper::Method::PATCH {
                match req.content_type().as_str() {
                    "application/apply-patch+yaml" => {
                        server_side_apply(st, resource, ns, name, req, dry_run)
                    }
                    "application/json-patch+json" => {
                        json_patch(st, resource, ns, name, req, dry_run)
                    }
                    other => status(
                        415,
                        "UnsupportedMediaType",
                        &format!(
                            "the body of the request was in an unknown format ({other:?}): the fake \
                             API server accepts application/apply-patch+yaml and \
                             application/json-patch+json"
                        ),
                    ),
                }
            } else if method == hyper::Method::DELETE {
                delete(st, resource, ns, name, dry_run)
            } else {
                method_not_allowed(method)
            }
        }
        Route::List { namespace, .. } if method == hyper::Method::POST => {
            if namespace.is_some() != resource.namespaced {
                return if resource.namespaced {
                    method_not_allowed(method)
                } else {
                    not_found()
                };
            }
            create(st, resource, namespace.as_deref(), req, dry_run)
        }
        _ => method_not_allowed(method),
    }
}

fn method_not_allowed(method: &hyper::Method) -> Reply {
    status(
        405,
        "MethodNotAllowed",
        &format!("the fake API server does not implement {method} here"),
    )
}

/// Parses a body as YAML (JSON is YAML); it must be a map. The error is a 400's message.
fn parse_object(body: &[u8]) -> Result<Value, String> {
    match serde_yaml::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("the body is not an object".into()),
        Err(e) => Err(format!("error decoding YAML/JSON: {e}")),
    }
}

/// Checks a request body's apiVersion, kind, name and namespace against the path; the real
/// server answers 400 for each of these mismatches, with the error as the message. (POST
/// only fills in what is missing and lets the path's namespace win.)
fn check_identity(
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    body: &Value,
    strict_namespace: bool,
) -> Result<(), String> {
    let field = |p: &str| body.pointer(p).and_then(Value::as_str);
    match field("/apiVersion") {
        Some(v) if v == r.api_version() => {}
        v => {
            return Err(format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                v.unwrap_or(""),
                r.api_version()
            ));
        }
    }
    match field("/kind") {
        Some(k) if k == r.kind => {}
        k => {
            return Err(format!(
                "the kind in the data ({}) does not match the expected kind ({})",
                k.unwrap_or(""),
                r.kind
            ));
        }
    }
    if let Some(n) = field("/metadata/name").filter(|n| *n != name) {
        return Err(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ));
    }
    if strict_namespace && let Some(n) = field("/metadata/namespace").filter(|n| Some(*n) != ns) {
        return Err(format!(
            "the namespace of the provided object ({n}) does not match the namespace sent on \
             the request ({})",
            ns.unwrap_or("")
        ));
    }
    Ok(())
}

/// The metadata the server sets; a client's values are ignored (or, for resourceVersion,
/// checked first).
const SERVER_METADATA: [&str; 8] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Drops `status` and the server-set metadata from a request body.
fn strip_server_fields(v: &mut Value) {
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in SERVER_METADATA {
                meta.remove(k);
            }
        }
    }
}

fn rv_of(v: &Value) -> Option<&str> {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// `application/apply-patch+yaml`.
///
/// Simplified server-side apply: the body's leaves are the applied set. A leaf is in
/// conflict when the body sets it to a value other than the live one and another manager
/// owns it; conflicts are a 409 unless `force=true`, which moves their ownership to the
/// applier. The result is `kubeharden::diff::merge(live, body)` minus the leaves the applier
/// applied last time, omits now, and no other manager owns. The applier then owns exactly the
/// applied set; managers agreeing on a value share it.
fn server_side_apply(
    st: &mut State,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    req: &WriteRequest<'_>,
    dry_run: bool,
) -> Reply {
    let Some(manager) = req.param("fieldManager").filter(|m| !m.is_empty()) else {
        return status(
            400,
            "BadRequest",
            "fieldManager is required for apply requests",
        );
    };
    let force = req.param("force") == Some("true");
    let mut applied = match parse_object(req.body) {
        Ok(v) => v,
        Err(message) => return status(400, "BadRequest", &message),
    };
    if let Err(message) = check_identity(r, ns, name, &applied, true) {
        return status(400, "BadRequest", &message);
    }
    let wanted_rv = rv_of(&applied).map(str::to_string);
    strip_server_fields(&mut applied);
    let applied_set = leaves(&applied);
    let me = |m: &ManagedFields| m.manager == manager && m.operation == Operation::Apply;
    let entry = ManagedFields {
        manager: manager.to_string(),
        operation: Operation::Apply,
        api_version: r.api_version(),
        fields: applied_set.keys().cloned().collect(),
    };

    let Some(index) = st.find(&r.plural, ns, name) else {
        // Server-side apply creates what does not exist.
        return store_created(st, r, ns, name, applied, entry, dry_run);
    };
    let live = st.objects[&r.plural][index].clone();
    if wanted_rv.is_some_and(|rv| Some(rv.as_str()) != rv_of(&live)) {
        return modified_conflict(r, name);
    }
    let before = st.managers_of(&r.plural, &live);
    let mut managers = before.clone();

    // (field, index of the manager) for every conflict.
    let mut conflicts: Vec<(String, usize)> = Vec::new();
    for (field, path) in &applied_set {
        let old = get_at(&live, path);
        if old.is_none() || old == get_at(&applied, path) {
            continue;
        }
        for (i, m) in managers.iter().enumerate() {
            if !me(m) && m.fields.contains(field) {
                conflicts.push((field.clone(), i));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return apply_conflict(r, name, &managers, &conflicts);
    }
    for (field, i) in &conflicts {
        managers[*i].fields.remove(field);
    }

    let previous = managers
        .iter()
        .find(|m| me(m))
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let mut owned: BTreeSet<&String> = managers
        .iter()
        .filter(|m| !me(m))
        .flat_map(|m| &m.fields)
        .collect();
    let removed: BTreeSet<String> = previous
        .iter()
        .filter(|f| !applied_set.contains_key(*f) && !owned.contains(f))
        .cloned()
        .collect();
    owned.extend(applied_set.keys());
    let merged = kubeharden::diff::merge(&live, &applied);
    let result = prune(&merged, "", &mut Vec::new(), &removed, &owned, &[]).unwrap_or(merged);

    match managers.iter_mut().find(|m| me(m)) {
        Some(m) => m.fields = entry.fields,
        None => managers.push(entry),
    }
    store_updated(st, r, index, &live, result, before, managers, dry_run)
}

/// The 409 of an apply that conflicts, worded as the API server words it.
fn apply_conflict(
    r: &Resource,
    name: &str,
    managers: &[ManagedFields],
    conflicts: &[(String, usize)],
) -> Reply {
    let who = |m: &ManagedFields| match m.operation {
        Operation::Apply => format!("{:?}", m.manager),
        Operation::Update => format!("{:?} using {}", m.manager, m.api_version),
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(field, i)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", who(&managers[*i])),
                "field": field,
            })
        })
        .collect();
    let message = match conflicts {
        [(field, i)] => format!(
            "Apply failed with 1 conflict: conflict with {}: {field}",
            who(&managers[*i])
        ),
        _ => {
            let mut by_manager: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for (field, i) in conflicts {
                by_manager
                    .entry(who(&managers[*i]))
                    .or_default()
                    .push(field);
            }
            let lines: Vec<String> = by_manager
                .into_iter()
                .flat_map(|(m, fields)| {
                    std::iter::once(format!("conflicts with {m}:"))
                        .chain(fields.into_iter().map(|f| format!("- {f}")))
                })
                .collect();
            format!(
                "Apply failed with {} conflicts: {}",
                conflicts.len(),
                lines.join("\n")
            )
        }
    };
    let mut d = details(r, name);
    d["causes"] = Value::Array(causes);
    status_with(409, "Conflict", &message, d)
}

/// `application/json-patch+json`: RFC 6902 with the `json_patch` crate. The leaves it adds
/// or changes move to the query's field manager (an `Update` manager).
fn json_patch(
    st: &mut State,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    req: &WriteRequest<'_>,
    dry_run: bool,
) -> Reply {
    let Some(index) = st.find(&r.plural, ns, name) else {
        return object_not_found(r, name);
    };
    let ops: json_patch::Patch = match serde_json::from_slice(req.body) {
        Ok(p) => p,
        Err(e) => {
            return status(
                400,
                "BadRequest",
                &format!("error decoding the JSON patch: {e}"),
            );
        }
    };
    let live = st.objects[&r.plural][index].clone();
    let mut doc = live.clone();
    if let Err(e) = json_patch::patch(&mut doc, &ops) {
        return status_with(422, "Invalid", &e.to_string(), details(r, name));
    }
    // Identity cannot change; a resourceVersion the patch set is a precondition.
    for p in [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
    ] {
        if doc.pointer(p) != live.pointer(p) {
            return status_with(
                422,
                "Invalid",
                &format!(
                    "{} {name:?} is invalid: {}: Invalid value: field is immutable",
                    r.kind,
                    p.trim_start_matches('/').replace('/', ".")
                ),
                details(r, name),
            );
        }
    }
    if rv_of(&doc).is_some_and(|rv| Some(rv) != rv_of(&live)) {
        return modified_conflict(r, name);
    }
    // Server-owned parts come from the live object (status has its own subresource).
    strip_server_fields(&mut doc);
    if let (Some(map), Some(live_map)) = (doc.as_object_mut(), live.as_object()) {
        if let Some(s) = live_map.get("status") {
            map.insert("status".into(), s.clone());
        }
        if let (Some(meta), Some(live_meta)) = (
            map.get_mut("metadata").and_then(Value::as_object_mut),
            live_map.get("metadata").and_then(Value::as_object),
        ) {
            for k in SERVER_METADATA {
                if let Some(v) = live_meta.get(k) {
                    meta.insert(k.into(), v.clone());
                }
            }
        }
    }
    let touched: BTreeSet<String> = leaves(&doc)
        .into_iter()
        .filter(|(_, path)| get_at(&live, path) != get_at(&doc, path))
        .map(|(field, _)| field)
        .collect();
    let before = st.managers_of(&r.plural, &live);
    let managers = take_over(before.clone(), &req.manager(), r, touched);
    store_updated(st, r, index, &live, doc, before, managers, dry_run)
}

/// Update semantics: `fields` move to `manager` (an `Update` entry), away from everyone else.
fn take_over(
    mut managers: Vec<ManagedFields>,
    manager: &str,
    r: &Resource,
    fields: BTreeSet<String>,
) -> Vec<ManagedFields> {
    if fields.is_empty() {
        return managers;
    }
    let is_me = |m: &ManagedFields| m.manager == manager && m.operation == Operation::Update;
    for m in managers.iter_mut().filter(|m| !is_me(m)) {
        m.fields.retain(|f| !fields.contains(f));
    }
    match managers.iter_mut().find(|m| is_me(m)) {
        Some(m) => {
            m.fields.extend(fields);
            m.api_version = r.api_version();
        }
        None => managers.push(ManagedFields {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: r.api_version(),
            fields,
        }),
    }
    managers
}

/// POST on a collection: the path's namespace wins over the body's; a missing name comes
/// from `metadata.generateName`.
fn create(
    st: &mut State,
    r: &Resource,
    ns: Option<&str>,
    req: &WriteRequest<'_>,
    dry_run: bool,
) -> Reply {
    let mut object = match parse_object(req.body) {
        Ok(v) => v,
        Err(message) => return status(400, "BadRequest", &message),
    };
    let meta = |o: &Value, k: &str| {
        o.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let name = match (meta(&object, "name"), meta(&object, "generateName")) {
        (Some(n), _) => n,
        (None, Some(prefix)) => format!("{prefix}{:05x}", st.next_uid() * 7919 % 0xfffff),
        (None, None) => {
            return status_with(
                422,
                "Invalid",
                &format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName \
                     is required",
                    r.kind
                ),
                json!({"group": r.group, "kind": r.kind}),
            );
        }
    };
    for (k, v) in [("apiVersion", r.api_version()), ("kind", r.kind.clone())] {
        if object.get(k).is_none() {
            object[k] = Value::String(v);
        }
    }
    if let Err(message) = check_identity(r, ns, &name, &object, false) {
        return status(400, "BadRequest", &message);
    }
    if st.find(&r.plural, ns, &name).is_some() {
        return status_with(
            409,
            "AlreadyExists",
            &format!("{} {name:?} already exists", group_resource(r)),
            details(r, &name),
        );
    }
    strip_server_fields(&mut object);
    let entry = ManagedFields {
        manager: req.manager(),
        operation: Operation::Update,
        api_version: r.api_version(),
        fields: leaves(&object).into_keys().collect(),
    };
    store_created(st, r, ns, &name, object, entry, dry_run)
}

/// Fills in the server's metadata of a new object and stores it (unless `dry_run`): 201.
/// A dry-run create gets a uid and a creationTimestamp but no resourceVersion.
fn store_created(
    st: &mut State,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    mut object: Value,
    manager: ManagedFields,
    dry_run: bool,
) -> Reply {
    let uid = st.next_uid();
    let Some(map) = object.as_object_mut() else {
        return status(400, "BadRequest", "the body is not an object");
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(meta) = meta else {
        return status(400, "BadRequest", "metadata is not an object");
    };
    meta.insert("name".into(), json!(name));
    match ns {
        Some(ns) => meta.insert("namespace".into(), json!(ns)),
        None => meta.remove("namespace"),
    };
    meta.insert(
        "uid".into(),
        json!(format!("6b1f0c2e-0000-4000-8000-{uid:012x}")),
    );
    meta.insert("generation".into(), json!(1));
    meta.insert(
        "creationTimestamp".into(),
        json!(
            jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        ),
    );
    let mut managers = vec![manager];
    prune_managers(&mut managers, &object);
    if !dry_run {
        st.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(st.resource_version.to_string());
        st.managed.insert(object_key(&r.plural, &object), managers);
        st.objects
            .entry(r.plural.clone())
            .or_default()
            .push(object.clone());
    }
    json_reply(StatusCode::CREATED, &object)
}

/// Stores an updated object (unless `dry_run`) and answers 200 with it. A write that changes
/// neither the object nor its ownership is a no-op, as on a real server: the resourceVersion
/// stays. Any change outside metadata and status bumps `metadata.generation`.
#[allow(clippy::too_many_arguments)]
fn store_updated(
    st: &mut State,
    r: &Resource,
    index: usize,
    live: &Value,
    mut result: Value,
    before: Vec<ManagedFields>,
    mut managers: Vec<ManagedFields>,
    dry_run: bool,
) -> Reply {
    prune_managers(&mut managers, &result);
    if result == *live && managers == before {
        return json_reply(StatusCode::OK, &result);
    }
    let spec = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    if spec(&result) != spec(live)
        && let Some(g) = live.pointer("/metadata/generation").and_then(Value::as_i64)
    {
        result["metadata"]["generation"] = json!(g + 1);
    }
    if !dry_run {
        st.resource_version += 1;
        result["metadata"]["resourceVersion"] = json!(st.resource_version.to_string());
        st.managed.insert(object_key(&r.plural, &result), managers);
        if let Some(slot) = st
            .objects
            .get_mut(&r.plural)
            .and_then(|objs| objs.get_mut(index))
        {
            *slot = result.clone();
        }
    }
    json_reply(StatusCode::OK, &result)
}

/// Ownership of fields the object no longer has goes away; so do managers left with nothing.
fn prune_managers(managers: &mut Vec<ManagedFields>, object: &Value) {
    let present = leaves(object);
    for m in managers.iter_mut() {
        m.fields.retain(|f| present.contains_key(f));
    }
    managers.retain(|m| !m.fields.is_empty());
}

/// DELETE: a `Success` Status (objects are gone at once: the fake knows no finalizers).
fn delete(st: &mut State, r: &Resource, ns: Option<&str>, name: &str, dry_run: bool) -> Reply {
    let Some(index) = st.find(&r.plural, ns, name) else {
        return object_not_found(r, name);
    };
    let uid = st.objects[&r.plural][index]
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    if !dry_run {
        let object = st.objects.get_mut(&r.plural).map(|objs| objs.remove(index));
        if let Some(object) = object {
            st.managed.remove(&object_key(&r.plural, &object));
        }
        st.resource_version += 1;
    }
    let mut d = details(r, name);
    d["uid"] = uid;
    json_reply(
        StatusCode::OK,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": d,
        }),
    )
}

// ---------------------------------------------------------------------------------------
// Field paths
// ---------------------------------------------------------------------------------------

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// A map key.
    Field(String),
    /// An item of a keyed list, by its key fields (a missing `protocol` is `TCP`).
    Item(Vec<(String, Value)>),
    /// An item of a keyed list that lacks its key fields.
    Index(usize),
}

/// `.spec.template.spec.containers[name="web"].image`, as the API server prints fields.
fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Item(pairs) => {
                let keys: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push('[');
                out.push_str(&keys.join(","));
                out.push(']');
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The step to an item of a keyed list, and the names of its key fields.
fn item_step(item: &Value, keys: &[&str], index: usize) -> (Step, Vec<String>) {
    let mut pairs = Vec::with_capacity(keys.len());
    for k in keys {
        match (item.get(*k), *k) {
            (Some(v), _) => pairs.push(((*k).to_string(), v.clone())),
            (None, "protocol") => pairs.push(("protocol".into(), json!("TCP"))),
            (None, _) => return (Step::Index(index), Vec::new()),
        }
    }
    (
        Step::Item(pairs),
        keys.iter().map(|k| (*k).to_string()).collect(),
    )
}

fn item_matches(item: &Value, pairs: &[(String, Value)]) -> bool {
    pairs.iter().all(|(k, v)| match item.get(k) {
        Some(x) => x == v,
        None => k == "protocol" && v == "TCP",
    })
}

fn get_at<'a>(v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, step| match step {
        Step::Field(k) => cur.get(k),
        Step::Index(i) => cur.get(i),
        Step::Item(pairs) => cur.as_array()?.iter().find(|it| item_matches(it, pairs)),
    })
}

/// The owned leaves of an object: rendered path → path. Scalars, atomic lists and empty maps
/// are leaves; maps and keyed lists are walked into. `apiVersion`, `kind`, `status` and the
/// server-set metadata are left out.
fn leaves(v: &Value) -> BTreeMap<String, Vec<Step>> {
    fn walk(v: &Value, field: &str, path: &mut Vec<Step>, out: &mut BTreeMap<String, Vec<Step>>) {
        let keys = match v {
            Value::Array(items) if !items.is_empty() => kubeharden::diff::list_keys(field),
            _ => None,
        };
        match (v, keys) {
            (Value::Object(map), _) if !map.is_empty() => {
                for (k, child) in map {
                    let skip = match path.as_slice() {
                        [] => matches!(k.as_str(), "apiVersion" | "kind" | "status"),
                        [Step::Field(m)] if m == "metadata" => {
                            k == "name" || k == "namespace" || SERVER_METADATA.contains(&k.as_str())
                        }
                        _ => false,
                    };
                    if !skip {
                        path.push(Step::Field(k.clone()));
                        walk(child, k, path, out);
                        path.pop();
                    }
                }
            }
            (Value::Array(items), Some(keys)) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(item_step(item, keys, i).0);
                    walk(item, "", path, out);
                    path.pop();
                }
            }
            _ if path.len() == 1 && path[0] == Step::Field("metadata".into()) => {}
            _ => {
                out.insert(render(path), path.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, "", &mut Vec::new(), &mut out);
    out
}

/// `value` without the leaves in `remove`; maps and lists that the removal leaves empty go
/// too (unless `keep` has them: an empty map someone set and owns), and so does a list item
/// left with nothing but its key fields (which are never removed on their own). `exempt`
/// names the key fields when `value` is a list item.
fn prune(
    value: &Value,
    field: &str,
    path: &mut Vec<Step>,
    remove: &BTreeSet<String>,
    keep: &BTreeSet<&String>,
    exempt: &[String],
) -> Option<Value> {
    if !path.is_empty() && remove.contains(&render(path)) {
        return None;
    }
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            let mut dropped = false;
            for (k, child) in map {
                if exempt.contains(k) {
                    out.insert(k.clone(), child.clone());
                    continue;
                }
                path.push(Step::Field(k.clone()));
                match prune(child, k, path, remove, keep, &[]) {
                    Some(c) => {
                        out.insert(k.clone(), c);
                    }
                    None => dropped = true,
                }
                path.pop();
            }
            if dropped && out.is_empty() && keep.contains(&render(path)) {
                Some(Value::Object(out))
            } else if dropped && out.keys().all(|k| exempt.contains(k)) {
                None
            } else {
                Some(Value::Object(out))
            }
        }
        Value::Array(items) => {
            let Some(keys) = kubeharden::diff::list_keys(field) else {
                return Some(value.clone());
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let (step, exempt) = item_step(item, keys, i);
                path.push(step);
                if let Some(kept) = prune(item, "", path, remove, keep, &exempt) {
                    out.push(kept);
                }
                path.pop();
            }
            if out.is_empty() && !items.is_empty() {
                None
            } else {
                Some(Value::Array(out))
            }
        }
        _ => Some(value.clone()),
    }
}

// ---------------------------------------------------------------------------------------
// OpenAPI
// ---------------------------------------------------------------------------------------

/// Just enough OpenAPI v3 for `kubectl apply`: before it sends anything, kubectl checks that
/// the server supports the `fieldValidation` query parameter by looking, in the group-version
/// document, for the PATCH operation of the kind (found by its
/// `x-kubernetes-group-version-kind`) and that parameter. When it finds it, kubectl leaves
/// validation to the server and needs no schemas, so the documents have no schemas at all.
/// `/openapi/v3` lists a document per served group-version; `/openapi/v2` is a 404 (kubectl
/// only falls back to it when v3 is missing).
fn openapi(st: &State, path: &str) -> Reply {
    let served = |r: &&Resource| !matches!(st.faults.get(&r.plural), Some(Fault::NotFound));
    let gv_path = |r: &Resource| {
        if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        }
    };
    let trimmed = path.trim_end_matches('/');
    if trimmed == "/openapi/v3" {
        let mut paths = serde_json::Map::new();
        for r in st.resources.iter().filter(served) {
            let gv = gv_path(r);
            let url = format!("/openapi/v3/{gv}?hash=FAKE{}", st.resource_version);
            paths.insert(gv, json!({"serverRelativeURL": url}));
        }
        return json_reply(StatusCode::OK, &json!({"paths": paths}));
    }
    let Some(gv) = trimmed.strip_prefix("/openapi/v3/") else {
        return not_found();
    };
    let mut paths = serde_json::Map::new();
    for r in st
        .resources
        .iter()
        .filter(served)
        .filter(|r| gv_path(r) == gv)
    {
        let item = if r.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("/{gv}/{}/{{name}}", r.plural)
        };
        let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
        paths.insert(
            item,
            json!({
                "patch": {
                    "operationId": format!("patch{}", r.kind),
                    "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
                    "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
                },
            }),
        );
    }
    if paths.is_empty() {
        return not_found();
    }
    json_reply(
        StatusCode::OK,
        &json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes (fake)", "version": "v1.35.0"},
            "paths": paths,
            "components": {},
        }),
    )
}
