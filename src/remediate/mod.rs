//! Remediations: from findings to the exact changes that fix them.
//!
//! [`plan`] turns findings into [`Remediation`]s, one per target object and form, rendered
//! from the templates in `remediations/`. Several findings on one object become one
//! change: server-side apply with one field manager must see the whole intent in one
//! partial object, or a second apply would take back what the first set. Fields that do
//! not exist yet go into a server-side-apply partial object; existing values that must
//! change or go become a JSON patch whose `test` operations guard the reviewed state; new
//! objects are created; encryption at rest gets a host file with manual steps.
//!
//! [`apply_local`] merges remediations into objects with server-side-apply semantics, for
//! previews and for the offline proof (`scan --with-bundle`). Nothing here performs I/O.

pub mod edit;
pub mod immutable;
pub mod proof;
pub mod template;
pub mod undo;

use crate::checks::pss::{self, Level};
use crate::model::{Finding, Inventory, ObjRef, Object, Origin};
use edit::Seg;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use template::{Named, Params, Removal};

/// How a remediation changes the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// A partial object for server-side apply: only the fields the fix sets.
    ServerSideApply,
    /// A new object.
    NewObject,
    /// An RFC 6902 JSON patch whose `test` operations guard what it changes or removes.
    JsonPatch,
    /// A file for the control-plane hosts, applied by hand.
    HostFile,
    /// The whole fixed object, to delete the live one and create this in its place: for a
    /// change the server refuses on an existing object (a bare Pod's spec, a Job's template).
    /// Confirmed on its own.
    Recreate,
}

impl Form {
    /// The name used in the bundle and in output.
    pub fn key(self) -> &'static str {
        match self {
            Form::ServerSideApply => "server-side-apply",
            Form::NewObject => "new-object",
            Form::JsonPatch => "json-patch",
            Form::HostFile => "host-file",
            Form::Recreate => "recreate",
        }
    }
}

/// Which admission engine enforces the image policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PolicyEngine {
    /// ValidatingAdmissionPolicy (built into Kubernetes 1.30+).
    #[default]
    Vap,
    /// Kyverno ClusterPolicy.
    Kyverno,
    /// Gatekeeper ConstraintTemplate and constraint.
    Gatekeeper,
}

/// What the user chose for the remediations.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The admission engine for the image policy.
    pub policy_engine: PolicyEngine,
    /// Namespaces whose pods need open egress: they get an allowance of everything but the
    /// metadata endpoint and the control plane instead of a plain default deny.
    pub open_egress: Vec<String>,
    /// Trusted registries (from the config file or `--allowed-registries`).
    pub allowed_registries: Vec<String>,
    /// The date, for key names.
    pub today: Option<jiff::civil::Date>,
}

/// One change to one object (or one host file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remediation {
    /// The object it changes or creates.
    pub target: ObjRef,
    /// How.
    pub form: Form,
    /// The partial or new object, the JSON patch operations, or (host files) the content.
    pub body: Value,
    /// For host files: the file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The checks it fixes.
    pub checks: Vec<String>,
    /// Keys of the findings it fixes.
    pub findings: Vec<String>,
    /// The templates it was rendered from.
    pub templates: Vec<String>,
    /// What it does, one line per template.
    pub titles: Vec<String>,
    /// What can break.
    pub risks: Vec<String>,
    /// Whether it is safe to apply unattended.
    pub unattended: bool,
    /// Whether it needs a human review first.
    pub review: bool,
    /// Advice and manual steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Checks whose findings it knowingly raises (a staged rollout).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub introduces: Vec<String>,
    /// Whether its findings stay open until a reviewer tightens it (Warn/Audit first).
    pub staged: bool,
}

impl Remediation {
    /// A change with only its target, form and body, and no templates, findings or notes:
    /// what code that merely names or replays a change needs (a backup's file name, tests).
    pub fn bare(target: ObjRef, form: Form, body: Value) -> Remediation {
        Remediation {
            target,
            form,
            body,
            file: None,
            checks: Vec::new(),
            findings: Vec::new(),
            templates: Vec::new(),
            titles: Vec::new(),
            risks: Vec::new(),
            unattended: false,
            review: false,
            notes: Vec::new(),
            introduces: Vec::new(),
            staged: false,
        }
    }

    /// The first check it fixes, for file names.
    pub fn primary_check(&self) -> &str {
        self.checks.first().map_or("", String::as_str)
    }
}

/// A finding kubeharden does not fix, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unfixed {
    /// The finding's key.
    pub finding: String,
    /// Its check.
    pub check: String,
    /// Why there is no remediation.
    pub reason: String,
}

/// The remediations for a set of findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// In the order they should be applied.
    pub remediations: Vec<Remediation>,
    /// Findings marked fixable that got no remediation, with the reason.
    pub unfixed: Vec<Unfixed>,
}

/// What a remediation does to its object, before and after.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The object now (`None` for a new object).
    pub before: Option<Value>,
    /// The object after the change, merged locally with server-side-apply semantics.
    pub after: Value,
    /// A unified diff of the two, as YAML.
    pub diff: String,
}

