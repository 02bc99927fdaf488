//! Scan results as a table or as JSON. Pure: takes results, returns text.

mod sarif;

pub use sarif::sarif;

use crate::checks::{self, Results};
use crate::model::{Area, Problem, Severity};
use crate::source::{Skipped, SourceInfo};
use crate::text::sanitize;
use serde::Serialize;
use std::fmt::Write;

/// A finished scan: source, results and what could not be read.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Where the objects came from.
    pub source: SourceInfo,
    /// Number of objects scanned.
    pub objects: usize,
    /// Documents that are not Kubernetes objects.
    pub ignored: usize,
    /// Kinds that could not be read.
    pub skipped: Vec<Skipped>,
    /// Documents, files and objects that could not be used.
    pub problems: Vec<Problem>,
    /// Findings and area scores.
    pub results: Results,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: JsonTool,
    source: &'a SourceInfo,
    objects: usize,
    ignored: usize,
    skipped: &'a [Skipped],
    problems: &'a [Problem],
    areas: Vec<JsonArea>,
    findings: JsonFindings<'a>,
}

#[derive(Serialize)]
struct JsonTool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct JsonArea {
    area: Area,
    score: Option<u8>,
    findings: usize,
    waived: usize,
    counts: std::collections::BTreeMap<Severity, usize>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    check: &'a str,
    area: Area,
    severity: Severity,
    title: &'a str,
    message: &'a str,
    object: &'a crate::model::ObjRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<usize>,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pss: Option<crate::model::PssLevel>,
    fixable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    waived: Option<&'a crate::model::Waived>,
}

/// The JSON report (schema documented in the README), pretty-printed, with a final newline.
pub fn json(scan: &Scan) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_json(scan, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the JSON report to a writer as it is serialised (a report of 200,000 findings
/// never exists twice in memory).
pub fn write_json(scan: &Scan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let report = JsonReport {
        tool: JsonTool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        },
        source: &scan.source,
        objects: scan.objects,
        ignored: scan.ignored,
        skipped: &scan.skipped,
        problems: &scan.problems,
        areas: scan
            .results
            .areas
            .iter()
            .map(|a| JsonArea {
                area: a.area,
                score: a.score,
                findings: a.findings,
                waived: a.waived,
                counts: a.counts.clone(),
            })
            .collect(),
        findings: JsonFindings(&scan.results.findings),
    };
    serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

/// The findings, serialised one by one as the writer asks for them.
struct JsonFindings<'a>(&'a [crate::model::Finding]);

impl Serialize for JsonFindings<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        // Findings come sorted by check: look a check up once per run of its findings.
        let mut last: Option<(&str, Option<&checks::CheckDef>)> = None;
        for f in self.0 {
            let def = match last {
                Some((id, def)) if id == f.check => def,
                _ => {
                    let def = checks::find(f.check);
                    last = Some((f.check, def));
                    def
                }
            };
            let (file, document) = match f.origin.file_document() {
                Some((file, doc)) => (Some(file), Some(doc)),
                None => (None, None),
            };
            seq.serialize_element(&JsonFinding {
                check: f.check,
                area: f.area,
                severity: f.severity,
                title: def.map_or("", |c| c.title),
                pss: def.and_then(|c| c.pss),
                message: &f.message,
                object: &f.object,
                file,
                document,
                path: &f.path,
                fixable: f.fixable,
                waived: f.waived.as_ref(),
            })?;
        }
        seq.end()
    }
}

/// A severity as a fixed-width label.
pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Info => "INFO",
    }
}

/// "2 critical, 1 high" style counts, worst first; "no findings" when empty.
pub fn counts_line(counts: &std::collections::BTreeMap<Severity, usize>) -> String {
    let parts: Vec<String> = Severity::WORST_FIRST
        .iter()
        .filter_map(|s| {
            counts
                .get(s)
                .filter(|&&n| n > 0)
                .map(|n| format!("{n} {s}"))
        })
        .collect();
    if parts.is_empty() {
        "no findings".into()
    } else {
        parts.join(", ")
    }
}

/// The score as text: `72/100`, or `n/a` when the area judged nothing.
pub fn score_text(score: Option<u8>) -> String {
    score.map_or_else(|| "n/a".to_string(), |s| format!("{s}/100"))
}

/// The table report: one block per area with its score and counts, a row per finding.
pub fn table(scan: &Scan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Source: {}  ·  {} objects scanned{}",
        sanitize(&scan.source.to_string()),
        scan.objects,
        if scan.ignored > 0 {
            format!(", {} non-Kubernetes documents ignored", scan.ignored)
        } else {
            String::new()
        }
    );
    for s in &scan.skipped {
        let _ = writeln!(out, "Skipped {}: {}", s.kind, sanitize(&s.reason));
    }
    for area in &scan.results.areas {
        let _ = writeln!(
            out,
            "\n{}  [{}]  score {}  ·  {}{}",
            area.area.title().to_uppercase(),
            area.area.key(),
            score_text(area.score),
            counts_line(&area.counts),
            if area.waived > 0 {
                format!(", {} waived", area.waived)
            } else {
                String::new()
            }
        );
        let rows: Vec<[String; 5]> = scan
            .results
            .in_area(area.area)
            .map(|f| {
                let location = match f.origin.file_document() {
                    Some((file, doc)) => format!("{file}#{doc}"),
                    None => String::new(),
                };
                [
                    if f.waived.is_some() {
                        format!("{} (waived)", severity_label(f.severity))
                    } else {
                        severity_label(f.severity).to_string()
                    },
                    f.check.to_string(),
                    sanitize(&f.object.to_string()),
                    match &f.waived {
                        Some(w) => sanitize(&format!("{} [waived: {}]", f.message, w.reason)),
                        None => sanitize(&f.message),
                    },
                    if f.path.is_empty() {
                        location
                    } else if location.is_empty() {
                        f.path.clone()
                    } else {
                        format!("{location} {}", f.path)
                    },
                ]
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let headers = ["SEVERITY", "CHECK", "OBJECT", "MESSAGE", "WHERE"];
        let mut widths = headers.map(str::len);
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r.iter()).take(3) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            let mut l = String::from("  ");
            for (i, c) in cells.iter().enumerate() {
                if i < 3 {
                    let pad = widths.get(i).copied().unwrap_or(0);
                    let _ = write!(l, "{c:<pad$}  ");
                } else if i == 3 {
                    let _ = write!(l, "{c}");
                } else if !c.is_empty() {
                    let _ = write!(
                        l,
                        "\n  {:indent$}at {c}",
                        "",
                        indent = widths.iter().take(3).sum::<usize>() + 6
                    );
                }
            }
            l
        };
        let _ = writeln!(out, "{}", line(headers));
        for r in &rows {
            let cells: [&str; 5] = [&r[0], &r[1], &r[2], &r[3], &r[4]];
            let _ = writeln!(out, "{}", line(cells));
        }
    }
    let waived = scan
        .results
        .findings
        .iter()
        .filter(|f| f.waived.is_some())
        .count();
    let total = scan.results.findings.len() - waived;
    let worst = scan
        .results
        .worst()
        .map_or_else(|| "none".to_string(), |s| s.to_string());
    let _ = writeln!(
        out,
        "\n{total} findings (worst: {worst}){}",
        if waived > 0 {
            format!(", {waived} waived")
        } else {
            String::new()
        }
    );
    out
}
