//! Image policies: references, tags and digests.

use super::pods::container_word;
use super::{CheckDef, Hit, Outcome, Settings, containers};
use crate::model::{Area, Inventory, ObjRef, Severity};
use std::collections::HashMap;
use std::sync::Arc;

/// A parsed image reference: `[registry/][path/]name[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (with port), normalised: `docker.io` when the reference names none.
    pub registry: String,
    /// Repository path, with `library/` added for single-segment Docker Hub names.
    pub repository: String,
    /// The tag, when given.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), when given.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference as the container runtime does. Returns `None` for an empty string.
    pub fn parse(image: &str) -> Option<ImageRef> {
        let image = image.trim();
        if image.is_empty() {
            return None;
        }
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        // A tag is a ':' after the last '/': "host:5000/app" has a port, not a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest.get(last_slash..).and_then(|tail| tail.rfind(':')) {
            Some(colon) => {
                let at = last_slash + colon;
                (
                    rest.get(..at).unwrap_or(rest),
                    rest.get(at + 1..).map(str::to_string),
                )
            }
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            Some(_) => ("docker.io".to_string(), name.to_string()),
            None => ("docker.io".to_string(), format!("library/{name}")),
        };
        Some(ImageRef {
            registry,
            repository,
            tag: tag.filter(|t| !t.is_empty()),
            digest: digest.filter(|d| !d.is_empty()),
        })
    }

    /// True when the reference can point at different content over time: no digest, and
    /// no tag or the tag `latest`.
    pub fn is_mutable_latest(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }
}

/// KH-IMG-001: `latest` or no tag, without a digest.
pub const MUTABLE_TAG: CheckDef = CheckDef {
    id: "KH-IMG-001",
    area: Area::Images,
    severity: Severity::Medium,
    title: "Image uses the latest tag or no tag",
    rationale: "An image without a tag means :latest, which moves: two nodes can run different \
        code under one spec, a rollback does not roll back, and whoever can push to the \
        repository changes what runs. Pin a version tag, better a digest.",
    references: &[
        "NSA/CISA Kubernetes Hardening Guidance: Container images",
        "kubernetes.io/docs/concepts/containers/images#image-names",
    ],
    pss: None,
    fixable: true,
    run: mutable_tag,
};

/// KH-IMG-002: an image not pinned by digest.
pub const NO_DIGEST: CheckDef = CheckDef {
    id: "KH-IMG-002",
    area: Area::Images,
    severity: Severity::Low,
    title: "Image not pinned by digest",
    rationale: "Tags are mutable: whoever can push to the repository can replace what a tag \
        points at. Only a digest (@sha256:…) guarantees that the image that was reviewed and \
        scanned is the image that runs.",
    references: &[
        "NSA/CISA Kubernetes Hardening Guidance: Container images",
        "kubernetes.io/docs/concepts/containers/images#image-names",
    ],
    pss: None,
    fixable: true,
    run: no_digest,
};

/// One container image, as the image checks see it.
struct Image<'a> {
    obj: &'a crate::model::Object,
    /// Dotted path of the container (`….containers[0]`).
    container_path: String,
    /// "container \"web\"".
    who: String,
    image: &'a str,
    parsed: ImageRef,
    pull_policy: Option<&'a str>,
}

fn each_image<'a>(inv: &'a Inventory, mut f: impl FnMut(Image<'a>)) -> usize {
    let mut evaluated = 0;
    for spec in inv.pod_specs() {
        let Some(obj) = inv.owner_of(spec) else {
            continue;
        };
        for c in containers(&spec.spec) {
            let Some(image) = c.image else { continue };
            let Some(parsed) = ImageRef::parse(image) else {
                continue;
            };
            evaluated += 1;
            f(Image {
                obj,
                container_path: c.path(spec.path),
                who: format!("{} {:?}", container_word(c.list), c.name),
                image,
                parsed,
                pull_policy: c.pull_policy,
            });
        }
    }
    evaluated
}