/// Everything known about one target while planning.
#[derive(Debug, Default)]
struct Acc {
    desired: Option<Value>,
    ops: Vec<Value>,
    meta: Meta,
}

#[derive(Debug)]
struct Meta {
    checks: BTreeSet<String>,
    findings: BTreeSet<String>,
    templates: BTreeSet<String>,
    titles: Vec<String>,
    risks: Vec<String>,
    unattended: bool,
    review: bool,
    notes: Vec<String>,
    introduces: BTreeSet<String>,
    staged: bool,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            checks: BTreeSet::new(),
            findings: BTreeSet::new(),
            templates: BTreeSet::new(),
            titles: Vec::new(),
            risks: Vec::new(),
            unattended: true,
            review: false,
            notes: Vec::new(),
            introduces: BTreeSet::new(),
            staged: false,
        }
    }
}

impl Meta {
    fn add(&mut self, t: &Named, f: Option<&Finding>) {
        if let Some(f) = f {
            self.checks.insert(f.check.to_string());
            self.findings.insert(f.key());
        }
        self.templates.insert(t.name.to_string());
        let push = |v: &mut Vec<String>, s: &str| {
            if !v.iter().any(|x| x == s) {
                v.push(s.to_string());
            }
        };
        push(&mut self.titles, &t.template.title);
        push(&mut self.risks, &t.template.risk);
        if let Some(n) = &t.template.notes {
            push(&mut self.notes, n.trim_end());
        }
        self.unattended &= t.template.unattended;
        self.review |= t.template.review;
        self.introduces
            .extend(t.template.introduces.iter().cloned());
        self.staged |= t.template.staged;
    }
}

/// Builds the plan while walking the findings.
struct Planner<'a> {
    inv: &'a Inventory,
    opts: &'a Options,
    targets: BTreeMap<(u8, ObjRef), Acc>,
    host_files: BTreeMap<String, (String, Meta)>,
    unfixed: Vec<Unfixed>,
    digests: Option<std::collections::HashMap<(std::sync::Arc<ObjRef>, String), String>>,
}

/// Application order: workloads first (so namespaces can enforce what they then meet),
/// then accounts and RBAC, network policies, admission policies, namespace labels last.
fn stage(kind: &str) -> u8 {
    match kind {
        "Namespace" => 9,
        "ServiceAccount" => 2,
        "ClusterRoleBinding" | "RoleBinding" | "ClusterRole" | "Role" => 3,
        "NetworkPolicy" => 4,
        "ValidatingAdmissionPolicy" | "ConstraintTemplate" | "ClusterPolicy" => 5,
        "ValidatingAdmissionPolicyBinding" | "K8sAllowedRepos" => 6,
        _ => 1,
    }
}

/// The pod spec's path in an object of a kind.
pub fn pod_spec_path(kind: &str) -> &'static str {
    match kind {
        "Pod" => "spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        _ => "spec.template.spec",
    }
}

impl<'a> Planner<'a> {
    fn unfixed(&mut self, f: &Finding, reason: impl Into<String>) {
        self.unfixed.push(Unfixed {
            finding: f.key(),
            check: f.check.to_string(),
            reason: reason.into(),
        });
    }

    fn acc(&mut self, target: &ObjRef) -> &mut Acc {
        self.targets
            .entry((stage(&target.kind), target.clone()))
            .or_default()
    }

    /// Merges `partial` (a tree without identity) into the desired state of `target`.
    fn desire(&mut self, target: &ObjRef, partial: Value, t: &Named, f: Option<&Finding>) {
        let acc = self.acc(target);
        acc.desired = Some(match acc.desired.take() {
            Some(d) => crate::diff::merge(&d, &partial),
            None => partial,
        });
        acc.meta.add(t, f);
    }

    fn patch(&mut self, target: &ObjRef, ops: Vec<Value>, t: &Named, f: &Finding) {
        let acc = self.acc(target);
        acc.ops.extend(ops);
        acc.meta.add(t, Some(f));
    }

    /// A whole object from a template: merged into the desired state of its own identity.
    fn object(&mut self, obj: Value, t: &Named, f: Option<&Finding>) -> Result<(), String> {
        let target = Object::from_value(obj.clone(), Origin::Synthetic)
            .map_err(|e| format!("template {} renders no object: {e:?}", t.name))?
            .id;
        self.desire(&target, obj, t, f);
        Ok(())
    }

    fn finding(&mut self, f: &Finding) {
        let templates = templates_for(f);
        // Host files (encryption) change no object; anything else on a Pod that a missing
        // controller owns would be undone by that controller.
        let host_only = templates.iter().all(|t| t.template.file.is_some());
        if f.object.kind == "Pod" && !host_only {
            if let Some(owner) = self.live(f).ok().and_then(Object::controller_owner) {
                self.unfixed(
                    f,
                    format!(
                        "the Pod is owned by {} {}, which is not in the source: fix the owner's pod template",
                        owner.kind, owner.name
                    ),
                );
                return;
            }
        }
        if templates.is_empty() {
            self.unfixed(f, "no remediation template for this check");
            return;
        }
        for t in templates {
            if let Err(reason) = self.apply_template(f, t) {
                self.unfixed(f, reason);
                return;
            }
        }
    }

