//! The only user of the YAML and JSON parsers: documents in, trees out.
//!
//! Multi-document YAML is split on document markers before parsing, so that one broken
//! document never hides the ones after it. serde_yaml bounds nesting depth and alias
//! expansion ("billion laughs"), so hostile input ends in an error, not a hang.

use super::fastyaml;
use serde::Deserialize;
use serde_json::Value;

/// A document that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    /// 0-based index of the document in the file.
    pub document: usize,
    /// 1-based line in the file, when the parser knows it.
    pub line: Option<usize>,
    /// What the parser said.
    pub message: String,
}

/// One parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 0-based index of the document in the file.
    pub index: usize,
    /// 1-based line of the file where the document's content starts.
    pub line: usize,
    /// The tree (`Value::Null` for an empty document).
    pub value: Value,
}

/// One parsed document, or why it could not be parsed.
pub type Doc = Result<Document, DocError>;

/// A YAML document's text and the 0-based line it starts on.
struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
    /// The document starts on its `---` line (`--- {a: 1}`).
    inline_start: bool,
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker).is_some_and(|rest| {
        rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t') || rest.starts_with('#')
    })
}

/// Whether a chunk holds more than blank lines and comments. Such a chunk is a document
/// only when a `---` marker starts it, as in the YAML spec.
fn has_content(body: &str) -> bool {
    body.lines()
        .any(|l| !(l.trim().is_empty() || l.trim_start().starts_with('#')))
}

/// Splits a YAML stream on `---` and `...` lines at column 0.
fn split(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0usize;
    let mut offset = 0usize;
    let mut explicit_start = false;
    let mut inline_start = false;
    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let starts_doc = is_marker(bare, "---");
        let ends_doc = is_marker(bare, "...");
        if starts_doc || ends_doc {
            let body = text.get(start..offset).unwrap_or("");
            if explicit_start || has_content(body) {
                chunks.push(Chunk {
                    text: body,
                    first_line: start_line,
                    inline_start,
                });
            }
            if starts_doc {
                // "--- {a: 1}" carries content on the marker line itself.
                let rest_at = offset + 3;
                start = rest_at.min(offset + line.len());
                start_line = lineno;
                explicit_start = true;
                inline_start = has_content(bare.get(3..).unwrap_or(""));
            } else {
                start = offset + line.len();
                start_line = lineno + 1;
                explicit_start = false;
                inline_start = false;
            }
        }
        offset += line.len();
    }
    let body = text.get(start..).unwrap_or("");
    if explicit_start || has_content(body) || chunks.is_empty() {
        chunks.push(Chunk {
            text: body,
            first_line: start_line,
            inline_start,
        });
    }
    chunks
}

/// Parses a multi-document YAML stream. Every document gets an entry, in order.
pub fn parse_yaml_stream(text: &str) -> Vec<Doc> {
    split(text)
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| parse_one(index, &chunk))
        .collect()
}

/// Largest document parsed as one piece (a `List` is split into items first).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// Documents larger than this that look like a `List` are parsed item by item.
const SPLIT_LIST_BYTES: usize = 256 * 1024;

/// A `kind: List` dump split at its items: the document without the items, and each item's
/// text (dedented) with the 0-based line it starts on.
struct SplitList {
    header: String,
    items: Vec<(String, usize)>,
}

/// Splits a block-style List (`items:` at column 0, items as `- ` entries) at its items, so
/// that a dump of 100,000 objects parses in parallel and without one giant event buffer.
/// Returns `None` for anything it does not recognise; the caller then parses the whole text.
fn split_list(text: &str, first_line: usize) -> Option<SplitList> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == "items:")?;
    let first_item = lines.get(start + 1)?;
    let indent = first_item.len() - first_item.trim_start_matches(' ').len();
    if !first_item.get(indent..)?.starts_with("- ") {
        return None;
    }
    let mut items: Vec<(String, usize)> = Vec::new();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let body = line.trim_end_matches(['\n', '\r']);
        if body.trim().is_empty() || body.trim_start().starts_with('#') {
            if let Some((t, _)) = items.last_mut() {
                t.push('\n');
            }
            continue;
        }
        let lead = body.len() - body.trim_start_matches(' ').len();
        if lead == indent && body.get(indent..).is_some_and(|b| b.starts_with("- ")) {
            items.push((format!("  {}\n", body.get(indent + 2..)?), first_line + i));
        } else if lead >= indent + 2 {
            let (t, _) = items.last_mut()?;
            t.push_str(body.get(indent..)?);
            t.push('\n');
        } else if lead < indent || (lead == indent && indent == 0) {
            end = i;
            break;
        } else {
            return None;
        }
    }
    let mut header: String = lines.get(..start)?.concat();
    header.push_str("items: []\n");
    header.push_str(&lines.get(end..)?.concat());
    Some(SplitList { header, items })
}