/// Digests of the images that run now, by top-level owner and container name, from the
/// `imageID` the kubelet reports in Pod statuses. Only repository digests
/// (`…@sha256:…`) count: a bare `sha256:` is the local image ID, not something a
/// registry serves. Containers whose pods disagree (a rollout in progress) are left out.
pub fn running_digests(inv: &Inventory) -> HashMap<(Arc<ObjRef>, String), String> {
    let mut out: HashMap<(Arc<ObjRef>, String), Option<String>> = HashMap::new();
    for pod in inv.of_kind("Pod") {
        let owner = top_owner(inv, pod);
        for list in [
            "initContainerStatuses",
            "containerStatuses",
            "ephemeralContainerStatuses",
        ] {
            let statuses = pod
                .raw
                .pointer(&format!("/status/{list}"))
                .and_then(serde_json::Value::as_array);
            for st in statuses.into_iter().flatten() {
                let (Some(name), Some(id)) = (
                    st.get("name").and_then(serde_json::Value::as_str),
                    st.get("imageID").and_then(serde_json::Value::as_str),
                ) else {
                    continue;
                };
                let Some(digest) = id
                    .rsplit_once('@')
                    .map(|(_, d)| d)
                    .filter(|d| is_sha256_digest(d))
                else {
                    continue;
                };
                let entry = out
                    .entry((owner.id.clone(), name.to_string()))
                    .or_insert_with(|| Some(digest.to_string()));
                if entry.as_deref() != Some(digest) {
                    *entry = None;
                }
            }
        }
    }
    out.into_iter().filter_map(|(k, v)| Some((k, v?))).collect()
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The object at the top of a Pod's controller chain (the Pod itself when it has none).
pub fn top_owner<'a>(
    inv: &'a Inventory,
    pod: &'a crate::model::Object,
) -> &'a crate::model::Object {
    let mut cur = pod;
    for _ in 0..4 {
        let Some(owner) = cur
            .controller_owner()
            .and_then(|o| inv.find(&o.kind, cur.namespace(), &o.name))
        else {
            break;
        };
        cur = owner;
    }
    cur
}

/// The container name at the end of a container path (`….containers[2]`), read from the object.
fn container_name<'a>(obj: &'a crate::model::Object, container_path: &str) -> Option<&'a str> {
    Inventory::value_at(obj, &container_path.replace('[', ".").replace(']', ""))
        .and_then(|c| c.get("name"))
        .and_then(serde_json::Value::as_str)
}

fn mutable_tag(inv: &Inventory, settings: &Settings) -> Outcome {
    let digests = if settings.cluster {
        running_digests(inv)
    } else {
        HashMap::new()
    };
    let pinnable = |i: &Image| {
        container_name(i.obj, &i.container_path)
            .is_some_and(|c| digests.contains_key(&(i.obj.id.clone(), c.to_string())))
    };
    let mut hits = Vec::new();
    let evaluated = each_image(inv, |i| {
        if i.parsed.is_mutable_latest() {
            let what = if i.parsed.tag.is_some() {
                "the latest tag"
            } else {
                "no tag (latest)"
            };
            let fixable = pinnable(&i);
            hits.push(
                Hit::on(
                    i.obj,
                    format!("{}.image", i.container_path),
                    format!("{} uses {:?}: {what}", i.who, i.image),
                )
                .fixable_if(fixable),
            );
        }
    });
    Outcome { evaluated, hits }
}

fn no_digest(inv: &Inventory, settings: &Settings) -> Outcome {
    let digests = if settings.cluster {
        running_digests(inv)
    } else {
        HashMap::new()
    };
    let mut hits = Vec::new();
    let evaluated = each_image(inv, |i| {
        if i.parsed.digest.is_none() {
            let fixable = container_name(i.obj, &i.container_path)
                .is_some_and(|c| digests.contains_key(&(i.obj.id.clone(), c.to_string())));
            hits.push(
                Hit::on(
                    i.obj,
                    format!("{}.image", i.container_path),
                    format!("{} uses {:?} without a digest", i.who, i.image),
                )
                .fixable_if(fixable),
            );
        }
    });
    Outcome { evaluated, hits }
}

