//! A live cluster through kubeconfig: paginated LIST calls per kind, a few kinds at once.
//!
//! Secrets are listed as metadata only (`PartialObjectMetadataList`), so their values
//! never enter the process. A kind that answers 403 or 404 is skipped with the reason.

use super::{ClusterOptions, LoadError, Loaded, Progress, Skipped, SourceInfo};
use crate::model::{Object, Origin};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use kube::{Client, Config};
use serde_json::Value;

/// Page size of every LIST call.
pub const PAGE_SIZE: u32 = 500;
/// Kinds listed at the same time.
pub const CONCURRENCY: usize = 4;
/// How often an expired `continue` token (410 Gone) restarts a list.
const RESTARTS: usize = 2;

/// A kind the checks read.
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    /// API group ("" for core).
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Resource (plural).
    pub plural: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// List as metadata only.
    pub metadata_only: bool,
}

const fn k(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> KindSpec {
    KindSpec {
        group,
        version,
        kind,
        plural,
        namespaced,
        metadata_only: false,
    }
}

/// Every kind a scan reads, in the order objects are indexed.
pub const KINDS: &[KindSpec] = &[
    k("", "v1", "Namespace", "namespaces", false),
    k("", "v1", "Pod", "pods", true),
    k("apps", "v1", "Deployment", "deployments", true),
    k("apps", "v1", "ReplicaSet", "replicasets", true),
    k("apps", "v1", "StatefulSet", "statefulsets", true),
    k("apps", "v1", "DaemonSet", "daemonsets", true),
    k("batch", "v1", "Job", "jobs", true),
    k("batch", "v1", "CronJob", "cronjobs", true),
    k(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
    ),
    k("", "v1", "ServiceAccount", "serviceaccounts", true),
    KindSpec {
        metadata_only: true,
        ..k("", "v1", "Secret", "secrets", true)
    },
    k("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    k(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
    ),
];

impl KindSpec {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: self.api_version(),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }

    /// `plural.group`, as kubectl and RBAC name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// A connected client and what it points at.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// Context, cluster and server.
    pub info: SourceInfo,
}

/// Reads the kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`) and
/// builds a client for the context. Never prints credentials.
pub async fn connect(opts: &ClusterOptions) -> Result<Connection, LoadError> {
    connect_with(opts, true).await
}

/// [`connect`], choosing whether kube's client retries 429, 503 and 504 by itself. Writers
/// turn it off and retry with their own bounds, knowing which requests are idempotent.
pub async fn connect_with(
    opts: &ClusterOptions,
    default_retry: bool,
) -> Result<Connection, LoadError> {
    let kubeconfig = match &opts.kubeconfig {
        Some(p) => Kubeconfig::read_from(p).map_err(|e| {
            LoadError::Kubeconfig(format!(
                "cannot read kubeconfig {}: {}",
                p.display(),
                kubeconfig_read_error(&e)
            ))
        })?,
        None => Kubeconfig::read().map_err(|e| {
            LoadError::Kubeconfig(format!(
                "cannot read kubeconfig (KUBECONFIG or ~/.kube/config): {}",
                kubeconfig_read_error(&e)
            ))
        })?,
    };
    let context = opts
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
        .ok_or_else(|| {
            LoadError::Kubeconfig("kubeconfig has no current-context; pass --context".into())
        })?;
    let cluster = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .ok_or_else(|| {
            LoadError::Kubeconfig(format!(
                "context {context:?} does not exist in the kubeconfig"
            ))
        })?;
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        cluster: None,
        user: None,
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| {
            LoadError::Kubeconfig(format!("kubeconfig context {context:?}: {}", short(&e)))
        })?;
    config.default_retry = default_retry;
    if let Some(t) = opts.request_timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    let server = server_display(&config.cluster_url);
    let client = Client::try_from(config).map_err(|e| {
        LoadError::Kubeconfig(format!("cannot build a client for {server}: {}", short(&e)))
    })?;
    Ok(Connection {
        client,
        info: SourceInfo::Cluster {
            context,
            cluster,
            server,
            namespace: opts.namespace.clone(),
        },
    })
}