fn parse_split(split: &SplitList) -> Option<Value> {
    let mut header = Value::deserialize(serde_yaml::Deserializer::from_str(&split.header)).ok()?;
    let items = crate::par::map(&split.items, 2, |(text, _)| {
        // Items were dedented by their "- " marker: parse each as a mapping.
        fastyaml::parse(text).or_else(|| {
            let mut v = Value::deserialize(serde_yaml::Deserializer::from_str(text)).ok()?;
            compact(&mut v);
            Some(v)
        })
    })
    .into_iter()
    .collect::<Option<Vec<Value>>>()?;
    header
        .as_object_mut()?
        .insert("items".into(), Value::Array(items));
    Some(header)
}

fn parse_one(index: usize, chunk: &Chunk<'_>) -> Doc {
    if chunk.text.len() > SPLIT_LIST_BYTES {
        if let Some(value) = split_list(chunk.text, chunk.first_line)
            .as_ref()
            .and_then(parse_split)
        {
            let skipped = chunk
                .text
                .lines()
                .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
                .count();
            return Ok(Document {
                index,
                line: chunk.first_line + skipped + 1,
                value,
            });
        }
    }
    if chunk.text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocError {
            document: index,
            line: Some(chunk.first_line + 1),
            message: format!(
                "document of {} MiB is over the {} MiB limit for one object; skipped",
                chunk.text.len().div_ceil(1024 * 1024),
                MAX_DOCUMENT_BYTES / 1024 / 1024
            ),
        });
    }
    if chunk
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Document {
            index,
            line: chunk.first_line + 1,
            value: Value::Null,
        });
    }
    // The first line with content (a `---` line may carry content too).
    let skipped = chunk
        .text
        .lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .count();
    if !chunk.inline_start {
        if let Some(value) = fastyaml::parse(chunk.text) {
            return Ok(Document {
                index,
                line: chunk.first_line + skipped + 1,
                value,
            });
        }
    }
    let de = serde_yaml::Deserializer::from_str(chunk.text);
    match Value::deserialize(de) {
        Ok(mut value) => Ok(Document {
            index,
            line: chunk.first_line + skipped + 1,
            value: {
                compact(&mut value);
                value
            },
        }),
        Err(e) => Err(DocError {
            document: index,
            line: e.location().map(|l| chunk.first_line + l.line()),
            message: clean_message(&e.to_string()),
        }),
    }
}

/// Releases the spare capacity that parsing leaves in every map and list: a parsed
/// manifest is read many times and never grows, and the slack is a third of its memory.
pub fn compact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // serde_json's Map has no shrink_to_fit; collecting allocates the exact size.
            let taken = std::mem::take(map);
            *map = taken
                .into_iter()
                .map(|(k, mut v)| {
                    compact(&mut v);
                    (k, v)
                })
                .collect();
        }
        Value::Array(items) => {
            items.shrink_to_fit();
            for v in items.iter_mut() {
                compact(v);
            }
        }
        Value::String(s) => s.shrink_to_fit(),
        _ => {}
    }
}

/// serde_yaml appends " at line L column C" to messages; the line is reported separately.
fn clean_message(msg: &str) -> String {
    let msg = match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(msg),
        None => msg,
    };
    let msg = msg.trim_end_matches(['.', ' ']);
    msg.lines().next().unwrap_or(msg).to_string()
}