    fn live(&self, f: &Finding) -> Result<&'a Object, String> {
        self.inv
            .resolve(&f.object)
            .ok_or_else(|| format!("{} is not in the source", f.object))
    }

    fn apply_template(&mut self, f: &Finding, t: &'static Named) -> Result<(), String> {
        let tpl = &t.template;
        if let Some(value) = &tpl.set {
            let obj = self.live(f)?;
            let segs = edit::resolve(&obj.raw, &f.path)
                .ok_or_else(|| format!("path {} not found in {}", f.path, f.object))?;
            let params = self.params_for_set(f, obj)?;
            let value = template::render(value, &params)?;
            let partial = edit::partial_at(&obj.raw, &segs, value)
                .ok_or_else(|| format!("cannot address {} in {}", f.path, f.object))?;
            self.desire(&f.object, partial, t, Some(f));
            return Ok(());
        }
        if let Some(fields) = &tpl.set_in_pod_spec {
            let obj = self.live(f)?;
            let base = pod_spec_path(obj.kind());
            let segs = edit::resolve(&obj.raw, base)
                .ok_or_else(|| format!("{} has no pod spec", f.object))?;
            let fields = template::render(fields, &Params::new())?;
            let partial = edit::partial_at(&obj.raw, &segs, fields)
                .ok_or_else(|| format!("cannot address the pod spec of {}", f.object))?;
            self.desire(&f.object, partial, t, Some(f));
            return Ok(());
        }
        if let Some(removal) = tpl.remove {
            let obj = self.live(f)?;
            let ops = removal_ops(obj, &f.path, removal)?;
            if removal == Removal::Subject && !tpl.objects.is_empty() {
                // The replacement binding (KH-RBAC-002): only for service accounts.
                let subject = edit::resolve(&obj.raw, &f.path)
                    .and_then(|s| edit::get(&obj.raw, &subject_segs(&s)).cloned())
                    .unwrap_or(Value::Null);
                if subject.get("kind").and_then(Value::as_str) != Some("ServiceAccount") {
                    return Err("only service-account subjects are rebound automatically".into());
                }
                let mut params = Params::new();
                params.insert(
                    "namespace",
                    subject
                        .get("namespace")
                        .cloned()
                        .or_else(|| obj.namespace().map(|n| json!(n)))
                        .ok_or("the subject has no namespace")?,
                );
                params.insert(
                    "serviceaccount",
                    subject
                        .get("name")
                        .cloned()
                        .ok_or("the subject has no name")?,
                );
                for o in &tpl.objects {
                    let o = template::render(o, &params)?;
                    self.object(o, t, Some(f))?;
                }
            }
            self.patch(&f.object, ops, t, f);
            return Ok(());
        }
        if let Some(file) = &tpl.file {
            let mut params = Params::new();
            let today = self.opts.today.unwrap_or(jiff::civil::date(2000, 1, 1));
            params.insert(
                "keyname",
                json!(format!("key-{}", today.strftime("%Y%m%d"))),
            );
            let content = match template::render_str(&file.content, &params)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let entry = self
                .host_files
                .entry(file.name.clone())
                .or_insert_with(|| (content, Meta::default()));
            entry.1.add(t, Some(f));
            return Ok(());
        }
        if tpl.explicit_rules {
            let binding = self.live(f)?;
            let role = crate::model::rbac::bound_role(self.inv, binding)
                .ok_or_else(|| format!("the role {} refers to is not in the source", f.object))?;
            let rules = crate::model::rbac::explicit_rules(role)?;
            let current = role.raw.get("rules").cloned().unwrap_or(Value::Null);
            let ops = vec![
                json!({"op": "test", "path": "/rules", "value": current}),
                json!({"op": "replace", "path": "/rules", "value": rules}),
            ];
            self.patch(&role.id, ops, t, f);
            return Ok(());
        }
        if !tpl.objects.is_empty() {
            let params = self.params_for_objects(f, t)?;
            for o in &tpl.objects {
                let o = template::render(o, &params)?;
                self.object(o, t, Some(f))?;
            }
            return Ok(());
        }
        Err(format!("template {} has no action", t.name))
    }

    fn params_for_set(&mut self, f: &Finding, obj: &Object) -> Result<Params, String> {
        let mut p = Params::new();
        match f.check {
            "KH-IMG-001" | "KH-IMG-002" => {
                let container_path = f.path.strip_suffix(".image").unwrap_or(&f.path);
                let container = edit::resolve(&obj.raw, container_path)
                    .and_then(|s| edit::get(&obj.raw, &s))
                    .and_then(|c| c.get("name"))
                    .and_then(Value::as_str)
                    .ok_or("container not found")?;
                let image = edit::resolve(&obj.raw, &f.path)
                    .and_then(|s| edit::get(&obj.raw, &s))
                    .and_then(Value::as_str)
                    .ok_or("image not found")?;
                let inv = self.inv;
                let digests = self
                    .digests
                    .get_or_insert_with(|| crate::checks::images::running_digests(inv));
                let digest = digests
                    .get(&(obj.id.clone(), container.to_string()))
                    .ok_or(
                        "no running pod reports the image's digest (pinning needs a live cluster)",
                    )?;
                let base = image.split_once('@').map_or(image, |(b, _)| b);
                p.insert("pinned", json!(format!("{base}@{digest}")));
            }
            "KH-IMG-009" => {
                let image = edit::resolve(&obj.raw, &f.path)
                    .and_then(|s| edit::get(&obj.raw, &s))
                    .and_then(Value::as_str)
                    .ok_or("image not found")?;
                let rest = image
                    .strip_prefix("k8s.gcr.io/")
                    .ok_or("the image does not start with k8s.gcr.io/")?;
                p.insert("image", json!(format!("registry.k8s.io/{rest}")));
            }
            _ => {}
        }
        Ok(p)
    }

    fn params_for_objects(&self, f: &Finding, t: &Named) -> Result<Params, String> {
        let mut p = Params::new();
        let namespace = f
            .object
            .namespace
            .clone()
            .or_else(|| (f.object.kind == "Namespace").then(|| f.object.name.clone()));
        if let Some(ns) = namespace {
            p.insert("namespace", json!(ns));
        }
        if t.template.fixes.iter().any(|c| c == "KH-IMG-005") {
            let (prefixes, shown) = registry_prefixes(self.inv, &self.opts.allowed_registries)?;
            let cel = prefixes
                .iter()
                .map(|x| format!("'{x}'"))
                .collect::<Vec<_>>()
                .join(", ");
            p.insert("prefixes", json!(format!("[{cel}]")));
            p.insert("registries", json!(shown.join(", ")));
            p.insert(
                "pattern",
                json!(
                    prefixes
                        .iter()
                        .map(|x| format!("{x}*"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
            );
            p.insert("repos", json!(prefixes));
        }
        Ok(p)
    }
}

/// The templates for a finding: those whose `match` its path contains, else those without.
fn templates_for(f: &Finding) -> Vec<&'static Named> {
    let of_check: Vec<&Named> = template::all()
        .iter()
        .filter(|t| t.template.fixes.iter().any(|c| c == f.check))
        .filter(|t| !t.name.starts_with("KH-NET-") && !t.name.starts_with("KH-IMG-005"))
        .collect();
    let matching: Vec<&Named> = of_check
        .iter()
        .copied()
        .filter(|t| {
            t.template
                .matches
                .as_deref()
                .is_some_and(|m| f.path.contains(m))
        })
        .collect();
    if !matching.is_empty() {
        return matching;
    }
    of_check
        .into_iter()
        .filter(|t| t.template.matches.is_none())
        .collect()
}

/// Allowed image prefixes for the admission policy: the configured registries, or, when
/// none are configured, the registries the source runs today (to be reviewed). Entries
/// with characters outside `[A-Za-z0-9._:/-]` are refused rather than quoted into CEL.
fn registry_prefixes(
    inv: &Inventory,
    configured: &[String],
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut entries: Vec<String> = configured.to_vec();
    if entries.is_empty() {
        let mut seen = BTreeSet::new();
        for spec in inv.pod_specs() {
            for c in crate::checks::containers(&spec.spec) {
                if let Some(r) = c.image.and_then(crate::checks::ImageRef::parse) {
                    seen.insert(r.registry);
                }
            }
        }
        entries = seen.into_iter().collect();
    }
    if entries.is_empty() {
        return Err("no allowed registries configured and no images in the source".into());
    }
    let mut prefixes = Vec::new();
    for e in &entries {
        let e = e.trim().trim_end_matches('*');
        if e.is_empty()
            || !e
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
        {
            return Err(format!(
                "registry entry {e:?} has characters a policy cannot hold"
            ));
        }
        prefixes.push(if e.contains('/') {
            e.to_string()
        } else {
            format!("{e}/")
        });
    }
    Ok((prefixes, entries))
}

/// The segments of the binding subject a path points into (`subjects[1].name` → `subjects[1]`).
fn subject_segs(segs: &[Seg]) -> Vec<Seg> {
    let end = segs
        .iter()
        .position(|s| matches!(s, Seg::Index(_)))
        .map_or(segs.len(), |i| i + 1);
    segs.get(..end).unwrap_or(segs).to_vec()
}

/// The guarded JSON patch operations of a removal.
fn removal_ops(obj: &Object, path: &str, removal: Removal) -> Result<Vec<Value>, String> {
    let segs = edit::resolve(&obj.raw, path)
        .ok_or_else(|| format!("path {path} not found in {}", obj.id))?;
    let missing = || format!("{path} no longer exists in {}", obj.id);
    match removal {
        Removal::Field => edit::guarded_remove(&obj.raw, &segs).ok_or_else(missing),
        Removal::ListItem | Removal::Subject => {
            let end = segs
                .iter()
                .rposition(|s| matches!(s, Seg::Index(_)))
                .ok_or_else(|| format!("{path} is not inside a list"))?;
            let item = segs.get(..=end).unwrap_or(&segs);
            edit::guarded_remove(&obj.raw, item).ok_or_else(missing)
        }
        Removal::Volume => {
            let at = segs
                .iter()
                .position(|s| *s == Seg::Key("volumes".into()))
                .ok_or_else(|| format!("{path} is not a volume"))?;
            let vol_segs = segs.get(..at + 2).ok_or_else(missing)?;
            let volume = edit::get(&obj.raw, vol_segs).ok_or_else(missing)?;
            let name = volume
                .get("name")
                .and_then(Value::as_str)
                .ok_or("the volume has no name")?;
            let spec_segs = segs.get(..at).unwrap_or(&[]);
            let mut ops = edit::guarded_remove(&obj.raw, vol_segs).ok_or_else(missing)?;
            let spec = edit::get(&obj.raw, spec_segs)
                .cloned()
                .unwrap_or(Value::Null);
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for (ci, c) in spec
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    for (mi, m) in c
                        .get("volumeMounts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        if m.get("name").and_then(Value::as_str) == Some(name) {
                            let mut s = spec_segs.to_vec();
                            s.extend([
                                Seg::Key(list.into()),
                                Seg::Index(ci),
                                Seg::Key("volumeMounts".into()),
                                Seg::Index(mi),
                            ]);
                            ops.extend(edit::guarded_remove(&obj.raw, &s).ok_or_else(missing)?);
                        }
                    }
                }
            }
            Ok(ops)
        }
    }
}

