//! Pod security: Pod Security Standards controls and Pod Security Admission labels.
//!
//! The controls themselves live in [`super::pss`]; this module turns them into registry
//! entries, one per control, and adds the namespace label checks.

use super::pss::{self, Level, Violation};
use super::{CheckDef, Hit, Outcome, Settings, containers};
use crate::model::inventory::is_system_namespace;
use crate::model::{Area, Inventory, Object, PodSpecRef, PssLevel, Severity};

/// KH-POD-001: a namespace that does not enforce at least the baseline standard.
pub const NAMESPACE_NOT_ENFORCING: CheckDef = CheckDef {
    id: "KH-POD-001",
    area: Area::PodSecurity,
    severity: Severity::High,
    title: "Namespace does not enforce a Pod Security Standard",
    rationale: "Without a pod-security.kubernetes.io/enforce label of baseline or restricted, Pod \
        Security Admission admits privileged pods into the namespace, and anyone who can create a \
        pod there can take over its node.",
    references: &[
        "CIS Kubernetes Benchmark 5.2.1",
        "NSA/CISA Kubernetes Hardening Guidance: Pod security enforcement",
        "kubernetes.io/docs/concepts/security/pod-security-admission",
    ],
    pss: None,
    fixable: true,
    run: namespace_not_enforcing,
};

const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";
const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
const WARN: &str = "pod-security.kubernetes.io/warn";
const AUDIT: &str = "pod-security.kubernetes.io/audit";

fn namespace_not_enforcing(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for ns in inv.of_kind("Namespace") {
        if is_system_namespace(ns.name()) {
            continue;
        }
        out.evaluated += 1;
        let path = format!("metadata.labels.{ENFORCE}");
        match ns.label(ENFORCE) {
            Some("baseline") | Some("restricted") => {}
            Some(level) => out.hits.push(Hit::on(
                ns,
                path,
                format!(
                    "enforces {level:?}: privileged pods are admitted (set baseline or restricted)"
                ),
            )),
            None => out.hits.push(Hit::on(
                ns,
                path,
                format!("no {ENFORCE} label: privileged pods are admitted"),
            )),
        }
    }
    out
}

/// Application namespaces that enforce baseline or restricted, with the level.
fn enforcing_namespaces(inv: &Inventory) -> impl Iterator<Item = (&Object, Level)> {
    inv.of_kind("Namespace").filter_map(|ns| {
        if is_system_namespace(ns.name()) {
            return None;
        }
        let level = ns.label(ENFORCE).and_then(Level::parse)?;
        (level > Level::Privileged).then_some((ns, level))
    })
}

/// KH-POD-002: enforce without warn and audit.
pub const ENFORCE_WITHOUT_WARN_AUDIT: CheckDef = CheckDef {
    id: "KH-POD-002",
    area: Area::PodSecurity,
    severity: Severity::Low,
    title: "Namespace enforces a Pod Security Standard without warn and audit",
    rationale: "enforce applies to Pods only. A Deployment, Job or other controller whose pod \
        template violates the level is accepted, and its pods are then refused with the reason \
        visible only in the controller's events. warn returns the violations to the client that \
        applies the workload and audit records them in the audit log; set both, at the enforce \
        level or stricter, next to enforce.",
    references: &[
        "kubernetes.io/docs/concepts/security/pod-security-admission (Pod Security Admission labels for namespaces)",
        "NSA/CISA Kubernetes Hardening Guidance: Pod security enforcement; Audit logging",
    ],
    pss: None,
    fixable: true,
    run: enforce_without_warn_audit,
};

