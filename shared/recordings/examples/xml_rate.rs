//! Recorder XML parse rate: reads the `.xml` files under a folder (recursively, sorted by path,
//! at most LIMIT of them) into memory, then times `muara_recordings::xml::parse` with the
//! built-in `default` profile over all of them: one untimed warm-up pass, then ROUNDS timed
//! passes. Prints one JSON line; `files_per_second` is the best pass, `mean_files_per_second`
//! the mean over the passes. Run by `bench/agent/run.sh`, beside `bench/agent/xml_rate.py`,
//! which does the same with Python's `xml.etree.ElementTree`.
//!
//! Usage: xml_rate DIR [LIMIT [ROUNDS]]     (defaults: every file, 5 rounds)

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use muara_recordings::xml::{Profile, parse};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        {
            out.push(path);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: xml_rate DIR [LIMIT [ROUNDS]]");
        std::process::exit(2);
    };
    let limit: usize = args.next().map_or(usize::MAX, |s| s.parse().unwrap());
    let rounds: usize = args.next().map_or(5, |s| s.parse().unwrap()).max(1);

    let mut paths = Vec::new();
    xml_files(Path::new(&dir), &mut paths);
    paths.sort();
    paths.truncate(limit);
    let docs: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let bytes: usize = docs.iter().map(Vec::len).sum();
    let profile = Profile::builtin("default").unwrap();

    // Warm-up, and the check that every document maps to a recording.
    let errors = docs.iter().filter(|d| parse(d, &profile).is_err()).count();
    let mut passes = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for d in &docs {
            std::hint::black_box(parse(std::hint::black_box(d), &profile).ok());
        }
        passes.push(t.elapsed().as_secs_f64());
    }
    let files = docs.len() as f64;
    let best = passes.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = passes.iter().sum::<f64>() / passes.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "parser": "muara_recordings::xml::parse (quick-xml, default profile)",
            "files": docs.len(),
            "bytes": bytes,
            "errors": errors,
            "rounds": rounds,
            "best_pass_seconds": best,
            "files_per_second": files / best,
            "mean_files_per_second": files / mean,
            "mb_per_second": bytes as f64 / best / 1e6,
        })
    );
}
