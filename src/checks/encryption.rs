//! Data at rest: Secrets encryption in etcd, as far as the API can show it.

use super::{CheckDef, Hit, Outcome, Settings};
use crate::model::encryption::{EncryptionConfig, Provider};
use crate::model::{Area, Inventory, ObjRef, Object, Origin, Severity};
use serde_json::Value;

/// KH-ENC-001: a visible kube-apiserver without `--encryption-provider-config`.
pub const PROVIDER_CONFIG_NOT_SET: CheckDef = CheckDef {
    id: "KH-ENC-001",
    area: Area::Encryption,
    severity: Severity::Critical,
    title: "kube-apiserver runs without --encryption-provider-config",
    rationale: "Without an encryption provider configuration the API server stores Secrets in \
        etcd as plain base64: anyone with read access to etcd, its data directory or a backup \
        reads every password, token and key in the cluster.",
    references: &[
        "CIS Kubernetes Benchmark 1.2.27 (1.2.28 in cis-1.8)",
        "NSA/CISA Kubernetes Hardening Guidance: Secrets",
        "kubernetes.io/docs/tasks/administer-cluster/encrypt-data",
    ],
    pss: None,
    fixable: false,
    run: provider_config_not_set,
};

/// KH-ENC-006: no kube-apiserver pod visible, so encryption cannot be verified.
pub const CANNOT_VERIFY: CheckDef = CheckDef {
    id: "KH-ENC-006",
    area: Area::Encryption,
    severity: Severity::Info,
    title: "Encryption at rest cannot be verified from the API",
    rationale: "Managed control planes (EKS, GKE, AKS) and some distributions run the API server \
        outside the cluster, so its flags are not visible. This is not a pass: check the setting \
        where the control plane is managed.",
    references: &[
        "CIS EKS/GKE/AKS Benchmark 5.3.1",
        "kubernetes.io/docs/tasks/administer-cluster/encrypt-data",
    ],
    pss: None,
    fixable: false,
    run: cannot_verify,
};

const FLAG: &str = "--encryption-provider-config";

/// kube-apiserver pods: kubeadm and RKE2 static pods in kube-system.
fn apiserver_pods(inv: &Inventory) -> impl Iterator<Item = &Object> {
    inv.of_kind("Pod").filter(|p| {
        p.namespace() == Some("kube-system")
            && (p.label("component") == Some("kube-apiserver")
                || (p.name().starts_with("kube-apiserver") && apiserver_container(p).is_some()))
    })
}

/// The container that runs kube-apiserver: index and its command + args.
fn apiserver_container(pod: &Object) -> Option<(usize, Vec<&str>)> {
    let containers = pod.raw.pointer("/spec/containers")?.as_array()?;
    let words = |c: &Value, field: &str| crate::model::object::string_list(c.get(field));
    let found = containers.iter().enumerate().find(|(_, c)| {
        c.get("name").and_then(Value::as_str) == Some("kube-apiserver")
            || words(c, "command")
                .iter()
                .chain(words(c, "args").iter())
                .any(|w| w.ends_with("kube-apiserver"))
    });
    let (i, c) = found.or_else(|| containers.iter().enumerate().next())?;
    let mut all: Vec<&str> = Vec::new();
    for field in ["command", "args"] {
        if let Some(a) = c.get(field).and_then(Value::as_array) {
            all.extend(a.iter().filter_map(Value::as_str));
        }
    }
    Some((i, all))
}

/// The value of a flag given as `--flag=value` or `--flag value`.
fn flag_value<'a>(words: &[&'a str], flag: &str) -> Option<&'a str> {
    let mut iter = words.iter().peekable();
    while let Some(w) = iter.next() {
        // Flags may be given one per word or several in one shell string.
        for part in w.split_whitespace() {
            if let Some(v) = part.strip_prefix(flag) {
                if let Some(v) = v.strip_prefix('=') {
                    return Some(v);
                }
                if v.is_empty() {
                    return iter.peek().map(|n| n.trim());
                }
            }
        }
    }
    None
}