fn enforce_without_warn_audit(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for (ns, level) in enforcing_namespaces(inv) {
        out.evaluated += 1;
        let missing: Vec<&str> = [WARN, AUDIT]
            .into_iter()
            .filter(|k| ns.label(k).is_none())
            .collect();
        let Some(first) = missing.first() else {
            continue;
        };
        let names: Vec<&str> = missing
            .iter()
            .filter_map(|k| k.strip_prefix(LABEL_PREFIX))
            .collect();
        let mut message = format!(
            "enforces {:?} without {}: workloads whose pod templates violate it are accepted and \
             fail only when their pods are created",
            level.key(),
            names.join(" or ")
        );
        if missing.contains(&AUDIT) {
            message.push_str("; violations are not recorded in the audit log");
        }
        if missing.contains(&WARN) {
            message.push_str(
                "; warn follows enforce implicitly, but an explicit warn label (pinned) keeps \
                 the warnings when enforce is relaxed",
            );
        }
        out.hits
            .push(Hit::on(ns, format!("metadata.labels.{first}"), message));
    }
    out
}

/// KH-POD-003: unpinned or stale policy version.
pub const UNPINNED_POLICY_VERSION: CheckDef = CheckDef {
    id: "KH-POD-003",
    area: Area::PodSecurity,
    severity: Severity::Low,
    title: "Pod Security Standard version unpinned or stale",
    rationale: "Without pod-security.kubernetes.io/enforce-version, or with latest, the enforced \
        controls change with every control-plane upgrade: a new control (such as the v1.34 probe \
        host check) starts refusing pods that were admitted the day before. A pin far behind \
        the current policy misses the controls added since. Pin a recent version and move it \
        deliberately.",
    references: &[
        "kubernetes.io/docs/concepts/security/pod-security-admission (Pod Security Admission labels for namespaces)",
        "kubernetes.io/docs/tasks/configure-pod-container/migrate-from-psp",
        "NSA/CISA Kubernetes Hardening Guidance: Pod security enforcement",
    ],
    pss: None,
    fixable: true,
    run: unpinned_policy_version,
};

/// How many minor versions a pin may lag behind [`pss::POLICY_VERSION`].
pub const MAX_VERSION_LAG: u32 = 3;