/// Parses JSON text: one value, or several concatenated values (each a "document").
pub fn parse_json_stream(text: &str) -> Vec<Doc> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut index = 0;
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                let before = text.get(..start).unwrap_or("");
                let leading = text
                    .get(start..)
                    .map_or(0, |rest| rest.len() - rest.trim_start().len());
                let ws = text.get(start..start + leading).unwrap_or("");
                let line = before.matches('\n').count() + ws.matches('\n').count() + 1;
                out.push(Ok(Document { index, line, value }));
            }
            Some(Err(e)) => {
                out.push(Err(DocError {
                    document: index,
                    line: Some(e.line()),
                    message: clean_json_message(&e),
                }));
                break; // the stream cannot resynchronise after a syntax error
            }
        }
        index += 1;
    }
    out
}

fn clean_json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
        None => msg,
    }
}

/// Parses text whose format is unknown (stdin): JSON when it starts with `{` or `[`, else YAML.
pub fn parse_any(text: &str) -> Vec<Doc> {
    match text.trim_start().chars().next() {
        Some('{') | Some('[') => {
            let docs = parse_json_stream(text);
            if docs.iter().all(Result::is_ok) {
                docs
            } else {
                // `{a: 1}` is YAML flow style, not JSON.
                let yaml = parse_yaml_stream(text);
                if yaml.iter().all(Result::is_ok) {
                    yaml
                } else {
                    docs
                }
            }
        }
        _ => parse_yaml_stream(text),
    }
}

/// Renders a tree as block YAML, for display. Returns the text and, for every line,
/// the dotted path of the field it shows (`spec.containers[0].image`).
pub fn render(value: &Value) -> (String, Vec<String>) {
    let mut r = Renderer::default();
    r.value(value, 0, "", false);
    (r.out, r.paths)
}

#[derive(Default)]
struct Renderer {
    out: String,
    paths: Vec<String>,
}

impl Renderer {
    fn line(&mut self, indent: usize, text: &str, path: &str) {
        for _ in 0..indent {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.out.push('\n');
        self.paths.push(path.to_string());
    }

    fn value(&mut self, v: &Value, indent: usize, path: &str, _in_list: bool) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, child) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let key = scalar_key(k);
                    match child {
                        Value::Object(m) if !m.is_empty() => {
                            self.line(indent, &format!("{key}:"), &p);
                            self.value(child, indent + 2, &p, false);
                        }
                        Value::Array(a) if !a.is_empty() => {
                            self.line(indent, &format!("{key}:"), &p);
                            self.value(child, indent, &p, false);
                        }
                        _ => self.line(indent, &format!("{key}: {}", scalar(child)), &p),
                    }
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    match item {
                        Value::Object(m) if !m.is_empty() => {
                            // First key on the dash line, the rest indented under it.
                            let mut first = true;
                            for (k, child) in m {
                                let cp = format!("{p}.{k}");
                                let key = scalar_key(k);
                                let (ind, prefix) = if first {
                                    (indent, "- ")
                                } else {
                                    (indent + 2, "")
                                };
                                match child {
                                    Value::Object(cm) if !cm.is_empty() => {
                                        self.line(ind, &format!("{prefix}{key}:"), &cp);
                                        self.value(child, indent + 4, &cp, false);
                                    }
                                    Value::Array(a) if !a.is_empty() => {
                                        self.line(ind, &format!("{prefix}{key}:"), &cp);
                                        self.value(child, indent + 2, &cp, false);
                                    }
                                    _ => self.line(
                                        ind,
                                        &format!("{prefix}{key}: {}", scalar(child)),
                                        &cp,
                                    ),
                                }
                                first = false;
                            }
                        }
                        Value::Array(a) if !a.is_empty() => {
                            self.line(indent, "-", &p);
                            self.value(item, indent + 2, &p, true);
                        }
                        _ => self.line(indent, &format!("- {}", scalar(item)), &p),
                    }
                }
            }
            _ => self.line(indent, &scalar(v), path),
        }
    }
}

