#!/usr/bin/env bash
# Runs muara locally with demo data: installs what is missing (PostgreSQL server binaries),
# builds the release binary, and starts `muara up --demo` on http://127.0.0.1:8080.
# Extra arguments go to `muara up` (e.g. --listen 127.0.0.1:9090, --data-dir /var/tmp/muara).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib.sh

ensure_rust
ensure_postgres
say "building muara (release)"
cargo build --release --bin muara
target=${CARGO_TARGET_DIR:-$root/target}
exec "$target/release/muara" up --demo "$@"
