//! The demo cluster, embedded in the binary from `assets/demo/`.

use super::{Loaded, SourceInfo, collect_docs};
use crate::model::{Origin, yaml};

/// The demo's files, in load order.
pub const FILES: &[(&str, &str)] = &[
    (
        "namespaces.yaml",
        include_str!("../../assets/demo/namespaces.yaml"),
    ),
    (
        "default.yaml",
        include_str!("../../assets/demo/default.yaml"),
    ),
    (
        "kube-system.yaml",
        include_str!("../../assets/demo/kube-system.yaml"),
    ),
    ("shop.yaml", include_str!("../../assets/demo/shop.yaml")),
    (
        "payments.yaml",
        include_str!("../../assets/demo/payments.yaml"),
    ),
    (
        "monitoring.yaml",
        include_str!("../../assets/demo/monitoring.yaml"),
    ),
    ("ci.yaml", include_str!("../../assets/demo/ci.yaml")),
];

/// Loads the demo cluster. Performs no I/O.
pub fn load() -> Loaded {
    let mut out = Loaded {
        info: SourceInfo::Demo,
        objects: Vec::new(),
        problems: Vec::new(),
        ignored: 0,
        skipped: Vec::new(),
    };
    for (name, text) in FILES {
        let origin = |document: usize, _item: Option<usize>, _line: usize| Origin::Demo {
            path: (*name).to_string(),
            document,
        };
        collect_docs(yaml::parse_yaml_stream(text), name, &origin, &mut out);
    }
    out
}
