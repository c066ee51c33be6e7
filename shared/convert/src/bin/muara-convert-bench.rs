//! Converts one file and prints the report as JSON, for `bench/convert/run.sh`. A `[[bin]]`
//! rather than an example so that its release build does not pull in the dev-dependencies.
//!
//! ```text
//! cargo run --release -p muara-convert --bin muara-convert-bench -- INPUT OUTPUT [SOURCE_TYPE] [SOURCE_CONFIG_JSON] [--zstd LEVEL] [--batch-rows N]
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use muara_convert::{Compression, ConvertOptions, convert_file, source_format};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "muara-convert-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let mut opts = ConvertOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--zstd" => {
                let level = args.next().ok_or("--zstd needs a level")?.parse()?;
                opts.compression = Compression::Zstd(level);
            }
            "--batch-rows" => {
                opts.batch_rows = args.next().ok_or("--batch-rows needs a number")?.parse()?;
            }
            _ => positional.push(arg),
        }
    }
    let [input, output, rest @ ..] = positional.as_slice() else {
        return Err("usage: muara-convert-bench INPUT OUTPUT [SOURCE_TYPE] [SOURCE_CONFIG_JSON] [--zstd LEVEL] [--batch-rows N]".into());
    };
    let source_type = rest.first().map_or("csv", String::as_str);
    let config: Option<serde_json::Value> =
        rest.get(1).map(|c| serde_json::from_str(c)).transpose()?;
    let format = source_format(source_type, config.as_ref())?;
    let started = std::time::Instant::now();
    let report = convert_file(
        &PathBuf::from(input),
        &format,
        &PathBuf::from(output),
        &opts,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let mut json = serde_json::to_value(&report)?;
    json["seconds"] = seconds.into();
    writeln!(std::io::stdout(), "{json}")?;
    Ok(())
}
