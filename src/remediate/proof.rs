//! The offline proof of a bundle: findings before and after its changes are merged in.

use crate::model::Finding;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// One finding in a proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The check.
    pub check: String,
    /// `Kind namespace/name`.
    pub object: String,
    /// The finding's path.
    pub path: String,
    /// Its message.
    pub message: String,
    /// For findings not cleared or introduced: why, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Item {
    fn of(f: &Finding, note: Option<String>) -> Item {
        Item {
            check: f.check.to_string(),
            object: f.object.to_string(),
            path: f.path.clone(),
            message: f.message.clone(),
            note,
        }
    }
}

/// What a bundle does to the findings of a source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Proof {
    /// Findings marked fixable before (waived ones excluded).
    pub fixable: usize,
    /// Of those, how many are gone after.
    pub cleared: usize,
    /// `cleared / fixable` in percent (100 when nothing was fixable).
    pub percent: f64,
    /// Findings not marked fixable that the bundle clears as well.
    pub cleared_other: usize,
    /// Fixable findings still present after.
    pub not_cleared: Vec<Item>,
    /// Findings present after that were not there before.
    pub introduced: Vec<Item>,
    /// Of the introduced ones, those the bundle declares (staged rollouts, pods that leave
    /// the host network and come under network checks).
    pub expected: usize,
    /// Changes that could not be merged (a JSON patch whose test failed, an object that
    /// already exists).
    pub failed_changes: Vec<String>,
}

impl Proof {
    /// Introduced findings the bundle does not declare.
    pub fn unexpected(&self) -> impl Iterator<Item = &Item> {
        self.introduced.iter().filter(|i| i.note.is_none())
    }
}

/// Pairs findings before and after: first by identity (check, object, path, message), then
/// by check, object and message (a list item moved when another was removed), then by
/// check, object and path (a count in the message changed). Unpaired findings before are
/// cleared; unpaired findings after are new.
/// `declared` holds the checks a bundle's remediations knowingly raise, with the namespace
/// of the remediation's target (`None`: a cluster-scoped target, whose consequences may show
/// anywhere).
pub fn prove(
    before: &[Finding],
    after: &[Finding],
    declared: &BTreeSet<(String, Option<String>)>,
    reasons: &HashMap<String, String>,
    failed_changes: Vec<String>,
) -> Proof {
    let before: Vec<&Finding> = before.iter().filter(|f| f.waived.is_none()).collect();
    let after: Vec<&Finding> = after.iter().filter(|f| f.waived.is_none()).collect();
    let mut b_used = vec![false; before.len()];
    let mut a_used = vec![false; after.len()];
    type Key<'a> = (&'a str, &'a crate::model::ObjRef, &'a str, &'a str);
    let passes: [fn(&Finding) -> Key<'_>; 3] = [
        |f| (f.check, &f.object, f.path.as_str(), f.message.as_str()),
        |f| (f.check, &f.object, "", f.message.as_str()),
        |f| (f.check, &f.object, f.path.as_str(), ""),
    ];
    for key in passes {
        let mut index: HashMap<Key, Vec<usize>> = HashMap::new();
        for (i, f) in after.iter().enumerate() {
            if !a_used[i] {
                index.entry(key(f)).or_default().push(i);
            }
        }
        for (i, f) in before.iter().enumerate() {
            if b_used[i] {
                continue;
            }
            if let Some(j) = index.get_mut(&key(f)).and_then(Vec::pop) {
                b_used[i] = true;
                if let Some(u) = a_used.get_mut(j) {
                    *u = true;
                }
            }
        }
    }
    let mut proof = Proof {
        failed_changes,
        ..Proof::default()
    };
    for (i, f) in before.iter().enumerate() {
        let gone = !b_used[i];
        if f.fixable {
            proof.fixable += 1;
            if gone {
                proof.cleared += 1;
            } else {
                proof
                    .not_cleared
                    .push(Item::of(f, reasons.get(&f.key()).cloned()));
            }
        } else if gone {
            proof.cleared_other += 1;
        }
    }
    for (j, f) in after.iter().enumerate() {
        if !a_used[j] {
            let ns = f
                .object
                .namespace
                .clone()
                .or_else(|| (f.object.kind == "Namespace").then(|| f.object.name.clone()));
            let is_declared = declared.contains(&(f.check.to_string(), None))
                || (ns.is_some() && declared.contains(&(f.check.to_string(), ns)));
            let note = is_declared.then(|| {
                "declared by the remediation that causes it (see the bundle README)".to_string()
            });
            if note.is_some() {
                proof.expected += 1;
            }
            proof.introduced.push(Item::of(f, note));
        }
    }
    proof.percent = if proof.fixable == 0 {
        100.0
    } else {
        (proof.cleared as f64 * 1000.0 / proof.fixable as f64).round() / 10.0
    };
    proof
}
