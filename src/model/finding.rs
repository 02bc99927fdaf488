//! Areas, severities and findings.

use super::object::{ObjRef, Origin};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One of the five focus areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// RBAC least privilege.
    ApiAccess,
    /// Secrets encryption in etcd.
    Encryption,
    /// Pod Security Standards.
    PodSecurity,
    /// Image policies.
    Images,
    /// Network policies.
    Network,
}

impl Area {
    /// All areas in the order of the guided session.
    pub const ALL: [Area; 5] = [
        Area::ApiAccess,
        Area::Encryption,
        Area::PodSecurity,
        Area::Images,
        Area::Network,
    ];

    /// The stable machine name (`api-access`).
    pub fn key(self) -> &'static str {
        match self {
            Area::ApiAccess => "api-access",
            Area::Encryption => "encryption",
            Area::PodSecurity => "pod-security",
            Area::Images => "images",
            Area::Network => "network",
        }
    }

    /// The human title.
    pub fn title(self) -> &'static str {
        match self {
            Area::ApiAccess => "API access",
            Area::Encryption => "Data at rest",
            Area::PodSecurity => "Pod security",
            Area::Images => "Image policies",
            Area::Network => "Network policies",
        }
    }

    /// What the area checks and why, in a few lines.
    pub fn summary(self) -> &'static str {
        match self {
            Area::ApiAccess => {
                "Who can do what through the Kubernetes API: RBAC grants that hand out cluster-admin, \
                 Secrets, exec or escalation paths, and service-account tokens mounted where nothing \
                 needs them. A stolen token is worth exactly the permissions bound to it."
            }
            Area::Encryption => {
                "Whether Secrets are encrypted in etcd. Without an encryption provider anyone who reads \
                 etcd or one of its backups reads every Secret. The API shows the apiserver flags only \
                 where its pod is visible; managed control planes must be checked in the provider's console."
            }
            Area::PodSecurity => {
                "The Pod Security Standards (baseline and restricted): privileged containers, host \
                 namespaces, host paths, capabilities, seccomp, running as root, and the Pod Security \
                 Admission labels that make a namespace enforce them."
            }
            Area::Images => {
                "Where images come from and whether they can change under you: mutable tags such as \
                 latest, missing digests, pull policy, untrusted registries, and an admission policy \
                 that enforces the rules."
            }
            Area::Network => {
                "NetworkPolicies: without a default deny every pod can reach every other pod, the cloud \
                 metadata endpoint and the control plane. Policies are allow-lists, so isolation starts \
                 with a default deny per namespace."
            }
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Area {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Area::ALL.into_iter().find(|a| a.key() == s).ok_or_else(|| {
            format!(
                "unknown area {s:?} (expected one of: {})",
                Area::ALL.map(Area::key).join(", ")
            )
        })
    }
}

/// The Pod Security Standards level a control belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PssLevel {
    /// Prevents known privilege escalations.
    Baseline,
    /// Current pod hardening best practice.
    Restricted,
}

impl PssLevel {
    /// `baseline` or `restricted`.
    pub fn key(self) -> &'static str {
        match self {
            PssLevel::Baseline => "baseline",
            PssLevel::Restricted => "restricted",
        }
    }
}

/// How bad a finding is. Ordered from `Info` (lowest) to `Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not a failure: something the tool cannot verify, or context.
    Info,
    /// Hygiene.
    Low,
    /// A defence-in-depth gap.
    Medium,
    /// Escalation or lateral movement one step away.
    High,
    /// A direct path to cluster-admin, node root or all Secrets.
    Critical,
}

impl Severity {
    /// All severities, worst first.
    pub const WORST_FIRST: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The lowercase name.
    pub fn key(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Weight in the area score: how much a failing object costs.
    pub fn weight(self) -> u64 {
        match self {
            Severity::Info => 0,
            Severity::Low => 1,
            Severity::Medium => 3,
            Severity::High => 6,
            Severity::Critical => 10,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" | "med" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" | "crit" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity {s:?} (expected info, low, medium, high or critical)"
            )),
        }
    }
}

/// One problem found on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's stable ID, for example `KH-POD-101`.
    pub check: &'static str,
    /// The check's area.
    pub area: Area,
    /// Severity of this finding (a check may grade its findings).
    pub severity: Severity,
    /// What is wrong, on this object.
    pub message: String,
    /// The object.
    pub object: std::sync::Arc<ObjRef>,
    /// Where the object came from.
    #[serde(skip)]
    pub origin: std::sync::Arc<Origin>,
    /// Dotted path of the offending field, for example
    /// `spec.template.spec.initContainers[0].securityContext.privileged`.
    pub path: String,
    /// Whether kubeharden can write a fix for it.
    pub fixable: bool,
    /// The waiver that accepts this risk, if any. Waived findings are shown, never dropped,
    /// and neither lower the score nor fail a scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived: Option<Waived>,
}

/// A waiver that applies to a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waived {
    /// Why the risk is accepted.
    pub reason: String,
    /// Last day it applies, if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Where the waiver comes from: `config` or `annotation`.
    pub source: &'static str,
}

impl Finding {
    /// A stable key: check, object and path.
    pub fn key(&self) -> String {
        format!(
            "{}:{}/{}/{}:{}",
            self.check,
            self.object.kind,
            self.object.namespace.as_deref().unwrap_or(""),
            self.object.name,
            self.path
        )
    }
}