fn scalar_key(k: &str) -> String {
    if needs_quotes(k) {
        serde_json::to_string(k).unwrap_or_default()
    } else {
        k.to_string()
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if needs_quotes(s) {
                serde_json::to_string(s).unwrap_or_default()
            } else {
                s.clone()
            }
        }
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return true;
    }
    if s.parse::<f64>().is_ok() || s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c)) {
        return true;
    }
    s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(docs: &[Doc]) -> Vec<Value> {
        docs.iter()
            .map(|d| d.as_ref().unwrap().value.clone())
            .collect()
    }

    #[test]
    fn splits_documents_and_keeps_indexes() {
        let docs = parse_yaml_stream("a: 1\n---\nb: 2\n--- # c\nc: 3\n");
        assert_eq!(docs.len(), 3);
        assert_eq!(ok(&docs)[2]["c"], 3);
    }

    #[test]
    fn leading_marker_is_not_an_extra_document() {
        let docs = parse_yaml_stream("---\na: 1\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].as_ref().unwrap().index, 0);
        assert_eq!(docs[1].as_ref().unwrap().line, 4);
    }

    #[test]
    fn comments_before_the_first_marker_are_not_a_document() {
        let docs =
            parse_yaml_stream("# generated\n# by helm\n---\na: 1\n---\n---\nb: 2\n...\n# tail\n");
        let indexes: Vec<(usize, bool)> = docs
            .iter()
            .map(|d| d.as_ref().map(|d| (d.index, d.value.is_null())).unwrap())
            .collect();
        // An explicit empty document between two markers still counts, as in libyaml.
        assert_eq!(indexes, vec![(0, false), (1, true), (2, false)]);
    }

    #[test]
    fn broken_document_is_located_and_the_rest_still_parses() {
        let text = "a: 1\n---\nb: [1,\n  c: d\n---\nz: 3\n";
        let docs = parse_yaml_stream(text);
        assert_eq!(docs.len(), 3);
        let err = docs[1].as_ref().unwrap_err();
        assert_eq!(err.document, 1);
        assert!(err.line.unwrap() >= 3, "{err:?}");
        assert_eq!(docs[2].as_ref().unwrap().value["z"], 3);
    }

    #[test]
    fn block_scalar_with_dashes_stays_in_its_document() {
        let docs = parse_yaml_stream("a: |\n  ---\n  x\nb: 2\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(ok(&docs)[0]["a"], "---\nx\n");
    }

    #[test]
    fn big_lists_are_split_at_items_and_give_the_same_tree() {
        let mut text = String::from("apiVersion: v1\nitems:\n");
        for i in 0..3000 {
            text.push_str(&format!(
                "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c{i}\n    labels: {{a: \"{i}\"}}\n  data:\n    text: |\n      line one\n\n      line three\n    list:\n    - x\n"
            ));
        }
        text.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
        assert!(text.len() > SPLIT_LIST_BYTES);
        let split = split_list(&text, 0).unwrap();
        assert_eq!(split.items.len(), 3000);
        let fast = parse_split(&split).unwrap();
        let mut slow: Value = serde_yaml::from_str(&text).unwrap();
        compact(&mut slow);
        assert_eq!(fast, slow);
        assert_eq!(fast["kind"], "List");
        // Indented items ("  - ") are recognised too.
        let indented = text
            .replace("\n- ", "\n  - ")
            .replace("\n  ", "\n    ")
            .replace("\n    - api", "\n  - api");
        let again: Value = serde_yaml::from_str(&indented).unwrap();
        assert_eq!(
            split_list(&indented, 0)
                .and_then(|s| parse_split(&s))
                .unwrap(),
            again
        );
    }

    #[test]
    fn alias_bomb_is_an_error_not_a_hang() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let docs = parse_yaml_stream(&text);
        assert!(docs[0].is_err());
    }

    #[test]
    fn json_stream_reports_the_line_of_truncation() {
        let docs = parse_json_stream("{\"a\": 1}\n{\"b\":\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].as_ref().unwrap().line, 1);
        assert_eq!(docs[1].as_ref().unwrap_err().document, 1);
    }

    #[test]
    fn render_maps_lines_to_paths() {
        let v: Value = serde_json::json!({"spec": {"containers": [
            {"name": "a", "securityContext": {"privileged": true}}]}});
        let (text, paths) = render(&v);
        let line = paths
            .iter()
            .position(|p| p == "spec.containers[0].securityContext.privileged")
            .unwrap();
        assert_eq!(text.lines().nth(line).unwrap().trim(), "privileged: true");
        let first = paths
            .iter()
            .position(|p| p == "spec.containers[0].name")
            .unwrap();
        assert_eq!(text.lines().nth(first).unwrap().trim(), "- name: a");
        // The rendered text is valid YAML for the same tree.
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
