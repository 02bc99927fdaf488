//! Where objects come from: the embedded demo cluster, manifests on disk, a live cluster.

pub mod demo;
pub mod files;
pub mod live;

use crate::model::object::NotAnObject;
use crate::model::yaml::Doc;
use crate::model::{Object, Origin, Problem};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// What to read.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    /// The demo cluster embedded in the binary.
    Demo,
    /// Files, folders and `-` (stdin).
    Files {
        /// The paths as given.
        paths: Vec<String>,
        /// Largest file read, in MiB.
        max_file_mib: u64,
    },
    /// A live cluster through kubeconfig.
    Cluster(ClusterOptions),
}

/// kubectl-style connection options.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `--kubeconfig`; otherwise `KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; otherwise the current context.
    pub context: Option<String>,
    /// `-n/--namespace`: namespaced kinds are read from this namespace only.
    pub namespace: Option<String>,
    /// `--request-timeout`.
    pub request_timeout: Option<Duration>,
}

/// A kind that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The kind, for example `Secret`.
    pub kind: String,
    /// Why, for example `forbidden: User "alice" cannot list resource "secrets" …`.
    pub reason: String,
}

/// A description of the source, for reports and the status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceInfo {
    /// The embedded demo cluster.
    Demo,
    /// Files and folders, as given.
    Files {
        /// The paths given.
        paths: Vec<String>,
        /// Number of files read.
        files: usize,
    },
    /// A live cluster.
    Cluster {
        /// The kubeconfig context.
        context: String,
        /// The cluster name in the kubeconfig.
        cluster: String,
        /// The API server URL.
        server: String,
        /// The namespace the scan was limited to, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
}

impl std::fmt::Display for SourceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceInfo::Demo => write!(f, "demo cluster"),
            SourceInfo::Files { paths, files } => {
                write!(
                    f,
                    "{} ({files} file{})",
                    paths.join(", "),
                    if *files == 1 { "" } else { "s" }
                )
            }
            SourceInfo::Cluster {
                context,
                server,
                namespace,
                ..
            } => {
                write!(f, "context {context} ({server})")?;
                if let Some(ns) = namespace {
                    write!(f, ", namespace {ns}")?;
                }
                Ok(())
            }
        }
    }
}

/// Everything a source produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The source.
    pub info: SourceInfo,
    /// The objects, in load order.
    pub objects: Vec<Object>,
    /// Documents and files that could not be used.
    pub problems: Vec<Problem>,
    /// Documents that are not Kubernetes objects (skipped and counted).
    pub ignored: usize,
    /// Kinds the source could not read.
    pub skipped: Vec<Skipped>,
}

/// A failure that stops loading altogether.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path given on the command line does not exist or cannot be read.
    #[error("{path}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// The kubeconfig is missing or broken.
    #[error("{0}")]
    Kubeconfig(String),
    /// The API server cannot be reached or answered with nonsense.
    #[error("{0}")]
    Cluster(String),
    /// `--strict`: the input had problems.
    #[error("{0} (--strict)")]
    Strict(String),
}

/// Progress of a long load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What is being read (a kind or a file).
    pub what: String,
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// Objects read so far.
    pub objects: usize,
}

/// Turns parsed documents into objects, expanding `List`s, counting foreign documents and
/// reporting broken ones. `origin` builds the origin from (document, item, line).
pub(crate) fn collect_docs(
    docs: Vec<Doc>,
    file: &str,
    origin: &dyn Fn(usize, Option<usize>, usize) -> Origin,
    out: &mut Loaded,
) {
    for doc in docs {
        match doc {
            Err(e) => out.problems.push(Problem {
                file: Some(file.to_string()),
                document: Some(e.document),
                line: e.line,
                object: None,
                message: e.message,
            }),
            Ok(doc) => collect_value(doc.value, doc.index, doc.line, origin, out),
        }
    }
}

fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value
            .get("items")
            .is_some_and(|i| i.is_array() || i.is_null())
}

fn collect_value(
    mut value: Value,
    index: usize,
    line: usize,
    origin: &dyn Fn(usize, Option<usize>, usize) -> Origin,
    out: &mut Loaded,
) {
    if is_list(&value) {
        let items = match value.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for (i, item) in items.into_iter().enumerate() {
            match Object::from_value(item, origin(index, Some(i), line)) {
                Ok(o) => out.objects.push(o),
                Err(NotAnObject::Empty) | Err(NotAnObject::Foreign(_)) => out.ignored += 1,
            }
        }
        return;
    }
    match Object::from_value(value, origin(index, None, line)) {
        Ok(o) => out.objects.push(o),
        Err(NotAnObject::Empty) => {}
        Err(NotAnObject::Foreign(_)) => out.ignored += 1,
    }
}
