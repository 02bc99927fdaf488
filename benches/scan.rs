//! Benchmarks (divan): parse, index, check, remediate, bundle rendering and report on
//! synthetic clusters of about
//! 1,000, 10,000 and 100,000 objects. Run with `cargo bench --bench scan`; figures in
//! BENCHMARKS.md. Not part of the tests.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/it/fake_api.rs"]
#[allow(unreachable_pub)]
mod fake_api;

#[path = "support/synthetic.rs"]
mod synthetic;

use kubeharden::checks::{self, Settings};
use kubeharden::model::{Inventory, Object, Origin, yaml};
use std::sync::OnceLock;

fn main() {
    divan::main();
}

/// Namespaces for ~1k, ~10k and ~100k objects (17.8 objects per namespace).
const SIZES: [usize; 3] = [57, 570, 5700];

fn texts(namespaces: usize) -> &'static Vec<String> {
    static CACHE: OnceLock<Vec<(usize, Vec<String>)>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        SIZES
            .iter()
            .map(|&n| {
                (
                    n,
                    synthetic::cluster(n, 1)
                        .into_iter()
                        .map(|(_, d)| d.join("---\n"))
                        .collect(),
                )
            })
            .collect()
    });
    &all.iter().find(|(n, _)| *n == namespaces).unwrap().1
}

fn objects(namespaces: usize) -> Vec<Object> {
    let mut out = Vec::new();
    for (f, text) in texts(namespaces).iter().enumerate() {
        for doc in yaml::parse_yaml_stream(text).into_iter().flatten() {
            let origin = Origin::File {
                path: format!("ns-{f}.yaml"),
                document: doc.index,
                item: None,
                line: doc.line,
            };
            if let Ok(o) = Object::from_value(doc.value, origin) {
                out.push(o);
            }
        }
    }
    out
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn parse(bencher: divan::Bencher, namespaces: usize) {
    let texts = texts(namespaces);
    // Returned values are dropped outside the timed section.
    bencher.bench(|| {
        texts
            .iter()
            .map(|t| yaml::parse_yaml_stream(t))
            .collect::<Vec<_>>()
    });
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn index(bencher: divan::Bencher, namespaces: usize) {
    bencher
        .with_inputs(|| objects(namespaces))
        .bench_values(Inventory::new);
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn check(bencher: divan::Bencher, namespaces: usize) {
    let settings = Settings::default();
    // A fresh inventory per sample: it caches what the RBAC checks share on first use.
    bencher
        .with_inputs(|| Inventory::new(objects(namespaces)))
        .bench_refs(|inv| checks::run(inv, &[], &settings));
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn report_json(bencher: divan::Bencher, namespaces: usize) {
    let inv = Inventory::new(objects(namespaces));
    let results = checks::run(&inv, &[], &Settings::default());
    let scan = kubeharden::report::Scan {
        source: kubeharden::source::SourceInfo::Demo,
        objects: inv.len(),
        ignored: 0,
        skipped: Vec::new(),
        problems: Vec::new(),
        results,
    };
    bencher.bench(|| kubeharden::report::json(&scan));
}

/// Plans the remediations for every finding (the work of `fix` between scan and writing).
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn remediate(bencher: divan::Bencher, namespaces: usize) {
    let inv = Inventory::new(objects(namespaces));
    let results = checks::run(&inv, &[], &Settings::default());
    let opts = kubeharden::remediate::Options::default();
    bencher.bench(|| kubeharden::remediate::plan(&inv, &results.findings, &opts));
}

/// Renders the bundle files (YAML, README with a diff per change, manifest with checksums).
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn bundle_render(bencher: divan::Bencher, namespaces: usize) {
    let inv = Inventory::new(objects(namespaces));
    let results = checks::run(&inv, &[], &Settings::default());
    let plan = kubeharden::remediate::plan(
        &inv,
        &results.findings,
        &kubeharden::remediate::Options::default(),
    );
    bencher.bench(|| kubeharden::bundle::render(&plan, &inv, &results.findings, "bench"));
}

/// One frame of the findings table with 100,000 findings (the target is under 16 ms).
#[divan::bench(sample_count = 20)]
fn tui_frame_100k_findings(bencher: divan::Bencher) {
    use kubeharden::model::{Area, Finding, ObjRef, Severity};
    use kubeharden::tui::msg::{Action, LoadedData, Msg};
    use kubeharden::tui::state::AppState;
    use kubeharden::tui::update::{start_load, update};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let inv = Inventory::new(objects(57));
    let mut results = checks::run(&inv, &[], &Settings::default());
    results.findings = (0..100_000)
        .map(|i| Finding {
            check: "KH-NET-003",
            area: Area::Network,
            severity: Severity::High,
            message: format!("no default-deny ingress policy ({i})"),
            object: ObjRef::new("v1", "Namespace", None, &format!("team-{i:06}")).into(),
            origin: Origin::Synthetic.into(),
            path: String::new(),
            fixable: false,
            waived: None,
        })
        .collect();
    let scan = kubeharden::report::Scan {
        source: kubeharden::source::SourceInfo::Demo,
        objects: inv.len(),
        ignored: 0,
        skipped: Vec::new(),
        problems: Vec::new(),
        results,
    };
    let mut state = AppState::new("bench", true);
    start_load(&mut state);
    update(
        &mut state,
        Msg::Loaded {
            req: 1,
            result: Ok(Box::new(LoadedData {
                inventory: inv,
                scan,
                scanned_at: String::new(),
            })),
        },
    );
    update(&mut state, Msg::Action(Action::JumpArea(4)));
    for _ in 0..50_000 {
        update(&mut state, Msg::Action(Action::Down));
    }
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let theme = kubeharden::tui::theme::Theme { color: true };
    bencher.bench_local(|| {
        terminal
            .draw(|f| kubeharden::tui::view::draw(f, &state, theme))
            .unwrap();
    });
}

/// A live scan of 20,000 objects (5,000 each of Pods, Deployments, Secrets and ConfigMap-free
/// ServiceAccounts) against the test suite's fake API server on 127.0.0.1: 10 LIST calls
/// per 5,000-object kind (limit=500), four kinds at a time.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn live_scan_20k(bencher: divan::Bencher) {
    use serde_json::json;
    let server = fake_api::FakeApi::start();
    for i in 0..5000 {
        let ns = format!("ns-{}", i % 100);
        server.add(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p{i}"), "namespace": ns, "labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "securityContext": {"privileged": i % 7 == 0}}]}}));
        server.add(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("d{i}"), "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}));
        server.add(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("s{i}"), "namespace": ns}, "type": "Opaque", "data": {"k": "dmFsdWU="}}));
        server.add(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": format!("sa{i}"), "namespace": ns}}));
    }
    let kubeconfig = server.kubeconfig("bench");
    let opts = kubeharden::source::ClusterOptions {
        kubeconfig: Some(kubeconfig),
        context: None,
        namespace: None,
        request_timeout: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    bencher.bench_local(|| {
        runtime.block_on(async {
            let loaded = kubeharden::source::live::load(&opts, &|_| {})
                .await
                .unwrap();
            kubeharden::engine::evaluate(loaded, &[], false).unwrap()
        })
    });
}