/// Parses a PSA version label: `v1.N`.
fn parse_policy_version(v: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix('v')?;
    let (major, minor) = rest.split_once('.')?;
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !valid(major) || !valid(minor) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn unpinned_policy_version(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    let (latest_major, latest_minor) = pss::POLICY_VERSION;
    let oldest = latest_minor.saturating_sub(MAX_VERSION_LAG);
    for (ns, level) in enforcing_namespaces(inv) {
        out.evaluated += 1;
        let path = format!("metadata.labels.{ENFORCE_VERSION}");
        let level = level.key();
        let message = match ns.label(ENFORCE_VERSION) {
            None => format!(
                "enforces {level:?} with no enforce-version label: it follows latest, so a \
                 control-plane upgrade can start refusing pods (pin v{latest_major}.{latest_minor})"
            ),
            Some("latest") => format!(
                "enforces {level:?} at version latest: a control-plane upgrade can start \
                 refusing pods (pin v{latest_major}.{latest_minor})"
            ),
            Some(v) => match parse_policy_version(v) {
                None => format!(
                    "enforce-version {v:?} is not a valid version (latest or v1.N); Pod Security \
                     Admission rejects it when the namespace is written"
                ),
                Some((major, minor)) if major == latest_major && minor < oldest => format!(
                    "enforces {level:?} pinned at {v}, older than v{latest_major}.{oldest}: \
                     controls added since (current policy v{latest_major}.{latest_minor}) are \
                     not enforced"
                ),
                Some(_) => continue,
            },
        };
        out.hits.push(Hit::on(ns, path, message));
    }
    out
}

/// KH-POD-004: the enforced level is weaker than what the namespace's pods already meet.
pub const ENFORCE_WEAKER_THAN_PODS: CheckDef = CheckDef {
    id: "KH-POD-004",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Namespace enforces less than its pods already meet",
    rationale: "When every workload in a namespace already meets a stricter Pod Security Standard \
        than the one enforced, raising enforce costs nothing today and stops the next workload, \
        or a compromised deploy pipeline, from adding privileged pods. The level the pods meet is \
        computed with the same rules as Pod Security Admission at the latest policy version.",
    references: &[
        "kubernetes.io/docs/concepts/security/pod-security-admission",
        "CIS Kubernetes Benchmark 5.2.1",
        "NSA/CISA Kubernetes Hardening Guidance: Pod security enforcement",
    ],
    pss: None,
    fixable: true,
    run: enforce_weaker_than_pods,
};

fn enforce_weaker_than_pods(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for ns in inv.of_kind("Namespace") {
        if is_system_namespace(ns.name()) {
            continue;
        }
        let specs: Vec<&PodSpecRef> = inv.pods_in_namespace(ns.name()).collect();
        if specs.is_empty() {
            continue;
        }
        out.evaluated += 1;
        let version = pss::PolicyVersion::of_label(ns.label(ENFORCE_VERSION));
        let met = specs
            .iter()
            // Judged at the version the namespace pins, as admission judges it.
            .map(|s| pss::evaluate_at(s, version).level())
            .min()
            .unwrap_or(Level::Privileged);
        let enforced = ns
            .label(ENFORCE)
            .and_then(Level::parse)
            .unwrap_or(Level::Privileged);
        if met <= enforced {
            continue;
        }
        let now = match ns.label(ENFORCE) {
            None => "enforces nothing (no enforce label)".to_string(),
            Some(v) => format!("enforces {v:?}"),
        };
        let n = specs.len();
        let what = if n == 1 {
            "its 1 workload meets".to_string()
        } else {
            format!("its {n} workloads all meet")
        };
        out.hits.push(Hit::on(
            ns,
            format!("metadata.labels.{ENFORCE}"),
            format!(
                "{what} the {:?} standard, but the namespace {now}: set {ENFORCE}={} (with a \
                 pinned enforce-version) to keep it that way",
                met.key(),
                met.key()
            ),
        ));
    }
    out
}

/// Runs one control over every pod spec: one hit per offending field, on the owning object.
fn per_pod_spec(inv: &Inventory, control: impl Fn(&PodSpecRef) -> Vec<Violation>) -> Outcome {
    let mut out = Outcome::default();
    for spec in inv.pod_specs() {
        let Some(obj) = inv.owner_of(spec) else {
            continue;
        };
        out.evaluated += 1;
        out.hits.extend(
            control(spec)
                .into_iter()
                .map(|v| Hit::on(obj, v.path, v.message)),
        );
    }
    out
}

/// "container", "init container" or "ephemeral container".
pub(crate) fn container_word(list: &str) -> &'static str {
    match list {
        "initContainers" => "init container",
        "ephemeralContainers" => "ephemeral container",
        _ => "container",
    }
}

/// KH-POD-101: Privileged container.
pub const PRIVILEGED: CheckDef = CheckDef {
    id: "KH-POD-101",
    area: Area::PodSecurity,
    severity: Severity::Critical,
    title: "Privileged container",
    rationale: "A privileged container has every capability and all host devices: it is root on the node, \
        can load kernel modules and escape to the host and every other pod on it. Forbidden by the \
        baseline Pod Security Standard.",
    references: &[
        "Pod Security Standards: baseline / Privileged Containers",
        "CIS Kubernetes Benchmark 5.2.2",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_privileged,
};

fn run_privileged(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::privileged)
}

/// KH-POD-102: Pod shares the host PID or IPC namespace.
pub const HOST_PID_IPC: CheckDef = CheckDef {
    id: "KH-POD-102",
    area: Area::PodSecurity,
    severity: Severity::Critical,
    title: "Pod shares the host PID or IPC namespace",
    rationale: "With hostPID a container sees every process on the node, can read their environment and \
        /proc entries and, with ptrace or signals, attack them; with hostIPC it reads and writes \
        the node's shared memory. Both break the isolation between the pod and the node. Forbidden \
        by the baseline Pod Security Standard.",
    references: &[
        "Pod Security Standards: baseline / Host Namespaces",
        "CIS Kubernetes Benchmark 5.2.3 (hostPID), 5.2.4 (hostIPC)",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_host_pid_ipc,
};

fn run_host_pid_ipc(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::host_pid_ipc)
}

