//! The Pod Security Standards, control by control, as Pod Security Admission
//! (`k8s.io/pod-security-admission/policy`) evaluates them at the latest released policy
//! version ([`POLICY_VERSION`]).
//!
//! Every function here is pure: it takes a [`PodSpecRef`] and returns the offending fields as
//! dotted paths under the spec's own path (`spec.template.spec.containers[0]…`), with a message
//! that names the pod or container and the value. Container controls visit init, regular and
//! ephemeral containers, as PSA does. Pod-level and container-level settings are combined the
//! way PSA combines them:
//!
//! * `runAsNonRoot` and the restricted `seccompProfile`: a valid pod-level value covers
//!   containers that leave the field unset; an explicit bad value anywhere fails.
//! * `runAsUser: 0`, `privileged`, `hostProcess`, SELinux, AppArmor and baseline seccomp: every
//!   place that sets the field is judged on its own.
//! * `spec.os.name: windows` skips the restricted `allowPrivilegeEscalation`, `capabilities`
//!   and `seccompProfile` controls (policy ≥ 1.25).
//! * `spec.hostUsers: false` skips `runAsNonRoot` and `runAsUser` and relaxes the baseline
//!   `procMount` control (policy ≥ 1.35); the restricted `procMount` control stays strict.
//!
//! [`evaluate`] runs every control and applies PSA's overrides: at the restricted level the
//! restricted volume, seccomp, capabilities and procMount controls *replace* their baseline
//! counterparts. One consequence is copied on purpose: a Windows pod that adds `NET_RAW` or
//! sets seccomp `Unconfined` fails baseline yet passes restricted, exactly as PSA decides.

use crate::model::{PodSpecRef, PssLevel};
use k8s_openapi::api::core::v1::{
    ContainerPort, Lifecycle, LifecycleHandler, PodSpec, Probe, SecurityContext, Volume,
};
use serde::Serialize;

mod baseline;
mod containers;
mod restricted;
mod sockets;
mod version;

pub use baseline::*;
pub use containers::{in_user_namespace, is_windows};
pub use restricted::*;
pub use sockets::*;
pub use version::PolicyVersion;

/// The latest policy version as `(major, minor)`: [`PolicyVersion::LATEST`].
pub const POLICY_VERSION: (u32, u32) = (1, PolicyVersion::LATEST.minor());

/// Capabilities the baseline level allows in `capabilities.add` (exact, case-sensitive).
pub const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls the baseline level allows, with the policy version that made each one safe.
pub const SAFE_SYSCTLS: &[(&str, (u32, u32))] = &[
    ("kernel.shm_rmid_forced", (1, 0)),
    ("net.ipv4.ip_local_port_range", (1, 0)),
    ("net.ipv4.ip_unprivileged_port_start", (1, 0)),
    ("net.ipv4.tcp_syncookies", (1, 0)),
    ("net.ipv4.ping_group_range", (1, 0)),
    ("net.ipv4.ip_local_reserved_ports", (1, 27)),
    ("net.ipv4.tcp_keepalive_time", (1, 29)),
    ("net.ipv4.tcp_fin_timeout", (1, 29)),
    ("net.ipv4.tcp_keepalive_intvl", (1, 29)),
    ("net.ipv4.tcp_keepalive_probes", (1, 29)),
    ("net.ipv4.tcp_rmem", (1, 32)),
    ("net.ipv4.tcp_wmem", (1, 32)),
    ("net.ipv4.tcp_slow_start_after_idle", (1, 37)),
    ("net.ipv4.tcp_notsent_lowat", (1, 37)),
];

/// SELinux types the baseline level allows (`""` means unset); `container_engine_t` from v1.31.
pub const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Volume types the restricted level allows.
pub const RESTRICTED_VOLUME_TYPES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The annotation prefix of the (deprecated, still enforced) AppArmor annotations.
pub const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// One offending field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Dotted path of the field, under the object that holds the pod spec.
    pub path: String,
    /// What is wrong, naming the pod or container and the value.
    pub message: String,
}

