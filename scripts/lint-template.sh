#!/usr/bin/env bash
# Check the SAM template and prove it builds:
#   1. cfn-lint template.yaml          (errors and warnings fail)
#   2. sam validate --lint             (SAM transform + cfn-lint; offline, no AWS credentials)
#   3. sam build                       (cargo lambda build --release of every function)
#   4. every function's .aws-sam/build/<Function>/bootstrap exists and is an ELF for the
#      template's architecture
#
# Usage: scripts/lint-template.sh [--no-build]
#   --no-build (or MUARA_LINT_NO_BUILD=1) stops after step 2.
# Tools come from scripts/tools.sh (run first; a no-op when already installed).
# A caller's CARGO_TARGET_DIR is honoured: cargo-lambda builds there and SAM copies from there,
# so a CI cache of the target directory is reused.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=1
for arg in "$@"; do
    case $arg in
        --no-build) build=0 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "lint-template: unknown argument: $arg" >&2; exit 2 ;;
    esac
done
[[ ${MUARA_LINT_NO_BUILD:-0} == 1 ]] && build=0

say() { printf 'lint-template: %s\n' "$*"; }
die() { printf 'lint-template: FAILED: %s\n' "$*" >&2; exit 1; }

"$root/scripts/tools.sh"
export MUARA_VENV=${MUARA_VENV:-$root/.venv}
export PATH="$MUARA_VENV/bin:$PATH"

# SAM: no telemetry, no prompts. A region is needed for the transform even offline.
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-ap-southeast-3}}

started=$SECONDS
cfn-lint --format parseable -- template.yaml || die "cfn-lint template.yaml"
say "cfn-lint clean ($((SECONDS - started))s)"

started=$SECONDS
sam validate --lint --template-file template.yaml || die "sam validate --lint"
say "sam validate --lint clean ($((SECONDS - started))s)"

[[ $build == 1 ]] || { say "sam build skipped (--no-build)"; exit 0; }

started=$SECONDS
sam build --template-file template.yaml </dev/null || die "sam build"
say "sam build done ($((SECONDS - started))s)"

# Every rust-cargolambda function of the template must have produced an ELF bootstrap for the
# declared architecture.
python - <<'EOF' || die "build artifacts"
import sys
from pathlib import Path
from cfnlint.decode import decode

template, errors = decode("template.yaml")
if errors:
    sys.exit(f"cannot read template.yaml: {errors}")
globals_fn = template.get("Globals", {}).get("Function", {})
machines = {"arm64": 0xB7, "x86_64": 0x3E}  # ELF e_machine: EM_AARCH64, EM_X86_64
found = 0
for name, res in template.get("Resources", {}).items():
    if res.get("Type") != "AWS::Serverless::Function":
        continue
    if res.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda":
        continue
    arch = (res.get("Properties", {}).get("Architectures") or globals_fn.get("Architectures") or ["x86_64"])[0]
    path = Path(".aws-sam/build") / name / "bootstrap"
    if not path.is_file():
        sys.exit(f"{path} is missing")
    head = path.read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        sys.exit(f"{path} is not an ELF executable")
    machine = int.from_bytes(head[18:20], "little")
    if machine != machines[arch]:
        sys.exit(f"{path} has ELF machine {machine:#x}, template says {arch}")
    print(f"lint-template: {path} ok ({arch}, {path.stat().st_size / 1e6:.1f} MB)")
    found += 1
if found == 0:
    sys.exit("no rust-cargolambda function in template.yaml")
EOF