/// Plans the remediations for `findings` (waived findings are skipped; findings not marked
/// fixable are skipped unless a template gives manual steps for them, as for encryption).
pub fn plan(inv: &Inventory, findings: &[Finding], opts: &Options) -> Plan {
    let mut p = Planner {
        inv,
        opts,
        targets: BTreeMap::new(),
        host_files: BTreeMap::new(),
        unfixed: Vec::new(),
        digests: None,
    };
    let mut namespace_findings: Vec<&Finding> = Vec::new();
    let mut network: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    let mut image_policy: Vec<&Finding> = Vec::new();
    for f in findings.iter().filter(|f| f.waived.is_none()) {
        let manual = f.check.starts_with("KH-ENC-");
        if !f.fixable && !manual {
            continue;
        }
        if manual && templates_for(f).is_empty() {
            continue;
        }
        match f.check {
            "KH-POD-001" | "KH-POD-002" | "KH-POD-003" | "KH-POD-004" => {
                namespace_findings.push(f);
            }
            "KH-NET-002" | "KH-NET-003" | "KH-NET-004" | "KH-NET-005" | "KH-NET-007"
            | "KH-NET-009" => {
                match f
                    .object
                    .namespace
                    .clone()
                    .or_else(|| (f.object.kind == "Namespace").then(|| f.object.name.clone()))
                {
                    Some(ns) => network.entry(ns).or_default().push(f),
                    None => p.unfixed(f, "not about a namespace"),
                }
            }
            "KH-IMG-005" => image_policy.push(f),
            "KH-RBAC-016" => {
                p.finding(f);
                // A pod that asks for the token itself keeps it whatever the account says.
                if let Ok(obj) = p.live(f) {
                    let spec = pod_spec_path(obj.kind());
                    let explicit =
                        Inventory::value_at(obj, &format!("{spec}.automountServiceAccountToken"))
                            == Some(&Value::Bool(true));
                    if let (true, Some(t)) = (explicit, template::named("KH-RBAC-017")) {
                        let _ = p.apply_template(f, t);
                    }
                }
            }
            _ => p.finding(f),
        }
    }
    for (ns, fs) in &network {
        network_fixes(&mut p, ns, fs);
    }
    // An existing registry policy switched to Deny (KH-IMG-006) already enforces: it
    // carries the KH-IMG-005 findings instead of a second policy.
    let switched: Vec<ObjRef> = findings
        .iter()
        .filter(|f| f.check == "KH-IMG-006" && f.fixable && f.waived.is_none())
        .filter(|f| p.targets.keys().any(|(_, t)| *t == *f.object))
        .map(|f| (*f.object).clone())
        .collect();
    if let (Some(target), Some(t)) = (switched.first(), template::named("KH-IMG-006")) {
        for f in std::mem::take(&mut image_policy) {
            p.acc(target).meta.add(t, Some(f));
        }
    }
    if !image_policy.is_empty() {
        let name = match opts.policy_engine {
            PolicyEngine::Vap => "KH-IMG-005-vap",
            PolicyEngine::Kyverno => "KH-IMG-005-kyverno",
            PolicyEngine::Gatekeeper => "KH-IMG-005-gatekeeper",
        };
        for f in image_policy {
            let result = template::named(name)
                .ok_or_else(|| format!("template {name} missing"))
                .and_then(|t| {
                    let params = p.params_for_objects(f, t)?;
                    for o in &t.template.objects {
                        let o = template::render(o, &params)?;
                        p.object(o, t, Some(f))?;
                    }
                    Ok(())
                });
            if let Err(reason) = result {
                p.unfixed(f, reason);
            }
        }
    }
    // Namespace labels last: the level a namespace can enforce is the level its pods meet
    // once the workload fixes above are applied.
    let mut remediations = finish(&mut p);
    if !namespace_findings.is_empty() {
        let after = with_applied(inv, &remediations);
        let ns_rems = namespace_fixes(&mut p, &after, &namespace_findings);
        remediations.extend(ns_rems);
    }
    for (name, (content, meta)) in std::mem::take(&mut p.host_files) {
        remediations.push(build(
            crate::checks::cluster_ref(),
            Form::HostFile,
            Value::String(content),
            Some(name),
            &meta,
        ));
    }
    let mut unfixed = p.unfixed;
    unfixed.sort_by(|a, b| a.finding.cmp(&b.finding));
    unfixed.dedup();
    Plan {
        remediations,
        unfixed,
    }
}

