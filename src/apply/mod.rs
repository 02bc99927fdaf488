//! Applying a bundle to a live cluster, and rolling it back.
//!
//! For every change, in the bundle's order: read the live object and back it up, send the
//! change with `dryRun=All` and show what the server would make of it (diff and warnings),
//! ask, apply for real, read the object back, check that the fields the change set hold,
//! and re-run the checks on it. Every step is recorded in `apply-log.jsonl`, so a second
//! run resumes: changes that are applied and still in place are not sent again.
//!
//! Requests are built with kube's request builders and sent with `Client::send`, so the
//! server's status, `Status` body and `Warning` headers all reach the user.

use crate::bundle::{self, FIELD_MANAGER, Loaded};
use crate::model::fieldowners::{Operation, Taken};
use crate::model::{Inventory, ObjRef, Object, Origin};
use crate::remediate::{Form, Remediation};
use kube::Client;
use kube::api::{DeleteParams, DynamicObject, GetParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod recreate;

/// What the user answered for one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Apply this one.
    Yes,
    /// Apply this one and every following one without asking.
    All,
    /// Skip this one.
    Skip,
    /// Stop here.
    Quit,
}

/// Who answers the confirmation questions.
pub trait Confirm {
    /// Asked once per change, after its dry run was shown.
    fn confirm(&mut self, number: usize, target: &ObjRef, context: &str) -> Decision;

    /// Asked for a change that deletes its object and creates it again, even after "all"
    /// (unless the run allows re-creating): by default, as under `--yes`, it is skipped.
    fn confirm_recreate(&mut self, _number: usize, _target: &ObjRef, _context: &str) -> Decision {
        Decision::Skip
    }
}

/// Confirms everything (`--yes`).
pub struct AssumeYes;

impl Confirm for AssumeYes {
    fn confirm(&mut self, _: usize, _: &ObjRef, _: &str) -> Decision {
        Decision::All
    }
}

/// Options of an apply or a rollback run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after the dry runs: nothing is written.
    pub dry_run: bool,
    /// Only these change numbers (all when empty).
    pub only: Vec<usize>,
    /// Take over fields another field manager owns (server-side apply `force`).
    pub force_conflicts: bool,
    /// The kubeconfig context, named in confirmations.
    pub context: String,
    /// Delay before the first retry of a read or dry run (doubled each time).
    pub retry_base: Option<Duration>,
    /// Changes that delete and re-create their object pass the usual confirmation (or
    /// `--yes`) instead of their own question.
    pub allow_recreate: bool,
}

/// How one change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Written and verified.
    Applied,
    /// Applied earlier and still in place: not sent again.
    AlreadyApplied,
    /// Dry run only (`--dry-run`).
    DryRun,
    /// Not confirmed, or not selected.
    Skipped,
    /// Failed; the message says why and what to do.
    Failed,
    /// A host file: applied by hand.
    Manual,
}

/// The result of one change.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Its number in the bundle.
    pub number: usize,
    /// Its file.
    pub file: String,
    /// The object.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The server's message or ours.
    pub message: String,
    /// Warnings the server sent back.
    pub warnings: Vec<String>,
}

/// One line of `apply-log.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339 time.
    pub time: String,
    /// `apply` or `rollback`.
    pub action: String,
    /// The change's number.
    pub number: usize,
    /// Its file.
    pub file: String,
    /// `Kind namespace/name`.
    pub target: String,
    /// Its form.
    pub form: String,
    /// Whether the dry run passed (absent when none ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_ok: Option<bool>,
    /// Warnings of the dry run or the write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// Fields a forced server-side apply took from other managers (rollback hands them back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taken: Vec<Taken>,
}

/// A server answer.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    text: String,
    warnings: Vec<String>,
    retry_after: Option<Duration>,
}

impl Answer {
    /// The answer a recreate's dry runs amount to.
    fn from_dry_run(d: DryRun) -> Answer {
        Answer {
            status: 200,
            body: d.result,
            text: String::new(),
            warnings: d.warnings,
            retry_after: None,
        }
    }

