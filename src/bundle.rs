//! Bundles: a plan written to a folder that a reviewer can read, commit and apply.
//!
//! ```text
//! DIR/
//!   README.md                 what changes, why, risks, how to apply and roll back
//!   kustomization.yaml        the server-side-apply and new objects, in order
//!   NNN-<kind>-<namespace>-<name>-<check>.yaml
//!   patches/NNN-….yaml        JSON patches (kubectl patch --type json --patch-file)
//!   host/<file>               files for the control-plane hosts (manual steps)
//!   findings.json             the findings the bundle addresses
//!   manifest.json             every patch: number, file, target, form, checks, sha256
//! ```
//!
//! A bundle is written to a temporary folder beside the target and renamed into place; an
//! existing non-empty folder is replaced only when asked to.

use crate::model::{Finding, ObjRef};
use crate::remediate::{self, Form, Plan, Remediation};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The field manager every kubeharden apply uses.
pub const FIELD_MANAGER: &str = "kubeharden";

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Position in the apply order, from 1.
    pub number: usize,
    /// Path of the file inside the bundle.
    pub file: String,
    /// The object it changes.
    pub target: Target,
    /// `server-side-apply`, `new-object`, `json-patch` or `host-file`.
    pub form: String,
    /// The checks it fixes.
    pub checks: Vec<String>,
    /// Keys of the findings it fixes.
    pub findings: Vec<String>,
    /// What can break.
    pub risk: Vec<String>,
    /// Safe to apply unattended.
    pub unattended: bool,
    /// Needs a human review first.
    pub review: bool,
    /// Checks it knowingly raises (a staged rollout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub introduces: Vec<String>,
    /// Its findings stay open until a reviewer tightens it (Warn/Audit first).
    #[serde(default)]
    pub staged: bool,
    /// SHA-256 of the file as written, hex.
    pub sha256: String,
}

/// The target of an entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// apiVersion.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// kind.
    pub kind: String,
    /// namespace, for namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// name.
    pub name: String,
}

impl From<&ObjRef> for Target {
    fn from(o: &ObjRef) -> Self {
        Target {
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
        }
    }
}

impl Target {
    /// The object reference.
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(
            &self.api_version,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The kubeharden version that wrote it.
    pub kubeharden: String,
    /// The source the plan was made from.
    pub source: String,
    /// The field manager of every server-side apply.
    #[serde(rename = "fieldManager")]
    pub field_manager: String,
    /// The patches, in apply order.
    pub patches: Vec<Entry>,
}

/// A file name part: lowercase letters, digits, dots and dashes.
fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(60);
    out
}

/// The file name of a remediation: `NNN-<kind>-<namespace>-<name>-<check>.yaml`.
pub fn file_name(number: usize, r: &Remediation) -> String {
    if let (Form::HostFile, Some(f)) = (r.form, &r.file) {
        return format!("host/{}", slug(f));
    }
    let name = format!(
        "{number:03}-{}-{}-{}-{}.yaml",
        slug(&r.target.kind),
        slug(r.target.namespace.as_deref().unwrap_or("cluster")),
        slug(&r.target.name),
        r.primary_check()
    );
    match r.form {
        Form::JsonPatch => format!("patches/{name}"),
        Form::Recreate => format!("recreate/{name}"),
        _ => name,
    }
}

fn header(number: usize, file: &str, r: &Remediation) -> String {
    let mut h = String::new();
    let _ = writeln!(h, "# kubeharden remediation {number:03} ({})", r.form.key());
    let _ = writeln!(h, "# target:     {}", r.target);
    let _ = writeln!(h, "# fixes:      {}", r.checks.join(", "));
    for f in &r.findings {
        let _ = writeln!(h, "# finding:    {f}");
    }
    for t in &r.titles {
        let _ = writeln!(h, "# what:       {t}");
    }
    for risk in &r.risks {
        let _ = writeln!(h, "# risk:       {risk}");
    }
    let _ = writeln!(
        h,
        "# unattended: {}   review: {}",
        if r.unattended { "yes" } else { "no" },
        if r.review { "needed" } else { "not needed" }
    );
    if !r.introduces.is_empty() {
        let _ = writeln!(
            h,
            "# staged:     raises {} until tightened",
            r.introduces.join(", ")
        );
    }
    let _ = writeln!(h, "# apply:      {}", apply_command(file, r));
    h
}

/// ` -n NAMESPACE` for kubectl, or nothing for a cluster-scoped object.
fn ns_flag(o: &ObjRef) -> String {
    o.namespace
        .as_deref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default()
}