fn network_fixes(p: &mut Planner, ns: &str, fs: &[&Finding]) {
    let open = p.opts.open_egress.iter().any(|n| n == ns);
    let egress_name = if open {
        "KH-NET-007-open-egress"
    } else {
        "KH-NET-004"
    };
    let mut names: Vec<&str> = Vec::new();
    for f in fs {
        let wanted: &[&str] = match f.check {
            "KH-NET-002" | "KH-NET-005" => &["KH-NET-003", egress_name],
            "KH-NET-003" => &["KH-NET-003"],
            "KH-NET-004" | "KH-NET-007" => &[egress_name],
            "KH-NET-009" => &["KH-NET-009"],
            _ => &[],
        };
        for w in wanted {
            if !names.contains(w) {
                names.push(w);
            }
        }
    }
    for name in names {
        let Some(t) = template::named(name) else {
            continue;
        };
        let mut params = Params::new();
        params.insert("namespace", json!(ns));
        let mut ok = true;
        for o in &t.template.objects {
            match template::render(o, &params).and_then(|o| p.object(o, t, None)) {
                Ok(()) => {}
                Err(reason) => {
                    ok = false;
                    for f in fs {
                        p.unfixed(f, reason.clone());
                    }
                }
            }
        }
        if ok {
            // Record the findings on every object of the template that covers them.
            for f in fs
                .iter()
                .filter(|f| t.template.fixes.iter().any(|c| c == f.check))
            {
                for o in &t.template.objects {
                    if let Ok(o) = template::render(o, &params) {
                        if let Ok(obj) = Object::from_value(o, Origin::Synthetic) {
                            p.acc(&obj.id).meta.add(t, Some(f));
                        }
                    }
                }
            }
        }
    }
}