    /// The answer a recreate's writes amount to.
    fn written(warnings: Vec<String>) -> Answer {
        Answer {
            status: 201,
            body: Value::Null,
            text: String::new(),
            warnings,
            retry_after: None,
        }
    }

    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `message` of a `Status` body, or the text.
    fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.text.chars().take(300).collect())
    }

    fn reason(&self) -> &str {
        self.body
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// A request to send, kept so that it can be retried.
struct Call {
    request: http::Request<Vec<u8>>,
    verb: &'static str,
    /// Whether it may be sent again after a 429, a 5xx or a lost connection.
    idempotent: bool,
}

/// The API of one target.
struct Target {
    resource: ApiResource,
    namespaced: bool,
    namespace: Option<String>,
    name: String,
}

impl Target {
    fn request(&self) -> kube::core::Request {
        let ns = if self.namespaced {
            self.namespace.as_deref()
        } else {
            None
        };
        kube::core::Request::new(<DynamicObject as kube::Resource>::url_path(
            &self.resource,
            ns,
        ))
    }

    /// `deployments.apps in namespace shop`, for messages about permissions.
    fn describe(&self) -> String {
        let plural = if self.resource.group.is_empty() {
            self.resource.plural.clone()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        };
        match (&self.namespace, self.namespaced) {
            (Some(ns), true) => format!("{plural} in namespace {ns}"),
            _ => format!("{plural} (cluster-scoped)"),
        }
    }
}

/// Sends requests with bounded retries.
struct Http {
    client: Client,
    retry_base: Duration,
    /// When this run last wrote an admission policy or a namespace's Pod Security labels.
    admission_written: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long a written admission policy takes to reach the server's admission chain: the
/// policy plugins reload about once a second (`policyRefreshInterval`), after their informer.
const ADMISSION_SETTLE: Duration = Duration::from_secs(2);

/// Kinds whose change alters what the server admits next.
fn changes_admission(kind: &str) -> bool {
    matches!(
        kind,
        "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "ClusterPolicy"
            | "ConstraintTemplate"
            | "K8sAllowedRepos"
            | "Namespace"
    )
}

impl Http {
    fn new(client: &Client, opts: &RunOptions) -> Http {
        Http {
            client: client.clone(),
            retry_base: opts.retry_base.unwrap_or(Duration::from_millis(250)),
            admission_written: std::sync::Mutex::new(None),
        }
    }

    /// Notes a written change; one to admission makes the next dry run wait for it.
    fn wrote(&self, target: &ObjRef) {
        if changes_admission(&target.kind) {
            if let Ok(mut at) = self.admission_written.lock() {
                *at = Some(std::time::Instant::now());
            }
        }
    }

    /// Waits, before a dry run, until an admission change this run wrote is in force, so
    /// that the dry run is judged by the policies as they now are.
    async fn settle_admission(&self) {
        let since = self
            .admission_written
            .lock()
            .ok()
            .and_then(|at| *at)
            .map(|at| at.elapsed());
        if let Some(since) = since.filter(|s| *s < ADMISSION_SETTLE) {
            tokio::time::sleep(ADMISSION_SETTLE - since).await;
        }
    }

    /// Sends a call that may have failed to build (the builder's error is passed on).
    async fn send_built(&self, call: Result<Call, String>) -> Result<Answer, String> {
        self.send(&call?).await
    }

    /// Sends a call. A 429 is retried whatever the call (the server did not process it);
    /// a 5xx or a lost connection only for idempotent calls, as the write may have landed.
    async fn send(&self, call: &Call) -> Result<Answer, String> {
        let attempts = 4;
        let mut delay = self.retry_base;
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            let mut req = http::Request::builder()
                .method(call.request.method().clone())
                .uri(call.request.uri().clone());
            for (k, v) in call.request.headers() {
                req = req.header(k, v);
            }
            let req = req
                .body(kube::client::Body::from(call.request.body().clone()))
                .map_err(|e| e.to_string())?;
            match self.client.send(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let warnings = resp
                        .headers()
                        .get_all("warning")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .map(warning_text)
                        .collect();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(10)));
                    let bytes = resp
                        .into_body()
                        .collect_bytes()
                        .await
                        .map_err(|e| format!("reading the answer: {e}"))?;
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let answer = Answer {
                        status,
                        body,
                        text,
                        warnings,
                        retry_after,
                    };
                    let transient =
                        status == 429 || (call.idempotent && (500..=504).contains(&status));
                    if transient && attempt + 1 < attempts {
                        if let Some(d) = answer.retry_after {
                            delay = delay.max(d);
                        }
                        last = format!("{} {}", status, answer.message());
                        continue;
                    }
                    return Ok(answer);
                }
                Err(e) => {
                    last = crate::text::sanitize(&e.to_string());
                    if !call.idempotent || attempt + 1 >= attempts {
                        break;
                    }
                }
            }
        }
        Err(format!("{} failed: {last}", call.verb))
    }
}

/// `299 - "text"` → `text`.
fn warning_text(h: &str) -> String {
    let t = h.trim();
    let t = t.split_once(" - ").map_or(t, |(_, rest)| rest).trim();
    // The text is an RFC 9110 quoted-string: `"…"` with `\"` and `\\` escaped inside.
    let text = match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    c => out.push(c),
                }
            }
            out
        }
        None => t.to_string(),
    };
    crate::text::sanitize(&text)
}

/// Built-in kinds whose resource is known without discovery.
fn known_resource(api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let mut table: Vec<(&str, &str, &str, bool)> = crate::source::live::KINDS
        .iter()
        .map(|k| (k.group, k.kind, k.plural, k.namespaced))
        .collect();
    table.extend([
        ("", "Service", "services", true),
        ("", "ConfigMap", "configmaps", true),
        (
            "templates.gatekeeper.sh",
            "ConstraintTemplate",
            "constrainttemplates",
            false,
        ),
        ("kyverno.io", "ClusterPolicy", "clusterpolicies", false),
        ("kyverno.io", "Policy", "policies", true),
    ]);
    let (_, kind, plural, namespaced) = table
        .into_iter()
        .find(|(g, k, _, _)| *g == group && *k == kind)?;
    Some((
        ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        },
        namespaced,
    ))
}

async fn target_of(client: &Client, obj: &ObjRef) -> Result<Target, String> {
    let (resource, namespaced) = match known_resource(&obj.api_version, &obj.kind) {
        Some(r) => r,
        None => {
            let (group, version) = obj
                .api_version
                .rsplit_once('/')
                .unwrap_or(("", &obj.api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, &obj.kind);
            let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|e| {
                    format!(
                        "the server does not serve {} {}: {}",
                        obj.api_version,
                        obj.kind,
                        crate::text::sanitize(&e.to_string())
                    )
                })?;
            (ar, caps.scope == kube::discovery::Scope::Namespaced)
        }
    };
    Ok(Target {
        resource,
        namespaced,
        namespace: obj.namespace.clone(),
        name: obj.name.clone(),
    })
}

/// The object as stored in a backup: no managedFields, no status.
fn for_backup(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    v
}

/// The backup file of a change.
pub fn backup_path(dir: &Path, number: usize, target: &ObjRef) -> PathBuf {
    let name = bundle::file_name(
        number,
        &Remediation {
            checks: vec!["backup".into()],
            ..Remediation::bare(target.clone(), Form::NewObject, Value::Null)
        },
    );
    let stem = name.trim_end_matches("-backup.yaml");
    dir.join("backup").join(format!("{stem}.yaml"))
}

/// Whether the fields a change sets hold in an object.
pub fn holds(obj: &Value, r: &Remediation) -> bool {
    match r.form {
        Form::ServerSideApply | Form::NewObject | Form::Recreate => {
            let merged = crate::diff::merge(obj, &r.body);
            crate::diff::canonical(&merged) == crate::diff::canonical(obj)
        }
        Form::JsonPatch => {
            let ops = r.body.as_array().cloned().unwrap_or_default();
            let tested: std::collections::HashMap<&str, &Value> = ops
                .iter()
                .filter(|o| o.get("op").and_then(Value::as_str) == Some("test"))
                .filter_map(|o| Some((o.get("path")?.as_str()?, o.get("value")?)))
                .collect();
            ops.iter().all(|o| {
                let path = o.get("path").and_then(Value::as_str).unwrap_or("");
                match o.get("op").and_then(Value::as_str) {
                    // An appended item is somewhere in its list.
                    Some("add") if path.ends_with("/-") => obj
                        .pointer(&path[..path.len() - 2])
                        .and_then(Value::as_array)
                        .zip(o.get("value"))
                        .is_some_and(|(items, v)| items.contains(v)),
                    // The server drops zero values (`omitempty`): false set is absent read.
                    Some("replace") | Some("add") => {
                        crate::remediate::immutable::same(obj.pointer(path), o.get("value"))
                    }
                    // Gone, or something else in its place.
                    Some("remove") => {
                        obj.pointer(path).is_none()
                            || tested.get(path).copied() != obj.pointer(path)
                    }
                    _ => true,
                }
            })
        }
        Form::HostFile => false,
    }
}