/// KH-POD-103: Pod uses the host network.
pub const HOST_NETWORK: CheckDef = CheckDef {
    id: "KH-POD-103",
    area: Area::PodSecurity,
    severity: Severity::High,
    title: "Pod uses the host network",
    rationale: "A hostNetwork pod uses the node's network stack: it can sniff node traffic, bind any node \
        port, reach services that listen on localhost only (kubelet read-only port, metadata \
        proxies) and is invisible to NetworkPolicies. Forbidden by the baseline Pod Security \
        Standard.",
    references: &[
        "Pod Security Standards: baseline / Host Namespaces",
        "CIS Kubernetes Benchmark 5.2.5",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security; Network separation and \
        hardening",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_host_network,
};

fn run_host_network(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::host_network)
}

/// KH-POD-104: Container adds capabilities beyond the baseline set.
pub const CAPABILITIES_BASELINE: CheckDef = CheckDef {
    id: "KH-POD-104",
    area: Area::PodSecurity,
    severity: Severity::High,
    title: "Container adds capabilities beyond the baseline set",
    rationale: "Capabilities such as SYS_ADMIN, NET_ADMIN, SYS_PTRACE or NET_RAW hand a container parts of \
        root's power over the kernel: mounting filesystems, reconfiguring the network, tracing \
        other processes, spoofing packets. The baseline Pod Security Standard allows only the \
        runtime's default set (exact, case-sensitive names).",
    references: &[
        "Pod Security Standards: baseline / Capabilities",
        "CIS Kubernetes Benchmark 5.2.8 (NET_RAW); 1.10: 5.2.9 (added capabilities)",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_capabilities_baseline,
};

fn run_capabilities_baseline(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::capabilities_baseline)
}

/// KH-POD-105: Pod mounts a hostPath volume.
pub const HOST_PATH: CheckDef = CheckDef {
    id: "KH-POD-105",
    area: Area::PodSecurity,
    severity: Severity::High,
    title: "Pod mounts a hostPath volume",
    rationale: "A hostPath volume exposes the node's filesystem to the container: reading kubelet \
        credentials and other pods' secrets, or writing to /etc or a runtime socket, leads to node \
        takeover. Forbidden by the baseline Pod Security Standard.",
    references: &[
        "Pod Security Standards: baseline / HostPath Volumes",
        "CIS Kubernetes Benchmark 1.10: 5.2.12; 1.12: 5.2.11",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_host_path_volumes,
};

fn run_host_path_volumes(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::host_path_volumes)
}

/// KH-POD-106: Container binds a host port.
pub const HOST_PORT: CheckDef = CheckDef {
    id: "KH-POD-106",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Container binds a host port",
    rationale: "A hostPort opens a port on the node's address, bypassing Services and most NetworkPolicy \
        implementations, and ties the pod to nodes where the port is free. The baseline Pod \
        Security Standard allows only unset or 0, with no list of exceptions.",
    references: &[
        "Pod Security Standards: baseline / Host Ports",
        "CIS Kubernetes Benchmark 1.10: 5.2.13; 1.12: 5.2.12",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_host_ports,
};

fn run_host_ports(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::host_ports)
}

/// KH-POD-107: Windows HostProcess pod or container.
pub const WINDOWS_HOST_PROCESS: CheckDef = CheckDef {
    id: "KH-POD-107",
    area: Area::PodSecurity,
    severity: Severity::Critical,
    title: "Windows HostProcess pod or container",
    rationale: "A Windows HostProcess container runs directly on the node as a host process, with the \
        node's filesystem, network and (as SYSTEM) full control of the node. Forbidden by the \
        baseline Pod Security Standard.",
    references: &[
        "Pod Security Standards: baseline / HostProcess",
        "CIS Kubernetes Benchmark 1.10: 5.2.11; 1.12: 5.2.10",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_windows_host_process,
};

fn run_windows_host_process(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::windows_host_process)
}

