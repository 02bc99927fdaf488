//! The check registry: every check with its stable ID, area, severity, rationale and
//! references, and a pure function from the inventory to findings.
//!
//! Nothing here performs I/O.

mod encryption;
pub mod images;
mod network;
mod pods;
pub mod pss;
mod rbac;

use crate::model::{Area, Finding, Inventory, ObjRef, Object, Origin, PssLevel, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub use images::ImageRef;

/// A check: identity, documentation and the function that runs it.
#[derive(Debug, Serialize)]
pub struct CheckDef {
    /// Stable ID, `KH-<AREA>-NNN`; never renumbered or reused.
    pub id: &'static str,
    /// The area it belongs to.
    pub area: Area,
    /// Default severity of its findings.
    pub severity: Severity,
    /// One-line title.
    pub title: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// CIS Kubernetes Benchmark, NSA/CISA guide, Pod Security Standards control.
    pub references: &'static [&'static str],
    /// The Pod Security Standards level whose control this check implements, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pss: Option<PssLevel>,
    /// Whether kubeharden writes a remediation for its findings.
    pub fixable: bool,
    /// The check itself.
    #[serde(skip)]
    pub run: fn(&Inventory, &Settings) -> Outcome,
}

/// What a check saw: how many subjects it judged, and the ones that failed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Number of subjects (objects, containers, namespaces) the check judged.
    pub evaluated: usize,
    /// The failures.
    pub hits: Vec<Hit>,
}

/// One failure, before the registry adds the check's identity.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The object.
    pub object: std::sync::Arc<ObjRef>,
    /// Where the object came from.
    pub origin: std::sync::Arc<Origin>,
    /// Dotted path of the offending field.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// A severity other than the check's default, when the check grades its findings.
    pub severity: Option<Severity>,
    /// Whether kubeharden can fix this finding, when it differs from the check's default
    /// (a cluster-admin binding of a User, a digest the cluster does not report).
    pub fixable: Option<bool>,
}

impl Hit {
    /// A failure on an object.
    pub fn on(obj: &Object, path: impl Into<String>, message: impl Into<String>) -> Hit {
        Hit {
            object: obj.id.clone(),
            origin: obj.origin.clone(),
            path: path.into(),
            message: message.into(),
            severity: None,
            fixable: None,
        }
    }

    /// The same hit, marked as one kubeharden cannot fix.
    pub fn unfixable(mut self) -> Hit {
        self.fixable = Some(false);
        self
    }

    /// The same hit, marked fixable or not.
    pub fn fixable_if(mut self, fixable: bool) -> Hit {
        self.fixable = Some(fixable);
        self
    }
}

