//! Hostile and broken input: every case ends in a one-line problem naming the file (and
//! document and line where they exist), bounded work, and the rest of the input scanned.

use crate::util::{load_files, load_stdin, scan};
use kubeharden::source::files;
use std::fs;
use std::io::Write;

const GOOD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: good, namespace: a}\nspec:\n  containers: [{name: c, image: \"nginx:1.27\"}]\n";

/// Loads `bad` beside a good file and returns the problems as lines; the good pod must load.
fn beside_good(name: &str, bad: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("good.yaml"), GOOD).unwrap();
    fs::write(dir.path().join(name), bad).unwrap();
    let loaded = load_files(&[dir.path()]);
    assert!(
        loaded.objects.iter().any(|o| o.name() == "good"),
        "the good file was lost"
    );
    let lines: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    for l in &lines {
        assert_eq!(l.lines().count(), 1, "not one line: {l}");
    }
    lines
}

#[test]
fn empty_and_comment_only_files_hold_nothing() {
    assert!(beside_good("empty.yaml", b"").is_empty());
    assert!(beside_good("comments.yaml", b"# nothing here\n---\n# still nothing\n").is_empty());
}

#[test]
fn binary_and_invalid_utf8_files_are_named() {
    let p = beside_good("blob.yaml", &[0x7f, b'E', b'L', b'F', 0, 0, 1, 2]);
    assert!(
        p.len() == 1 && p[0].contains("blob.yaml") && p[0].contains("binary"),
        "{p:?}"
    );
    let p = beside_good(
        "latin1.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n",
    );
    assert!(
        p.len() == 1
            && p[0].contains("latin1.yaml")
            && p[0].contains("line 3")
            && p[0].contains("UTF-8"),
        "{p:?}"
    );
}

#[test]
fn a_200_mb_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut f = fs::File::create(&path).unwrap();
    f.write_all(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: huge}\ndata:\n  blob: ")
        .unwrap();
    f.set_len(200 * 1024 * 1024).unwrap();
    drop(f);
    fs::write(dir.path().join("good.yaml"), GOOD).unwrap();
    let loaded = files::load_with(
        &[dir.path().display().to_string()],
        &mut std::io::empty(),
        100,
        &|_| {},
    )
    .unwrap();
    assert_eq!(loaded.objects.len(), 1);
    let p = loaded.problems[0].to_string();
    assert!(
        p.contains("huge.yaml")
            && p.contains("200 MiB is over the 100 MiB limit")
            && p.contains("--max-file-size"),
        "{p}"
    );
}

#[test]
fn a_single_oversized_document_is_refused() {
    let mut doc = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n");
    let line = format!("  k{{}}: {}\n", "x".repeat(1000));
    let mut i = 0;
    while doc.len() <= kubeharden::model::yaml::MAX_DOCUMENT_BYTES {
        doc.push_str(&line.replace("{}", &i.to_string()));
        i += 1;
    }
    let loaded = load_stdin(&format!("{GOOD}---\n{doc}"));
    assert_eq!(loaded.objects.len(), 1);
    let p = loaded.problems[0].to_string();
    assert!(
        p.contains("document 1") && p.contains("over the 32 MiB limit"),
        "{p}"
    );
}

#[test]
fn alias_bombs_end_in_an_error() {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let p = beside_good("bomb.yaml", text.as_bytes());
    assert!(
        p.len() == 1 && p[0].contains("bomb.yaml") && p[0].contains("document 0"),
        "{p:?}"
    );
}

#[test]
fn deep_nesting_ends_in_an_error() {
    let depth = 10_000;
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: deep}}\ndata: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let p = beside_good("deep.yaml", text.as_bytes());
    assert!(
        p.len() == 1 && p[0].contains("deep.yaml") && p[0].contains("recursion"),
        "{p:?}"
    );
    let json = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"d\"}},\"data\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let p = beside_good("deep.json", json.as_bytes());
    assert!(
        p.len() == 1 && p[0].contains("deep.json") && p[0].contains("recursion"),
        "{p:?}"
    );
}

#[test]
fn a_document_of_100000_keys_loads() {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\n  namespace: a\ndata:\n",
    );
    for i in 0..100_000 {
        text.push_str(&format!("  key{i}: v\n"));
    }
    let (inv, scan) = scan(load_stdin(&text));
    assert_eq!(inv.len(), 1);
    assert!(scan.problems.is_empty());
}

#[cfg(unix)]
#[test]
fn unreadable_and_dangling_files_are_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("good.yaml"), GOOD).unwrap();
    let locked = dir.path().join("locked.yaml");
    fs::write(&locked, GOOD.replace("good", "locked")).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("gone.yaml"),
        dir.path().join("dangling.yaml"),
    )
    .unwrap();
    let loaded = load_files(&[dir.path()]);
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("dangling.yaml") && p.contains("no such file")),
        "{problems:?}"
    );
    // Root reads a mode-000 file anyway; everyone else gets "permission denied".
    if fs::read(&locked).is_err() {
        assert!(
            problems
                .iter()
                .any(|p| p.contains("locked.yaml") && p.contains("permission denied")),
            "{problems:?}"
        );
    }
    assert!(loaded.objects.iter().any(|o| o.name() == "good"));
}

