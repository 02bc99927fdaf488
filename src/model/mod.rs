//! The object model: objects as dynamic trees with their origin, the indexed inventory, findings.
//!
//! Everything here is pure: no I/O, no clock, no terminal.

pub mod encryption;
pub mod fastyaml;
pub mod fieldowners;
pub mod finding;
pub mod inventory;
pub mod netpol;
pub mod object;
pub mod rbac;
pub mod selector;
pub mod yaml;

pub use finding::{Area, Finding, PssLevel, Severity, Waived};
pub use inventory::{Inventory, PodSpecRef};
pub use object::{ObjRef, Object, Origin};

use std::fmt;

/// Something in the input that could not be used, said in one line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file (or `-` for stdin, or a request for a live source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 0-based index of the document in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// 1-based line in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The object concerned, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem with a file as a whole.
    pub fn in_file(file: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: Some(file.to_string()),
            document: None,
            line: None,
            object: None,
            message: message.into(),
        }
    }

    /// A problem with an object at its origin.
    pub fn at_origin(origin: &Origin, message: impl Into<String>) -> Problem {
        let (file, document) = match origin {
            Origin::File { path, document, .. } | Origin::Demo { path, document } => {
                (Some(path.clone()), Some(*document))
            }
            Origin::Cluster | Origin::Synthetic => (None, None),
        };
        Problem {
            file,
            document,
            line: None,
            object: None,
            message: message.into(),
        }
    }

    /// A problem with one object.
    pub fn at_object(obj: &Object, message: impl Into<String>) -> Problem {
        let mut p = Problem::at_origin(&obj.origin, message);
        p.object = Some(obj.id.to_string());
        p
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(file) = &self.file {
            parts.push(file.clone());
        }
        match (self.document, self.line) {
            (Some(d), Some(l)) => parts.push(format!("document {d} (line {l})")),
            (Some(d), None) => parts.push(format!("document {d}")),
            (None, Some(l)) => parts.push(format!("line {l}")),
            (None, None) => {}
        }
        if let Some(o) = &self.object {
            parts.push(o.clone());
        }
        parts.push(self.message.clone());
        write!(f, "{}", crate::text::sanitize(&parts.join(": ")))
    }
}