fn provider_config_not_set(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for pod in apiserver_pods(inv) {
        out.evaluated += 1;
        let Some((index, words)) = apiserver_container(pod) else {
            continue;
        };
        match flag_value(&words, FLAG) {
            Some(v) if !v.is_empty() && !v.starts_with('-') => {}
            _ => out.hits.push(Hit::on(
                pod,
                format!("spec.containers[{index}].command"),
                format!("kube-apiserver has no {FLAG}: Secrets are stored unencrypted in etcd"),
            )),
        }
    }
    out
}

fn cannot_verify(inv: &Inventory, _: &Settings) -> Outcome {
    if apiserver_pods(inv).next().is_some() {
        return Outcome {
            evaluated: 0,
            hits: Vec::new(),
        };
    }
    let hit = Hit {
        object: super::cluster_ref().into(),
        origin: Origin::Synthetic.into(),
        path: String::new(),
        message: "no kube-apiserver pod is visible in kube-system (managed control plane?): \
            on EKS check envelope encryption with a customer KMS key (aws eks describe-cluster \
            --query cluster.encryptionConfig); on GKE application-layer Secrets encryption \
            (gcloud container clusters describe --format='value(databaseEncryption)'); on AKS \
            KMS etcd encryption (az aks show --query securityProfile.azureKeyVaultKms)"
            .to_string(),
        severity: None,
        fixable: None,
    };
    Outcome {
        evaluated: 0,
        hits: vec![hit],
    }
}

/// KH-ENC-002: `identity` encrypts new Secrets (first provider), per the given file.
pub const IDENTITY_FIRST: CheckDef = CheckDef {
    id: "KH-ENC-002",
    area: Area::Encryption,
    severity: Severity::Critical,
    title: "Secrets are written unencrypted (identity is the first provider)",
    rationale: "The first provider of the entry that covers Secrets encrypts every new write; \
        identity first means plaintext whatever follows, and identity alone means no encryption \
        at all. Judged from the EncryptionConfiguration passed with --encryption-config.",
    references: &[
        "CIS Kubernetes Benchmark 1.2.28 (1.2.29 in cis-1.8)",
        "kubernetes.io/docs/tasks/administer-cluster/encrypt-data",
    ],
    pss: None,
    fixable: false,
    run: identity_first,
};

/// KH-ENC-003: a weak or deprecated provider encrypts Secrets.
pub const DISCOURAGED_PROVIDER: CheckDef = CheckDef {
    id: "KH-ENC-003",
    area: Area::Encryption,
    severity: Severity::Medium,
    title: "Secrets encrypted with a discouraged provider",
    rationale: "aescbc is documented as weak (padding-oracle exposure), aesgcm is safe only with \
        automated key rotation every 200,000 writes, and KMS v1 is deprecated since 1.28 and off \
        by default since 1.29. Prefer KMS v2, or secretbox where no KMS exists.",
    references: &["kubernetes.io/docs/tasks/administer-cluster/encrypt-data#providers"],
    pss: None,
    fixable: false,
    run: discouraged_provider,
};

/// KH-ENC-004: no entry covers Secrets.
pub const SECRETS_NOT_COVERED: CheckDef = CheckDef {
    id: "KH-ENC-004",
    area: Area::Encryption,
    severity: Severity::High,
    title: "The encryption configuration does not cover Secrets",
    rationale: "Only resources listed in an entry (explicitly, or through *. or *.*) are \
        encrypted; a configuration that encrypts other resources but not secrets leaves every \
        Secret in plaintext.",
    references: &["kubernetes.io/docs/tasks/administer-cluster/encrypt-data"],
    pss: None,
    fixable: false,
    run: secrets_not_covered,
};

/// KH-ENC-007: encryption configured, but key changes need an API server restart.
pub const NO_AUTOMATIC_RELOAD: CheckDef = CheckDef {
    id: "KH-ENC-007",
    area: Area::Encryption,
    severity: Severity::Low,
    title: "Encryption configuration is not reloaded automatically",
    rationale: "Without --encryption-provider-config-automatic-reload=true a key rotation needs \
        a restart of every API server, which makes rotation rare. Reported only where the \
        kube-apiserver pod is visible and encryption is configured.",
    references: &[
        "kubernetes.io/docs/tasks/administer-cluster/encrypt-data#configure-automatic-reloading",
    ],
    pss: None,
    fixable: false,
    run: no_automatic_reload,
};

