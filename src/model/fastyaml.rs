//! A fast path for the YAML that Kubernetes tools write: block mappings and sequences,
//! plain, quoted and literal (`|`) scalars, flow collections on one line (`[a, b]`,
//! `{k: v}`), comments.
//!
//! It builds the `serde_json::Value` directly, in one pass over the text, with maps and lists
//! allocated to their exact size. Anything outside that subset (anchors, aliases, tags, flow
//! collections over several lines, folded or multi-line scalars, tabs in indentation,
//! duplicate keys, odd line breaks or control characters, numbers beyond 64 bits, deep
//! nesting) makes [`parse`] answer `None`, and the caller parses the document with
//! serde_yaml. So a document this path accepts gets exactly the tree serde_yaml would give
//! (property tests check it against serde_yaml on real manifests, their mutations and
//! generated documents), and everything else, including every error message, is serde_yaml's.

use serde_json::{Map, Number, Value};
use std::borrow::Cow;

/// Deeper documents go to serde_yaml, which bounds its own recursion.
const MAX_DEPTH: usize = 64;

/// Parses one document (no `---` markers inside), or `None` when the document is not in the
/// subset this path handles.
pub fn parse(text: &str) -> Option<Value> {
    if !plain_characters(text) {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    // A last line of spaces without a line break: left to serde_yaml.
    if lines
        .last()
        .is_some_and(|l| !l.is_empty() && l.trim_start_matches(' ').is_empty())
    {
        return None;
    }
    let mut p = Parser {
        lines,
        line: 0,
        mid: None,
    };
    let (indent, _) = p.peek()?;
    let value = p.block(indent, 0)?;
    match p.peek() {
        Some(_) => None,
        None => Some(value),
    }
}

/// Rejects what libyaml treats specially or refuses: carriage returns and the YAML 1.1 line
/// breaks (NEL, LS, PS), control characters, a byte order mark, non-characters.
fn plain_characters(text: &str) -> bool {
    if text.is_ascii() {
        return text
            .bytes()
            .all(|b| b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b));
    }
    text.chars().all(|c| match c {
        '\n' | '\t' => true,
        '\u{20}'..='\u{7e}' => true,
        '\u{a0}'..='\u{d7ff}' => !matches!(c, '\u{2028}' | '\u{2029}'),
        '\u{e000}'..='\u{fffd}' => c != '\u{feff}',
        '\u{10000}'..='\u{10ffff}' => true,
        _ => false,
    })
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    /// The current line.
    line: usize,
    /// A column inside the current line where a nested collection starts (`- key: v`).
    mid: Option<usize>,
}

impl<'a> Parser<'a> {
    /// The next line with content: its indentation and its text from there.
    fn peek(&mut self) -> Option<(usize, &'a str)> {
        if let Some(col) = self.mid {
            let l = *self.lines.get(self.line)?;
            return Some((col, l.get(col..)?));
        }
        while let Some(&l) = self.lines.get(self.line) {
            let t = l.trim_start_matches(' ');
            if t.is_empty() || t.starts_with('#') {
                self.line += 1;
                continue;
            }
            return Some((l.len() - t.len(), t));
        }
        None
    }

    fn advance(&mut self) {
        self.mid = None;
        self.line += 1;
    }

    /// The collection that starts at the current position, at `indent`.
    fn block(&mut self, indent: usize, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (_, rest) = self.peek()?;
        if is_entry(rest) {
            self.seq(indent, depth)
        } else {
            self.map(indent, depth)
        }
    }

    fn map(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut entries: Vec<(String, Value)> = Vec::new();
        while let Some((at, rest)) = self.peek() {
            if at < indent {
                break;
            }
            if at > indent || is_entry(rest) {
                return None;
            }
            let (key, after) = key_of(rest)?;
            let value = self.value_after(after, indent, depth, true)?;
            entries.push((key.into_owned(), value));
        }
        let mut map = Map::with_capacity(entries.len());
        for (k, v) in entries {
            if map.insert(k, v).is_some() {
                return None;
            }
        }
        Some(Value::Object(map))
    }

