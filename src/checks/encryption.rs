//! Data at rest: Secrets encryption in etcd, as far as the API can show it.

use super::{CheckDef, Hit, Outcome};
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
    let words = |c: &Value, field: &str| -> Vec<String> {
        c.get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
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

fn provider_config_not_set(inv: &Inventory) -> Outcome {
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

fn cannot_verify(inv: &Inventory) -> Outcome {
    if apiserver_pods(inv).next().is_some() {
        return Outcome {
            evaluated: 0,
            hits: Vec::new(),
        };
    }
    let hit = Hit {
        object: ObjRef::new("v1", "Namespace", None, "kube-system"),
        origin: inv
            .find("Namespace", None, "kube-system")
            .map(|o| o.origin.clone())
            .unwrap_or(Origin::Synthetic),
        path: String::new(),
        message: "no kube-apiserver pod is visible in kube-system (managed control plane?): \
            on EKS check envelope encryption with a customer KMS key (aws eks describe-cluster \
            --query cluster.encryptionConfig); on GKE application-layer Secrets encryption \
            (gcloud container clusters describe --format='value(databaseEncryption)'); on AKS \
            KMS etcd encryption (az aks show --query securityProfile.azureKeyVaultKms)"
            .to_string(),
        severity: None,
    };
    Outcome {
        evaluated: 0,
        hits: vec![hit],
    }
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