/// The log of a bundle.
pub fn read_log(dir: &Path) -> Vec<LogLine> {
    std::fs::read_to_string(dir.join("apply-log.jsonl"))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Changes applied and not rolled back since, by number.
pub fn applied_numbers(log: &[LogLine]) -> std::collections::BTreeSet<usize> {
    let mut set = std::collections::BTreeSet::new();
    for l in log {
        match (l.action.as_str(), &l.outcome) {
            ("apply", Outcome::Applied | Outcome::AlreadyApplied) => {
                set.insert(l.number);
            }
            ("rollback", Outcome::Applied | Outcome::AlreadyApplied) => {
                set.remove(&l.number);
            }
            _ => {}
        }
    }
    set
}

struct Logger {
    file: std::fs::File,
}

impl Logger {
    fn open(dir: &Path) -> Result<Logger, String> {
        let path = dir.join("apply-log.jsonl");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map(|file| Logger { file })
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn write(&mut self, line: &LogLine) {
        if let Ok(text) = serde_json::to_string(line) {
            let _ = writeln!(self.file, "{text}");
            let _ = self.file.flush();
        }
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// What a change does, as the dry run showed it.
struct DryRun {
    result: Value,
    warnings: Vec<String>,
}

/// Explains a failed answer: what happened and what to do.
fn explain(answer: &Answer, verb: &str, target: &Target, r: &Remediation) -> String {
    let msg = crate::text::sanitize(&answer.message());
    match answer.status {
        401 => format!("unauthorized: the credentials were rejected ({msg})"),
        403 => format!(
            "forbidden: kubeharden needs `{verb}` on {} (see `kubeharden rbac`); {msg}",
            target.describe()
        ),
        404 => format!(
            "{} no longer exists (deleted since the bundle was written): {msg}",
            r.target
        ),
        409 if answer.reason() == "AlreadyExists" => {
            format!("{} already exists: {msg}", r.target)
        }
        409 => {
            let causes: Vec<String> = answer
                .body
                .pointer("/details/causes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{} ({})",
                        c.get("field").and_then(Value::as_str).unwrap_or("?"),
                        c.get("message").and_then(Value::as_str).unwrap_or("")
                    )
                })
                .collect();
            format!(
                "conflict: another field manager owns {}; re-run with --force-conflicts to take \
                 the fields over, or edit the change: {msg}",
                if causes.is_empty() {
                    "fields this change sets".to_string()
                } else {
                    crate::text::sanitize(&causes.join(", "))
                }
            )
        }
        422 => format!(
            "invalid: {msg}\n  the change was:\n{}",
            serde_yaml::to_string(&r.body)
                .unwrap_or_default()
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        s => format!("{s} {}: {msg}", answer.reason()),
    }
}

/// Builds the write request of a change.
fn write_call(t: &Target, r: &Remediation, dry_run: bool, force: bool) -> Result<Call, String> {
    let req = t.request();
    let err = |e: kube::core::request::Error| e.to_string();
    Ok(match r.form {
        Form::ServerSideApply => Call {
            request: req
                .patch(
                    &t.name,
                    &PatchParams {
                        dry_run,
                        force,
                        field_manager: Some(FIELD_MANAGER.into()),
                        field_validation: None,
                    },
                    &Patch::Apply(&r.body),
                )
                .map_err(err)?,
            verb: "patch",
            idempotent: true,
        },
        Form::JsonPatch => {
            let patch: json_patch::Patch =
                serde_json::from_value(r.body.clone()).map_err(|e| e.to_string())?;
            Call {
                request: req
                    .patch(
                        &t.name,
                        &PatchParams {
                            dry_run,
                            force: false,
                            field_manager: Some(FIELD_MANAGER.into()),
                            field_validation: None,
                        },
                        &Patch::<()>::Json(patch),
                    )
                    .map_err(err)?,
                verb: "patch",
                // A dry run may be repeated; a real JSON patch may have landed before the
                // connection broke, and its tests would then fail: not retried.
                idempotent: dry_run,
            }
        }
        Form::NewObject => Call {
            request: req
                .create(
                    &PostParams {
                        dry_run,
                        field_manager: Some(FIELD_MANAGER.into()),
                    },
                    serde_json::to_vec(&r.body).map_err(|e| e.to_string())?,
                )
                .map_err(err)?,
            verb: "create",
            idempotent: dry_run,
        },
        Form::HostFile => return Err("a host file is applied by hand".into()),
        Form::Recreate => return Err("a re-created object is deleted, then created".into()),
    })
}

fn get_call(t: &Target) -> Result<Call, String> {
    Ok(Call {
        request: t
            .request()
            .get(&t.name, &GetParams::default())
            .map_err(|e| e.to_string())?,
        verb: "get",
        idempotent: true,
    })
}

/// Prints to the user's stream (stderr for progress, or a test buffer).
pub type Out<'a> = &'a mut dyn std::io::Write;

/// The findings of a change's checks that remain on an object, checked on the object alone.
fn remaining(obj: &Value, r: &Remediation) -> Vec<String> {
    let Ok(o) = Object::from_value(obj.clone(), Origin::Cluster) else {
        return Vec::new();
    };
    let inv = Inventory::new(vec![o]);
    let settings = crate::checks::Settings {
        cluster: false,
        ..crate::checks::Settings::default()
    };
    crate::checks::run(&inv, &[], &settings)
        .findings
        .into_iter()
        .filter(|f| *f.object == r.target && r.checks.iter().any(|c| c == f.check))
        .map(|f| f.key())
        .collect()
}

/// One change in progress: its report and its log line.
struct Step {
    report: Report,
    line: LogLine,
    /// `server-side-apply`, … or `rollback`, for the printed line.
    label: String,
}

impl Step {
    fn new(action: &str, e: &bundle::Entry, r: &Remediation) -> Step {
        Step {
            report: Report {
                number: e.number,
                file: e.file.clone(),
                target: r.target.to_string(),
                outcome: Outcome::Skipped,
                message: String::new(),
                warnings: Vec::new(),
            },
            line: LogLine {
                time: now(),
                action: action.into(),
                number: e.number,
                file: e.file.clone(),
                target: r.target.to_string(),
                form: r.form.key().into(),
                dry_run_ok: None,
                warnings: Vec::new(),
                outcome: Outcome::Skipped,
                message: String::new(),
                taken: Vec::new(),
            },
            label: if action == "apply" {
                r.form.key().to_string()
            } else {
                action.to_string()
            },
        }
    }

    /// Records how the change ended: the log line is written, the outcome printed; returns
    /// the report.
    fn end(&mut self, log: &mut Logger, out: Out<'_>, outcome: Outcome, message: String) -> Report {
        self.report.outcome = outcome.clone();
        self.report.message = message.clone();
        self.line.outcome = outcome;
        self.line.message = message;
        self.line.time = now();
        log.write(&self.line);
        let _ = writeln!(
            out,
            "{:03} {} {}: {:?}{}",
            self.report.number,
            self.label,
            self.report.target,
            self.report.outcome,
            if self.report.message.is_empty() {
                String::new()
            } else {
                format!(" — {}", self.report.message)
            }
        );
        self.report.clone()
    }
}

/// Between a change's dry run and its write: `--dry-run` stops there, otherwise the user
/// confirms (once for all when they answer "all").
#[derive(Default)]
struct Gate {
    /// Every following change is confirmed.
    all: bool,
    /// The user asked to stop.
    quit: bool,
}

impl Gate {
    /// Whether to write; when not, the step is ended with the reason.
    #[allow(clippy::too_many_arguments)]
    fn pass(
        &mut self,
        opts: &RunOptions,
        confirm: &mut dyn Confirm,
        number: usize,
        r: &Remediation,
        step: &mut Step,
        log: &mut Logger,
        out: Out<'_>,
    ) -> bool {
        let target = &r.target;
        if opts.dry_run {
            step.end(
                log,
                out,
                Outcome::DryRun,
                "dry run passed; nothing written".into(),
            );
            return false;
        }
        let recreate = r.form == Form::Recreate && !opts.allow_recreate;
        let decision = if recreate {
            // Confirmed on its own: "all" and --yes do not cover a delete.
            match confirm.confirm_recreate(number, target, &opts.context) {
                Decision::All => Decision::Yes,
                d => d,
            }
        } else if self.all {
            return true;
        } else {
            confirm.confirm(number, target, &opts.context)
        };
        match decision {
            Decision::Yes => true,
            Decision::All => {
                self.all = true;
                true
            }
            Decision::Skip => {
                let why = if recreate {
                    "deletes the object and creates it again: confirm it on its own, or pass \
                     --allow-recreate"
                } else {
                    "not confirmed"
                };
                step.end(log, out, Outcome::Skipped, why.into());
                false
            }
            Decision::Quit => {
                self.quit = true;
                step.end(
                    log,
                    out,
                    Outcome::Skipped,
                    "stopped at the user's request".into(),
                );
                false
            }
        }
    }
}

/// Which way a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// [`apply`]: the bundle's changes.
    Apply,
    /// [`rollback`]: back to the backups.
    Rollback,
}

impl Direction {
    /// `apply` or `rollback`, as the command is named.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Apply => "apply",
            Direction::Rollback => "rollback",
        }
    }
}