    fn seq(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some((at, rest)) = self.peek() {
            if at > indent {
                return None;
            }
            if at < indent || !is_entry(rest) {
                break;
            }
            let after = rest.get(1..)?;
            let s = after.trim_start_matches(' ');
            if s.is_empty() || s.starts_with('#') {
                self.advance();
                items.push(match self.peek() {
                    Some((next, _)) if next > indent => self.block(next, depth + 1)?,
                    _ => Value::Null,
                });
            } else if is_entry(s) || key_of(s).is_some() {
                // `- key: value` or `- - item`: a collection that starts inside the line.
                let col = at + 1 + (after.len() - s.len());
                self.mid = Some(col);
                items.push(self.block(col, depth + 1)?);
            } else {
                items.push(self.value_after(after, indent, depth, false)?);
            }
        }
        items.shrink_to_fit();
        Some(Value::Array(items))
    }

    /// The value after `key:` or `- `: `after` is the rest of the current line. Moves past
    /// the value. `same_indent_seq`: a mapping value may be a sequence at the key's indent.
    fn value_after(
        &mut self,
        after: &'a str,
        indent: usize,
        depth: usize,
        same_indent_seq: bool,
    ) -> Option<Value> {
        let s = after.trim_start_matches(' ');
        if s.is_empty() || (s.starts_with('#') && s.len() < after.len()) {
            self.advance();
            return Some(match self.peek() {
                Some((next, _)) if next > indent => self.block(next, depth + 1)?,
                Some((next, rest)) if next == indent && same_indent_seq && is_entry(rest) => {
                    self.seq(next, depth + 1)?
                }
                _ => Value::Null,
            });
        }
        if !after.starts_with(' ') && !after.is_empty() {
            return None;
        }
        let value = match s.as_bytes().first()? {
            b'|' => return self.literal(s, indent),
            b'"' => {
                let (v, tail) = double_quoted(s)?;
                ends_clean(tail).then_some(Value::String(v))?
            }
            b'\'' => {
                let (v, tail) = single_quoted(s)?;
                ends_clean(tail).then_some(Value::String(v))?
            }
            b'[' | b'{' => {
                let (v, tail) = flow(s, depth)?;
                ends_clean(tail).then_some(v)?
            }
            b'&' | b'*' | b'!' | b'>' | b'%' | b'@' | b'`' | b'?' | b',' | b']' | b'}' | b'#'
            | b'\t' => return None,
            b'-' | b':' if s.len() == 1 || s.as_bytes().get(1) == Some(&b' ') => return None,
            _ => resolve(plain(s)?)?,
        };
        self.advance();
        // A more indented line after a scalar would continue it (or be an error).
        match self.peek() {
            Some((next, _)) if next > indent => None,
            _ => Some(value),
        }
    }

