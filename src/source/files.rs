//! Manifests on disk: files, folders (recursive), `-` for stdin.
//!
//! Files are read and parsed on all cores; results are merged in a stable order
//! (the order of the paths given, folders sorted by name).

use super::{LoadError, Loaded, SourceInfo, collect_docs};
use crate::model::yaml;
use crate::model::{Origin, Problem};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default largest file read, in MiB (`--max-file-size`). A `kubectl get -o yaml` List of
/// 100,000 objects is about 50 MiB.
pub const DEFAULT_MAX_FILE_MIB: u64 = 256;

/// Largest single document that is not a `List`, in bytes: no real object comes near it,
/// and parsing one costs many times its size in memory.
pub const MAX_DOCUMENT_BYTES: usize = crate::model::yaml::MAX_DOCUMENT_BYTES;

/// Extensions read inside folders (a file named explicitly is read whatever its name).
const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// One input to read: a file path (display name, real path) or stdin.
#[derive(Debug, Clone)]
enum Input {
    File { display: String, path: PathBuf },
    Stdin,
}

impl Input {
    fn display(&self) -> &str {
        match self {
            Input::File { display, .. } => display,
            Input::Stdin => "-",
        }
    }
}

/// [`load_with`] with the default size limit and no progress reports.
pub fn load(paths: &[String], stdin: &mut dyn Read) -> Result<Loaded, LoadError> {
    load_with(paths, stdin, DEFAULT_MAX_FILE_MIB, &|_| {})
}

/// Loads every path. A path that does not exist is an error; a file inside a folder that
/// cannot be read or parsed, or is larger than `max_file_mib`, is a problem, and the rest
/// still loads. `progress` hears of every file parsed.
pub fn load_with(
    paths: &[String],
    stdin: &mut dyn Read,
    max_file_mib: u64,
    progress: &(dyn Fn(super::Progress) + Sync),
) -> Result<Loaded, LoadError> {
    let max = max_file_mib.saturating_mul(1024 * 1024);
    let mut out = Loaded {
        info: SourceInfo::Files {
            paths: paths.to_vec(),
            files: 0,
        },
        objects: Vec::new(),
        problems: Vec::new(),
        ignored: 0,
        skipped: Vec::new(),
    };
    let mut inputs = Vec::new();
    for p in paths {
        if p == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let path = PathBuf::from(p);
        let meta = std::fs::metadata(&path).map_err(|e| LoadError::Path {
            path: p.clone(),
            reason: io_reason(&e),
        })?;
        if meta.is_dir() {
            let mut seen = HashSet::new();
            walk(&path, p, &mut inputs, &mut out.problems, &mut seen);
        } else {
            inputs.push(Input::File {
                display: p.clone(),
                path,
            });
        }
    }
    let mut stdin_text = None;
    if inputs.iter().any(|i| matches!(i, Input::Stdin)) {
        let mut buf = Vec::new();
        match stdin.take(max + 1).read_to_end(&mut buf) {
            Ok(_) => stdin_text = Some(buf),
            Err(e) => out.problems.push(Problem::in_file("-", io_reason(&e))),
        }
    }
    if let SourceInfo::Files { files, .. } = &mut out.info {
        *files = inputs.len();
    }
    let parsed = parse_all(&inputs, stdin_text.as_deref(), max, progress);
    for part in parsed {
        out.objects.extend(part.objects);
        out.problems.extend(part.problems);
        out.ignored += part.ignored;
    }
    Ok(out)
}

/// Folder walk: sorted, recursive, following links but never into a folder twice.
fn walk(
    dir: &Path,
    display: &str,
    inputs: &mut Vec<Input>,
    problems: &mut Vec<Problem>,
    seen: &mut HashSet<PathBuf>,
) {
    match std::fs::canonicalize(dir) {
        Ok(real) => {
            if !seen.insert(real) {
                problems.push(Problem::in_file(
                    display,
                    "folder already visited (symbolic link loop); skipped",
                ));
                return;
            }
        }
        Err(e) => {
            problems.push(Problem::in_file(display, io_reason(&e)));
            return;
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            problems.push(Problem::in_file(display, io_reason(&e)));
            return;
        }
    };
    let mut names: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    names.sort();
    for (name, path) in names {
        let shown = Path::new(display)
            .join(&name)
            .to_string_lossy()
            .into_owned();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, &shown, inputs, problems, seen),
            Ok(_) => {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if ext.as_deref().is_some_and(|e| EXTENSIONS.contains(&e)) {
                    inputs.push(Input::File {
                        display: shown,
                        path,
                    });
                }
            }
            Err(e) => {
                // A dangling link or an entry that vanished: name it, keep going.
                let ext_ok = Path::new(&name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
                if ext_ok {
                    problems.push(Problem::in_file(&shown, io_reason(&e)));
                }
            }
        }
    }
}