#[cfg(test)]
mod tests {
    use super::ImageRef;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn normalises_docker_hub_and_ports() {
        let r = p("nginx");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag),
            ("docker.io", "library/nginx", None)
        );
        let r = p("registry.example.com:5000/team/app");
        assert_eq!(r.registry, "registry.example.com:5000");
        assert_eq!(r.tag, None);
        assert!(r.is_mutable_latest());
        let r = p("localhost:5000/app:v2");
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("localhost:5000", Some("v2"))
        );
        let r = p("bitnami/redis:7.2");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "bitnami/redis")
        );
    }

    #[test]
    fn a_digest_pins_whatever_the_tag() {
        assert!(!p("nginx:latest@sha256:0123").is_mutable_latest());
        assert!(!p("nginx:1.27").is_mutable_latest());
        assert!(p("nginx:latest").is_mutable_latest());
    }
}

/// KH-IMG-003: a mutable tag pulled without `imagePullPolicy: Always`.
pub const PULL_POLICY: CheckDef = CheckDef {
    id: "KH-IMG-003",
    area: Area::Images,
    severity: Severity::Medium,
    title: "Mutable tag without imagePullPolicy Always",
    rationale: "With a mutable tag (latest or none) and IfNotPresent or Never, each node runs \
        whatever it pulled first: replicas drift apart, and a pod scheduled on a node that holds \
        a cached image can use an image the registry's access control would refuse. When the \
        policy is omitted Kubernetes defaults it to Always for latest or no tag, so only an \
        explicit other value is reported.",
    references: &[
        "CIS Kubernetes Benchmark 1.2.11 (AlwaysPullImages)",
        "kubernetes.io/docs/concepts/containers/images#image-pull-policy",
    ],
    pss: None,
    fixable: true,
    run: pull_policy,
};

/// KH-IMG-004: an image from a registry outside the allowlist.
pub const UNTRUSTED_REGISTRY: CheckDef = CheckDef {
    id: "KH-IMG-004",
    area: Area::Images,
    severity: Severity::High,
    title: "Image from a registry outside the allowlist",
    rationale: "Images from registries you do not control can change or disappear, and whoever \
        controls the registry controls what runs. Judged only when an allowlist is configured \
        (allowedRegistries in the config file, or --allowed-registries). An entry without '/' is \
        a registry host and matches only that host; an entry with '/' is a prefix of the \
        normalised reference (docker.io/library/nginx for nginx), so registry.example.com/team/ \
        never matches registry.example.com.evil.net.",
    references: &[
        "CIS GKE Benchmark 5.1.4",
        "NSA/CISA Kubernetes Hardening Guidance: Container images",
    ],
    pss: None,
    fixable: false,
    run: untrusted_registry,
};

/// KH-IMG-005: no admission policy enforces a registry allowlist.
pub const NO_ADMISSION_ENFORCEMENT: CheckDef = CheckDef {
    id: "KH-IMG-005",
    area: Area::Images,
    severity: Severity::High,
    title: "No admission policy enforces trusted registries",
    rationale: "A scan finds what runs today; only admission control stops tomorrow's untrusted \
        image. Looked for: a ValidatingAdmissionPolicy about images with a binding, a Gatekeeper \
        K8sAllowedRepos(v2) constraint, or a Kyverno policy that validates images. Judged for \
        clusters (live or demo), not for manifests on disk.",
    references: &[
        "CIS Kubernetes Benchmark 5.5.1 (ImagePolicyWebhook)",
        "kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy",
    ],
    pss: None,
    fixable: true,
    run: no_admission_enforcement,
};

