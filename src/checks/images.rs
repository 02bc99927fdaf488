//! Image policies: references, tags and digests.

use super::pods::container_word;
use super::{CheckDef, Hit, Outcome, containers};
use crate::model::{Area, Inventory, Severity};

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
    fixable: false,
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
    fixable: false,
    run: no_digest,
};

fn each_image(
    inv: &Inventory,
    mut f: impl FnMut(&crate::model::Object, String, &str, &str, &ImageRef),
) -> usize {
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
            let path = format!("{}.image", c.path(spec.path));
            let who = format!("{} {:?}", container_word(c.list), c.name);
            f(obj, path, &who, image, &parsed);
        }
    }
    evaluated
}

fn mutable_tag(inv: &Inventory) -> Outcome {
    let mut hits = Vec::new();
    let evaluated = each_image(inv, |obj, path, who, image, parsed| {
        if parsed.is_mutable_latest() {
            let what = if parsed.tag.is_some() {
                "the latest tag"
            } else {
                "no tag (latest)"
            };
            hits.push(Hit::on(obj, path, format!("{who} uses {image:?}: {what}")));
        }
    });
    Outcome { evaluated, hits }
}

fn no_digest(inv: &Inventory) -> Outcome {
    let mut hits = Vec::new();
    let evaluated = each_image(inv, |obj, path, who, image, parsed| {
        if parsed.digest.is_none() {
            hits.push(Hit::on(
                obj,
                path,
                format!("{who} uses {image:?} without a digest"),
            ));
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