/// Every check, grouped by area. `kubeharden checks` prints this table.
pub static CHECKS: &[CheckDef] = &[
    rbac::WILDCARDS,
    rbac::CLUSTER_ADMIN_BINDING,
    rbac::ANONYMOUS,
    rbac::ALL_AUTHENTICATED,
    rbac::SECRET_READ,
    rbac::WORKLOAD_CREATE,
    rbac::POD_EXEC,
    rbac::ESCALATION,
    rbac::NODE_PROXY,
    rbac::TOKEN_CREATE,
    rbac::CSR_APPROVAL,
    rbac::WEBHOOK_WRITE,
    rbac::DEFAULT_SA_TOKEN,
    rbac::UNNEEDED_TOKEN,
    rbac::POWERFUL_WORKLOAD,
    rbac::DANGLING_BINDING,
    encryption::PROVIDER_CONFIG_NOT_SET,
    encryption::IDENTITY_FIRST,
    encryption::DISCOURAGED_PROVIDER,
    encryption::SECRETS_NOT_COVERED,
    encryption::CANNOT_VERIFY,
    encryption::NO_AUTOMATIC_RELOAD,
    pods::NAMESPACE_NOT_ENFORCING,
    pods::ENFORCE_WITHOUT_WARN_AUDIT,
    pods::UNPINNED_POLICY_VERSION,
    pods::ENFORCE_WEAKER_THAN_PODS,
    pods::PRIVILEGED,
    pods::HOST_PID_IPC,
    pods::HOST_NETWORK,
    pods::CAPABILITIES_BASELINE,
    pods::HOST_PATH,
    pods::HOST_PORT,
    pods::WINDOWS_HOST_PROCESS,
    pods::APPARMOR,
    pods::SELINUX,
    pods::PROC_MOUNT,
    pods::SYSCTLS,
    pods::SECCOMP_UNCONFINED,
    pods::PROBE_HOST,
    pods::ALLOW_PRIVILEGE_ESCALATION,
    pods::RUN_AS_NON_ROOT,
    pods::RUN_AS_USER_ROOT,
    pods::CAPABILITIES_RESTRICTED,
    pods::SECCOMP_NOT_SET,
    pods::VOLUME_TYPES,
    pods::RUNTIME_SOCKET,
    pods::WRITABLE_ROOT_FS,
    images::MUTABLE_TAG,
    images::NO_DIGEST,
    images::PULL_POLICY,
    images::UNTRUSTED_REGISTRY,
    images::NO_ADMISSION_ENFORCEMENT,
    images::ENFORCEMENT_NOT_DENYING,
    images::DEPRECATED_REGISTRY,
    network::CNI_MAY_NOT_ENFORCE,
    network::NO_POLICY,
    network::NO_DEFAULT_DENY_INGRESS,
    network::NO_DEFAULT_DENY_EGRESS,
    network::NOT_SELECTED,
    network::ALLOW_ALL,
    network::METADATA_REACHABLE,
    network::ETCD_REACHABLE,
    network::DENY_WITHOUT_DNS,
    network::SELECTS_NOTHING,
    network::HOST_NETWORK,
];

/// A check by ID.
pub fn find(id: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|c| c.id.eq_ignore_ascii_case(id))
}

/// Score and counts of one area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AreaSummary {
    /// The area.
    pub area: Area,
    /// 0–100: the severity-weighted share of judged subjects that pass; `None` when the
    /// area judged nothing it could score.
    pub score: Option<u8>,
    /// Findings per severity.
    pub counts: BTreeMap<Severity, usize>,
    /// Number of findings that are not waived.
    pub findings: usize,
    /// Number of waived findings.
    pub waived: usize,
}

/// The result of running the checks.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Findings, worst first, then by area, check, object and path.
    pub findings: Vec<Finding>,
    /// One summary per area, in session order.
    pub areas: Vec<AreaSummary>,
}

impl Results {
    /// The summary of one area.
    pub fn area(&self, area: Area) -> Option<&AreaSummary> {
        self.areas.iter().find(|a| a.area == area)
    }

    /// Findings of one area.
    pub fn in_area(&self, area: Area) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.area == area)
    }

    /// The worst severity among findings that are not waived, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings
            .iter()
            .filter(|f| f.waived.is_none())
            .map(|f| f.severity)
            .max()
    }
}

/// What checks may depend on besides the inventory: the user's configuration, the date
/// (for waiver expiry) and an EncryptionConfiguration the user passed. No I/O happens here.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The user's configuration.
    pub config: crate::config::Config,
    /// Today, for waiver expiry.
    pub today: jiff::civil::Date,
    /// The EncryptionConfiguration given with `--encryption-config`, summarised.
    pub encryption: Option<crate::model::encryption::EncryptionConfig>,
    /// Whether the source is a cluster (live or demo) rather than manifests: some checks
    /// (admission enforcement) only make sense for a whole cluster.
    pub cluster: bool,
    /// The policy version the per-control Pod Security checks judge at (`--pss-version`).
    pub pss_version: pss::PolicyVersion,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config: crate::config::Config::default(),
            today: jiff::civil::date(2000, 1, 1),
            encryption: None,
            cluster: false,
            pss_version: pss::PolicyVersion::LATEST,
        }
    }
}