#[test]
fn wrong_types_missing_fields_and_duplicates_are_problems() {
    let text = format!(
        "{GOOD}---\n{}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: port, namespace: a}}\nspec:\n  containers:\n  - name: c\n    image: x:1\n    ports: [{{containerPort: \"8080\"}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: nospec, namespace: a}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: nulls, namespace: a}}\nspec:\n  containers: null\n  securityContext: null\n",
        GOOD
    );
    let (inv, scan) = scan(load_stdin(&text));
    let problems: Vec<String> = scan.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems.iter().any(|p| p.contains("duplicate Pod a/good")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Pod a/port") && p.contains("containerPort")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Deployment a/nospec") && p.contains("no spec.template.spec")),
        "{problems:?}"
    );
    assert_eq!(inv.len(), 4);
}

#[test]
fn truncated_json_names_file_document_and_line() {
    let p = beside_good(
        "cut.json",
        b"{\"apiVersion\": \"v1\",\n \"kind\": \"List\",\n \"items\": [\n  {\"apiVersion\": \"v1\"",
    );
    assert!(
        p.len() == 1 && p[0].contains("cut.json: document 0 (line 4)"),
        "{p:?}"
    );
}

mod properties {
    use crate::util::load_stdin;
    use kubeharden::engine;
    use kubeharden::report;
    use proptest::prelude::*;

    pub(super) fn corpus() -> Vec<String> {
        let mut out: Vec<String> = kubeharden::source::demo::FILES
            .iter()
            .map(|(_, t)| t.to_string())
            .collect();
        let fixtures = crate::util::fixtures().join("checks");
        for dir in std::fs::read_dir(fixtures).unwrap().flatten() {
            for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                out.push(std::fs::read_to_string(f.path()).unwrap());
            }
        }
        out.retain(|t| !t.is_empty());
        out
    }

    #[derive(Debug, Clone)]
    pub(super) enum Mutation {
        DeleteLine(usize),
        DuplicateLine(usize),
        Indent(usize, usize),
        Replace(usize, u8),
        Truncate(usize),
        SwapLines(usize, usize),
        InsertToken(usize, usize),
    }

    const TOKENS: &[&str] = &[
        "null", "- ", ": ", "[", "{", "*a", "&a ", "'", "\"", "---", "!!binary", "~", "0x7f",
        "true", "-1", "1e999", "\t",
    ];

    pub(super) fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            any::<usize>().prop_map(Mutation::DeleteLine),
            any::<usize>().prop_map(Mutation::DuplicateLine),
            (any::<usize>(), 0usize..6).prop_map(|(l, n)| Mutation::Indent(l, n)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
            (any::<usize>(), any::<usize>()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        ]
    }

    pub(super) fn apply(text: &str, m: &Mutation) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.is_empty() {
            return text.to_string();
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::Indent(i, k) => lines[i % n] = format!("{}{}", " ".repeat(*k), lines[i % n]),
            Mutation::Replace(i, b) => {
                let mut bytes = text.as_bytes().to_vec();
                let at = i % bytes.len().max(1);
                if let Some(x) = bytes.get_mut(at) {
                    *x = *b;
                }
                return String::from_utf8_lossy(&bytes).into_owned();
            }
            Mutation::Truncate(i) => {
                let cut = i % text.len().max(1);
                return text.get(..cut).unwrap_or(text).to_string();
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::InsertToken(i, t) => {
                let line = &mut lines[i % n];
                let at = (t / TOKENS.len()) % (line.len() + 1);
                if line.is_char_boundary(at) {
                    line.insert_str(at, TOKENS[t % TOKENS.len()]);
                }
            }
        }
        lines.join("\n")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn mutated_manifests_never_panic(pick in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..6)) {
            let corpus = corpus();
            let mut text = corpus[pick % corpus.len()].clone();
            for m in &muts {
                text = apply(&text, m);
            }
            let loaded = load_stdin(&text);
            for p in &loaded.problems {
                prop_assert_eq!(p.to_string().lines().count(), 1);
            }
            let (_, scan) = engine::evaluate(loaded, &[], false).unwrap();
            let _ = report::table(&scan);
            let _ = report::sarif(&scan);
            let json: serde_json::Value = serde_json::from_str(&report::json(&scan)).unwrap();
            prop_assert!(json["findings"].is_array());
        }
    }
}

/// The fast YAML path (block style, as Kubernetes tools write it) must give exactly
/// serde_yaml's tree whenever it accepts a document, and accept the manifests people have.
mod fast_yaml {
    use super::properties::{apply, corpus, mutation};
    use kubeharden::model::fastyaml;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;

