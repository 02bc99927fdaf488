//! Beyond the standard: container runtime sockets mounted from the host.

use super::*;

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