fn namespace_fixes(p: &mut Planner, after: &Inventory, fs: &[&Finding]) -> Vec<Remediation> {
    let Some(t) = template::named("KH-POD-001") else {
        return Vec::new();
    };
    let mut by_ns: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in fs {
        by_ns.entry(f.object.name.as_str()).or_default().push(f);
    }
    let (major, minor) = pss::POLICY_VERSION;
    let version = format!("v{major}.{minor}");
    for (ns, fs) in by_ns {
        let mut weakest: Option<(Level, String)> = None;
        for spec in after.pods_in_namespace(ns) {
            let level = pss::evaluate(spec).level();
            if weakest.as_ref().is_none_or(|(l, _)| level < *l) {
                let who = after
                    .owner_of(spec)
                    .map(|o| o.id.to_string())
                    .unwrap_or_default();
                weakest = Some((level, who));
            }
        }
        let current = p
            .inv
            .find("Namespace", None, ns)
            .and_then(|o| o.label("pod-security.kubernetes.io/enforce"))
            .and_then(Level::parse)
            .unwrap_or(Level::Privileged);
        let met = weakest.as_ref().map_or(Level::Restricted, |(l, _)| *l);
        let enforce = met.max(current);
        if enforce == Level::Privileged {
            let who = weakest.map(|(_, w)| w).unwrap_or_default();
            for f in fs {
                p.unfixed(
                    f,
                    format!("{who} needs privileged even after the bundle's pod fixes: fix it, then enforce baseline"),
                );
            }
            continue;
        }
        let mut params = Params::new();
        params.insert("namespace", json!(ns));
        params.insert("enforce", json!(enforce.key()));
        params.insert("version", json!(version));
        for o in &t.template.objects {
            match template::render(o, &params) {
                Ok(o) => {
                    let id = ObjRef::new("v1", "Namespace", None, ns);
                    for f in &fs {
                        p.desire(&id, o.clone(), t, Some(f));
                    }
                }
                Err(reason) => {
                    for f in &fs {
                        p.unfixed(f, reason.clone());
                    }
                }
            }
        }
    }
    finish(p)
}

