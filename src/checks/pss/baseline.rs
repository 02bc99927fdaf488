//! The baseline controls.

use super::containers::*;
use super::*;

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

pub(super) fn volumes(spec: &PodSpec) -> &[Volume] {
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
    se_linux_options_at(spec, PolicyVersion::LATEST)
}

/// [`se_linux_options`] at a policy version (`container_engine_t` allowed from v1.31).
pub fn se_linux_options_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    let allowed: &[&str] = if v.since(31) {
        SELINUX_TYPES
    } else {
        &SELINUX_TYPES[..SELINUX_TYPES.len() - 1]
    };
    let mut out = Vec::new();
    let mut judge =
        |opts: &k8s_openapi::api::core::v1::SELinuxOptions, base: String, who: String| {
            let ty = opts.type_.as_deref().unwrap_or_default();
            if !allowed.contains(&ty) {
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
    proc_mount_baseline_at(spec, PolicyVersion::LATEST)
}

/// [`proc_mount_baseline`] at a policy version (relaxed for user namespaces from v1.35).
pub fn proc_mount_baseline_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    if v.since(35) && in_user_namespace(&spec.spec) {
        return Vec::new();
    }
    unmasked_proc(
        spec,
        "allowed: Default, or any value when the pod sets hostUsers: false",
    )
}

pub(super) fn valid_seccomp(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

/// Baseline "Seccomp": an explicit `seccompProfile.type` other than `RuntimeDefault` or
/// `Localhost` (that is, `Unconfined`) on the pod or any container.
pub fn seccomp_baseline(spec: &PodSpecRef) -> Vec<Violation> {
    seccomp_baseline_at(spec, PolicyVersion::LATEST)
}

/// The alpha seccomp annotations, which the baseline judged before v1.19.
pub const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
/// The per-container alpha seccomp annotation, followed by the container's name.
pub const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str =
    "container.seccomp.security.alpha.kubernetes.io/";

/// [`seccomp_baseline`] at a policy version: before v1.19 the control judged the alpha
/// annotations (`runtime/default`, `docker/default` or `localhost/…`), from v1.19 the fields.
pub fn seccomp_baseline_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    if !v.since(19) {
        return seccomp_annotations(spec);
    }
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

fn seccomp_annotations(spec: &PodSpecRef) -> Vec<Violation> {
    let valid =
        |v: &str| v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/");
    let meta = metadata_path(spec);
    let mut keys = vec![SECCOMP_POD_ANNOTATION.to_string()];
    keys.extend(
        ctrs(&spec.spec)
            .iter()
            .map(|c| format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name)),
    );
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let value = spec.annotations.get(&key).filter(|v| !valid(v))?;
            Some(Violation::new(
                format!("{meta}.annotations.{key}"),
                format!(
                    "annotation {key} is {value:?} (allowed: runtime/default, docker/default, \
                     localhost/<profile>)"
                ),
            ))
        })
        .collect()
}

/// Whether a sysctl is safe at the latest policy version.
pub fn is_safe_sysctl(name: &str) -> bool {
    is_safe_sysctl_at(name, PolicyVersion::LATEST)
}

/// Whether a sysctl is safe at a policy version.
pub fn is_safe_sysctl_at(name: &str, v: PolicyVersion) -> bool {
    SAFE_SYSCTLS
        .iter()
        .any(|&(n, (_, since))| n == name && v.since(since))
}

/// Baseline "Sysctls": `securityContext.sysctls[*].name` outside [`SAFE_SYSCTLS`].
pub fn sysctls(spec: &PodSpecRef) -> Vec<Violation> {
    sysctls_at(spec, PolicyVersion::LATEST)
}

/// [`sysctls`] at a policy version.
pub fn sysctls_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    let list = spec
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_deref())
        .unwrap_or_default();
    list.iter()
        .enumerate()
        .filter(|(_, s)| !is_safe_sysctl_at(&s.name, v))
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