impl Violation {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Violation {
        Violation {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A Pod Security Admission control (one `check_*.go` of the policy package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Control {
    /// Baseline: `windowsOptions.hostProcess`.
    WindowsHostProcess,
    /// Baseline: `hostNetwork`, `hostPID`, `hostIPC`.
    HostNamespaces,
    /// Baseline: `securityContext.privileged`.
    Privileged,
    /// Baseline: `capabilities.add` beyond the baseline set.
    CapabilitiesBaseline,
    /// Baseline: `hostPath` volumes.
    HostPathVolumes,
    /// Baseline: `ports[*].hostPort`.
    HostPorts,
    /// Baseline: AppArmor fields and annotations.
    AppArmorProfile,
    /// Baseline: `seLinuxOptions`.
    SeLinuxOptions,
    /// Baseline: `procMount` (relaxed for `hostUsers: false`).
    ProcMount,
    /// Baseline: seccomp `Unconfined`.
    SeccompProfileBaseline,
    /// Baseline: unsafe sysctls.
    Sysctls,
    /// Baseline: `host` in probes and lifecycle handlers.
    HostProbesAndHostLifecycle,
    /// Restricted: volume types.
    RestrictedVolumes,
    /// Restricted: `allowPrivilegeEscalation: false`.
    AllowPrivilegeEscalation,
    /// Restricted: `runAsNonRoot: true`.
    RunAsNonRoot,
    /// Restricted: `runAsUser` not 0.
    RunAsUser,
    /// Restricted: seccomp `RuntimeDefault` or `Localhost` set.
    SeccompProfileRestricted,
    /// Restricted: drop `ALL`, add only `NET_BIND_SERVICE`.
    CapabilitiesRestricted,
    /// Restricted: `procMount` unset or `Default`, whatever `hostUsers` says.
    ProcMountRestricted,
}

impl Control {
    /// Every control, baseline first, in PSA's order.
    pub const ALL: [Control; 19] = [
        Control::WindowsHostProcess,
        Control::HostNamespaces,
        Control::Privileged,
        Control::CapabilitiesBaseline,
        Control::HostPathVolumes,
        Control::HostPorts,
        Control::AppArmorProfile,
        Control::SeLinuxOptions,
        Control::ProcMount,
        Control::SeccompProfileBaseline,
        Control::Sysctls,
        Control::HostProbesAndHostLifecycle,
        Control::RestrictedVolumes,
        Control::AllowPrivilegeEscalation,
        Control::RunAsNonRoot,
        Control::RunAsUser,
        Control::SeccompProfileRestricted,
        Control::CapabilitiesRestricted,
        Control::ProcMountRestricted,
    ];

    /// PSA's check ID, as in its audit annotations.
    pub fn psa_id(self) -> &'static str {
        match self {
            Control::WindowsHostProcess => "windowsHostProcess",
            Control::HostNamespaces => "hostNamespaces",
            Control::Privileged => "privileged",
            Control::CapabilitiesBaseline => "capabilities_baseline",
            Control::HostPathVolumes => "hostPathVolumes",
            Control::HostPorts => "hostPorts",
            Control::AppArmorProfile => "appArmorProfile",
            Control::SeLinuxOptions => "seLinuxOptions",
            Control::ProcMount => "procMount",
            Control::SeccompProfileBaseline => "seccompProfile_baseline",
            Control::Sysctls => "sysctls",
            Control::HostProbesAndHostLifecycle => "hostProbesAndHostLifecycle",
            Control::RestrictedVolumes => "restrictedVolumes",
            Control::AllowPrivilegeEscalation => "allowPrivilegeEscalation",
            Control::RunAsNonRoot => "runAsNonRoot",
            Control::RunAsUser => "runAsUser",
            Control::SeccompProfileRestricted => "seccompProfile_restricted",
            Control::CapabilitiesRestricted => "capabilities_restricted",
            Control::ProcMountRestricted => "procMount_restricted",
        }
    }

    /// The level the control belongs to.
    pub fn level(self) -> PssLevel {
        match self {
            Control::RestrictedVolumes
            | Control::AllowPrivilegeEscalation
            | Control::RunAsNonRoot
            | Control::RunAsUser
            | Control::SeccompProfileRestricted
            | Control::CapabilitiesRestricted
            | Control::ProcMountRestricted => PssLevel::Restricted,
            _ => PssLevel::Baseline,
        }
    }

    /// The baseline control a restricted control replaces at the restricted level.
    pub fn overrides(self) -> Option<Control> {
        match self {
            Control::RestrictedVolumes => Some(Control::HostPathVolumes),
            Control::SeccompProfileRestricted => Some(Control::SeccompProfileBaseline),
            Control::CapabilitiesRestricted => Some(Control::CapabilitiesBaseline),
            Control::ProcMountRestricted => Some(Control::ProcMount),
            _ => None,
        }
    }

    /// Whether the control exists at a policy version (the first version PSA registers it).
    pub fn defined_at(self, v: PolicyVersion) -> bool {
        match self {
            Control::AllowPrivilegeEscalation => v.since(8),
            Control::SeccompProfileRestricted => v.since(19),
            Control::CapabilitiesRestricted => v.since(22),
            Control::RunAsUser => v.since(23),
            Control::HostProbesAndHostLifecycle => v.since(34),
            Control::ProcMountRestricted => v.since(35),
            _ => true,
        }
    }

    /// Whether the control is part of the evaluation at a level (latest version).
    pub fn applies_at(self, level: PssLevel) -> bool {
        self.applies_at_version(level, PolicyVersion::LATEST)
    }

    /// Whether the control is part of the evaluation at a level and policy version: it exists
    /// there, and at the restricted level no restricted control that exists there replaces it.
    pub fn applies_at_version(self, level: PssLevel, v: PolicyVersion) -> bool {
        self.defined_at(v)
            && match level {
                PssLevel::Baseline => self.level() == PssLevel::Baseline,
                PssLevel::Restricted => !Control::ALL.iter().any(|c| {
                    c.level() == PssLevel::Restricted
                        && c.defined_at(v)
                        && c.overrides() == Some(self)
                }),
            }
    }

    /// Runs the control at the latest version.
    pub fn check(self, spec: &PodSpecRef) -> Vec<Violation> {
        self.check_at(spec, PolicyVersion::LATEST)
    }

    /// Runs the control as a policy version defines it (nothing when it does not exist there).
    pub fn check_at(self, spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
        if !self.defined_at(v) {
            return Vec::new();
        }
        match self {
            Control::WindowsHostProcess => windows_host_process(spec),
            Control::HostNamespaces => {
                let mut v = host_pid_ipc(spec);
                v.extend(host_network(spec));
                v
            }
            Control::Privileged => privileged(spec),
            Control::CapabilitiesBaseline => capabilities_baseline(spec),
            Control::HostPathVolumes => host_path_volumes(spec),
            Control::HostPorts => host_ports(spec),
            Control::AppArmorProfile => app_armor(spec),
            Control::SeLinuxOptions => se_linux_options_at(spec, v),
            Control::ProcMount => proc_mount_baseline_at(spec, v),
            Control::SeccompProfileBaseline => seccomp_baseline_at(spec, v),
            Control::Sysctls => sysctls_at(spec, v),
            Control::HostProbesAndHostLifecycle => probe_and_lifecycle_host(spec),
            Control::RestrictedVolumes => restricted_volumes(spec),
            Control::AllowPrivilegeEscalation => allow_privilege_escalation_at(spec, v),
            Control::RunAsNonRoot => run_as_non_root_at(spec, v),
            Control::RunAsUser => run_as_user_at(spec, v),
            Control::SeccompProfileRestricted => seccomp_restricted_at(spec, v),
            Control::CapabilitiesRestricted => capabilities_restricted_at(spec, v),
            Control::ProcMountRestricted => proc_mount_restricted(spec),
        }
    }
}

/// The most permissive to the strictest Pod Security Standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No restrictions.
    Privileged,
    /// Known privilege escalations prevented.
    Baseline,
    /// Hardened.
    Restricted,
}

impl Level {
    /// `privileged`, `baseline` or `restricted`, as in the namespace labels.
    pub fn key(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// Parses a namespace label value.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }
}

/// A control that failed, with its offending fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The control.
    pub control: Control,
    /// Where and why.
    pub violations: Vec<Violation>,
}

/// What Pod Security Admission would decide about a pod spec at [`POLICY_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PssVerdict {
    /// Admitted by `enforce: baseline`.
    pub baseline: bool,
    /// Admitted by `enforce: restricted`.
    pub restricted: bool,
    /// Every control that failed, in [`Control::ALL`] order.
    pub failed: Vec<Failure>,
    /// The policy version the controls were judged at.
    pub version: PolicyVersion,
}

impl PssVerdict {
    /// Whether a namespace enforcing `level` admits the pod.
    pub fn meets(&self, level: Level) -> bool {
        match level {
            Level::Privileged => true,
            Level::Baseline => self.baseline,
            Level::Restricted => self.restricted,
        }
    }

