# Shared by scripts/test.sh and scripts/up.sh (sourced, not run).

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        die "need root to run: $* (no sudo found)"
    fi
}

have_postgres() {
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# PostgreSQL server binaries (initdb, pg_ctl) for the throwaway clusters; installed from the
# system's packages when missing. Skipped when DATABASE_URL names an existing database.
ensure_postgres() {
    [[ -n ${DATABASE_URL:-} ]] && { say "PostgreSQL: using DATABASE_URL"; return 0; }
    if have_postgres; then say "PostgreSQL server binaries: present"; return 0; fi
    if command -v apt-get >/dev/null 2>&1; then
        say "PostgreSQL server binaries: installing the postgresql package"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        as_root dnf install -y postgresql-server
    elif command -v brew >/dev/null 2>&1; then
        brew install postgresql
    fi
    have_postgres || die "PostgreSQL server binaries (initdb, pg_ctl) are missing and could not be installed; install PostgreSQL or set DATABASE_URL"
}

# Headless Chromium and ChromeDriver for the console's browser test; installed from the
# system's packages when missing (MUARA_CHROMIUM / MUARA_CHROMEDRIVER point at others).
ensure_chromium() {
    local driver=${MUARA_CHROMEDRIVER:-chromedriver} browser=${MUARA_CHROMIUM:-chromium}
    if command -v "$driver" >/dev/null 2>&1 && command -v "$browser" >/dev/null 2>&1; then
        say "Chromium and ChromeDriver: present"; export_chromium; return 0
    fi
    if command -v apt-get >/dev/null 2>&1; then
        say "Chromium and ChromeDriver: installing the chromium and chromium-driver packages"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        as_root dnf install -y chromium chromedriver
    elif command -v brew >/dev/null 2>&1; then
        brew install --cask chromium chromedriver
    fi
    command -v "$driver" >/dev/null 2>&1 && command -v "$browser" >/dev/null 2>&1 \
        || die "Chromium and ChromeDriver are missing and could not be installed (the console's browser test needs them)"
    export_chromium
}

# Tells the browser test where the ones found on PATH are.
export_chromium() {
    MUARA_CHROMEDRIVER=$(command -v "${MUARA_CHROMEDRIVER:-chromedriver}")
    MUARA_CHROMIUM=$(command -v "${MUARA_CHROMIUM:-chromium}")
    export MUARA_CHROMEDRIVER MUARA_CHROMIUM
}

ensure_rust() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust from https://rustup.rs"
}

# Benchmarks: a scratch folder $work under /var/tmp (traversable by the postgres user), the
# background processes listed in $pids stopped and the folder removed on exit.
bench_workdir() {
    work=$(mktemp -d "/var/tmp/muara-bench-$1.XXXXXX")
    chmod 755 "$work"
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