    /// A literal block scalar (`|`, `|-`, `|+`) whose header is `s`.
    fn literal(&mut self, s: &str, indent: usize) -> Option<Value> {
        let header = s.get(1..)?;
        let (chomp, rest) = match header.as_bytes().first() {
            Some(b'-') => (Chomp::Strip, header.get(1..)?),
            Some(b'+') => (Chomp::Keep, header.get(1..)?),
            _ => (Chomp::Clip, header),
        };
        let t = rest.trim_start_matches(' ');
        if !(t.is_empty() || (t.starts_with('#') && t.len() < rest.len())) {
            return None;
        }
        self.advance();
        let first = *self.lines.get(self.line)?;
        let body = first.trim_start_matches(' ');
        let content = first.len() - body.len();
        if body.is_empty() || content <= indent || body.starts_with('\t') {
            return None;
        }
        let mut out = String::new();
        let mut blank = 0usize;
        while let Some(&l) = self.lines.get(self.line) {
            let body = l.trim_start_matches(' ');
            let spaces = l.len() - body.len();
            if body.is_empty() {
                if spaces > content {
                    return None;
                }
                // Only a line that ends in a line break adds one.
                if self.line + 1 < self.lines.len() {
                    blank += 1;
                }
                self.line += 1;
                continue;
            }
            if spaces < content {
                break;
            }
            for _ in 0..blank {
                out.push('\n');
            }
            blank = 0;
            out.push_str(l.get(content..)?);
            if self.line + 1 < self.lines.len() {
                out.push('\n');
            }
            self.line += 1;
        }
        match chomp {
            Chomp::Strip => {
                if out.ends_with('\n') {
                    out.pop();
                }
            }
            Chomp::Clip => {}
            Chomp::Keep => {
                for _ in 0..blank {
                    out.push('\n');
                }
            }
        }
        match self.peek() {
            Some((next, _)) if next > indent => None,
            _ => {
                out.shrink_to_fit();
                Some(Value::String(out))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// `- item` or a lone `-`.
fn is_entry(rest: &str) -> bool {
    rest == "-" || rest.starts_with("- ")
}

/// The key of a `key: value` line and the text after its colon, or `None` when the line is
/// not one this path reads as a key.
fn key_of(rest: &str) -> Option<(Cow<'_, str>, &str)> {
    match rest.as_bytes().first()? {
        b'"' | b'\'' => {
            let (key, tail) = if rest.starts_with('"') {
                double_quoted(rest)?
            } else {
                single_quoted(rest)?
            };
            let after = tail.trim_start_matches(' ').strip_prefix(':')?;
            (after.is_empty() || after.starts_with(' ')).then_some((Cow::Owned(key), after))
        }
        b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'[' | b']' | b'{' | b'}'
        | b',' | b'#' | b'?' | b':' | b'-' | b'\t' => None,
        _ => {
            let bytes = rest.as_bytes();
            let mut colon = None;
            for (j, &b) in bytes.iter().enumerate() {
                match b {
                    b':' if bytes.get(j + 1).is_none_or(|&n| n == b' ') => {
                        colon = Some(j);
                        break;
                    }
                    b'#' if j > 0 && bytes.get(j - 1) == Some(&b' ') => return None,
                    b'\t' => return None,
                    _ => {}
                }
            }
            let j = colon?;
            let key = rest.get(..j)?.trim_end_matches(' ');
            Some((Cow::Borrowed(key), rest.get(j + 1..)?))
        }
    }
}

/// A plain scalar on the rest of a line, without its comment and trailing spaces.
fn plain(s: &str) -> Option<&str> {
    let bytes = s.as_bytes();
    let mut end = bytes.len();
    for (j, &b) in bytes.iter().enumerate() {
        match b {
            b'#' if j > 0 && bytes.get(j - 1) == Some(&b' ') => {
                end = j;
                break;
            }
            b':' if bytes.get(j + 1).is_none_or(|&n| n == b' ') => return None,
            b'\t' => return None,
            _ => {}
        }
    }
    let v = s.get(..end)?.trim_end_matches(' ');
    (!v.is_empty()).then_some(v)
}

/// A flow collection (`[a, "b", {c: 1}]`) that ends on this line, and the text after it.
fn flow(s: &str, depth: usize) -> Option<(Value, &str)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (close, is_map) = match s.as_bytes().first()? {
        b'[' => (']', false),
        b'{' => ('}', true),
        _ => return None,
    };
    let mut rest = s.get(1..)?.trim_start_matches(' ');
    let mut items = Vec::new();
    let mut map = Map::new();
    if let Some(after) = rest.strip_prefix(close) {
        let v = if is_map {
            Value::Object(map)
        } else {
            Value::Array(items)
        };
        return Some((v, after));
    }
    loop {
        if is_map {
            let (key, after) = match rest.as_bytes().first()? {
                b'"' => double_quoted(rest)?,
                b'\'' => single_quoted(rest)?,
                _ => {
                    let end = rest.find(':')?;
                    let key = rest.get(..end)?.trim_end_matches(' ');
                    if key.is_empty() || !flow_plain_ok(key) {
                        return None;
                    }
                    let after = rest.get(end..)?;
                    // `a:b` is one plain scalar, not a key.
                    if !after.get(1..)?.starts_with(' ') {
                        return None;
                    }
                    (key.to_owned(), after)
                }
            };
            let after = after.trim_start_matches(' ').strip_prefix(':')?;
            let (value, after) = flow_item(after.trim_start_matches(' '), depth)?;
            if map.insert(key, value).is_some() {
                return None;
            }
            rest = after;
        } else {
            let (value, after) = flow_item(rest, depth)?;
            items.push(value);
            rest = after;
        }
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(close) {
            let v = if is_map {
                Value::Object(map)
            } else {
                items.shrink_to_fit();
                Value::Array(items)
            };
            return Some((v, after));
        }
        rest = rest.strip_prefix(',')?.trim_start_matches(' ');
        // A trailing comma is left to serde_yaml.
        if rest.starts_with(close) {
            return None;
        }
    }
}

/// One value inside a flow collection, and the text after it.
fn flow_item(s: &str, depth: usize) -> Option<(Value, &str)> {
    match s.as_bytes().first()? {
        b'[' | b'{' => flow(s, depth + 1),
        b'"' => double_quoted(s).map(|(v, t)| (Value::String(v), t)),
        b'\'' => single_quoted(s).map(|(v, t)| (Value::String(v), t)),
        _ => {
            let end = s.find([',', ']', '}']).unwrap_or(s.len());
            let v = s.get(..end)?.trim_end_matches(' ');
            if v.is_empty() || !flow_plain_ok(v) {
                return None;
            }
            Some((resolve(v)?, s.get(end..)?))
        }
    }
}

/// A plain scalar inside a flow collection that reads the same in every YAML parser.
fn flow_plain_ok(v: &str) -> bool {
    let odd = v.contains(['#', '\t', '[', ']', '{', '}', ','])
        || v.ends_with(':')
        || v.contains(": ")
        || v.starts_with(['&', '*', '!', '|', '>', '%', '@', '`', '?', '"', '\'', ':'])
        || v == "-"
        || v.starts_with("- ");
    !odd
}

/// What follows a quoted scalar or `{}`: nothing, spaces, or spaces and a comment.
fn ends_clean(tail: &str) -> bool {
    let t = tail.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < tail.len())
}

/// A single-quoted scalar that ends on this line, and the text after it.
fn single_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut rest = body;
    loop {
        let q = rest.find('\'')?;
        out.push_str(rest.get(..q)?);
        let after = rest.get(q + 1..)?;
        if let Some(more) = after.strip_prefix('\'') {
            out.push('\'');
            rest = more;
        } else {
            return Some((out, after));
        }
    }
}

/// A double-quoted scalar that ends on this line, and the text after it.
fn double_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut rest = body;
    loop {
        let at = rest.find(['"', '\\'])?;
        out.push_str(rest.get(..at)?);
        let tail = rest.get(at..)?;
        if let Some(after) = tail.strip_prefix('"') {
            return Some((out, after));
        }
        let esc = *tail.as_bytes().get(1)?;
        let (c, used) = match esc {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'n' => ('\n', 2),
            b't' => ('\t', 2),
            b'r' => ('\r', 2),
            b'0' => ('\0', 2),
            b'a' => ('\u{7}', 2),
            b'b' => ('\u{8}', 2),
            b'e' => ('\u{1b}', 2),
            b'f' => ('\u{c}', 2),
            b'v' => ('\u{b}', 2),
            b' ' => (' ', 2),
            b'N' => ('\u{85}', 2),
            b'_' => ('\u{a0}', 2),
            b'L' => ('\u{2028}', 2),
            b'P' => ('\u{2029}', 2),
            b'x' | b'u' | b'U' => {
                let n = match esc {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = tail.get(2..2 + n)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                (char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, 2 + n)
            }
            _ => return None,
        };
        out.push(c);
        rest = tail.get(used..)?;
    }
}

/// serde_yaml's resolution of an untagged plain scalar (YAML 1.2 core schema), for the
/// values `serde_json::Value` can hold; `None` for integers beyond 64 bits.
fn resolve(v: &str) -> Option<Value> {
    match v {
        "null" | "Null" | "NULL" | "~" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    // No integer or finite float starts with a letter ("inf" and "nan" are not finite).
    if v.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return Some(Value::String(v.to_owned()));
    }
    if let Some(u) = parse_unsigned_int(v, u64::from_str_radix) {
        return Some(Value::Number(u.into()));
    }
    if let Some(i) = parse_negative_int(v, i64::from_str_radix) {
        return Some(Value::Number(i.into()));
    }
    if parse_unsigned_int(v, u128::from_str_radix).is_some()
        || parse_negative_int(v, i128::from_str_radix).is_some()
    {
        return None;
    }
    if !digits_but_not_number(v) {
        if let Some(f) = parse_f64(v) {
            return Some(Number::from_f64(f).map_or(Value::Null, Value::Number));
        }
    }
    Some(Value::String(v.to_owned()))
}

// The three functions below follow serde_yaml 0.9's `de.rs` (MIT OR Apache-2.0), so that
// both paths resolve scalars alike.

fn parse_unsigned_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>,
) -> Option<T> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>,
) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix) {
            if let Ok(int) = from_str_radix(&format!("-{rest}"), radix) {
                return Some(int);
            }
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(scalar, 10).ok()
}