    /// The strictest level that admits the pod.
    pub fn level(&self) -> Level {
        if self.restricted {
            Level::Restricted
        } else if self.baseline {
            Level::Baseline
        } else {
            Level::Privileged
        }
    }

    /// The failed controls.
    pub fn failed_controls(&self) -> impl Iterator<Item = Control> + '_ {
        self.failed.iter().map(|f| f.control)
    }

    /// The failed controls that count at a level (restricted overrides taken into account).
    pub fn failed_at(&self, level: PssLevel) -> impl Iterator<Item = Control> + '_ {
        self.failed_controls()
            .filter(move |c| c.applies_at_version(level, self.version))
    }
}

/// Evaluates every control on a pod spec.
pub fn evaluate(spec: &PodSpecRef) -> PssVerdict {
    evaluate_at(spec, PolicyVersion::LATEST)
}

/// Evaluates every control that exists at a policy version, as that version defines it.
pub fn evaluate_at(spec: &PodSpecRef, version: PolicyVersion) -> PssVerdict {
    let failed: Vec<Failure> = Control::ALL
        .iter()
        .filter_map(|&control| {
            let violations = control.check_at(spec, version);
            (!violations.is_empty()).then_some(Failure {
                control,
                violations,
            })
        })
        .collect();
    let passes = |level: PssLevel| {
        !failed
            .iter()
            .any(|f| f.control.applies_at_version(level, version))
    };
    PssVerdict {
        baseline: passes(PssLevel::Baseline),
        restricted: passes(PssLevel::Restricted),
        failed,
        version,
    }
}
