//! The containers of a pod spec as the controls visit them, and paths of their fields.

use super::*;

/// One container of any of the three lists, with the fields the controls read.
pub(super) struct Ctr<'a> {
    pub(super) list: &'static str,
    pub(super) index: usize,
    pub(super) name: &'a str,
    pub(super) sc: Option<&'a SecurityContext>,
    pub(super) ports: &'a [ContainerPort],
    pub(super) liveness: Option<&'a Probe>,
    pub(super) readiness: Option<&'a Probe>,
    pub(super) startup: Option<&'a Probe>,
    pub(super) lifecycle: Option<&'a Lifecycle>,
}

impl Ctr<'_> {
    /// Dotted path of the container.
    pub(super) fn path(&self, spec: &PodSpecRef) -> String {
        format!("{}.{}[{}]", spec.path, self.list, self.index)
    }

    /// Dotted path of a field of the container's securityContext.
    pub(super) fn sc_path(&self, spec: &PodSpecRef, field: &str) -> String {
        format!("{}.securityContext.{field}", self.path(spec))
    }

    /// `container "app"`, `init container "setup"`, `ephemeral container "debug"`.
    pub(super) fn who(&self) -> String {
        let word = match self.list {
            "initContainers" => "init container",
            "ephemeralContainers" => "ephemeral container",
            _ => "container",
        };
        format!("{word} {:?}", self.name)
    }
}

/// initContainers, containers, ephemeralContainers: the order of PSA's visitor.
pub(super) fn ctrs(spec: &PodSpec) -> Vec<Ctr<'_>> {
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
pub(super) fn pod_sc_path(spec: &PodSpecRef, field: &str) -> String {
    format!("{}.securityContext.{field}", spec.path)
}

/// Dotted path of the pod metadata that goes with the spec (`metadata`, `spec.template.metadata`).
pub(super) fn metadata_path(spec: &PodSpecRef) -> String {
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
