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

/// The policy version this module implements: what `latest` resolves to on the newest released
/// Kubernetes (1.36 resolves `latest` to v1.35, the highest version any check registers).
pub const POLICY_VERSION: (u32, u32) = (1, 35);

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
/// (`net.ipv4.tcp_slow_start_after_idle` and `net.ipv4.tcp_notsent_lowat` follow at v1.37,
/// which is unreleased, so they are not here.)
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

    /// Whether the control is part of the evaluation at a level.
    pub fn applies_at(self, level: PssLevel) -> bool {
        match level {
            PssLevel::Baseline => self.level() == PssLevel::Baseline,
            PssLevel::Restricted => !Control::ALL
                .iter()
                .any(|c| c.level() == PssLevel::Restricted && c.overrides() == Some(self)),
        }
    }

    /// Runs the control.
    pub fn check(self, spec: &PodSpecRef) -> Vec<Violation> {
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
            Control::SeLinuxOptions => se_linux_options(spec),
            Control::ProcMount => proc_mount_baseline(spec),
            Control::SeccompProfileBaseline => seccomp_baseline(spec),
            Control::Sysctls => sysctls(spec),
            Control::HostProbesAndHostLifecycle => probe_and_lifecycle_host(spec),
            Control::RestrictedVolumes => restricted_volumes(spec),
            Control::AllowPrivilegeEscalation => allow_privilege_escalation(spec),
            Control::RunAsNonRoot => run_as_non_root(spec),
            Control::RunAsUser => run_as_user(spec),
            Control::SeccompProfileRestricted => seccomp_restricted(spec),
            Control::CapabilitiesRestricted => capabilities_restricted(spec),
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
        self.failed_controls().filter(move |c| c.applies_at(level))
    }
}

/// Evaluates every control on a pod spec.
pub fn evaluate(spec: &PodSpecRef) -> PssVerdict {
    let failed: Vec<Failure> = Control::ALL
        .iter()
        .filter_map(|&control| {
            let violations = control.check(spec);
            (!violations.is_empty()).then_some(Failure {
                control,
                violations,
            })
        })
        .collect();
    let passes = |level: PssLevel| !failed.iter().any(|f| f.control.applies_at(level));
    PssVerdict {
        baseline: passes(PssLevel::Baseline),
        restricted: passes(PssLevel::Restricted),
        failed,
    }
}

// ---------------------------------------------------------------------------------------------
// Containers

/// One container of any of the three lists, with the fields the controls read.
struct Ctr<'a> {
    list: &'static str,
    index: usize,
    name: &'a str,
    sc: Option<&'a SecurityContext>,
    ports: &'a [ContainerPort],
    liveness: Option<&'a Probe>,
    readiness: Option<&'a Probe>,
    startup: Option<&'a Probe>,
    lifecycle: Option<&'a Lifecycle>,
}

impl Ctr<'_> {
    /// Dotted path of the container.
    fn path(&self, spec: &PodSpecRef) -> String {
        format!("{}.{}[{}]", spec.path, self.list, self.index)
    }

    /// Dotted path of a field of the container's securityContext.
    fn sc_path(&self, spec: &PodSpecRef, field: &str) -> String {
        format!("{}.securityContext.{field}", self.path(spec))
    }

    /// `container "app"`, `init container "setup"`, `ephemeral container "debug"`.
    fn who(&self) -> String {
        let word = match self.list {
            "initContainers" => "init container",
            "ephemeralContainers" => "ephemeral container",
            _ => "container",
        };
        format!("{word} {:?}", self.name)
    }
}