/// KH-POD-108: AppArmor profile disabled or overridden.
pub const APPARMOR: CheckDef = CheckDef {
    id: "KH-POD-108",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "AppArmor profile disabled or overridden",
    rationale: "The runtime's default AppArmor profile blocks mounts, writes to /proc and /sys and other \
        kernel interfaces used in container escapes. Setting the profile to Unconfined, through \
        the appArmorProfile field or the container.apparmor.security.beta.kubernetes.io annotation \
        (still enforced), removes that layer. Baseline allows RuntimeDefault and Localhost \
        profiles only.",
    references: &[
        "Pod Security Standards: baseline / AppArmor",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security (hardening with AppArmor, \
        seccomp, SELinux)",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_app_armor,
};

fn run_app_armor(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::app_armor)
}

/// KH-POD-109: Custom SELinux options.
pub const SELINUX: CheckDef = CheckDef {
    id: "KH-POD-109",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Custom SELinux options",
    rationale: "SELinux confines containers by their type. A type such as spc_t (super-privileged \
        container) or unconfined_t, or a custom user or role, lifts that confinement. Baseline \
        allows only container_t, container_init_t, container_kvm_t and container_engine_t, and no \
        user or role.",
    references: &[
        "Pod Security Standards: baseline / SELinux",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security (hardening with AppArmor, \
        seccomp, SELinux)",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_se_linux_options,
};

fn run_se_linux_options(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::SeLinuxOptions.check_at(s, settings.pss_version)
    })
}

/// KH-POD-110: Unmasked /proc.
pub const PROC_MOUNT: CheckDef = CheckDef {
    id: "KH-POD-110",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Unmasked /proc",
    rationale: "By default the runtime masks sensitive /proc paths (kcore, sysrq-trigger, kernel keys, \
        timer lists). procMount: Unmasked exposes them to the container. Baseline allows it only \
        for pods in a user namespace (hostUsers: false, policy v1.35+); restricted never does.",
    references: &[
        "Pod Security Standards: baseline / /proc Mount Type",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_proc_mount_baseline,
};

fn run_proc_mount_baseline(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::ProcMount.check_at(s, settings.pss_version)
    })
}

/// KH-POD-111: Unsafe sysctls.
pub const SYSCTLS: CheckDef = CheckDef {
    id: "KH-POD-111",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Unsafe sysctls",
    rationale: "Sysctls outside the namespaced safe set change kernel settings for the whole node or \
        disable protections, affecting every pod on it. Baseline allows only the safe set of the \
        policy version (kernel.shm_rmid_forced, a few net.ipv4 port, ping and TCP settings).",
    references: &[
        "Pod Security Standards: baseline / Sysctls",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_sysctls,
};

fn run_sysctls(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::Sysctls.check_at(s, settings.pss_version)
    })
}

/// KH-POD-112: Seccomp explicitly Unconfined.
pub const SECCOMP_UNCONFINED: CheckDef = CheckDef {
    id: "KH-POD-112",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Seccomp explicitly Unconfined",
    rationale: "Seccomp filters the system calls a container may make; Unconfined turns the filter off and \
        exposes the whole kernel attack surface used in container escapes. Baseline forbids an \
        explicit Unconfined profile (unset is allowed at baseline).",
    references: &[
        "Pod Security Standards: baseline / Seccomp",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security (hardening with AppArmor, \
        seccomp, SELinux)",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: true,
    run: run_seccomp_baseline,
};

fn run_seccomp_baseline(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::SeccompProfileBaseline.check_at(s, settings.pss_version)
    })
}

/// KH-POD-113: Probe or lifecycle handler targets another host.
pub const PROBE_HOST: CheckDef = CheckDef {
    id: "KH-POD-113",
    area: Area::PodSecurity,
    severity: Severity::Low,
    title: "Probe or lifecycle handler targets another host",
    rationale: "The kubelet runs httpGet and tcpSocket probes and lifecycle handlers from the node. A host \
        field turns it into a proxy that reaches any address the node can (node-local services, \
        cloud metadata, other networks) on the pod author's behalf. Baseline forbids the field \
        from policy v1.34.",
    references: &[
        "Pod Security Standards: baseline / Probes and Lifecycle Hooks (v1.34+)",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Baseline),
    fixable: false,
    run: run_probe_and_lifecycle_host,
};