/// What one file produced.
struct Part {
    objects: Vec<crate::model::Object>,
    problems: Vec<Problem>,
    ignored: usize,
}

fn parse_all(
    inputs: &[Input],
    stdin: Option<&[u8]>,
    max: u64,
    progress: &(dyn Fn(super::Progress) + Sync),
) -> Vec<Part> {
    let done = AtomicUsize::new(0);
    let objects = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Part)>> = Mutex::new(Vec::with_capacity(inputs.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let part = parse_input(input, stdin, max);
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    let count = objects.fetch_add(part.objects.len(), Ordering::Relaxed)
                        + part.objects.len();
                    progress(super::Progress {
                        what: input.display().to_string(),
                        done: n,
                        total: inputs.len(),
                        objects: count,
                    });
                    if let Ok(mut r) = results.lock() {
                        r.push((i, part));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, p)| p).collect()
}

fn parse_input(input: &Input, stdin: Option<&[u8]>, max: u64) -> Part {
    let name = input.display().to_string();
    let mut part = Part {
        objects: Vec::new(),
        problems: Vec::new(),
        ignored: 0,
    };
    let bytes = match input {
        Input::Stdin => match stdin {
            Some(b) => std::borrow::Cow::Borrowed(b),
            None => return part,
        },
        Input::File { path, .. } => match read_capped(path, max) {
            Ok(b) => std::borrow::Cow::Owned(b),
            Err(reason) => {
                part.problems.push(Problem::in_file(&name, reason));
                return part;
            }
        },
    };
    if bytes.len() as u64 > max {
        part.problems
            .push(Problem::in_file(&name, too_large(bytes.len() as u64, max)));
        return part;
    }
    let head = bytes.get(..bytes.len().min(8192)).unwrap_or_default();
    if head.contains(&0) {
        part.problems.push(Problem::in_file(
            &name,
            "binary file (contains NUL bytes); skipped",
        ));
        return part;
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes
                .get(..e.valid_up_to())
                .map_or(1, |b| b.iter().filter(|&&c| c == b'\n').count() + 1);
            part.problems.push(Problem {
                file: Some(name),
                document: None,
                line: Some(line),
                object: None,
                message: format!("not valid UTF-8 at byte {}; skipped", e.valid_up_to()),
            });
            return part;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let is_json = match input {
        Input::File { path, .. } => path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json")),
        Input::Stdin => false,
    };
    let docs = if is_json {
        yaml::parse_json_stream(text)
    } else {
        yaml::parse_any(text)
    };
    let mut loaded = Loaded {
        info: SourceInfo::Demo,
        objects: Vec::new(),
        problems: Vec::new(),
        ignored: 0,
        skipped: Vec::new(),
    };
    let origin = |document: usize, item: Option<usize>, line: usize| Origin::File {
        path: name.clone(),
        document,
        item,
        line,
    };
    collect_docs(docs, &name, &origin, &mut loaded);
    part.objects = loaded.objects;
    part.problems = loaded.problems;
    part.ignored = loaded.ignored;
    part
}

fn too_large(size: u64, max: u64) -> String {
    format!(
        "{} MiB is over the {} MiB limit; skipped (raise it with --max-file-size)",
        size.div_ceil(1024 * 1024),
        max / 1024 / 1024
    )
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| io_reason(&e))?;
    let meta = file.metadata().map_err(|e| io_reason(&e))?;
    if meta.is_dir() {
        return Err("is a directory".into());
    }
    let size = meta.len();
    if size > max {
        return Err(too_large(size, max));
    }
    let mut buf = Vec::with_capacity(size as usize);
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io_reason(&e))?;
    Ok(buf)
}

/// An I/O error as a short lowercase reason.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s.get(..i).unwrap_or(&s).to_lowercase(),
                None => s.to_lowercase(),
            }
        }
    }
}