/// initContainers, containers, ephemeralContainers: the order of PSA's visitor.
fn ctrs(spec: &PodSpec) -> Vec<Ctr<'_>> {
    let mut out = Vec::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        out.push(Ctr {
            list: "initContainers",
            index: i,
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            liveness: c.liveness_probe.as_ref(),
            readiness: c.readiness_probe.as_ref(),
            startup: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        });
    }
    for (i, c) in spec.containers.iter().enumerate() {
        out.push(Ctr {
            list: "containers",
            index: i,
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            liveness: c.liveness_probe.as_ref(),
            readiness: c.readiness_probe.as_ref(),
            startup: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        });
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        out.push(Ctr {
            list: "ephemeralContainers",
            index: i,
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            liveness: c.liveness_probe.as_ref(),
            readiness: c.readiness_probe.as_ref(),
            startup: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        });
    }
    out
}

/// Dotted path of a field of the pod-level securityContext.
fn pod_sc_path(spec: &PodSpecRef, field: &str) -> String {
    format!("{}.securityContext.{field}", spec.path)
}

/// Dotted path of the pod metadata that goes with the spec (`metadata`, `spec.template.metadata`).
fn metadata_path(spec: &PodSpecRef) -> String {
    match spec.path.strip_suffix("spec") {
        Some(prefix) => format!("{prefix}metadata"),
        None => "metadata".to_string(),
    }
}

/// `spec.os.name: windows` (exact, as PSA compares it).
pub fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// `spec.hostUsers: false`: the pod runs in a user namespace.
pub fn in_user_namespace(spec: &PodSpec) -> bool {
    spec.host_users == Some(false)
}

// ---------------------------------------------------------------------------------------------
// Baseline

/// Baseline "HostProcess": `windowsOptions.hostProcess: true` on the pod or any container.
pub fn windows_host_process(spec: &PodSpecRef) -> Vec<Violation> {
    let mut out = Vec::new();
    let pod = spec.spec.security_context.as_ref();
    if pod
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process)
        == Some(true)
    {
        out.push(Violation::new(
            pod_sc_path(spec, "windowsOptions.hostProcess"),
            "pod sets windowsOptions.hostProcess: true (a Windows HostProcess pod runs on the \
             node's host, outside any container isolation)",
        ));
    }
    for c in ctrs(&spec.spec) {
        if c.sc
            .and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.host_process)
            == Some(true)
        {
            out.push(Violation::new(
                c.sc_path(spec, "windowsOptions.hostProcess"),
                format!(
                    "{} sets windowsOptions.hostProcess: true (runs as a Windows HostProcess \
                     container on the node's host)",
                    c.who()
                ),
            ));
        }
    }
    out
}

/// Baseline "Host Namespaces", PID and IPC half: `hostPID: true`, `hostIPC: true`.
pub fn host_pid_ipc(spec: &PodSpecRef) -> Vec<Violation> {
    let mut out = Vec::new();
    if spec.spec.host_pid == Some(true) {
        out.push(Violation::new(
            format!("{}.hostPID", spec.path),
            "pod sets hostPID: true (it sees and can signal every process on the node)",
        ));
    }
    if spec.spec.host_ipc == Some(true) {
        out.push(Violation::new(
            format!("{}.hostIPC", spec.path),
            "pod sets hostIPC: true (it shares the node's IPC namespace and shared memory)",
        ));
    }
    out
}

/// Baseline "Host Namespaces", network half: `hostNetwork: true`.
pub fn host_network(spec: &PodSpecRef) -> Vec<Violation> {
    if spec.spec.host_network == Some(true) {
        vec![Violation::new(
            format!("{}.hostNetwork", spec.path),
            "pod sets hostNetwork: true (it uses the node's network stack, can bind node ports \
             and reach node-local services, and bypasses NetworkPolicies)",
        )]
    } else {
        Vec::new()
    }
}

/// Baseline "Privileged Containers": `securityContext.privileged: true`.
pub fn privileged(spec: &PodSpecRef) -> Vec<Violation> {
    ctrs(&spec.spec)
        .into_iter()
        .filter(|c| c.sc.and_then(|s| s.privileged) == Some(true))
        .map(|c| {
            Violation::new(
                c.sc_path(spec, "privileged"),
                format!(
                    "{} runs privileged (securityContext.privileged: true)",
                    c.who()
                ),
            )
        })
        .collect()
}