/// The kubectl command that applies one file of a bundle by hand.
pub fn apply_command(file: &str, r: &Remediation) -> String {
    let ns = ns_flag(&r.target);
    match r.form {
        Form::ServerSideApply | Form::NewObject => {
            format!("kubectl apply --server-side --field-manager={FIELD_MANAGER} -f {file}")
        }
        Form::JsonPatch => format!(
            "kubectl patch {} {}{ns} --type json --patch-file {file}",
            resource_name(&r.target),
            r.target.name
        ),
        Form::HostFile => "by hand on every control-plane host: see README.md".to_string(),
        // Deletes the live object (waiting until it is gone) and creates the file's.
        Form::Recreate => format!("kubectl replace --force -f {file}"),
    }
}

/// `deployment.apps`, `networkpolicy.networking.k8s.io`: the kind as kubectl takes it.
fn resource_name(o: &ObjRef) -> String {
    let kind = o.kind.to_ascii_lowercase();
    match o.api_version.split_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind,
    }
}

/// The text of one remediation file (header comment and body).
pub fn render_file(number: usize, file: &str, r: &Remediation) -> String {
    let mut text = header(number, file, r);
    match (&r.form, &r.body) {
        (Form::HostFile, Value::String(s)) => {
            // The host file keeps its own format; its header is YAML comments as well.
            text.push_str(s);
        }
        _ => text.push_str(&to_yaml(&r.body)),
    }
    text
}

fn to_yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_else(|_| format!("{v}\n"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Everything a bundle holds, in memory: file paths and contents.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// (relative path, content), README first.
    pub files: Vec<(String, String)>,
    /// The manifest.
    pub manifest: Manifest,
}

/// Renders a plan into the files of a bundle. `inv` gives the live objects for the diffs
/// shown in the README; `findings` are the scan's findings (those the plan addresses go
/// into findings.json).
pub fn render(
    plan: &Plan,
    inv: &crate::model::Inventory,
    findings: &[Finding],
    source: &str,
) -> Rendered {
    let mut files = Vec::new();
    let mut entries = Vec::new();
    let mut resources = Vec::new();
    for (i, r) in plan.remediations.iter().enumerate() {
        let number = i + 1;
        let file = file_name(number, r);
        let text = render_file(number, &file, r);
        entries.push(Entry {
            number,
            file: file.clone(),
            target: Target::from(&r.target),
            form: r.form.key().to_string(),
            checks: r.checks.clone(),
            findings: r.findings.clone(),
            risk: r.risks.clone(),
            unattended: r.unattended,
            review: r.review,
            introduces: r.introduces.clone(),
            staged: r.staged,
            sha256: sha256_hex(text.as_bytes()),
        });
        if matches!(r.form, Form::ServerSideApply | Form::NewObject) {
            resources.push(file.clone());
        }
        files.push((file, text));
    }
    let manifest = Manifest {
        kubeharden: env!("CARGO_PKG_VERSION").to_string(),
        source: source.to_string(),
        field_manager: FIELD_MANAGER.to_string(),
        patches: entries,
    };
    let addressed: std::collections::BTreeSet<&str> = plan
        .remediations
        .iter()
        .flat_map(|r| r.findings.iter().map(String::as_str))
        .collect();
    let addressed_findings: Vec<&Finding> = findings
        .iter()
        .filter(|f| addressed.contains(f.key().as_str()))
        .collect();
    let mut kustomization = String::from(
        "# Built by kubeharden: the server-side-apply and new objects of this bundle, in order.\n\
         # Apply: kubectl apply --server-side --field-manager=kubeharden -k .\n\
         # JSON patches (patches/) and host files (host/) are not part of it: see README.md.\n",
    );
    kustomization.push_str(&to_yaml(&serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    })));
    let readme = readme(plan, inv, &manifest, addressed_findings.len());
    let mut all = vec![
        ("README.md".to_string(), readme),
        ("kustomization.yaml".to_string(), kustomization),
        (
            "findings.json".to_string(),
            serde_json::to_string_pretty(&addressed_findings).unwrap_or_default() + "\n",
        ),
        (
            "manifest.json".to_string(),
            serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n",
        ),
    ];
    all.extend(files);
    Rendered {
        files: all,
        manifest,
    }
}