/// Turns the accumulated desired states and removals into remediations, and empties them.
fn finish(p: &mut Planner) -> Vec<Remediation> {
    let mut out = Vec::new();
    for ((_, target), acc) in std::mem::take(&mut p.targets) {
        let live = p.inv.resolve(&target).map(|o| &o.raw);
        let mut ops = acc.ops;
        let mut apply_change = None;
        if let Some(desired) = &acc.desired {
            let split = edit::split(live, desired);
            ops.extend(split.ops);
            let mut apply = split.apply;
            if let (Some(l), Some(a), false) = (live, &apply, ops.is_empty()) {
                // Values to replace and fields to add on one object: one JSON patch, so that
                // its dry run proves the whole change (the server would judge a second
                // request without the first).
                ops.extend(edit::adds(l, a));
                apply = None;
            }
            if let Some(apply) = apply {
                let mut body = crate::diff::merge(&edit::identity(&target), &apply);
                // The identity wins over whatever the template carried.
                body = crate::diff::merge(&body, &edit::identity(&target));
                let form = match live {
                    Some(_) => Form::ServerSideApply,
                    // Namespaces and default service accounts exist in every cluster even
                    // when the manifests do not show them.
                    None if matches!(target.kind.as_str(), "Namespace")
                        || (target.kind == "ServiceAccount" && target.name == "default") =>
                    {
                        Form::ServerSideApply
                    }
                    None => Form::NewObject,
                };
                apply_change = Some(build(target.clone(), form, body, None, &acc.meta));
            }
        }
        // A patch (removals, from the planner's own ops) goes before an apply: the fields an
        // apply adds can be invalid beside the old values (the API server refuses
        // `allowPrivilegeEscalation: false` next to `privileged: true`), never the reverse.
        let mut changes = Vec::new();
        if !ops.is_empty() {
            changes.push(build(
                target.clone(),
                Form::JsonPatch,
                Value::Array(edit::normalise_ops(ops)),
                None,
                &acc.meta,
            ));
        }
        changes.extend(apply_change);
        match p.inv.resolve(&target) {
            Some(obj) => out.extend(settle_immutable(p, obj, changes, &acc.meta)),
            None => out.extend(changes),
        }
    }
    out
}

/// The changes of one existing object as the server will take them: unchanged when they
/// touch no immutable field; otherwise one [`Form::Recreate`] of the fixed object where that
/// is safe (a bare Pod or an unfinished bare Job), or nothing, with the findings left
/// unfixed and the by-hand step, so that a bundle never holds a change the server refuses.
fn settle_immutable(
    p: &mut Planner,
    obj: &Object,
    changes: Vec<Remediation>,
    meta: &Meta,
) -> Vec<Remediation> {
    let mut after = vec![obj.clone()];
    if changes.iter().any(|r| apply_local(&mut after, r).is_err()) {
        return changes;
    }
    let Some(fixed) = after.pop().map(|o| o.raw) else {
        return changes;
    };
    let Some(field) = immutable::refused_change(obj.kind(), &obj.raw, &fixed) else {
        return changes;
    };
    match immutable::recreatable(&obj.raw) {
        Ok(()) => {
            let mut r = build(
                (*obj.id).clone(),
                Form::Recreate,
                immutable::for_recreate(&fixed),
                None,
                meta,
            );
            r.unattended = false;
            r.risks.push(format!(
                "The server does not let an existing {} change {field}: apply deletes it and \
                 creates it again from this file, so its containers stop and start anew.",
                obj.kind()
            ));
            if obj.raw.pointer("/spec/ephemeralContainers").is_some() {
                r.risks.push(
                    "Its ephemeral (debug) containers are not created again: the server takes \
                     them only on a running Pod."
                        .into(),
                );
            }
            vec![r]
        }
        Err(why) => {
            for key in &meta.findings {
                p.unfixed.push(Unfixed {
                    finding: key.clone(),
                    check: key.split(':').next().unwrap_or("").to_string(),
                    reason: format!("changes {field}, which the server keeps immutable: {why}"),
                });
            }
            Vec::new()
        }
    }
}

fn build(
    target: ObjRef,
    form: Form,
    body: Value,
    file: Option<String>,
    meta: &Meta,
) -> Remediation {
    Remediation {
        target,
        form,
        body,
        file,
        checks: meta.checks.iter().cloned().collect(),
        findings: meta.findings.iter().cloned().collect(),
        templates: meta.templates.iter().cloned().collect(),
        titles: meta.titles.clone(),
        risks: meta.risks.clone(),
        unattended: meta.unattended,
        review: meta.review,
        notes: meta.notes.clone(),
        introduces: meta.introduces.iter().cloned().collect(),
        staged: meta.staged,
    }
}

/// The inventory with remediations applied locally.
pub fn with_applied(inv: &Inventory, rems: &[Remediation]) -> Inventory {
    let mut objects: Vec<Object> = inv.objects().to_vec();
    let _ = apply_all(&mut objects, rems);
    Inventory::new(objects)
}