/// Baseline "Capabilities": every `capabilities.add` entry must be in [`BASELINE_CAPABILITIES`].
pub fn capabilities_baseline(spec: &PodSpecRef) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in ctrs(&spec.spec) {
        let adds =
            c.sc.and_then(|s| s.capabilities.as_ref())
                .and_then(|caps| caps.add.as_deref())
                .unwrap_or_default();
        for (i, cap) in adds.iter().enumerate() {
            if !BASELINE_CAPABILITIES.contains(&cap.as_str()) {
                let case_note = if BASELINE_CAPABILITIES.contains(&cap.to_uppercase().as_str()) {
                    "; names are case-sensitive"
                } else {
                    ""
                };
                out.push(Violation::new(
                    c.sc_path(spec, &format!("capabilities.add[{i}]")),
                    format!(
                        "{} adds capability {cap} (baseline allows {}{case_note})",
                        c.who(),
                        BASELINE_CAPABILITIES.join(", ")
                    ),
                ));
            }
        }
    }
    out
}

/// Baseline "HostPath Volumes": any `hostPath` volume.
pub fn host_path_volumes(spec: &PodSpecRef) -> Vec<Violation> {
    volumes(&spec.spec)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.host_path.as_ref().map(|hp| {
                Violation::new(
                    format!("{}.volumes[{i}].hostPath", spec.path),
                    format!(
                        "volume {:?} mounts host path {} from the node",
                        v.name, hp.path
                    ),
                )
            })
        })
        .collect()
}

fn volumes(spec: &PodSpec) -> &[Volume] {
    spec.volumes.as_deref().unwrap_or_default()
}

/// Baseline "Host Ports": `ports[*].hostPort` other than unset or 0.
pub fn host_ports(spec: &PodSpecRef) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in ctrs(&spec.spec) {
        for (j, p) in c.ports.iter().enumerate() {
            if let Some(host_port) = p.host_port.filter(|&h| h != 0) {
                out.push(Violation::new(
                    format!("{}.ports[{j}].hostPort", c.path(spec)),
                    format!(
                        "{} binds host port {host_port} (container port {})",
                        c.who(),
                        p.container_port
                    ),
                ));
            }
        }
    }
    out
}

/// Baseline "AppArmor": `appArmorProfile.type` must be `RuntimeDefault` or `Localhost` (pod and
/// containers), and `container.apparmor.security.beta.kubernetes.io/*` annotations must be empty,
/// `runtime/default` or `localhost/…`.
pub fn app_armor(spec: &PodSpecRef) -> Vec<Violation> {
    let allowed_type = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut out = Vec::new();
    if let Some(profile) = spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        .filter(|p| !allowed_type(&p.type_))
    {
        out.push(Violation::new(
            pod_sc_path(spec, "appArmorProfile.type"),
            format!(
                "pod sets appArmorProfile.type {:?} (allowed: RuntimeDefault, Localhost)",
                profile.type_
            ),
        ));
    }
    for c in ctrs(&spec.spec) {
        if let Some(profile) =
            c.sc.and_then(|s| s.app_armor_profile.as_ref())
                .filter(|p| !allowed_type(&p.type_))
        {
            out.push(Violation::new(
                c.sc_path(spec, "appArmorProfile.type"),
                format!(
                    "{} sets appArmorProfile.type {:?} (allowed: RuntimeDefault, Localhost)",
                    c.who(),
                    profile.type_
                ),
            ));
        }
    }
    let meta = metadata_path(spec);
    for (key, value) in &spec.annotations {
        if !key.starts_with(APPARMOR_ANNOTATION_PREFIX) {
            continue;
        }
        if value.is_empty() || value == "runtime/default" || value.starts_with("localhost/") {
            continue;
        }
        out.push(Violation::new(
            format!("{meta}.annotations.{key}"),
            format!(
                "annotation {key} is {value:?} (allowed: runtime/default, localhost/<profile> \
                 or empty)"
            ),
        ));
    }
    out
}

