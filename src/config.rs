//! User configuration: allowed registries, excluded namespaces, severity overrides, waivers.
//!
//! Precedence: `--config FILE` > `KUBEHARDEN_CONFIG` > `config.yaml` in the user's config
//! directory (e.g. `~/.config/kubeharden/config.yaml`) > defaults. A missing default file is
//! fine; a broken one is a one-line error with path, line and column.

use crate::model::{Finding, Object, Severity, Waived};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::model::object::WAIVE_ANNOTATION;

/// The configuration file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Image reference prefixes that are trusted, e.g. `registry.example.com/team/`.
    #[serde(default)]
    pub allowed_registries: Vec<String>,
    /// Namespaces whose findings are not reported (globs with `*`).
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
    /// Severity per check ID, overriding the catalogue's.
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
    /// Accepted risks.
    #[serde(default)]
    pub waivers: Vec<WaiverRule>,
    /// Namespaces whose pods need open egress: `fix` gives them an allowance of everything
    /// but the metadata endpoint and private ranges instead of a default deny with DNS only.
    #[serde(default)]
    pub open_egress: Vec<String>,
}

/// One waiver: a check on the objects a selector matches, with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaiverRule {
    /// The check ID (`KH-POD-101`), or `*` for every check.
    pub check: String,
    /// Namespace glob (`*` wildcards); absent matches every namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Kind; absent matches every kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Name glob; absent matches every name.
    #[serde(default)]
    pub name: Option<String>,
    /// Why the risk is accepted (required).
    pub reason: String,
    /// Who accepted it.
    #[serde(default)]
    pub owner: Option<String>,
    /// Last day the waiver applies (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    pub expires: Option<String>,
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong, with line and column when known.
    pub message: String,
}

impl Config {
    /// Parses a configuration file's text. Performs no I/O.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_yaml::from_str(text).map_err(|e| {
            let mut message = e.to_string();
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            let message = match e.location() {
                Some(l) => format!("line {} column {}: {message}", l.line(), l.column()),
                None => message,
            };
            ConfigError {
                path: path.to_string(),
                message,
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_string(),
            message,
        };
        for (i, w) in self.waivers.iter().enumerate() {
            if w.reason.trim().is_empty() {
                return Err(err(format!(
                    "waivers[{i}] ({}): reason must not be empty",
                    w.check
                )));
            }
            if w.check != "*" && crate::checks::find(&w.check).is_none() {
                return Err(err(format!("waivers[{i}]: unknown check {:?}", w.check)));
            }
            if let Some(d) = &w.expires {
                if d.parse::<jiff::civil::Date>().is_err() {
                    return Err(err(format!(
                        "waivers[{i}] ({}): expires {d:?} is not a date (YYYY-MM-DD)",
                        w.check
                    )));
                }
            }
        }
        for id in self.severity.keys() {
            if crate::checks::find(id).is_none() {
                return Err(err(format!("severity: unknown check {id:?}")));
            }
        }
        for r in &self.allowed_registries {
            if r.trim().is_empty() {
                return Err(err("allowedRegistries: empty entry".into()));
            }
        }
        Ok(())
    }

    /// Reads the configuration: `explicit` (from `--config`), else `KUBEHARDEN_CONFIG`, else
    /// the default file if it exists.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let env = std::env::var_os("KUBEHARDEN_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let (path, required) = match (explicit, env) {
            (Some(p), _) => (Some(p.to_path_buf()), true),
            (None, Some(p)) => (Some(p), true),
            (None, None) => (default_path(), false),
        };
        let Some(path) = path else {
            return Ok((Config::default(), None));
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((
                Config::parse(&text, &path.display().to_string())?,
                Some(path),
            )),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Config::default(), None))
            }
            Err(e) => Err(ConfigError {
                path: path.display().to_string(),
                message: crate::source::files::io_reason(&e),
            }),
        }
    }

    /// Whether a namespace is excluded from reports.
    pub fn excludes(&self, namespace: Option<&str>) -> bool {
        namespace.is_some_and(|ns| self.excluded_namespaces.iter().any(|g| glob(g, ns)))
    }

    /// The waiver that applies to a finding on `today`, from the config or from the object's
    /// `kubeharden.io/waive` annotation. Expired waivers do not apply.
    pub fn waiver_for(
        &self,
        finding: &Finding,
        object: Option<&Object>,
        today: jiff::civil::Date,
    ) -> Option<Waived> {
        for w in &self.waivers {
            let matches = (w.check == "*" || w.check.eq_ignore_ascii_case(finding.check))
                && w.kind.as_deref().is_none_or(|k| k == finding.object.kind)
                && w.namespace.as_deref().is_none_or(|g| {
                    finding
                        .object
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| glob(g, ns))
                })
                && w.name
                    .as_deref()
                    .is_none_or(|g| glob(g, &finding.object.name));
            let current = w
                .expires
                .as_deref()
                .and_then(|d| d.parse::<jiff::civil::Date>().ok())
                .is_none_or(|d| today <= d);
            if matches && current {
                return Some(Waived {
                    reason: w.reason.clone(),
                    expires: w.expires.clone(),
                    source: "config",
                });
            }
        }
        let annotation = object?
            .raw
            .pointer("/metadata/annotations")?
            .get(WAIVE_ANNOTATION)?
            .as_str()?;
        annotation
            .split([';', '\n'])
            .filter_map(|entry| entry.split_once(':'))
            .find(|(id, _)| id.trim().eq_ignore_ascii_case(finding.check))
            .map(|(_, reason)| reason.trim())
            .filter(|reason| !reason.is_empty())
            .map(|reason| Waived {
                reason: reason.to_string(),
                expires: None,
                source: "annotation",
            })
    }
}

/// The default configuration file, if the platform has a config directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "kubeharden").map(|d| d.config_dir().join("config.yaml"))
}

/// Today's date in UTC.
pub fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// Glob match with `*` (any run of characters).
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = rest.get(at + part.len()..).unwrap_or(""),
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("team-*", "team-a"));
        assert!(glob("*-prod", "shop-prod"));
        assert!(glob("*", "x"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("team-*", "teams"));
        assert!(glob("exact", "exact"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::parse(
            "allowedRegistries: [a/]\nwaivers:\n  - check: KH-POD-101\n    reasn: x\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("c.yaml: line 4 column"), "{e}");
        let e = Config::parse(
            "waivers:\n  - check: KH-POD-101\n    reason: ''\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("reason must not be empty"), "{e}");
        let e = Config::parse(
            "waivers:\n  - {check: KH-POD-101, reason: r, expires: tomorrow}\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a date"), "{e}");
    }
}