/// Applies remediations in order, as [`apply_local`] does one; returns the index and the
/// reason of each one that could not be applied. Objects are found through an index, so a
/// bundle of 50,000 changes on 100,000 objects merges in linear time.
pub fn apply_all(objects: &mut Vec<Object>, rems: &[Remediation]) -> Vec<(usize, String)> {
    let mut index: std::collections::HashMap<std::sync::Arc<ObjRef>, usize> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.id.clone(), i))
        .collect();
    let mut failed = Vec::new();
    for (i, r) in rems.iter().enumerate() {
        let result = match index.get(&r.target).copied() {
            Some(at) => {
                let mut one = vec![std::mem::replace(&mut objects[at], placeholder(&r.target))];
                let result = apply_local(&mut one, r);
                if let Some(o) = one.pop() {
                    objects[at] = o;
                }
                result
            }
            None => {
                // Absent: whatever the change creates goes to the end, without a search.
                let mut one = Vec::new();
                let result = apply_local(&mut one, r);
                for o in one {
                    index.insert(o.id.clone(), objects.len());
                    objects.push(o);
                }
                result
            }
        };
        if let Err(reason) = result {
            failed.push((i, reason));
        }
    }
    failed
}

/// A stand-in while an object is taken out of its vector.
fn placeholder(id: &ObjRef) -> Object {
    Object {
        id: std::sync::Arc::new(id.clone()),
        uid: None,
        origin: Origin::Synthetic.into(),
        raw: Value::Null,
    }
}

/// Applies a remediation to a set of objects with the semantics the API server would use:
/// server-side apply merges (creating the object when absent), a new object is added (an
/// error when it exists), a JSON patch runs with its tests (an error when one fails: the
/// object changed since the patch was written). Host files change no object.
pub fn apply_local(objects: &mut Vec<Object>, r: &Remediation) -> Result<(), String> {
    let pos = objects.iter().position(|o| *o.id == r.target);
    match r.form {
        Form::HostFile => Ok(()),
        Form::ServerSideApply => {
            match pos.and_then(|i| objects.get_mut(i)) {
                Some(o) => o.raw = crate::diff::merge(&o.raw, &r.body),
                None => objects.push(
                    Object::from_value(r.body.clone(), Origin::Synthetic)
                        .map_err(|e| format!("{}: not an object: {e:?}", r.target))?,
                ),
            }
            Ok(())
        }
        Form::NewObject => {
            if pos.is_some() {
                return Err(format!("{} already exists", r.target));
            }
            objects.push(
                Object::from_value(r.body.clone(), Origin::Synthetic)
                    .map_err(|e| format!("{}: not an object: {e:?}", r.target))?,
            );
            Ok(())
        }
        Form::Recreate => {
            let o = pos
                .and_then(|i| objects.get_mut(i))
                .ok_or_else(|| format!("{} does not exist", r.target))?;
            // The new object runs as the old one did: its status is kept, for checks that
            // read what runs.
            let mut body = r.body.clone();
            if let (Some(m), Some(status)) = (body.as_object_mut(), o.raw.get("status")) {
                m.insert("status".into(), status.clone());
            }
            o.raw = body;
            Ok(())
        }
        Form::JsonPatch => {
            let o = pos
                .and_then(|i| objects.get_mut(i))
                .ok_or_else(|| format!("{} does not exist", r.target))?;
            let patch: json_patch::Patch = serde_json::from_value(r.body.clone())
                .map_err(|e| format!("{}: not a JSON patch: {e}", r.target))?;
            let mut doc = o.raw.clone();
            json_patch::patch(&mut doc, &patch).map_err(|e| format!("{}: {e}", r.target))?;
            o.raw = doc;
            Ok(())
        }
    }
}

/// The object before and after a remediation, and their diff.
pub fn preview(inv: &Inventory, r: &Remediation) -> Preview {
    let before = inv.resolve(&r.target).map(|o| o.raw.clone());
    let mut objects: Vec<Object> = before
        .iter()
        .filter_map(|b| Object::from_value(b.clone(), Origin::Synthetic).ok())
        .collect();
    let after = match apply_local(&mut objects, r) {
        Ok(()) => objects
            .into_iter()
            .find(|o| *o.id == r.target)
            .map(|o| o.raw)
            .unwrap_or(Value::Null),
        Err(_) => before.clone().unwrap_or(Value::Null),
    };
    let diff = match r.form {
        Form::HostFile => match &r.body {
            Value::String(s) => similar::TextDiff::from_lines("", s.as_str())
                .unified_diff()
                .header("/dev/null", r.file.as_deref().unwrap_or("file"))
                .to_string(),
            _ => String::new(),
        },
        _ => match &before {
            Some(b) => crate::diff::unified(
                b,
                &after,
                &format!("{} (now)", r.target),
                &format!("{} (fixed)", r.target),
            ),
            None => {
                let (text, _) = crate::model::yaml::render(&crate::diff::canonical(&after));
                similar::TextDiff::from_lines("", text.as_str())
                    .unified_diff()
                    .header("/dev/null", &format!("{} (new)", r.target))
                    .to_string()
            }
        },
    };
    Preview {
        before,
        after,
        diff,
    }
}