/// Runs the checks on all cores (they are pure and independent), results in registry order.
fn run_parallel<'d>(
    defs: &[&'d CheckDef],
    inv: &Inventory,
    settings: &Settings,
) -> Vec<(&'d CheckDef, Outcome)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, defs.len().max(1));
    if threads == 1 || inv.len() < 2_000 {
        return defs.iter().map(|d| (*d, (d.run)(inv, settings))).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(d) = defs.get(i) else { break };
                        mine.push((i, (d.run)(inv, settings)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(results) => results,
                // A check that panics fails the scan as it would on one thread.
                Err(payload) => std::panic::resume_unwind(payload),
            })
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results
        .into_iter()
        .filter_map(|(i, o)| defs.get(i).map(|d| (*d, o)))
        .collect()
}

/// Runs the checks of the given areas (all when empty) and scores every area.
///
/// Findings in excluded namespaces are dropped (their subjects are not judged); severity
/// overrides apply; waived findings are kept, marked, and count as passing.
pub fn run(inv: &Inventory, areas: &[Area], settings: &Settings) -> Results {
    let mut findings = Vec::new();
    // Per area: (weighted total, weighted passes).
    let mut weights: BTreeMap<Area, (u64, u64)> = BTreeMap::new();
    let selected: Vec<&CheckDef> = CHECKS
        .iter()
        .filter(|d| areas.is_empty() || areas.contains(&d.area))
        .collect();
    let outcomes = run_parallel(&selected, inv, settings);
    // Sized once: at 100,000 objects the findings are a fifth of the scan's memory.
    findings.reserve_exact(outcomes.iter().map(|(_, o)| o.hits.len()).sum());
    for (def, mut outcome) in outcomes {
        let config = &settings.config;
        outcome
            .hits
            .retain(|h| !config.excludes(h.object.namespace.as_deref()));
        let severity = config.severity.get(def.id).copied();
        let first = findings.len();
        findings.extend(outcome.hits.into_iter().map(|h| {
            let system = h
                .object
                .namespace
                .as_deref()
                .is_some_and(crate::model::inventory::is_system_namespace);
            let mut f = Finding {
                check: def.id,
                area: def.area,
                severity: severity.or(h.severity).unwrap_or(def.severity),
                message: h.message,
                object: h.object,
                origin: h.origin,
                path: h.path,
                // Platform namespaces run the components that need what the checks
                // flag (CNI agents, kube-proxy, static control-plane pods): reported,
                // never rewritten.
                fixable: h.fixable.unwrap_or(def.fixable) && !system,
                waived: None,
            };
            // Only objects that carry the waive annotation need looking up.
            let object = if inv.has_waive_annotation(&f.object) {
                inv.resolve(&f.object)
            } else {
                None
            };
            if !config.waivers.is_empty() || object.is_some() {
                f.waived = config.waiver_for(&f, object, settings.today);
            }
            f
        }));
        let failing = findings
            .get(first..)
            .unwrap_or_default()
            .iter()
            .filter(|f| f.waived.is_none())
            .map(|f| &*f.object)
            .collect::<BTreeSet<&ObjRef>>()
            .len() as u64;
        let evaluated = (outcome.evaluated as u64).max(failing);
        let passed = evaluated - failing;
        let w = severity.unwrap_or(def.severity).weight();
        let entry = weights.entry(def.area).or_default();
        entry.0 += w * evaluated;
        entry.1 += w * passed;
    }
    sort_findings(&mut findings);
    findings.dedup_by(|a, b| a.check == b.check && a.path == b.path && a.object == b.object);
    let areas = Area::ALL
        .into_iter()
        .filter(|a| areas.is_empty() || areas.contains(a))
        .map(|area| {
            let mut counts = BTreeMap::new();
            let mut n = 0;
            let mut waived = 0;
            for f in findings.iter().filter(|f| f.area == area) {
                if f.waived.is_some() {
                    waived += 1;
                    continue;
                }
                *counts.entry(f.severity).or_insert(0) += 1;
                n += 1;
            }
            let score = weights.get(&area).and_then(|&(total, passed)| {
                (total > 0).then(|| ((passed * 100 + total / 2) / total) as u8)
            });
            AreaSummary {
                area,
                score,
                counts,
                findings: n,
                waived,
            }
        })
        .collect();
    Results { findings, areas }
}

/// Sorts findings by severity (highest first), area, check, object and path. Every field
/// takes part in the order, so unstable sorts are deterministic. The cheap keys go first on
/// one thread; then each run of one severity and check is sorted by object and path, the
/// runs spread over the cores (string comparisons are most of the sort at 200,000 findings).
fn sort_findings(findings: &mut [Finding]) {
    let cheap = |a: &Finding, b: &Finding| {
        b.severity
            .cmp(&a.severity)
            .then(a.area.cmp(&b.area))
            .then(a.check.cmp(b.check))
    };
    findings.sort_unstable_by(cheap);
    let runs: Vec<&mut [Finding]> = findings.chunk_by_mut(|a, b| cheap(a, b).is_eq()).collect();
    crate::par::for_each_part(runs, 20_000, |run| {
        run.sort_unstable_by(|a, b| a.object.cmp(&b.object).then(a.path.cmp(&b.path)));
    });
}

/// One container of a pod spec, from any of the three lists.
pub(crate) struct ContainerView<'a> {
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub list: &'static str,
    /// Index in that list.
    pub index: usize,
    /// Container name.
    pub name: &'a str,
    /// Image reference.
    pub image: Option<&'a str>,
    /// The container's securityContext.
    pub security_context: Option<&'a k8s_openapi::api::core::v1::SecurityContext>,
    /// `imagePullPolicy` as written (None when defaulted).
    pub pull_policy: Option<&'a str>,
}