fn parse_f64(scalar: &str) -> Option<f64> {
    let unpositive = match scalar.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => scalar,
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = scalar {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = scalar {
        return Some(f64::NAN);
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn digits_but_not_number(scalar: &str) -> bool {
    let s = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    s.len() > 1 && s.starts_with('0') && s.bytes().skip(1).all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde::Deserialize;
    use serde_json::Value;

    fn slow(text: &str) -> Option<Value> {
        Value::deserialize(serde_yaml::Deserializer::from_str(text)).ok()
    }

    /// Every accepted document equals serde_yaml's tree.
    fn same(text: &str) -> bool {
        match parse(text) {
            Some(fast) => {
                assert_eq!(Some(&fast), slow(text).as_ref(), "differs on {text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn kubernetes_shapes_take_the_fast_path_and_match() {
        let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # the name\n  labels:\n    app.kubernetes.io/name: web\n    \"quoted\": 'it''s'\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: |\n      {\"a\": 1}\n\n      second\n    empty: \"\"\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.25\n        args:\n        - --port=80\n        - \"a\\tb\\u00e9\"\n        ports:\n          - containerPort: 8080\n            protocol: TCP\n        resources: {}\n        env: []\n        securityContext:\n          privileged: false\n          runAsUser: 0o17\n          x: -12\n          y: 1.5e3\n          z: 0755\n          w: ~\n          v:\n      - - nested\n        - 0x1F\n";
        assert!(same(doc));
        let v = parse(doc).unwrap_or_default();
        assert_eq!(
            v.pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"),
            Some(&Value::String("{\"a\": 1}\n\nsecond\n".into()))
        );
    }

    #[test]
    fn one_line_flow_collections_match() {
        for v in [
            "[]",
            "{}",
            "[get, list, watch]",
            "[\"\", apps]",
            "[1, -2, 0x3, 1.5, ~, true]",
            "{a: 1, \"b\": [x, {c: d}]}",
            "{\"a\": \"b\"}",
            "[ a , b ] # c",
            "[a b, 'c''d']",
            "[-1, -x]",
            "{a: 1, b: }",
        ] {
            let doc = format!("k: {v}\nl:\n- {v}\n");
            if parse(&doc).is_some() {
                assert!(same(&doc), "{v}");
            } else {
                assert!(v.ends_with(": }"), "{v} fell back");
            }
        }
    }

    #[test]
    fn literal_chomping_matches() {
        for h in ["|", "|-", "|+"] {
            for tail in ["", "\n", "\n\n", "\n\nnext: 1\n", "\n  \nnext: 1"] {
                let doc = format!("a: {h}\n  line one\n    indented\n\n  three{tail}");
                assert!(same(&doc), "{doc:?}");
            }
        }
    }

    #[test]
    fn what_it_does_not_know_goes_to_serde_yaml() {
        for doc in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: [1, 2,]\n",
            "a: [b: 1]\n",
            "a: {b}\n",
            "a: [1,\n  2]\n",
            "a: >\n  folded\n",
            "a: plain\n  continued\n",
            "a: \"multi\n  line\"\n",
            "a: 1\na: 2\n",
            "a:\tb\n",
            "a: b\r\nc: d\r\n",
            "a: 123456789012345678901234567890\n",
            "a: b: c\n",
            "? a\n: b\n",
            "a: |2\n   x\n",
            "- a\n  - b\n",
            "a:\n    b: 1\n  c: 2\n",
            "just a scalar\n",
            "a: \u{85}\n",
        ] {
            assert_eq!(parse(doc), None, "{doc:?}");
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_left_to_serde_yaml() {
        let mut doc = String::new();
        for i in 0..200 {
            doc.push_str(&" ".repeat(i));
            doc.push_str("a:\n");
        }
        assert_eq!(parse(&doc), None);
    }

    #[test]
    fn scalars_resolve_like_serde_yaml() {
        for s in [
            "null",
            "Null",
            "~",
            "true",
            "False",
            "yes",
            "no",
            "on",
            "1",
            "-1",
            "+1",
            "0",
            "00",
            "007",
            "-007",
            "0x1f",
            "-0x1f",
            "0o17",
            "0b101",
            "1.5",
            "-1.5",
            ".5",
            "1e3",
            "1E-3",
            ".inf",
            "-.inf",
            ".nan",
            "inf",
            "nan",
            "Infinity",
            "1_000",
            "12:30",
            "18446744073709551615",
            "-9223372036854775808",
            "+0x1",
            "0x",
            "1.",
            "+.5",
            "1.0.0",
            "v1",
            "/path",
            "a,b",
            "a]b",
            "50%",
            "@x",
            "e5",
            "-",
            "--x",
            ".",
            "+-1",
        ] {
            let doc = format!("k: {s}\n");
            if parse(&doc).is_some() {
                assert!(same(&doc), "{s}");
            }
        }
    }
}
