//! The restricted controls.

use super::containers::*;
use super::*;

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
    allow_privilege_escalation_at(spec, PolicyVersion::LATEST)
}

/// [`allow_privilege_escalation`] at a policy version (Windows pods exempt from v1.25).
pub fn allow_privilege_escalation_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    if v.since(25) && is_windows(&spec.spec) {
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
    run_as_non_root_at(spec, PolicyVersion::LATEST)
}

/// [`run_as_non_root`] at a policy version (user-namespace pods exempt from v1.35).
pub fn run_as_non_root_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    if v.since(35) && in_user_namespace(&spec.spec) {
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
    run_as_user_at(spec, PolicyVersion::LATEST)
}

/// [`run_as_user`] at a policy version (user-namespace pods exempt from v1.35).
pub fn run_as_user_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    if v.since(35) && in_user_namespace(&spec.spec) {
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
    seccomp_restricted_at(spec, PolicyVersion::LATEST)
}

/// [`seccomp_restricted`] at a policy version (Windows pods exempt from v1.25).
pub fn seccomp_restricted_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    if v.since(25) && is_windows(&spec.spec) {
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
    capabilities_restricted_at(spec, PolicyVersion::LATEST)
}

/// [`capabilities_restricted`] at a policy version (Windows pods exempt from v1.25).
pub fn capabilities_restricted_at(spec: &PodSpecRef, v: PolicyVersion) -> Vec<Violation> {
    if v.since(25) && is_windows(&spec.spec) {
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