/// Baseline "SELinux": `seLinuxOptions.type` in [`SELINUX_TYPES`], `user` and `role` unset, on
/// the pod and every container.
pub fn se_linux_options(spec: &PodSpecRef) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut judge =
        |opts: &k8s_openapi::api::core::v1::SELinuxOptions, base: String, who: String| {
            let ty = opts.type_.as_deref().unwrap_or_default();
            if !SELINUX_TYPES.contains(&ty) {
                out.push(Violation::new(
                    format!("{base}.type"),
                    format!(
                        "{who} sets SELinux type {ty:?} (allowed: container_t, container_init_t, \
                     container_kvm_t, container_engine_t)"
                    ),
                ));
            }
            if let Some(user) = opts.user.as_deref().filter(|u| !u.is_empty()) {
                out.push(Violation::new(
                    format!("{base}.user"),
                    format!("{who} sets SELinux user {user:?} (must not be set)"),
                ));
            }
            if let Some(role) = opts.role.as_deref().filter(|r| !r.is_empty()) {
                out.push(Violation::new(
                    format!("{base}.role"),
                    format!("{who} sets SELinux role {role:?} (must not be set)"),
                ));
            }
        };
    if let Some(opts) = spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.se_linux_options.as_ref())
    {
        judge(opts, pod_sc_path(spec, "seLinuxOptions"), "pod".into());
    }
    for c in ctrs(&spec.spec) {
        if let Some(opts) = c.sc.and_then(|s| s.se_linux_options.as_ref()) {
            judge(opts, c.sc_path(spec, "seLinuxOptions"), c.who());
        }
    }
    out
}

/// Restricted "/proc mount" (policy ≥ 1.35): `procMount` unset or `Default`, always.
pub fn proc_mount_restricted(spec: &PodSpecRef) -> Vec<Violation> {
    unmasked_proc(spec, "allowed: Default")
}

fn unmasked_proc(spec: &PodSpecRef, allowed: &str) -> Vec<Violation> {
    ctrs(&spec.spec)
        .into_iter()
        .filter_map(|c| {
            let pm = c.sc.and_then(|s| s.proc_mount.as_deref())?;
            (pm != "Default").then(|| {
                Violation::new(
                    c.sc_path(spec, "procMount"),
                    format!(
                        "{} sets procMount {pm:?} (the /proc masks are off; {allowed})",
                        c.who()
                    ),
                )
            })
        })
        .collect()
}

/// Baseline "/proc Mount Type": `procMount` unset or `Default`, unless the pod runs in a user
/// namespace (`hostUsers: false`, policy ≥ 1.35).
pub fn proc_mount_baseline(spec: &PodSpecRef) -> Vec<Violation> {
    if in_user_namespace(&spec.spec) {
        return Vec::new();
    }
    unmasked_proc(
        spec,
        "allowed: Default, or any value when the pod sets hostUsers: false",
    )
}

fn valid_seccomp(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

/// Baseline "Seccomp": an explicit `seccompProfile.type` other than `RuntimeDefault` or
/// `Localhost` (that is, `Unconfined`) on the pod or any container.
pub fn seccomp_baseline(spec: &PodSpecRef) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(p) = spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .filter(|p| !valid_seccomp(&p.type_))
    {
        out.push(Violation::new(
            pod_sc_path(spec, "seccompProfile.type"),
            format!(
                "pod sets seccompProfile.type {:?} (allowed: RuntimeDefault, Localhost)",
                p.type_
            ),
        ));
    }
    for c in ctrs(&spec.spec) {
        if let Some(p) =
            c.sc.and_then(|s| s.seccomp_profile.as_ref())
                .filter(|p| !valid_seccomp(&p.type_))
        {
            out.push(Violation::new(
                c.sc_path(spec, "seccompProfile.type"),
                format!(
                    "{} sets seccompProfile.type {:?} (allowed: RuntimeDefault, Localhost)",
                    c.who(),
                    p.type_
                ),
            ));
        }
    }
    out
}