    /// The documents of a stream, split on `---` lines as the loader does.
    fn documents(text: &str) -> Vec<String> {
        let mut docs = vec![String::new()];
        for line in text.split_inclusive('\n') {
            if line.trim_end() == "---" {
                docs.push(String::new());
            } else if let Some(d) = docs.last_mut() {
                d.push_str(line);
            }
        }
        docs.retain(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        });
        docs
    }

    fn serde_yaml_tree(text: &str) -> Option<Value> {
        Value::deserialize(serde_yaml::Deserializer::from_str(text)).ok()
    }

    /// `Err` describes a document the fast path read differently from serde_yaml.
    fn agrees(doc: &str) -> Result<bool, String> {
        match fastyaml::parse(doc) {
            None => Ok(false),
            Some(fast) => match serde_yaml_tree(doc) {
                Some(slow) if slow == fast => Ok(true),
                other => Err(format!(
                    "fast path: {fast}\nserde_yaml: {other:?}\ndocument: {doc:?}"
                )),
            },
        }
    }

    #[test]
    fn real_manifests_take_the_fast_path_and_read_the_same() {
        let mut texts = corpus();
        let real = crate::util::fixtures().join("real");
        for f in std::fs::read_dir(real).unwrap().flatten() {
            texts.push(std::fs::read_to_string(f.path()).unwrap());
        }
        let (mut docs, mut fast) = (0, 0);
        for text in &texts {
            for doc in documents(text) {
                if serde_yaml_tree(&doc).is_none() {
                    continue;
                }
                docs += 1;
                if agrees(&doc).unwrap_or_else(|e| panic!("{e}")) {
                    fast += 1;
                }
            }
        }
        // The fixtures include deliberately odd YAML; ordinary manifests all take the fast path.
        assert!(docs > 300, "{docs} documents");
        assert!(
            fast * 100 >= docs * 95,
            "{fast} of {docs} documents took the fast path"
        );
    }

    #[test]
    fn a_kubectl_list_item_reads_the_same() {
        let text =
            std::fs::read_to_string(crate::util::fixtures().join("real/ingress-nginx-1.5.2.yaml"))
                .unwrap();
        for doc in documents(&text) {
            // Indented by two, as the loader dedents List items.
            let indented: String = doc
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        "\n".to_string()
                    } else {
                        format!("  {l}\n")
                    }
                })
                .collect();
            assert!(
                agrees(&indented).unwrap_or_else(|e| panic!("{e}")),
                "{indented}"
            );
        }
    }

    /// A random tree, written as block YAML with random indentation and scalar styles.
    #[derive(Debug, Clone)]
    enum Tree {
        Scalar(String, u8),
        Map(Vec<(String, Tree)>),
        Seq(Vec<Tree>),
        Flow(Vec<(String, u8)>),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let scalar = ("[a-z0-9 :#'\"\\.,\\[\\]{}~!&*|>%@?_/+-]{0,10}", 0u8..4)
            .prop_map(|(s, style)| Tree::Scalar(s, style));
        let flow =
            proptest::collection::vec(("[a-z0-9 :.~/+-]{0,8}", 0u8..4), 0..4).prop_map(Tree::Flow);
        prop_oneof![scalar, flow].prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(("[a-z][a-z0-9./:-]{0,8}", inner.clone()), 1..5)
                    .prop_map(Tree::Map),
                proptest::collection::vec(inner, 1..4).prop_map(Tree::Seq),
            ]
        })
    }

    fn scalar_text(s: &str, style: u8) -> String {
        match style {
            1 => format!("'{}'", s.replace('\'', "''")),
            2 => format!("{:?}", s),
            3 => format!("|\n{s}"),
            _ => s.to_string(),
        }
    }

    fn render(t: &Tree, indent: usize, step: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match t {
            Tree::Map(entries) => {
                for (k, v) in entries {
                    out.push_str(&format!("{pad}{k}:"));
                    inline_or_nested(v, indent, step, out);
                }
            }
            Tree::Seq(items) => {
                for v in items {
                    out.push_str(&format!("{pad}-"));
                    inline_or_nested(v, indent, step, out);
                }
            }
            _ => {}
        }
    }

    fn inline_or_nested(v: &Tree, indent: usize, step: usize, out: &mut String) {
        match v {
            Tree::Scalar(s, 3) => {
                out.push_str(" |\n");
                for line in s.split(' ') {
                    out.push_str(&format!("{}{line}\n", " ".repeat(indent + step)));
                }
            }
            Tree::Scalar(s, style) => out.push_str(&format!(" {}\n", scalar_text(s, *style))),
            Tree::Flow(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|(s, st)| scalar_text(s, *st % 3))
                    .collect();
                out.push_str(&format!(" [{}]\n", parts.join(", ")));
            }
            nested => {
                out.push('\n');
                render(nested, indent + step, step, out);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        #[test]
        fn generated_yaml_reads_the_same_or_falls_back(t in tree(), step in 1usize..5) {
            let mut doc = String::new();
            render(&Tree::Map(vec![("root".into(), t)]), 0, step, &mut doc);
            if let Err(e) = agrees(&doc) {
                prop_assert!(false, "{}", e);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        #[test]
        fn mutated_manifests_read_the_same_or_fall_back(pick in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..4)) {
            let corpus = corpus();
            let mut text = corpus[pick % corpus.len()].clone();
            for m in &muts {
                text = apply(&text, m);
            }
            for doc in documents(&text) {
                if let Err(e) = agrees(&doc) {
                    prop_assert!(false, "{}", e);
                }
            }
        }
    }
}
