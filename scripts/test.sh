#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
#   system packages and pinned Python tools, formatting, lints, every test against a real
#   PostgreSQL, a real AWS API emulator (moto) and a real browser (headless Chromium), then the
#   SAM template checks and build. The console's screenshots land in target/artifacts/console/
#   (MUARA_ARTIFACTS_DIR to put them elsewhere).
# Environment: DATABASE_URL / AWS_ENDPOINT_URL to use existing services instead of the
# throwaway ones the harness starts; CARGO_TARGET_DIR and MUARA_VENV are honoured.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib.sh

started=$SECONDS
ensure_rust
ensure_postgres
ensure_chromium
scripts/tools.sh
export MUARA_VENV=${MUARA_VENV:-$root/.venv}
export PATH="$MUARA_VENV/bin:$PATH"

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "cargo test (PostgreSQL: ${DATABASE_URL:+DATABASE_URL}${DATABASE_URL:-throwaway cluster}; AWS: ${AWS_ENDPOINT_URL:-moto_server from the venv})"
t=$SECONDS
# The crash tests (cli/tests/crash.rs) run below, once, on the shipping profile's binary.
cargo test --workspace --exclude muara --no-fail-fast
cargo test -p muara --bins --test cli --test agent --no-fail-fast
say "tests passed in $((SECONDS - t))s"

say "crash tests on the shipping profile (release build: a panic aborts the process)"
t=$SECONDS
cargo build --release --bin muara --quiet
MUARA_BIN="${CARGO_TARGET_DIR:-$root/target}/release/muara" cargo test -p muara --test crash --quiet
say "release crash tests passed in $((SECONDS - t))s"

if [ -x fuzz/run.sh ]; then
  say "fuzz smoke: every fuzz target over its seed corpus"
  t=$SECONDS
  fuzz/run.sh smoke
  say "fuzz smoke passed in $((SECONDS - t))s"
fi

say "template: cfn-lint, sam validate --lint, sam build"
scripts/lint-template.sh

say "all checks passed in $((SECONDS - started))s"