impl ContainerView<'_> {
    /// Dotted path of the container under a pod-spec path.
    pub fn path(&self, spec_path: &str) -> String {
        format!("{spec_path}.{}[{}]", self.list, self.index)
    }
}

/// initContainers, containers and ephemeralContainers, in that order (as the kubelet starts them).
pub(crate) fn containers(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<ContainerView<'_>> {
    let mut out = Vec::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        out.push(ContainerView {
            list: "initContainers",
            index: i,
            name: &c.name,
            image: c.image.as_deref(),
            security_context: c.security_context.as_ref(),
            pull_policy: c.image_pull_policy.as_deref(),
        });
    }
    for (i, c) in spec.containers.iter().enumerate() {
        out.push(ContainerView {
            list: "containers",
            index: i,
            name: &c.name,
            image: c.image.as_deref(),
            security_context: c.security_context.as_ref(),
            pull_policy: c.image_pull_policy.as_deref(),
        });
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        out.push(ContainerView {
            list: "ephemeralContainers",
            index: i,
            name: &c.name,
            image: c.image.as_deref(),
            security_context: c.security_context.as_ref(),
            pull_policy: c.image_pull_policy.as_deref(),
        });
    }
    out
}

/// The subject of a finding about the cluster as a whole (for example, what the API cannot
/// show): no object of the source stands for it.
pub fn cluster_ref() -> ObjRef {
    ObjRef::new("kubeharden.io/v1", "Cluster", None, "cluster")
}

/// The Namespace object for a namespace name, or a reference to it when the source has none.
pub(crate) fn namespace_hit(inv: &Inventory, ns: &str, path: &str, message: String) -> Hit {
    match inv.find("Namespace", None, ns) {
        Some(obj) => Hit::on(obj, path, message),
        None => Hit {
            object: ObjRef::new("v1", "Namespace", None, ns).into(),
            origin: Origin::Synthetic.into(),
            path: path.to_string(),
            message,
            severity: None,
            fixable: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_grouped_by_area() {
        let mut seen = BTreeSet::new();
        for c in CHECKS {
            assert!(seen.insert(c.id), "duplicate {}", c.id);
            let prefix = match c.area {
                Area::ApiAccess => "KH-RBAC-",
                Area::Encryption => "KH-ENC-",
                Area::PodSecurity => "KH-POD-",
                Area::Images => "KH-IMG-",
                Area::Network => "KH-NET-",
            };
            let num =
                c.id.strip_prefix(prefix)
                    .unwrap_or_else(|| panic!("{}", c.id));
            assert!(
                num.len() == 3 && num.chars().all(|d| d.is_ascii_digit()),
                "{}",
                c.id
            );
            assert!(!c.references.is_empty(), "{} has no references", c.id);
        }
        for area in Area::ALL {
            assert!(CHECKS.iter().any(|c| c.area == area), "no check in {area}");
        }
    }
}