fn run_probe_and_lifecycle_host(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::HostProbesAndHostLifecycle.check_at(s, settings.pss_version)
    })
}

/// KH-POD-201: allowPrivilegeEscalation is not false.
pub const ALLOW_PRIVILEGE_ESCALATION: CheckDef = CheckDef {
    id: "KH-POD-201",
    area: Area::PodSecurity,
    severity: Severity::High,
    title: "allowPrivilegeEscalation is not false",
    rationale: "Unless allowPrivilegeEscalation is false, the kernel's no_new_privs flag is off and a \
        process can gain privileges through setuid or setgid binaries or file capabilities. \
        Restricted requires every container to set it to false (unset fails); Windows pods are \
        exempt.",
    references: &[
        "Pod Security Standards: restricted / Privilege Escalation",
        "CIS Kubernetes Benchmark 5.2.6",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Restricted),
    fixable: true,
    run: run_allow_privilege_escalation,
};

fn run_allow_privilege_escalation(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::AllowPrivilegeEscalation.check_at(s, settings.pss_version)
    })
}

/// KH-POD-202: Container may run as root.
pub const RUN_AS_NON_ROOT: CheckDef = CheckDef {
    id: "KH-POD-202",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Container may run as root",
    rationale: "Without runAsNonRoot: true the image's user decides, and most images run as root: a \
        process that escapes the container is root on the node where user namespaces are not used. \
        Restricted requires runAsNonRoot: true on the pod or on every container, and no container \
        may set false (pods with hostUsers: false are exempt from policy v1.35).",
    references: &[
        "Pod Security Standards: restricted / Running as Non-root",
        "CIS Kubernetes Benchmark 5.2.7",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security (non-root containers)",
    ],
    pss: Some(PssLevel::Restricted),
    fixable: true,
    run: run_run_as_non_root,
};

fn run_run_as_non_root(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::RunAsNonRoot.check_at(s, settings.pss_version)
    })
}

/// KH-POD-203: runAsUser is 0.
pub const RUN_AS_USER_ROOT: CheckDef = CheckDef {
    id: "KH-POD-203",
    area: Area::PodSecurity,
    severity: Severity::High,
    title: "runAsUser is 0",
    rationale: "runAsUser: 0 runs the container's processes as root explicitly, whatever the image says. \
        Restricted forbids it on the pod and on every container (pods with hostUsers: false are \
        exempt from policy v1.35).",
    references: &[
        "Pod Security Standards: restricted / Running as Non-root user",
        "CIS Kubernetes Benchmark 5.2.7",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security (non-root containers)",
    ],
    pss: Some(PssLevel::Restricted),
    fixable: true,
    run: run_run_as_user,
};

fn run_run_as_user(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::RunAsUser.check_at(s, settings.pss_version)
    })
}

/// KH-POD-204: Capabilities not dropped.
pub const CAPABILITIES_RESTRICTED: CheckDef = CheckDef {
    id: "KH-POD-204",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Capabilities not dropped",
    rationale: "Containers get a default set of capabilities (CHOWN, DAC_OVERRIDE, SETUID, NET_RAW with \
        some runtimes, …) that most applications never use. Restricted requires drop: [\"ALL\"] \
        (the literal, case-sensitive string) and allows adding back only NET_BIND_SERVICE; Windows \
        pods are exempt.",
    references: &[
        "Pod Security Standards: restricted / Capabilities",
        "CIS Kubernetes Benchmark 1.10: 5.2.10; 1.12: 5.2.9",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Restricted),
    fixable: true,
    run: run_capabilities_restricted,
};

fn run_capabilities_restricted(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::CapabilitiesRestricted.check_at(s, settings.pss_version)
    })
}

/// KH-POD-205: Seccomp profile not set.
pub const SECCOMP_NOT_SET: CheckDef = CheckDef {
    id: "KH-POD-205",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Seccomp profile not set",
    rationale: "Unless the kubelet runs with --seccomp-default, a container without a seccomp profile runs \
        Unconfined, with every system call available. Restricted requires RuntimeDefault or \
        Localhost on the pod or on every container; a kubelet-wide default does not count. Windows \
        pods are exempt.",
    references: &[
        "Pod Security Standards: restricted / Seccomp",
        "CIS Kubernetes Benchmark 1.10: 5.7.2; 1.12: 5.6.2",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security (hardening with AppArmor, \
        seccomp, SELinux)",
    ],
    pss: Some(PssLevel::Restricted),
    fixable: true,
    run: run_seccomp_restricted,
};