/// The server URL without user info or query, for display.
fn server_display(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }
}

/// An error's message on one line, without the debug dump kube adds to API errors and
/// without kube's variant prefixes, followed by the causes the message does not already
/// name (so a refused connection says so instead of just "client error (Connect)").
fn short(e: &dyn std::error::Error) -> String {
    fn first_line(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        if let Some(i) = s.find(" (Status {") {
            s.truncate(i);
        }
        s.lines().next().unwrap_or("").trim().to_string()
    }
    let mut out = first_line(e);
    for prefix in ["ServiceError: ", "HyperError: "] {
        if let Some(rest) = out.strip_prefix(prefix) {
            out = rest.to_string();
        }
    }
    let mut source = e.source();
    while let Some(cause) = source {
        let line = first_line(cause);
        if !line.is_empty() && !out.contains(&line) {
            out.push_str(": ");
            out.push_str(&line);
        }
        source = cause.source();
    }
    out
}

/// Why a kubeconfig file could not be read, without kube repeating the path.
fn kubeconfig_read_error(e: &kube::config::KubeconfigError) -> String {
    match e {
        kube::config::KubeconfigError::ReadConfig(io, _) => io.to_string(),
        other => short(other),
    }
}

/// Why a kind could not be listed.
enum ListFailure {
    /// Skip the kind and go on (403, 404, other API errors).
    Skip(String),
    /// The server cannot be reached: stop the scan.
    Fatal(String),
}