/// KH-IMG-006: the registry policy only warns or audits.
pub const ENFORCEMENT_NOT_DENYING: CheckDef = CheckDef {
    id: "KH-IMG-006",
    area: Area::Images,
    severity: Severity::Medium,
    title: "Registry policy only warns or audits",
    rationale: "A policy in Warn, Audit or dryrun mode reports untrusted images but admits them. \
        That is the right first step of a rollout; switch to Deny once the warnings stop.",
    references: &["kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy"],
    pss: None,
    fixable: true,
    run: enforcement_not_denying,
};

/// KH-IMG-009: images from the frozen k8s.gcr.io registry.
pub const DEPRECATED_REGISTRY: CheckDef = CheckDef {
    id: "KH-IMG-009",
    area: Area::Images,
    severity: Severity::Low,
    title: "Image from the frozen k8s.gcr.io registry",
    rationale: "k8s.gcr.io was frozen in 2023 and gets no new images or security fixes; its \
        successor is registry.k8s.io.",
    references: &["kubernetes.io/blog/2023/02/06/k8s-gcr-io-freeze-announcement"],
    pss: None,
    fixable: true,
    run: deprecated_registry,
};

fn pull_policy(inv: &Inventory, _: &Settings) -> Outcome {
    let mut hits = Vec::new();
    let evaluated = each_image(inv, |i| {
        if i.parsed.is_mutable_latest() {
            if let Some(policy) = i.pull_policy.filter(|p| *p != "Always") {
                hits.push(Hit::on(
                    i.obj,
                    format!("{}.imagePullPolicy", i.container_path),
                    format!(
                        "{} pulls the mutable {:?} with imagePullPolicy {policy}",
                        i.who, i.image
                    ),
                ));
            }
        }
    });
    Outcome { evaluated, hits }
}

/// Whether a normalised image matches an allowlist entry.
pub fn allowed_by(entry: &str, image: &ImageRef) -> bool {
    let entry = entry.trim();
    if entry.contains('/') {
        let full = format!("{}/{}", image.registry, image.repository);
        full.starts_with(entry.trim_end_matches('*'))
    } else {
        image.registry.eq_ignore_ascii_case(entry)
    }
}

fn untrusted_registry(inv: &Inventory, settings: &Settings) -> Outcome {
    let allowed = &settings.config.allowed_registries;
    if allowed.is_empty() {
        return Outcome::default();
    }
    let mut hits = Vec::new();
    let evaluated = each_image(inv, |i| {
        if !allowed.iter().any(|a| allowed_by(a, &i.parsed)) {
            hits.push(Hit::on(
                i.obj,
                format!("{}.image", i.container_path),
                format!(
                    "{} uses {:?} from {}, which is not in the allowlist ({})",
                    i.who,
                    i.image,
                    i.parsed.registry,
                    allowed.join(", ")
                ),
            ));
        }
    });
    Outcome { evaluated, hits }
}

/// How a registry policy acts on violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Deny,
    WarnOnly,
}

