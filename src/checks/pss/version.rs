//! Policy versions: a namespace pins the version of the standard it enforces
//! (`pod-security.kubernetes.io/enforce-version: v1.N` or `latest`), and Pod Security
//! Admission judges its pods by each control as that version defined it.

use serde::Serialize;

/// A version of the Pod Security Standards policy, `v1.N`. A version newer than
/// [`PolicyVersion::LATEST`] is judged as the latest, as PSA does (it picks, for every
/// control, the newest definition not newer than the version asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PolicyVersion {
    minor: u32,
}

impl PolicyVersion {
    /// The newest version any control defines, which `latest` means on the Kubernetes release
    /// this module follows (v1.37: the sysctls `net.ipv4.tcp_slow_start_after_idle` and
    /// `net.ipv4.tcp_notsent_lowat` became safe).
    pub const LATEST: PolicyVersion = PolicyVersion { minor: 37 };

    /// `v1.minor`.
    pub const fn v1(minor: u32) -> PolicyVersion {
        PolicyVersion { minor }
    }

    /// The minor number.
    pub const fn minor(self) -> u32 {
        self.minor
    }

    /// The version the controls are evaluated at: at most [`PolicyVersion::LATEST`].
    pub fn effective(self) -> PolicyVersion {
        self.min(PolicyVersion::LATEST)
    }

    /// Whether this version has what `v1.minor` introduced.
    pub fn since(self, minor: u32) -> bool {
        self.effective().minor >= minor
    }

    /// Parses a label value or a flag as PSA does: `latest`, or `v1.N` (no sign, no leading
    /// zero); anything else is `None` (PSA then evaluates at latest and reports the label).
    pub fn parse(s: &str) -> Option<PolicyVersion> {
        if s == "latest" {
            return Some(PolicyVersion::LATEST);
        }
        let n = s.strip_prefix("v1.")?;
        let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
        if !digits || (n.len() > 1 && n.starts_with('0')) {
            return None;
        }
        n.parse().ok().map(PolicyVersion::v1)
    }

    /// The version a namespace's `enforce-version` label pins (absent or invalid: latest).
    pub fn of_label(label: Option<&str>) -> PolicyVersion {
        label
            .and_then(PolicyVersion::parse)
            .unwrap_or(PolicyVersion::LATEST)
    }
}

impl std::fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v1.{}", self.minor)
    }
}

impl std::str::FromStr for PolicyVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyVersion::parse(s)
            .ok_or_else(|| format!("{s:?} is not a policy version (latest or v1.N)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_pod_security_admission_parses_them() {
        assert_eq!(PolicyVersion::parse("latest"), Some(PolicyVersion::LATEST));
        assert_eq!(PolicyVersion::parse("v1.0"), Some(PolicyVersion::v1(0)));
        assert_eq!(PolicyVersion::parse("v1.25"), Some(PolicyVersion::v1(25)));
        for bad in ["1.25", "v1.025", "v2.1", "v1.", "v1.-1", "v1.2a", ""] {
            assert_eq!(PolicyVersion::parse(bad), None, "{bad}");
        }
        assert_eq!(PolicyVersion::v1(99).effective(), PolicyVersion::LATEST);
        assert!(PolicyVersion::v1(99).since(37));
        assert_eq!(
            PolicyVersion::of_label(Some("nonsense")),
            PolicyVersion::LATEST
        );
    }
}