/// Runs [`apply`] or [`rollback`].
pub async fn run(
    direction: Direction,
    client: Client,
    bundle: &Loaded,
    opts: &RunOptions,
    confirm: &mut dyn Confirm,
    stop: Arc<AtomicBool>,
    out: Out<'_>,
) -> Result<Vec<Report>, String> {
    match direction {
        Direction::Apply => apply(client, bundle, opts, confirm, stop, out).await,
        Direction::Rollback => rollback(client, bundle, opts, confirm, stop, out).await,
    }
}

/// Applies a bundle. Returns one report per change; the caller turns them into a summary
/// and an exit code.
pub async fn apply(
    client: Client,
    bundle: &Loaded,
    opts: &RunOptions,
    confirm: &mut dyn Confirm,
    stop: Arc<AtomicBool>,
    out: Out<'_>,
) -> Result<Vec<Report>, String> {
    let http = Http::new(&client, opts);
    let mut log = Logger::open(&bundle.dir)?;
    let previous = applied_numbers(&read_log(&bundle.dir));
    let mut reports = Vec::new();
    let mut gate = Gate::default();
    for (e, r) in bundle.manifest.patches.iter().zip(&bundle.remediations) {
        let mut step = Step::new("apply", e, r);
        if !opts.only.is_empty() && !opts.only.contains(&e.number) {
            continue;
        }
        if gate.quit || stop.load(Ordering::SeqCst) {
            reports.push(step.end(
                &mut log,
                out,
                Outcome::Skipped,
                "stopped before this change".into(),
            ));
            continue;
        }
        if r.form == Form::HostFile {
            reports.push(
                step.end(
                    &mut log,
                    out,
                    Outcome::Manual,
                    "a file for the control-plane hosts: follow the steps in the bundle's README"
                        .into(),
                ),
            );
            continue;
        }
        let target = match target_of(&client, &r.target).await {
            Ok(t) => t,
            Err(m) => {
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
        };
        // 1. The live object, and its backup.
        let live = http.send_built(get_call(&target)).await;
        let live = match live {
            Ok(a) if a.ok() => Some(a.body),
            Ok(a) if a.status == 404 => None,
            Ok(a) => {
                let m = explain(&a, "get", &target, r);
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
            Err(m) => {
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
        };
        // Server-side apply creates what is missing: only namespaces and default service
        // accounts may be created that way; anything else vanished since the plan.
        let may_create = r.target.kind == "Namespace"
            || (r.target.kind == "ServiceAccount" && r.target.name == "default");
        match (&live, r.form) {
            (None, Form::ServerSideApply) if !may_create => {
                let m = format!(
                    "{} no longer exists (deleted since the bundle was written)",
                    r.target
                );
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
            (None, Form::JsonPatch | Form::Recreate) => {
                let m = format!(
                    "{} no longer exists (deleted since the bundle was written)",
                    r.target
                );
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
            (Some(l), _) if previous.contains(&e.number) && holds(l, r) => {
                reports.push(step.end(
                    &mut log,
                    out,
                    Outcome::AlreadyApplied,
                    "applied earlier and still in place".into(),
                ));
                continue;
            }
            (Some(l), Form::NewObject) => {
                let m = if holds(l, r) {
                    format!(
                        "{} already exists with these fields: nothing to do",
                        r.target
                    )
                } else {
                    format!(
                        "{} already exists and differs: edit or remove the change",
                        r.target
                    )
                };
                let outcome = if holds(l, r) {
                    Outcome::AlreadyApplied
                } else {
                    Outcome::Failed
                };
                reports.push(step.end(&mut log, out, outcome, m));
                continue;
            }
            _ => {}
        }
        if let Some(l) = &live {
            if r.target.kind != "Secret" {
                let path = backup_path(&bundle.dir, e.number, &r.target);
                let written = path
                    .parent()
                    .map(std::fs::create_dir_all)
                    .transpose()
                    .and_then(|_| {
                        std::fs::write(
                            &path,
                            serde_yaml::to_string(&for_backup(l)).unwrap_or_default(),
                        )
                    });
                if let Err(err) = written {
                    let m = format!("cannot write the backup {}: {err}", path.display());
                    reports.push(step.end(&mut log, out, Outcome::Failed, m));
                    continue;
                }
            }
        }
        http.settle_admission().await;
        // 2. The dry run. A forced apply first asks without force, to learn whose fields
        // it takes: the log keeps them, and rollback hands them back.
        if opts.force_conflicts && r.form == Form::ServerSideApply {
            if let Ok(a) = http.send_built(write_call(&target, r, true, false)).await {
                if a.status == 409 {
                    step.line.taken = crate::model::fieldowners::conflicts(&a.body);
                    for t in &step.line.taken {
                        let _ = writeln!(
                            out,
                            "  takes from {:?}: {}",
                            t.manager,
                            crate::text::sanitize(&t.fields.join(", "))
                        );
                    }
                }
            }
        }
        let dry = match (r.form, &live) {
            (Form::Recreate, Some(l)) => {
                match recreate::dry_run(&http, &target, r, l, &r.body).await {
                    Ok(d) => Ok(Answer::from_dry_run(d)),
                    Err(m) => {
                        step.line.dry_run_ok = Some(false);
                        reports.push(step.end(&mut log, out, Outcome::Failed, m));
                        continue;
                    }
                }
            }
            _ => {
                http.send_built(write_call(&target, r, true, opts.force_conflicts))
                    .await
            }
        };
        let dry = match dry {
            Ok(a) if a.ok() => DryRun {
                result: a.body,
                warnings: a.warnings,
            },
            Ok(a) => {
                step.line.dry_run_ok = Some(false);
                step.line.warnings = a.warnings.clone();
                step.report.warnings = a.warnings.clone();
                let m = format!(
                    "dry run refused: {}",
                    explain(&a, write_verb(r), &target, r)
                );
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
            Err(m) => {
                step.line.dry_run_ok = Some(false);
                reports.push(step.end(&mut log, out, Outcome::Failed, format!("dry run: {m}")));
                continue;
            }
        };
        step.line.dry_run_ok = Some(true);
        step.line.warnings = dry.warnings.clone();
        step.report.warnings = dry.warnings.clone();
        // 3. What the server would do.
        let diff = match &live {
            Some(l) => crate::diff::unified(
                l,
                &dry.result,
                &format!("{} (live)", r.target),
                &format!("{} (dry run)", r.target),
            ),
            None => {
                let (text, _) = crate::model::yaml::render(&crate::diff::canonical(&dry.result));
                similar::TextDiff::from_lines("", text.as_str())
                    .unified_diff()
                    .header("/dev/null", &format!("{} (dry run: created)", r.target))
                    .to_string()
            }
        };
        let _ = writeln!(
            out,
            "\n{:03} {} {} — dry run:",
            e.number,
            r.form.key(),
            r.target
        );
        let _ = write!(
            out,
            "{}",
            if diff.is_empty() {
                "  (no change)\n".to_string()
            } else {
                crate::text::sanitize_multiline(&diff)
            }
        );
        for w in &dry.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        // After the dry run: stop under --dry-run, else ask (unless all were confirmed).
        if !gate.pass(opts, confirm, e.number, r, &mut step, &mut log, out) {
            reports.push(step.report.clone());
            continue;
        }
        if stop.load(Ordering::SeqCst) {
            reports.push(step.end(
                &mut log,
                out,
                Outcome::Skipped,
                "stopped (Ctrl-C) before this change".into(),
            ));
            continue;
        }
        // 5. The write, then verification.
        let wrote = match (r.form, &live) {
            (Form::Recreate, Some(l)) => recreate::write(&http, &target, r, l, &r.body, opts)
                .await
                .map(Answer::written),
            _ => {
                http.send_built(write_call(&target, r, false, opts.force_conflicts))
                    .await
            }
        };
        match wrote {
            Ok(a) if a.ok() => {
                http.wrote(&r.target);
                step.report.warnings.extend(a.warnings.clone());
                step.line.warnings.extend(a.warnings);
            }
            Ok(a) => {
                let m = explain(&a, write_verb(r), &target, r);
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
            Err(m) => {
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
        }
        let after = http.send_built(get_call(&target)).await;
        let message = match after {
            Ok(a) if a.ok() && holds(&a.body, r) => {
                let left = remaining(&a.body, r);
                if left.is_empty() {
                    "applied; read back: the fields hold, its findings are gone".to_string()
                } else {
                    format!("applied; still reported on the object: {}", left.join(", "))
                }
            }
            Ok(a) if a.ok() => "applied, but reading it back shows other values: another controller may have changed it".to_string(),
            Ok(a) => format!("applied; reading it back answered {}", a.status),
            Err(m) => format!("applied; reading it back failed: {m}"),
        };
        reports.push(step.end(&mut log, out, Outcome::Applied, message));
    }
    Ok(reports)
}

fn write_verb(r: &Remediation) -> &'static str {
    match r.form {
        Form::NewObject => "create",
        Form::Recreate => "delete",
        _ => "patch",
    }
}

/// The change that undoes an applied change, from its backup: for a server-side apply, an
/// apply of the bare identity that gives up kubeharden's fields (so the server removes those
/// no other manager holds, and the rollback owns nothing), the inverse JSON patch guarded by
/// tests on the values the live object holds (`remediate::undo`), or a delete of an object
/// the change created.
pub fn inverse(
    r: &Remediation,
    backup: Option<&Value>,
    live: Option<&Value>,
) -> Result<Remediation, String> {
    let mut inv = r.clone();
    match r.form {
        Form::NewObject => {}
        Form::ServerSideApply => {
            // An apply of nothing but the identity: the server drops every field kubeharden
            // holds alone (those it added) and keeps what another manager holds as well.
            // Values it took from another manager are handed back first (`hand_back`).
            inv.body = crate::remediate::edit::identity(&r.target);
        }
        Form::JsonPatch => {
            // Against the object as it is now: the server normalised what the patch wrote
            // (zero values and emptied lists dropped, appends given an index).
            let backup = backup.ok_or("no backup of the object")?;
            let live = live.ok_or("the object was not read before its rollback")?;
            let ops = r.body.as_array().map(Vec::as_slice).unwrap_or_default();
            inv.body = Value::Array(crate::remediate::undo::inverse(backup, ops, live)?);
        }
        Form::HostFile => return Err("a host file is undone by hand".into()),
        Form::Recreate => {
            let backup = backup.ok_or("no backup of the object")?;
            inv.body = crate::remediate::immutable::for_recreate(backup);
        }
    }
    Ok(inv)
}

/// Writes that give fields a forced apply took back to their managers, each with the
/// backed-up values and under the manager's own name and operation (server-side apply for an
/// Apply manager, a strategic merge patch for an Update manager), so that their next apply
/// or update does not meet kubeharden.
fn hand_back_calls(
    target: &Target,
    r: &Remediation,
    taken: &[Taken],
    backup: Option<&Value>,
    live: &Value,
    dry_run: bool,
) -> Result<Vec<Call>, String> {
    let mut calls = Vec::new();
    for t in taken {
        let backup = backup.ok_or("no backup of the object")?;
        let Some(mut part) = crate::model::fieldowners::parts(backup, &t.fields) else {
            continue;
        };
        if t.operation == Operation::Apply {
            // An apply is the manager's whole intent: what it still holds goes with it, or
            // the server would drop those fields.
            let held = crate::model::fieldowners::managed_paths(live, &t.manager, t.operation);
            let held: Vec<String> = held
                .into_iter()
                .filter(|p| crate::model::fieldowners::part(live, p).is_some())
                .collect();
            if let Some(rest) = crate::model::fieldowners::parts(live, &held) {
                part = crate::diff::merge(&rest, &part);
            }
        }
        let body = crate::diff::merge(&part, &crate::remediate::edit::identity(&r.target));
        let params = PatchParams {
            dry_run,
            force: t.operation == Operation::Apply,
            field_manager: Some(t.manager.clone()),
            field_validation: None,
        };
        let patch = match t.operation {
            Operation::Apply => Patch::Apply(&body),
            Operation::Update => Patch::Strategic(&body),
        };
        let request = target
            .request()
            .patch(&target.name, &params, &patch)
            .map_err(|e| e.to_string())?;
        calls.push(Call {
            request,
            verb: "patch",
            idempotent: true,
        });
    }
    Ok(calls)
}

/// What the last apply of change `number` took from other managers.
fn taken_by(history: &[LogLine], number: usize) -> Vec<Taken> {
    history
        .iter()
        .rev()
        .find(|l| l.action == "apply" && l.number == number && l.outcome == Outcome::Applied)
        .map(|l| l.taken.clone())
        .unwrap_or_default()
}

/// Sends the hand-back writes (or their dry runs); the first refusal is the error.
async fn send_hand_backs(
    http: &Http,
    target: &Target,
    r: &Remediation,
    taken: &[Taken],
    backup: Option<&Value>,
    dry_run: bool,
) -> Result<(), String> {
    if taken.is_empty() {
        return Ok(());
    }
    let live = match http.send_built(get_call(target)).await {
        Ok(a) if a.ok() => a.body,
        Ok(a) => return Err(format!("reading {} answered {}", r.target, a.status)),
        Err(m) => return Err(m),
    };
    for (call, t) in hand_back_calls(target, r, taken, backup, &live, dry_run)?
        .into_iter()
        .zip(taken)
    {
        match http.send_built(Ok(call)).await {
            Ok(a) if a.ok() => {}
            Ok(a) => {
                return Err(format!(
                    "handing fields back to {:?}{} refused: {} {}",
                    t.manager,
                    if dry_run { " (dry run)" } else { "" },
                    a.status,
                    crate::text::sanitize(&a.message())
                ));
            }
            Err(m) => return Err(format!("handing fields back to {:?}: {m}", t.manager)),
        }
    }
    Ok(())
}

/// Rolls back the changes of a bundle that are applied, in reverse order, from the backups.
pub async fn rollback(
    client: Client,
    bundle: &Loaded,
    opts: &RunOptions,
    confirm: &mut dyn Confirm,
    stop: Arc<AtomicBool>,
    out: Out<'_>,
) -> Result<Vec<Report>, String> {
    let http = Http::new(&client, opts);
    let history = read_log(&bundle.dir);
    let applied = applied_numbers(&history);
    if applied.is_empty() {
        let _ = writeln!(
            out,
            "nothing to roll back: the log records no applied change"
        );
        return Ok(Vec::new());
    }
    let mut log = Logger::open(&bundle.dir)?;
    let mut reports = Vec::new();
    let mut gate = Gate::default();
    let pairs: Vec<_> = bundle
        .manifest
        .patches
        .iter()
        .zip(&bundle.remediations)
        .filter(|(e, _)| applied.contains(&e.number))
        .collect();
    for (e, r) in pairs.into_iter().rev() {
        let mut step = Step::new("rollback", e, r);
        if gate.quit || stop.load(Ordering::SeqCst) {
            reports.push(step.end(
                &mut log,
                out,
                Outcome::Skipped,
                "stopped before this change".into(),
            ));
            continue;
        }
        let target = match target_of(&client, &r.target).await {
            Ok(t) => t,
            Err(m) => {
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
        };
        let backup_file = backup_path(&bundle.dir, e.number, &r.target);
        let backup: Option<Value> = std::fs::read_to_string(&backup_file)
            .ok()
            .and_then(|t| serde_yaml::from_str(&t).ok());
        // A JSON patch is undone against the object as it is now.
        let live = match r.form {
            Form::JsonPatch => match http.send_built(get_call(&target)).await {
                Ok(a) if a.ok() => Some(a.body),
                Ok(a) => {
                    let m = format!("reading {} answered {}", r.target, a.status);
                    reports.push(step.end(&mut log, out, Outcome::Failed, m));
                    continue;
                }
                Err(m) => {
                    reports.push(step.end(&mut log, out, Outcome::Failed, m));
                    continue;
                }
            },
            _ => None,
        };
        let undo = match inverse(r, backup.as_ref(), live.as_ref()) {
            Ok(u) => u,
            Err(m) => {
                reports.push(step.end(
                    &mut log,
                    out,
                    Outcome::Failed,
                    format!("{m} ({})", backup_file.display()),
                ));
                continue;
            }
        };
        if r.form == Form::Recreate {
            let ctx = RecreateRun {
                http: &http,
                target: &target,
                opts,
            };
            let report = ctx
                .rollback(&undo, confirm, &mut gate, &mut step, &mut log, out)
                .await;
            reports.push(report);
            continue;
        }
        let call = |dry_run: bool| -> Result<Call, String> {
            match r.form {
                Form::NewObject => Ok(Call {
                    request: target
                        .request()
                        .delete(
                            &target.name,
                            &DeleteParams {
                                dry_run,
                                ..DeleteParams::default()
                            },
                        )
                        .map_err(|e| e.to_string())?,
                    verb: "delete",
                    idempotent: true,
                }),
                // Another manager that took one of these fields since keeps it, unless
                // the user forces (a conflict is reported with what to do).
                _ => write_call(&target, &undo, dry_run, opts.force_conflicts),
            }
        };
        let verb = if r.form == Form::NewObject {
            "delete"
        } else {
            "patch"
        };
        let taken = taken_by(&history, e.number);
        if let Err(m) = send_hand_backs(&http, &target, r, &taken, backup.as_ref(), true).await {
            step.line.dry_run_ok = Some(false);
            reports.push(step.end(&mut log, out, Outcome::Failed, m));
            continue;
        }
        http.settle_admission().await;
        let dry = http.send_built(call(true)).await;
        match dry {
            Ok(a) if a.ok() => {
                step.line.dry_run_ok = Some(true);
                step.line.warnings = a.warnings.clone();
                let _ = writeln!(
                    out,
                    "\n{:03} rollback {} — dry run passed",
                    e.number, r.target
                );
                if r.form != Form::NewObject {
                    if let Some(b) = &backup {
                        let d = crate::diff::unified(
                            &a.body,
                            b,
                            &format!("{} (after rollback)", r.target),
                            &format!("{} (backup)", r.target),
                        );
                        if !d.is_empty() {
                            let _ = write!(
                                out,
                                "  differs from the backup outside this change's fields:\n{}",
                                crate::text::sanitize_multiline(&d)
                            );
                        }
                    }
                }
            }
            Ok(a) if a.status == 404 && r.form == Form::NewObject => {
                reports.push(step.end(
                    &mut log,
                    out,
                    Outcome::AlreadyApplied,
                    "already gone".into(),
                ));
                continue;
            }
            Ok(a) => {
                step.line.dry_run_ok = Some(false);
                let m = format!("dry run refused: {}", explain(&a, verb, &target, &undo));
                reports.push(step.end(&mut log, out, Outcome::Failed, m));
                continue;
            }
            Err(m) => {
                reports.push(step.end(&mut log, out, Outcome::Failed, format!("dry run: {m}")));
                continue;
            }
        }
        // After the dry run: stop under --dry-run, else ask (unless all were confirmed).
        if !gate.pass(opts, confirm, e.number, r, &mut step, &mut log, out) {
            reports.push(step.report.clone());
            continue;
        }
        if let Err(m) = send_hand_backs(&http, &target, r, &taken, backup.as_ref(), false).await {
            reports.push(step.end(&mut log, out, Outcome::Failed, m));
            continue;
        }
        let (outcome, message) = match http.send_built(call(false)).await {
            Ok(a) if a.ok() || (a.status == 404 && r.form == Form::NewObject) => (
                Outcome::Applied,
                if r.form == Form::NewObject {
                    "deleted the object the bundle created".to_string()
                } else {
                    format!("restored from {}", backup_file.display())
                },
            ),
            Ok(a) => (Outcome::Failed, explain(&a, verb, &target, &undo)),
            Err(m) => (Outcome::Failed, m),
        };
        if outcome == Outcome::Applied {
            http.wrote(&r.target);
        }
        reports.push(step.end(&mut log, out, outcome, message));
    }
    Ok(reports)
}

/// One re-created object's rollback: what it runs against.
struct RecreateRun<'a> {
    http: &'a Http,
    target: &'a Target,
    opts: &'a RunOptions,
}

impl RecreateRun<'_> {
    /// Deletes the object apply created and creates the backup again, after the dry runs
    /// and the confirmation.
    async fn rollback(
        &self,
        undo: &Remediation,
        confirm: &mut dyn Confirm,
        gate: &mut Gate,
        step: &mut Step,
        log: &mut Logger,
        out: Out<'_>,
    ) -> Report {
        let (http, target) = (self.http, self.target);
        let live = match http.send_built(get_call(target)).await {
            Ok(a) if a.ok() => a.body,
            Ok(a) => {
                let m = explain(&a, "get", target, undo);
                return step.end(log, out, Outcome::Failed, m);
            }
            Err(m) => return step.end(log, out, Outcome::Failed, m),
        };
        http.settle_admission().await;
        match recreate::dry_run(http, target, undo, &live, &undo.body).await {
            Ok(d) => {
                step.line.dry_run_ok = Some(true);
                step.line.warnings = d.warnings.clone();
                let _ = writeln!(
                    out,
                    "\n{:03} rollback {} — dry run passed: deletes it and creates the backup again",
                    step.report.number, undo.target
                );
                let diff = crate::diff::unified(
                    &live,
                    &d.result,
                    &format!("{} (live)", undo.target),
                    &format!("{} (backup, re-created)", undo.target),
                );
                let _ = write!(out, "{}", crate::text::sanitize_multiline(&diff));
            }
            Err(m) => {
                step.line.dry_run_ok = Some(false);
                return step.end(log, out, Outcome::Failed, m);
            }
        }
        if !gate.pass(self.opts, confirm, step.report.number, undo, step, log, out) {
            return step.report.clone();
        }
        match recreate::write(http, target, undo, &live, &undo.body, self.opts).await {
            Ok(w) => {
                step.line.warnings.extend(w);
                step.end(
                    log,
                    out,
                    Outcome::Applied,
                    "re-created from the backup".into(),
                )
            }
            Err(m) => step.end(log, out, Outcome::Failed, m),
        }
    }
}

/// The minimal RBAC kubeharden needs: a read-only ClusterRole for scanning and one with the
/// extra verbs `apply` and `rollback` use, as YAML.
pub fn rbac_yaml() -> String {
    use crate::source::live::KINDS;
    let mut read: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for k in KINDS {
        read.entry(k.group).or_default().push(k.plural);
    }
    let read_rules: Vec<Value> = read
        .iter()
        .map(|(g, rs)| json!({"apiGroups": [g], "resources": rs, "verbs": ["get", "list"]}))
        .collect();
    // Pods and Jobs are also deleted and created: a change the server refuses on an existing
    // one re-creates it (the recreate form).
    let write: &[(&str, &[&str], &[&str])] = &[
        ("", &["pods"], &["get", "patch", "create", "delete"]),
        (
            "",
            &["replicationcontrollers", "serviceaccounts", "namespaces"],
            &["get", "patch"],
        ),
        (
            "apps",
            &["deployments", "statefulsets", "daemonsets", "replicasets"],
            &["get", "patch"],
        ),
        ("batch", &["jobs"], &["get", "patch", "create", "delete"]),
        ("batch", &["cronjobs"], &["get", "patch"]),
        (
            "rbac.authorization.k8s.io",
            &[
                "clusterroles",
                "roles",
                "clusterrolebindings",
                "rolebindings",
            ],
            &["get", "patch", "create", "delete"],
        ),
        (
            "networking.k8s.io",
            &["networkpolicies"],
            &["get", "create", "delete"],
        ),
        (
            "admissionregistration.k8s.io",
            &[
                "validatingadmissionpolicies",
                "validatingadmissionpolicybindings",
            ],
            &["get", "patch", "create", "delete"],
        ),
    ];
    let write_rules: Vec<Value> = write
        .iter()
        .map(|(g, rs, vs)| json!({"apiGroups": [g], "resources": rs, "verbs": vs}))
        .collect();
    let scan = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "kubeharden-scan"},
        "rules": read_rules,
    });
    let apply = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "kubeharden-apply"},
        "rules": write_rules,
    });
    format!(
        "# The read-only ClusterRole `kubeharden scan` needs. Secrets are requested as metadata\n\
         # only (PartialObjectMetadataList), but RBAC cannot tell metadata from values: `list`\n\
         # on secrets would let another client read them. Drop the secrets rule to scan without\n\
         # it (KH-RBAC and Secret-related checks then see no Secrets).\n\
         ---\n{}\
         # The extra verbs `kubeharden apply` and `rollback` use (bind it with kubeharden-scan).\n\
         # Rewriting a role (KH-RBAC-001) or binding admin (KH-RBAC-002) also needs the user to\n\
         # hold the permissions granted, or the escalate and bind verbs: RBAC prevents escalation.\n\
         # Admission policies of Kyverno or Gatekeeper need create/patch on their own kinds.\n\
         ---\n{}",
        serde_yaml::to_string(&scan).unwrap_or_default(),
        serde_yaml::to_string(&apply).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rem(form: Form, body: Value) -> Remediation {
        Remediation {
            checks: vec!["KH-POD-101".into()],
            ..Remediation::bare(
                ObjRef::new("apps/v1", "Deployment", Some("shop"), "web"),
                form,
                body,
            )
        }
    }

    fn live() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {
                "containers": [{"name": "web", "image": "w:1", "securityContext": {"privileged": true}}],
                "volumes": [{"name": "a", "emptyDir": {}}, {"name": "host", "hostPath": {"path": "/"}}]}}}})
    }

    #[test]
    fn a_json_patch_and_its_inverse_round_trip_to_the_backup() {
        let patch = json!([
            {"op": "test", "path": "/spec/template/spec/volumes/1", "value": {"name": "host", "hostPath": {"path": "/"}}},
            {"op": "test", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": true},
            {"op": "remove", "path": "/spec/template/spec/volumes/1"},
            {"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": false},
        ]);
        let r = rem(Form::JsonPatch, patch.clone());
        let mut after = live();
        let ops: json_patch::Patch = serde_json::from_value(patch).unwrap();
        json_patch::patch(&mut after, &ops).unwrap();
        assert!(holds(&after, &r));
        assert!(!holds(&live(), &r));
        let undo = inverse(&r, Some(&live()), Some(&after)).unwrap();
        let ops: json_patch::Patch = serde_json::from_value(undo.body).unwrap();
        let mut restored = after.clone();
        json_patch::patch(&mut restored, &ops).unwrap();
        assert_eq!(restored, live());
        // The inverse is guarded: it refuses an object changed since.
        let mut changed = after.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] =
            json!(true);
        assert!(json_patch::patch(&mut changed, &ops).is_err());
        let e = inverse(&r, Some(&live()), Some(&changed)).unwrap_err();
        assert!(
            e.contains("/containers/0/securityContext/privileged"),
            "{e}"
        );
    }

    #[test]
    fn the_inverse_of_an_apply_gives_up_every_field_kubeharden_applied() {
        // Backed-up values are not re-applied as kubeharden: that would make it an owner of
        // fields (whole container lists) it never meant to manage.
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "b"}},
            "spec": {"template": {"spec": {"automountServiceAccountToken": false}}}});
        let mut backup = live();
        backup["metadata"]["labels"] = json!({"team": "a"});
        let undo = inverse(&rem(Form::ServerSideApply, body), Some(&backup), None).unwrap();
        assert_eq!(
            undo.body,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"}})
        );
    }

    #[test]
    fn warnings_lose_their_code_and_quotes() {
        assert_eq!(
            warning_text(r#"299 - "would violate PodSecurity \"restricted:latest\": privileged""#),
            r#"would violate PodSecurity "restricted:latest": privileged"#
        );
        // As kube-apiserver sends Pod Security's warning for a namespace label.
        assert_eq!(
            warning_text(
                r#"299 - "existing pods in namespace \"shop\" violate the new PodSecurity enforce level \"restricted:v1.37\"""#
            ),
            r#"existing pods in namespace "shop" violate the new PodSecurity enforce level "restricted:v1.37""#
        );
    }

    #[test]
    fn the_log_knows_what_is_applied_and_not_rolled_back() {
        let line = |action: &str, number, outcome| LogLine {
            time: String::new(),
            action: action.into(),
            number,
            file: String::new(),
            target: String::new(),
            form: String::new(),
            dry_run_ok: None,
            warnings: Vec::new(),
            outcome,
            message: String::new(),
            taken: Vec::new(),
        };
        let log = vec![
            line("apply", 1, Outcome::Applied),
            line("apply", 2, Outcome::Failed),
            line("apply", 3, Outcome::Applied),
            line("rollback", 3, Outcome::Applied),
        ];
        assert_eq!(applied_numbers(&log).into_iter().collect::<Vec<_>>(), [1]);
    }
}