/// Registry policies in the inventory, with their mode.
fn registry_policies(inv: &Inventory) -> Vec<(&crate::model::Object, Mode)> {
    use serde_json::Value;
    let mut out = Vec::new();
    for vap in inv.of_kind("ValidatingAdmissionPolicy") {
        let about_images = vap
            .raw
            .pointer("/spec")
            .is_some_and(|s| s.to_string().contains(".image"));
        if !about_images {
            continue;
        }
        for binding in inv.of_kind("ValidatingAdmissionPolicyBinding") {
            let spec = binding.raw.get("spec");
            if spec
                .and_then(|s| s.get("policyName"))
                .and_then(Value::as_str)
                != Some(vap.name())
            {
                continue;
            }
            let actions: Vec<&str> = spec
                .and_then(|s| s.get("validationActions"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mode = if actions.contains(&"Deny") {
                Mode::Deny
            } else {
                Mode::WarnOnly
            };
            out.push((binding, mode));
        }
    }
    for kind in ["K8sAllowedRepos", "K8sAllowedReposv2"] {
        for c in inv.of_kind(kind) {
            let action = c
                .raw
                .pointer("/spec/enforcementAction")
                .and_then(Value::as_str)
                .unwrap_or("deny");
            let mode = if action == "deny" {
                Mode::Deny
            } else {
                Mode::WarnOnly
            };
            out.push((c, mode));
        }
    }
    for kind in ["ClusterPolicy", "Policy"] {
        for p in inv
            .of_kind(kind)
            .filter(|p| p.id.api_version.starts_with("kyverno.io/"))
        {
            let rules = p.raw.pointer("/spec/rules").and_then(Value::as_array);
            let image_rules: Vec<&Value> = rules
                .into_iter()
                .flatten()
                .filter(|r| {
                    r.get("validate")
                        .is_some_and(|v| v.to_string().contains("image"))
                })
                .collect();
            if image_rules.is_empty() {
                continue;
            }
            let top = p
                .raw
                .pointer("/spec/validationFailureAction")
                .and_then(Value::as_str)
                .unwrap_or("Audit");
            let enforcing = image_rules.iter().any(|r| {
                r.pointer("/validate/failureAction")
                    .and_then(Value::as_str)
                    .unwrap_or(top)
                    .eq_ignore_ascii_case("enforce")
            });
            out.push((
                p,
                if enforcing {
                    Mode::Deny
                } else {
                    Mode::WarnOnly
                },
            ));
        }
    }
    out
}

fn no_admission_enforcement(inv: &Inventory, settings: &Settings) -> Outcome {
    if !settings.cluster || inv.pod_specs().is_empty() {
        return Outcome::default();
    }
    let policies = registry_policies(inv);
    if policies.iter().any(|(_, m)| *m == Mode::Deny) {
        return Outcome {
            evaluated: 1,
            hits: Vec::new(),
        };
    }
    let message = if policies.is_empty() {
        "no ValidatingAdmissionPolicy, Gatekeeper K8sAllowedRepos constraint or Kyverno image \
         policy restricts registries: any image can be deployed"
            .to_string()
    } else {
        format!(
            "{} registry polic{} found, none in Deny/Enforce mode",
            policies.len(),
            if policies.len() == 1 { "y" } else { "ies" }
        )
    };
    let hit = Hit {
        object: super::cluster_ref().into(),
        origin: crate::model::Origin::Synthetic.into(),
        path: String::new(),
        message,
        severity: None,
        fixable: None,
    };
    Outcome {
        evaluated: 1,
        hits: vec![hit],
    }
}

fn enforcement_not_denying(inv: &Inventory, _: &Settings) -> Outcome {
    let policies = registry_policies(inv);
    let hits = policies
        .iter()
        .filter(|(_, m)| *m == Mode::WarnOnly)
        .map(|(obj, _)| {
            let path = if obj.kind() == "ValidatingAdmissionPolicyBinding" {
                "spec.validationActions"
            } else if obj.id.api_version.starts_with("kyverno.io/") {
                "spec.rules"
            } else {
                "spec.enforcementAction"
            };
            Hit::on(
                obj,
                path,
                "reports untrusted images but admits them (no Deny/Enforce)",
            )
            // kubeharden switches ValidatingAdmissionPolicyBindings to Deny; Kyverno and
            // Gatekeeper policies are switched by hand.
            .fixable_if(obj.kind() == "ValidatingAdmissionPolicyBinding")
        })
        .collect();
    Outcome {
        evaluated: policies.len(),
        hits,
    }
}

fn deprecated_registry(inv: &Inventory, _: &Settings) -> Outcome {
    let mut hits = Vec::new();
    let evaluated = each_image(inv, |i| {
        if i.parsed.registry.eq_ignore_ascii_case("k8s.gcr.io") {
            hits.push(Hit::on(
                i.obj,
                format!("{}.image", i.container_path),
                format!("{} uses {:?}: move to registry.k8s.io", i.who, i.image),
            ));
        }
    });
    Outcome { evaluated, hits }
}