fn config_hit(cfg: &EncryptionConfig, path: String, message: String) -> Hit {
    Hit {
        object: ObjRef::new(
            "apiserver.config.k8s.io/v1",
            "EncryptionConfiguration",
            None,
            &cfg.path,
        )
        .into(),
        origin: Origin::Synthetic.into(),
        path,
        message,
        severity: None,
        fixable: None,
    }
}

fn identity_first(_: &Inventory, settings: &Settings) -> Outcome {
    let Some(cfg) = &settings.encryption else {
        return Outcome::default();
    };
    let mut out = Outcome {
        evaluated: 1,
        hits: Vec::new(),
    };
    if let Some(entry) = cfg.secrets_entry() {
        let only = entry.providers.iter().all(|p| *p == Provider::Identity);
        if entry.providers.first() == Some(&Provider::Identity) {
            out.hits.push(config_hit(
                cfg,
                format!("resources[{}].providers[0]", entry.index),
                if only {
                    "identity is the only provider for secrets: nothing is encrypted".into()
                } else {
                    "identity is the first provider for secrets: new Secrets are written in plaintext".into()
                },
            ));
        }
    }
    out
}

fn discouraged_provider(_: &Inventory, settings: &Settings) -> Outcome {
    let Some(cfg) = &settings.encryption else {
        return Outcome::default();
    };
    let mut out = Outcome {
        evaluated: 1,
        hits: Vec::new(),
    };
    if let Some(entry) = cfg.secrets_entry() {
        if let Some(first) = entry.providers.first() {
            let why = match first {
                Provider::Aescbc => Some("aescbc is documented as weak (padding oracle)"),
                Provider::Aesgcm => {
                    Some("aesgcm needs automated key rotation every 200,000 writes")
                }
                Provider::Kms { v2: false } => {
                    Some("KMS v1 is deprecated and disabled by default since 1.29")
                }
                _ => None,
            };
            if let Some(why) = why {
                out.hits.push(config_hit(
                    cfg,
                    format!("resources[{}].providers[0]", entry.index),
                    format!(
                        "secrets are encrypted with {}: {why}; prefer KMS v2 or secretbox",
                        first.name()
                    ),
                ));
            }
        }
    }
    out
}

fn secrets_not_covered(_: &Inventory, settings: &Settings) -> Outcome {
    let Some(cfg) = &settings.encryption else {
        return Outcome::default();
    };
    let mut out = Outcome {
        evaluated: 1,
        hits: Vec::new(),
    };
    if cfg.secrets_entry().is_none() {
        let listed: Vec<String> = cfg
            .entries
            .iter()
            .flat_map(|e| e.resources.clone())
            .collect();
        out.hits.push(config_hit(
            cfg,
            "resources".into(),
            format!(
                "no entry covers secrets (listed: {}): Secrets are stored unencrypted",
                if listed.is_empty() {
                    "nothing".into()
                } else {
                    listed.join(", ")
                }
            ),
        ));
    }
    out
}

fn no_automatic_reload(inv: &Inventory, _: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for pod in apiserver_pods(inv) {
        let Some((index, words)) = apiserver_container(pod) else {
            continue;
        };
        if flag_value(&words, FLAG).is_none_or(str::is_empty) {
            continue; // KH-ENC-001
        }
        out.evaluated += 1;
        let reload = flag_value(&words, "--encryption-provider-config-automatic-reload");
        if !matches!(reload, Some("true")) {
            out.hits.push(Hit::on(
                pod,
                format!("spec.containers[{index}].command"),
                "--encryption-provider-config-automatic-reload is not true: key rotation needs an API server restart",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::flag_value;

    #[test]
    fn flags_in_all_spellings() {
        assert_eq!(
            flag_value(
                &["kube-apiserver", "--encryption-provider-config=/x"],
                super::FLAG
            ),
            Some("/x")
        );
        assert_eq!(
            flag_value(&["--encryption-provider-config", "/y"], super::FLAG),
            Some("/y")
        );
        assert_eq!(
            flag_value(
                &["kube-apiserver --a=b --encryption-provider-config=/z"],
                super::FLAG
            ),
            Some("/z")
        );
        assert_eq!(
            flag_value(
                &["--encryption-provider-config-automatic-reload=true"],
                super::FLAG
            ),
            None
        );
    }
}
