//! Synthetic cluster generator for benchmarks and scale tests.
//!
//! `cargo run --release --example gen_cluster -- --namespaces 5700 --seed 1 --out /tmp/kh-100k`
//! writes one multi-document YAML file per namespace under `OUT/files/` and the same objects
//! as one `kubectl get -o yaml` style List in `OUT/list.yaml`, deterministic for a seed.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

#[path = "../benches/support/synthetic.rs"]
mod synthetic;

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut namespaces = 100usize;
    let mut seed = 1u64;
    let mut out = PathBuf::from("target/kh-cluster");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--namespaces" => {
                namespaces = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(namespaces)
            }
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            _ => {
                eprintln!("usage: gen_cluster [--namespaces N] [--seed S] [--out DIR]");
                std::process::exit(2);
            }
        }
    }
    let files = out.join("files");
    std::fs::create_dir_all(&files)?;
    let cluster = synthetic::cluster(namespaces, seed);
    let (mut objects, mut bytes) = (0usize, 0usize);
    for (ns, docs) in &cluster {
        let text = docs.join("---\n");
        bytes += text.len();
        objects += docs.len();
        std::fs::write(files.join(format!("{ns}.yaml")), &text)?;
    }
    std::fs::write(out.join("list.yaml"), synthetic::as_list(&cluster))?;
    println!(
        "{objects} objects in {namespaces} namespaces, {:.1} MB of YAML, in {}",
        bytes as f64 / 1e6,
        out.display()
    );
    Ok(())
}
