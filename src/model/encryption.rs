//! EncryptionConfiguration (apiserver.config.k8s.io/v1), reduced to what the checks need:
//! which resources each entry covers and the order of its provider types. Keys, secrets and
//! KMS endpoints are dropped while parsing and never kept.

use serde_json::Value;

/// One provider, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// No encryption.
    Identity,
    /// AES-CBC (labelled weak).
    Aescbc,
    /// AES-GCM (needs automated key rotation).
    Aesgcm,
    /// XSalsa20-Poly1305.
    Secretbox,
    /// KMS; `v2` when `apiVersion: v2`.
    Kms {
        /// KMS plugin API version (`v1` when absent).
        v2: bool,
    },
    /// Anything else.
    Unknown(String),
}

impl Provider {
    /// The provider's field name in the file.
    pub fn name(&self) -> String {
        match self {
            Provider::Identity => "identity".into(),
            Provider::Aescbc => "aescbc".into(),
            Provider::Aesgcm => "aesgcm".into(),
            Provider::Secretbox => "secretbox".into(),
            Provider::Kms { v2: true } => "kms v2".into(),
            Provider::Kms { v2: false } => "kms v1".into(),
            Provider::Unknown(s) => s.clone(),
        }
    }
}

/// One `resources[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Index in `resources`.
    pub index: usize,
    /// The resources it covers (`secrets`, `*.*`, `configmaps`…).
    pub resources: Vec<String>,
    /// Providers in order; the first encrypts new writes.
    pub providers: Vec<Provider>,
}

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionConfig {
    /// The file it came from, for messages.
    pub path: String,
    /// The entries in order (the first matching entry wins).
    pub entries: Vec<Entry>,
}

impl EncryptionConfig {
    /// Reads the structure of an EncryptionConfiguration from a parsed tree.
    pub fn from_value(path: &str, v: &Value) -> Result<EncryptionConfig, String> {
        match v.get("kind").and_then(Value::as_str) {
            Some("EncryptionConfiguration") | Some("EncryptionConfig") => {}
            other => {
                return Err(format!(
                    "not an EncryptionConfiguration (kind {})",
                    other.unwrap_or("missing")
                ));
            }
        }
        let resources = v
            .get("resources")
            .and_then(Value::as_array)
            .ok_or_else(|| "no resources list".to_string())?;
        let entries = resources
            .iter()
            .enumerate()
            .map(|(index, r)| Entry {
                index,
                resources: super::object::string_list(r.get("resources")),
                providers: r
                    .get("providers")
                    .and_then(Value::as_array)
                    .map(|ps| ps.iter().filter_map(provider).collect())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(EncryptionConfig {
            path: path.to_string(),
            entries,
        })
    }

    /// The entry that applies to Secrets: the first that lists `secrets`, `*.` or `*.*`.
    pub fn secrets_entry(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            e.resources
                .iter()
                .any(|r| r == "secrets" || r == "*." || r == "*.*")
        })
    }
}

fn provider(v: &Value) -> Option<Provider> {
    let (name, body) = v.as_object()?.iter().next()?;
    Some(match name.as_str() {
        "identity" => Provider::Identity,
        "aescbc" => Provider::Aescbc,
        "aesgcm" => Provider::Aesgcm,
        "secretbox" => Provider::Secretbox,
        "kms" => Provider::Kms {
            v2: body.get("apiVersion").and_then(Value::as_str) == Some("v2"),
        },
        other => Provider::Unknown(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_structure_and_finds_the_secrets_entry() {
        let v = json!({"apiVersion":"apiserver.config.k8s.io/v1","kind":"EncryptionConfiguration",
            "resources":[{"resources":["events"],"providers":[{"identity":{}}]},
                         {"resources":["*.*"],"providers":[{"kms":{"apiVersion":"v2","name":"k","endpoint":"unix:///x"}},
                                                            {"aescbc":{"keys":[{"name":"k1","secret":"c2VjcmV0"}]}},{"identity":{}}]}]});
        let c = EncryptionConfig::from_value("enc.yaml", &v).unwrap();
        let e = c.secrets_entry().unwrap();
        assert_eq!(e.index, 1);
        assert_eq!(
            e.providers,
            vec![
                Provider::Kms { v2: true },
                Provider::Aescbc,
                Provider::Identity
            ]
        );
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
    }
}
