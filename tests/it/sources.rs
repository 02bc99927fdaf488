//! Sources: multi-document YAML, Lists, JSON, broken and foreign documents, stdin, folders.

use crate::util::{load_files, load_stdin, scan};
use kubeharden::model::Origin;
use kubeharden::source::files;
use std::fs;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  namespace: a\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n";

#[test]
fn multi_document_yaml_keeps_document_indexes() {
    let text = format!(
        "# leading comment\n---\n{POD}---\n\n---\n{}",
        POD.replace("p1", "p2")
    );
    let loaded = load_stdin(&text);
    let origins: Vec<_> = loaded
        .objects
        .iter()
        .map(|o| (o.name().to_string(), (*o.origin).clone()))
        .collect();
    assert_eq!(
        origins,
        vec![
            (
                "p1".into(),
                Origin::File {
                    path: "-".into(),
                    document: 0,
                    item: None,
                    line: 3
                }
            ),
            (
                "p2".into(),
                Origin::File {
                    path: "-".into(),
                    document: 2,
                    item: None,
                    line: 15
                }
            ),
        ]
    );
    assert!(loaded.problems.is_empty());
    assert_eq!(
        loaded.ignored, 0,
        "empty documents are not foreign documents"
    );
}

#[test]
fn kubectl_get_lists_are_expanded() {
    let text = r#"apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: a}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: a}
  spec:
    template:
      spec:
        containers: [{name: c, image: "nginx"}]
- {just: a map}
"#;
    let loaded = load_stdin(text);
    assert_eq!(loaded.objects.len(), 2);
    assert_eq!(loaded.ignored, 1);
    assert_eq!(
        *loaded.objects[1].origin,
        Origin::File {
            path: "-".into(),
            document: 0,
            item: Some(1),
            line: 1
        }
    );
    // Typed lists (DeploymentList) are lists too.
    let typed = load_stdin(&text.replace("kind: List", "kind: DeploymentList"));
    assert_eq!(typed.objects.len(), 2);
}

#[test]
fn json_files_lists_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let list = serde_json::json!({"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"j1","namespace":"a"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}]});
    fs::write(
        dir.path().join("list.json"),
        serde_json::to_string_pretty(&list).unwrap(),
    )
    .unwrap();
    fs::write(
        dir.path().join("stream.json"),
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"x\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"y\"}}",
    )
    .unwrap();
    fs::write(
        dir.path().join("truncated.json"),
        "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {",
    )
    .unwrap();
    let loaded = load_files(&[dir.path()]);
    let names: Vec<_> = loaded
        .objects
        .iter()
        .map(|o| o.name().to_string())
        .collect();
    assert_eq!(names, vec!["j1", "x", "y"]);
    assert_eq!(loaded.problems.len(), 1);
    let p = loaded.problems[0].to_string();
    assert!(
        p.contains("truncated.json") && p.contains("document 0") && p.contains("line 1"),
        "{p}"
    );
}

#[test]
fn a_broken_document_is_one_problem_and_the_rest_loads() {
    let text = format!(
        "{POD}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [broken\n---\n{}",
        POD.replace("p1", "p3")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.yaml");
    fs::write(&path, text).unwrap();
    let loaded = load_files(&[&path]);
    assert_eq!(
        loaded.objects.iter().map(|o| o.name()).collect::<Vec<_>>(),
        vec!["p1", "p3"]
    );
    assert_eq!(loaded.problems.len(), 1);
    let p = &loaded.problems[0];
    assert_eq!(p.document, Some(1));
    assert_eq!(p.file.as_deref(), Some(path.to_str().unwrap()));
    let line = p.line.unwrap();
    assert!(
        (14..=16).contains(&line),
        "line {line} should point into the second document"
    );
    assert_eq!(p.to_string().lines().count(), 1);
}

#[test]
fn non_kubernetes_documents_are_skipped_and_counted() {
    let text = format!("{POD}---\nfoo: bar\n---\n- 1\n- 2\n---\napiVersion: v1\nkind: ConfigMap\n");
    let loaded = load_stdin(&text);
    assert_eq!(loaded.objects.len(), 1);
    assert_eq!(loaded.ignored, 3);
    assert!(loaded.problems.is_empty());
}

#[test]
fn folders_are_walked_recursively_in_order_and_named_as_given() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("b/c")).unwrap();
    fs::write(dir.path().join("b/c/deep.yml"), POD.replace("p1", "deep")).unwrap();
    fs::write(dir.path().join("a.yaml"), POD.replace("p1", "top")).unwrap();
    fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    fs::write(dir.path().join("binary.yaml"), [0u8, 159, 146, 150]).unwrap();
    fs::write(dir.path().join("latin1.yaml"), b"name: caf\xe9\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path(), dir.path().join("b/loop")).unwrap();
    let given = dir.path().display().to_string();
    let loaded = files::load(std::slice::from_ref(&given), &mut std::io::empty()).unwrap();
    let seen: Vec<_> = loaded
        .objects
        .iter()
        .map(|o| match &*o.origin {
            Origin::File { path, .. } => path.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        vec![format!("{given}/a.yaml"), format!("{given}/b/c/deep.yml")]
    );
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("binary.yaml") && p.contains("binary")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("latin1.yaml") && p.contains("UTF-8")),
        "{problems:?}"
    );
    #[cfg(unix)]
    assert!(problems.iter().any(|p| p.contains("loop")), "{problems:?}");
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let err =
        files::load(&["/nonexistent/kh.yaml".to_string()], &mut std::io::empty()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/kh.yaml: no such file or directory"
    );
}

#[test]
fn wrong_typed_fields_are_reported_not_fatal() {
    let text = format!(
        "{POD}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: bad, namespace: a}}\nspec:\n  containers:\n  - name: c\n    image: x:1\n    securityContext: \"yes\"\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d, namespace: a}}\nspec:\n  template:\n    spec:\n      containers: web\n"
    );
    let (inv, scan) = scan(load_stdin(&text));
    assert_eq!(inv.len(), 3);
    let problems: Vec<String> = scan.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("Pod a/bad")
            && problems[0].contains("spec.containers[0].securityContext"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("Deployment a/d") && problems[1].contains("containers"),
        "{problems:?}"
    );
}

#[test]
fn secret_values_never_load_from_files() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: a\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"pw\":\"aHVudGVyMg==\"}}'\ntype: Opaque\ndata:\n  pw: aHVudGVyMg==\nstringData:\n  token: hunter2\n";
    let loaded = load_stdin(text);
    let raw = loaded.objects[0].raw.to_string();
    assert!(
        !raw.contains("aHVudGVyMg") && !raw.contains("hunter2"),
        "{raw}"
    );
}

#[test]
fn managed_fields_are_dropped_and_the_rest_keeps_its_order() {
    let loaded = load_stdin(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n  managedFields:\n  - manager: kubectl\n    operation: Apply\n    fieldsV1: {f:data: {}}\n  labels:\n    x: y\n  uid: u1\ndata:\n  k: v\n",
    );
    let raw = &loaded.objects[0].raw;
    let keys: Vec<&String> = raw["metadata"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "namespace", "labels", "uid"]);
    assert_eq!(raw["data"]["k"], "v");
}