/// Connects and lists every kind.
pub async fn load(
    opts: &ClusterOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Loaded, LoadError> {
    let conn = connect(opts).await?;
    load_with(conn.client, conn.info, opts.namespace.as_deref(), progress).await
}

/// Lists every kind with an existing client (used by tests with a fake server).
pub async fn load_with(
    client: Client,
    info: SourceInfo,
    namespace: Option<&str>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Loaded, LoadError> {
    let server = match &info {
        SourceInfo::Cluster { server, .. } => server.clone(),
        _ => String::new(),
    };
    let total = KINDS.len();
    let mut done = 0;
    let mut count = 0;
    let mut results = futures::stream::iter(KINDS.iter().enumerate())
        .map(|(i, spec)| {
            let client = client.clone();
            async move { (i, spec, list_kind(client, spec, namespace).await) }
        })
        .buffer_unordered(CONCURRENCY);
    let mut per_kind: Vec<Option<Result<Vec<Object>, ListFailure>>> =
        (0..total).map(|_| None).collect();
    while let Some((i, spec, result)) = results.next().await {
        done += 1;
        match &result {
            Ok(objs) => count += objs.len(),
            // The server cannot be reached: stop now rather than wait for every other
            // kind to time out too (dropping the stream cancels the lists in flight).
            Err(ListFailure::Fatal(reason)) => {
                return Err(LoadError::Cluster(format!(
                    "cannot list {} from {server}: {reason}",
                    spec.qualified()
                )));
            }
            Err(ListFailure::Skip(_)) => {}
        }
        progress(Progress {
            what: spec.kind.to_string(),
            done,
            total,
            objects: count,
        });
        if let Some(slot) = per_kind.get_mut(i) {
            *slot = Some(result);
        }
    }
    let mut out = Loaded {
        info,
        objects: Vec::with_capacity(count),
        problems: Vec::new(),
        ignored: 0,
        skipped: Vec::new(),
    };
    for (spec, result) in KINDS.iter().zip(per_kind) {
        match result {
            Some(Ok(objs)) => out.objects.extend(objs),
            Some(Err(ListFailure::Skip(reason))) => out.skipped.push(Skipped {
                kind: spec.kind.to_string(),
                reason,
            }),
            // Returned as soon as it happened, in the loop above.
            Some(Err(ListFailure::Fatal(_))) | None => {}
        }
    }
    Ok(out)
}

/// Lists one kind page by page (`limit=500`, following `continue`).
async fn list_kind(
    client: Client,
    spec: &KindSpec,
    namespace: Option<&str>,
) -> Result<Vec<Object>, ListFailure> {
    let resource = spec.resource();
    let api: Api<DynamicObject> = match (spec.namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client, ns, &resource),
        _ => Api::all_with(client, &resource),
    };
    let api_version = spec.api_version();
    let mut restarts = 0;
    'restart: loop {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut lp = ListParams::default().limit(PAGE_SIZE);
            if let (Some(ns), "Namespace") = (namespace, spec.kind) {
                // `-n NS` judges that namespace, not every other one beside it.
                lp = lp.fields(&format!("metadata.name={ns}"));
            }
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = if spec.metadata_only {
                api.list_metadata(&lp).await.map(|list| {
                    let next = list.metadata.continue_.clone();
                    let items: Vec<Value> = list
                        .items
                        .into_iter()
                        .filter_map(|m| serde_json::to_value(m).ok())
                        .collect();
                    (items, next)
                })
            } else {
                api.list(&lp).await.map(|list| {
                    let next = list.metadata.continue_.clone();
                    let items: Vec<Value> = list
                        .items
                        .into_iter()
                        .filter_map(|o| serde_json::to_value(o).ok())
                        .collect();
                    (items, next)
                })
            };
            match page {
                Ok((items, next)) => {
                    for mut item in items {
                        if let Some(map) = item.as_object_mut() {
                            map.insert("apiVersion".into(), Value::String(api_version.clone()));
                            map.insert("kind".into(), Value::String(spec.kind.to_string()));
                        }
                        if let Ok(obj) = Object::from_value(item, Origin::Cluster) {
                            objects.push(obj);
                        }
                    }
                    match next.filter(|t| !t.is_empty()) {
                        // A server (or proxy) that hands back a token it gave before
                        // would make this loop forever.
                        Some(t) if !seen.insert(t.clone()) => {
                            return Err(ListFailure::Skip(
                                "the server repeated a continue token; list stopped".into(),
                            ));
                        }
                        Some(t) => token = Some(t),
                        None => return Ok(objects),
                    }
                }
                Err(kube::Error::Api(status)) if status.code == 410 && restarts < RESTARTS => {
                    restarts += 1;
                    continue 'restart;
                }
                Err(e) => return Err(classify(spec, namespace, e)),
            }
        }
    }
}

fn classify(spec: &KindSpec, namespace: Option<&str>, e: kube::Error) -> ListFailure {
    match e {
        kube::Error::Api(status) => {
            let scope = match (spec.namespaced, namespace) {
                (true, Some(ns)) => format!(" in namespace {ns}"),
                _ => String::new(),
            };
            let message = crate::text::sanitize(status.message.lines().next().unwrap_or(""));
            match status.code {
                403 => ListFailure::Skip(format!(
                    "forbidden: needs list on {}{scope}{}",
                    spec.qualified(),
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(" ({message})")
                    }
                )),
                // Every Kubernetes API server serves the core namespaces: a 404 there is not
                // a missing kind but the wrong server (a proxy path, a web server).
                404 if spec.kind == "Namespace" => ListFailure::Fatal(format!(
                    "not a Kubernetes API server: the list of namespaces ({}) answered 404",
                    spec.qualified()
                )),
                404 => ListFailure::Skip(format!(
                    "not served by this API server ({} has no {})",
                    spec.api_version(),
                    spec.plural
                )),
                401 => ListFailure::Fatal(format!(
                    "unauthorized: the kubeconfig credentials were rejected{}",
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(" ({message})")
                    }
                )),
                code => ListFailure::Skip(format!("server error {code}: {message}")),
            }
        }
        kube::Error::SerdeError(e) => ListFailure::Skip(format!("malformed response: {e}")),
        other => ListFailure::Fatal(short(&other)),
    }
}