/// Whether a sysctl is safe at [`POLICY_VERSION`].
pub fn is_safe_sysctl(name: &str) -> bool {
    SAFE_SYSCTLS
        .iter()
        .any(|&(n, since)| n == name && since <= POLICY_VERSION)
}

/// Baseline "Sysctls": `securityContext.sysctls[*].name` outside [`SAFE_SYSCTLS`].
pub fn sysctls(spec: &PodSpecRef) -> Vec<Violation> {
    let list = spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_deref())
        .unwrap_or_default();
    list.iter()
        .enumerate()
        .filter(|(_, s)| !is_safe_sysctl(&s.name))
        .map(|(i, s)| {
            Violation::new(
                pod_sc_path(spec, &format!("sysctls[{i}].name")),
                format!(
                    "pod sets sysctl {} = {:?}, which is not in the baseline safe set",
                    s.name, s.value
                ),
            )
        })
        .collect()
}

/// Baseline "Host Probes / Lifecycle Hooks" (policy ≥ 1.34): `httpGet.host` and
/// `tcpSocket.host` of liveness, readiness and startup probes and of postStart/preStop handlers
/// must be unset or empty.
pub fn probe_and_lifecycle_host(spec: &PodSpecRef) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in ctrs(&spec.spec) {
        let base = c.path(spec);
        let mut judge = |field: String, host: Option<&String>| {
            if let Some(host) = host.filter(|h| !h.is_empty()) {
                out.push(Violation::new(
                    format!("{base}.{field}.host"),
                    format!(
                        "{} sends its {field} to host {host:?} (the kubelet would connect to \
                         that address on the pod's behalf)",
                        c.who()
                    ),
                ));
            }
        };
        for (name, probe) in [
            ("livenessProbe", c.liveness),
            ("readinessProbe", c.readiness),
            ("startupProbe", c.startup),
        ] {
            let Some(probe) = probe else { continue };
            if let Some(h) = &probe.http_get {
                judge(format!("{name}.httpGet"), h.host.as_ref());
            }
            if let Some(t) = &probe.tcp_socket {
                judge(format!("{name}.tcpSocket"), t.host.as_ref());
            }
        }
        let handlers: [(&str, Option<&LifecycleHandler>); 2] = [
            (
                "lifecycle.postStart",
                c.lifecycle.and_then(|l| l.post_start.as_ref()),
            ),
            (
                "lifecycle.preStop",
                c.lifecycle.and_then(|l| l.pre_stop.as_ref()),
            ),
        ];
        for (name, handler) in handlers {
            let Some(handler) = handler else { continue };
            if let Some(h) = &handler.http_get {
                judge(format!("{name}.httpGet"), h.host.as_ref());
            }
            if let Some(t) = &handler.tcp_socket {
                judge(format!("{name}.tcpSocket"), t.host.as_ref());
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Restricted

/// The volume source a volume uses, by its field name; `None` for a volume with no source
/// (the API server defaults that to `emptyDir` before admission).
pub fn volume_type(v: &Volume) -> Option<&'static str> {
    let types: [(&'static str, bool); 30] = [
        ("configMap", v.config_map.is_some()),
        ("csi", v.csi.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("emptyDir", v.empty_dir.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("projected", v.projected.is_some()),
        ("secret", v.secret.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("rbd", v.rbd.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("fc", v.fc.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("storageos", v.storageos.is_some()),
    ];
    types.into_iter().find(|&(_, set)| set).map(|(t, _)| t)
}

/// Restricted "Volume Types": only [`RESTRICTED_VOLUME_TYPES`].
pub fn restricted_volumes(spec: &PodSpecRef) -> Vec<Violation> {
    volumes(&spec.spec)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let ty = volume_type(v)?;
            (!RESTRICTED_VOLUME_TYPES.contains(&ty)).then(|| {
                Violation::new(
                    format!("{}.volumes[{i}].{ty}", spec.path),
                    format!(
                        "volume {:?} is of type {ty} (restricted allows {})",
                        v.name,
                        RESTRICTED_VOLUME_TYPES.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// Restricted "Privilege Escalation": every container sets `allowPrivilegeEscalation: false`
/// (skipped for Windows pods).
pub fn allow_privilege_escalation(spec: &PodSpecRef) -> Vec<Violation> {
    if is_windows(&spec.spec) {
        return Vec::new();
    }
    ctrs(&spec.spec)
        .into_iter()
        .filter_map(|c| {
            let path = c.sc_path(spec, "allowPrivilegeEscalation");
            match c.sc.and_then(|s| s.allow_privilege_escalation) {
                Some(false) => None,
                Some(true) => Some(Violation::new(
                    path,
                    format!(
                        "{} sets allowPrivilegeEscalation: true (must be false)",
                        c.who()
                    ),
                )),
                None => Some(Violation::new(
                    path,
                    format!(
                        "{} does not set allowPrivilegeEscalation: false (setuid binaries can \
                         gain privileges)",
                        c.who()
                    ),
                )),
            }
        })
        .collect()
}

/// Restricted "Running as Non-root": `runAsNonRoot: true` on the pod (containers may leave it
/// unset) or on every container; an explicit `false` anywhere fails. Skipped for pods in a user
/// namespace (`hostUsers: false`).
pub fn run_as_non_root(spec: &PodSpecRef) -> Vec<Violation> {
    if in_user_namespace(&spec.spec) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let pod_value = spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root);
    if pod_value == Some(false) {
        out.push(Violation::new(
            pod_sc_path(spec, "runAsNonRoot"),
            "pod sets runAsNonRoot: false",
        ));
    }
    for c in ctrs(&spec.spec) {
        let path = c.sc_path(spec, "runAsNonRoot");
        match c.sc.and_then(|s| s.run_as_non_root) {
            Some(true) => {}
            Some(false) => out.push(Violation::new(
                path,
                format!("{} sets runAsNonRoot: false", c.who()),
            )),
            None if pod_value == Some(true) => {}
            None => out.push(Violation::new(
                path,
                format!(
                    "{} may run as root: neither it nor the pod sets runAsNonRoot: true",
                    c.who()
                ),
            )),
        }
    }
    out
}

/// Restricted "Running as Non-root user": `runAsUser` must not be 0 on the pod or any
/// container. Skipped for pods in a user namespace (`hostUsers: false`).
pub fn run_as_user(spec: &PodSpecRef) -> Vec<Violation> {
    if in_user_namespace(&spec.spec) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        == Some(0)
    {
        out.push(Violation::new(
            pod_sc_path(spec, "runAsUser"),
            "pod sets runAsUser: 0 (root)",
        ));
    }
    for c in ctrs(&spec.spec) {
        if c.sc.and_then(|s| s.run_as_user) == Some(0) {
            out.push(Violation::new(
                c.sc_path(spec, "runAsUser"),
                format!("{} sets runAsUser: 0 (root)", c.who()),
            ));
        }
    }
    out
}

/// Restricted "Seccomp": `seccompProfile.type` `RuntimeDefault` or `Localhost` on the pod
/// (containers may leave it unset) or on every container; any other explicit value fails.
/// Skipped for Windows pods.
pub fn seccomp_restricted(spec: &PodSpecRef) -> Vec<Violation> {
    if is_windows(&spec.spec) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let pod = spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref());
    let pod_set = match pod {
        Some(p) if valid_seccomp(&p.type_) => true,
        Some(p) => {
            out.push(Violation::new(
                pod_sc_path(spec, "seccompProfile.type"),
                format!(
                    "pod sets seccompProfile.type {:?} (must be RuntimeDefault or Localhost)",
                    p.type_
                ),
            ));
            false
        }
        None => false,
    };
    for c in ctrs(&spec.spec) {
        match c.sc.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(p) if valid_seccomp(&p.type_) => {}
            Some(p) => out.push(Violation::new(
                c.sc_path(spec, "seccompProfile.type"),
                format!(
                    "{} sets seccompProfile.type {:?} (must be RuntimeDefault or Localhost)",
                    c.who(),
                    p.type_
                ),
            )),
            None if pod_set => {}
            None => out.push(Violation::new(
                c.sc_path(spec, "seccompProfile.type"),
                format!(
                    "{} runs without a seccomp profile: neither it nor the pod sets \
                     seccompProfile.type RuntimeDefault or Localhost",
                    c.who()
                ),
            )),
        }
    }
    out
}

/// Restricted "Capabilities": every container drops `ALL` (exact string) and adds nothing but
/// `NET_BIND_SERVICE`. Skipped for Windows pods.
pub fn capabilities_restricted(spec: &PodSpecRef) -> Vec<Violation> {
    if is_windows(&spec.spec) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in ctrs(&spec.spec) {
        let caps = c.sc.and_then(|s| s.capabilities.as_ref());
        let drops = caps.and_then(|k| k.drop.as_deref()).unwrap_or_default();
        if !drops.iter().any(|d| d == "ALL") {
            out.push(Violation::new(
                c.sc_path(spec, "capabilities.drop"),
                format!("{} does not drop capability ALL", c.who()),
            ));
        }
        let adds = caps.and_then(|k| k.add.as_deref()).unwrap_or_default();
        for (i, cap) in adds.iter().enumerate() {
            if cap != "NET_BIND_SERVICE" {
                out.push(Violation::new(
                    c.sc_path(spec, &format!("capabilities.add[{i}]")),
                    format!(
                        "{} adds capability {cap} (restricted allows only NET_BIND_SERVICE)",
                        c.who()
                    ),
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Beyond the standard

/// Host paths of container runtime sockets (Linux and Windows named pipes).
pub const RUNTIME_SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/cri-dockerd.sock",
    "/run/cri-dockerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/crio/crio.sock",
    "/var/run/podman/podman.sock",
    "/run/podman/podman.sock",
    "/run/k3s/containerd/containerd.sock",
    "/var/snap/microk8s/common/run/containerd.sock",
    "\\\\.\\pipe\\docker_engine",
    "\\\\.\\pipe\\containerd-containerd",
];

/// Normalises a host path for comparison: collapses repeated separators and drops a trailing
/// one (`/var//run/` → `/var/run`).
fn normalize_host_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut prev_slash = false;
    for ch in p.chars() {
        let slash = ch == '/';
        if !(slash && prev_slash) {
            out.push(ch);
        }
        prev_slash = slash;
    }
    while out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

/// The runtime socket a host path exposes: the socket itself or a directory that contains it.
pub fn exposed_runtime_socket(host_path: &str) -> Option<&'static str> {
    let p = normalize_host_path(host_path.trim());
    if p.is_empty() {
        return None;
    }
    let lower = p.to_ascii_lowercase();
    RUNTIME_SOCKETS.iter().copied().find(|&sock| {
        let s = sock.to_ascii_lowercase();
        s == lower
            || (lower == "/" && s.starts_with('/'))
            || s.strip_prefix(lower.as_str())
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('\\'))
    })
}

/// Container runtime socket mounted: a `hostPath` volume that is, or contains, a runtime socket.
pub fn runtime_socket_mounts(spec: &PodSpecRef) -> Vec<Violation> {
    volumes(&spec.spec)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let hp = v.host_path.as_ref()?;
            let sock = exposed_runtime_socket(&hp.path)?;
            let what = if normalize_host_path(hp.path.trim()).eq_ignore_ascii_case(sock) {
                format!("the container runtime socket {sock}")
            } else {
                format!(
                    "{}, which contains the container runtime socket {sock}",
                    hp.path
                )
            };
            Some(Violation::new(
                format!("{}.volumes[{i}].hostPath.path", spec.path),
                format!(
                    "volume {:?} mounts {what}: whoever reaches it controls every container \
                     on the node",
                    v.name
                ),
            ))
        })
        .collect()
}