fn readme(
    plan: &Plan,
    inv: &crate::model::Inventory,
    manifest: &Manifest,
    addressed: usize,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# kubeharden remediation bundle\n");
    let _ = writeln!(
        s,
        "Source: {}. {} changes for {} findings; written by kubeharden {}.\n",
        manifest.source,
        plan.remediations.len(),
        addressed,
        manifest.kubeharden
    );
    let review = plan.remediations.iter().filter(|r| r.review).count();
    let unattended = plan.remediations.iter().filter(|r| r.unattended).count();
    let _ = writeln!(
        s,
        "{unattended} changes are safe to apply unattended; {review} need a human decision \
         (marked **review**). Read the risk of each before applying.\n"
    );
    let _ = writeln!(s, "## How to apply\n");
    let _ = writeln!(
        s,
        "With kubeharden (server-side dry run first, a backup of every object, confirmation, \
         verification):\n\n    kubeharden apply <this folder>\n"
    );
    let _ = writeln!(
        s,
        "With kubectl: preview, then apply the objects, then each JSON patch in order:\n\n    \
         kubectl kustomize .\n    kubectl apply --server-side --field-manager={FIELD_MANAGER} --dry-run=server -k .\n    \
         kubectl apply --server-side --field-manager={FIELD_MANAGER} -k .\n"
    );
    let patches: Vec<&Entry> = manifest
        .patches
        .iter()
        .filter(|e| e.form == "json-patch")
        .collect();
    if !patches.is_empty() {
        let _ = writeln!(
            s,
            "JSON patches (each begins with `test` operations: it fails, changing nothing, when \
             the object no longer holds the reviewed values):\n"
        );
        for (e, r) in patches
            .iter()
            .filter_map(|e| plan.remediations.get(e.number - 1).map(|r| (*e, r)))
        {
            let _ = writeln!(s, "    {}", apply_command(&e.file, r));
        }
        let _ = writeln!(s);
    }
    let recreated: Vec<(&Entry, &Remediation)> = manifest
        .patches
        .iter()
        .filter(|e| e.form == "recreate")
        .filter_map(|e| plan.remediations.get(e.number - 1).map(|r| (e, r)))
        .collect();
    if !recreated.is_empty() {
        let _ = writeln!(
            s,
            "Re-created objects (recreate/): the server refuses these changes on an existing \
             object, so the object is deleted and created again from the file: its containers \
             stop and start anew. `kubeharden apply` asks for each on its own (with `--yes`, \
             only under `--allow-recreate`); by hand, after `kubectl create --dry-run=server -f \
             FILE` (on a copy with another name, as the object still exists):\n"
        );
        for (e, r) in recreated {
            let _ = writeln!(s, "    {}", apply_command(&e.file, r));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## How to roll back\n");
    let _ = writeln!(
        s,
        "`kubeharden apply` keeps the objects it changes in `backup/`; `kubeharden rollback \
         <this folder>` restores them (a re-created object is re-created from its backup) and \
         deletes the objects the bundle created. By hand: re-apply your own manifests, and \
         delete the new objects:\n"
    );
    for r in plan
        .remediations
        .iter()
        .filter(|r| r.form == Form::NewObject)
    {
        let ns = ns_flag(&r.target);
        let _ = writeln!(
            s,
            "    kubectl delete {} {}{ns}",
            resource_name(&r.target),
            r.target.name
        );
    }
    let _ = writeln!(s, "\n## Changes\n");
    for e in &manifest.patches {
        let Some(r) = plan.remediations.get(e.number - 1) else {
            continue;
        };
        let _ = writeln!(
            s,
            "### {:03} {} ({}){}\n",
            e.number,
            r.target,
            r.form.key(),
            if r.review { " **review**" } else { "" }
        );
        let _ = writeln!(s, "File: `{}`. Fixes {}.\n", e.file, r.checks.join(", "));
        for t in &r.titles {
            let _ = writeln!(s, "- {t}");
        }
        for risk in &r.risks {
            let _ = writeln!(s, "- Risk: {risk}");
        }
        for n in &r.notes {
            let _ = writeln!(s, "- Note: {}", n.replace('\n', "\n  "));
        }
        let preview = remediate::preview(inv, r);
        if !preview.diff.is_empty() {
            let _ = writeln!(s, "\n```diff\n{}```", preview.diff);
        }
        let _ = writeln!(s);
    }
    if !plan.unfixed.is_empty() {
        let _ = writeln!(s, "## Not fixed\n");
        for u in &plan.unfixed {
            let _ = writeln!(s, "- `{}`: {}", u.finding, u.reason);
        }
    }
    s
}

/// Writes a rendered bundle to `dir`: into a temporary folder beside it, renamed into place.
/// An existing non-empty `dir` is refused unless `force`.
pub fn write(dir: &Path, rendered: &Rendered, force: bool) -> anyhow::Result<()> {
    let shown = dir.display();
    let non_empty = match std::fs::read_dir(dir) {
        Ok(mut it) => it.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            bail!("{shown}: exists and is not a folder")
        }
        Err(e) => bail!("{shown}: {}", crate::source::files::io_reason(&e)),
    };
    if non_empty && !force {
        bail!(
            "{shown}: folder exists and is not empty; choose another --out or pass --force to replace it"
        );
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("{}: cannot create the folder", parent.display()))?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "bundle".into());
    let tmp = parent.join(format!(".{base}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| -> anyhow::Result<()> {
        let dirs: std::collections::BTreeSet<PathBuf> = rendered
            .files
            .iter()
            .filter_map(|(rel, _)| tmp.join(rel).parent().map(Path::to_path_buf))
            .collect();
        for d in dirs {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("{}: cannot create the folder", d.display()))?;
        }
        // Big bundles are tens of thousands of small files: write them on two threads.
        let half = rendered.files.len().div_ceil(2);
        let write_all = |files: &[(String, String)]| -> anyhow::Result<()> {
            for (rel, text) in files {
                let path = tmp.join(rel);
                std::fs::write(&path, text)
                    .with_context(|| format!("{}: cannot write", path.display()))?;
            }
            Ok(())
        };
        let (first, second) = rendered.files.split_at(half);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| write_all(second));
            let mine = write_all(first);
            let theirs = other
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a writer thread stopped")));
            mine.and(theirs)
        })
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let old = parent.join(format!(".{base}.old-{}", std::process::id()));
        std::fs::rename(dir, &old).with_context(|| format!("{shown}: cannot move it aside"))?;
        if let Err(e) = std::fs::rename(&tmp, dir) {
            let _ = std::fs::rename(&old, dir);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e).with_context(|| format!("{shown}: cannot put the bundle in place"));
        }
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, dir)
            .with_context(|| format!("{shown}: cannot put the bundle in place"))?;
    }
    Ok(())
}