fn run_seccomp_restricted(inv: &Inventory, settings: &Settings) -> Outcome {
    per_pod_spec(inv, |s| {
        pss::Control::SeccompProfileRestricted.check_at(s, settings.pss_version)
    })
}

/// KH-POD-206: Volume type not allowed by restricted.
pub const VOLUME_TYPES: CheckDef = CheckDef {
    id: "KH-POD-206",
    area: Area::PodSecurity,
    severity: Severity::Medium,
    title: "Volume type not allowed by restricted",
    rationale: "Volume types other than configMap, csi, downwardAPI, emptyDir, ephemeral, image, \
        persistentVolumeClaim, projected and secret let the pod author mount storage directly \
        (hostPath, NFS, iSCSI, RBD, gitRepo, …), bypassing PersistentVolume administration and, \
        for some, reaching the node. Restricted allows only the listed types.",
    references: &[
        "Pod Security Standards: restricted / Volume Types",
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
    ],
    pss: Some(PssLevel::Restricted),
    fixable: false,
    run: run_restricted_volumes,
};

fn run_restricted_volumes(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::restricted_volumes)
}

/// KH-POD-301: Container runtime socket mounted.
pub const RUNTIME_SOCKET: CheckDef = CheckDef {
    id: "KH-POD-301",
    area: Area::PodSecurity,
    severity: Severity::Critical,
    title: "Container runtime socket mounted",
    rationale: "The Docker, containerd or CRI-O socket is the runtime's API: whoever can write to it \
        starts privileged containers, reads every container's filesystem and owns the node. \
        Mounting it, or a directory above it such as /var/run, /run or /, into a pod gives that to \
        the pod.",
    references: &[
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security",
        "Pod Security Standards: baseline / HostPath Volumes (forbids all hostPath volumes)",
    ],
    pss: None,
    fixable: true,
    run: run_runtime_socket_mounts,
};

fn run_runtime_socket_mounts(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, pss::runtime_socket_mounts)
}

/// KH-POD-302: Writable root filesystem.
pub const WRITABLE_ROOT_FS: CheckDef = CheckDef {
    id: "KH-POD-302",
    area: Area::PodSecurity,
    severity: Severity::Low,
    title: "Writable root filesystem",
    rationale: "A writable root filesystem lets an attacker who gets code execution drop tools, modify \
        binaries and persist inside the container. readOnlyRootFilesystem: true with emptyDir \
        volumes for the paths that must be written makes the container immutable. Not part of the \
        Pod Security Standards.",
    references: &[
        "NSA/CISA Kubernetes Hardening Guidance: Kubernetes Pod security (immutable container file \
        systems)",
    ],
    pss: None,
    fixable: true,
    run: run_writable_root_filesystem,
};

fn run_writable_root_filesystem(inv: &Inventory, _: &Settings) -> Outcome {
    per_pod_spec(inv, writable_root_filesystem)
}

/// A container without `readOnlyRootFilesystem: true`. Windows pods, which cannot set the
/// field, are skipped.
fn writable_root_filesystem(spec: &PodSpecRef) -> Vec<Violation> {
    if pss::is_windows(&spec.spec) {
        return Vec::new();
    }
    containers(&spec.spec)
        .into_iter()
        .filter(|c| c.security_context.and_then(|s| s.read_only_root_filesystem) != Some(true))
        .map(|c| Violation {
            path: format!(
                "{}.securityContext.readOnlyRootFilesystem",
                c.path(spec.path)
            ),
            message: format!(
                "{} {:?} has a writable root filesystem (readOnlyRootFilesystem is not true)",
                container_word(c.list),
                c.name
            ),
        })
        .collect()
}