/// A bundle read back from disk.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The remediations, in order, as the files now say (a reviewer may have edited them).
    pub remediations: Vec<Remediation>,
    /// Files whose content changed since kubeharden wrote them.
    pub edited: Vec<String>,
}

/// Reads a bundle: manifest.json and every file it lists.
pub fn read(dir: &Path) -> anyhow::Result<Loaded> {
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "{}: cannot read (is {} a kubeharden bundle?)",
            manifest_path.display(),
            dir.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a bundle manifest", manifest_path.display()))?;
    let mut remediations = Vec::new();
    let mut edited = Vec::new();
    for e in &manifest.patches {
        if e.file.contains("..") || Path::new(&e.file).is_absolute() {
            bail!(
                "{}: entry {} points outside the bundle: {}",
                manifest_path.display(),
                e.number,
                e.file
            );
        }
        let path = dir.join(&e.file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if sha256_hex(text.as_bytes()) != e.sha256 {
            edited.push(e.file.clone());
        }
        let form = match e.form.as_str() {
            "server-side-apply" => Form::ServerSideApply,
            "new-object" => Form::NewObject,
            "json-patch" => Form::JsonPatch,
            "host-file" => Form::HostFile,
            "recreate" => Form::Recreate,
            other => bail!("{}: unknown form {other:?}", path.display()),
        };
        let body = if form == Form::HostFile {
            Value::String(
                text.lines()
                    .skip_while(|l| l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        } else {
            let docs = crate::model::yaml::parse_any(&text);
            match docs.into_iter().next() {
                Some(Ok(d)) => d.value,
                Some(Err(err)) => bail!(
                    "{}: line {}: {}",
                    path.display(),
                    err.line.unwrap_or(0),
                    err.message
                ),
                None => bail!("{}: empty", path.display()),
            }
        };
        let target = e.target.obj_ref();
        if matches!(
            form,
            Form::ServerSideApply | Form::NewObject | Form::Recreate
        ) {
            let id =
                crate::model::Object::from_value(body.clone(), crate::model::Origin::Synthetic)
                    .map(|o| o.id)
                    .map_err(|err| anyhow::anyhow!("{}: not an object: {err:?}", path.display()))?;
            if *id != target {
                bail!(
                    "{}: the file is {id}, the manifest says {target}",
                    path.display()
                );
            }
        }
        if form == Form::JsonPatch
            && serde_json::from_value::<json_patch::Patch>(body.clone()).is_err()
        {
            bail!(
                "{}: not a JSON patch (a list of op/path/value operations)",
                path.display()
            );
        }
        remediations.push(Remediation {
            target,
            form,
            body,
            file: None,
            checks: e.checks.clone(),
            findings: e.findings.clone(),
            templates: Vec::new(),
            titles: Vec::new(),
            risks: e.risk.clone(),
            unattended: e.unattended,
            review: e.review,
            notes: Vec::new(),
            introduces: e.introduces.clone(),
            staged: e.staged,
        });
    }
    Ok(Loaded {
        dir: dir.to_path_buf(),
        manifest,
        remediations,
        edited,
    })
}
