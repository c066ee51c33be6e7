#!/usr/bin/env bash
# The recording agent on one machine, three measurements:
#   1. Upload throughput: RECORDINGS recordings of about 1 MB (16-bit PCM WAV, 8 kHz mono,
#      62.5 s ± 5 %, with their XML in the default profile, over 4 day folders; made by
#      bench/agent/gen.py) sent to one local S3-compatible endpoint by
#        a. `muara agent once` (upload.concurrency = 8, default 16 MiB multipart threshold, so one
#           PutObject with x-amz-checksum-sha256 per .wav),
#        b. `rclone copy --transfers 8` (Debian's rclone, configured by RCLONE_CONFIG_BENCH_*),
#        c. `aws s3 cp --recursive` (Debian's awscli v2, s3.max_concurrent_requests = 8),
#      each into a fresh bucket, wall time taken around the command; UPLOAD_ROUNDS rounds
#      (default 3), each tool once a round in a rotated order, the median run reported (the
#      runs vary by ±30 % on this machine's 2 shared cores and disk). rclone and aws copy the
#      .wav and the .xml; the agent uploads the .wav and writes a JSON sidecar (the parsed
#      XML) beside it, plus one run report. "MB" is the source bytes (.wav + .xml, 10^6 bytes)
#      for all three; objects are counted in the bucket afterwards (the check column).
#   2. Rescan: SMALL pairs (2 × SMALL files of a few hundred bytes, over 10 day folders) into a
#      local lake ([target] local_dir, so uploading is cheap): the first `muara agent once`
#      publishes everything, the second finds nothing to do (a stat per file, a journal lookup
#      per pair) and is the figure that matters.
#   3. XML metadata parse rate, in memory, on the first XML_FILES .xml files of the rescan set:
#      muara_recordings::xml::parse with the default profile
#      (shared/recordings/examples/xml_rate.rs) against xml.etree.ElementTree + the same fields
#      in Python (bench/agent/xml_rate.py); best of 20 passes after a warm-up
#      (this machine's 2 shared cores vary by ±30 % from pass to pass, hence the best).
#
# The endpoint: s3s-fs (crates.io, `cargo install s3s-fs --features binary`), a Rust S3 server
# that keeps objects as plain files in a folder (tmp file + rename, no fsync). moto, which the
# tests use, is Python and would be the bottleneck. Pinned to 0.14.1: 0.15 and later need
# rustc 1.96. Checked against the agent: PutObject with x-amz-checksum-sha256 is verified
# (BadDigest on a mismatch) and stored, HeadObject with checksum mode returns it, a 404 HEAD
# reads as "absent". CreateMultipartUpload / UploadPart / Complete are accepted, but the completed
# object carries no composite checksum, so the agent's verify step rejects multipart uploads
# there ("the store reports no checksum"): irrelevant here, 1 MB files go as single PUTs.
# rclone and aws send no SHA-256 checksum (rclone by default sends Content-MD5 and HEADs each
# object after its PUT). The server shares the 2 cores with the client, and for the agent's
# PUTs it also hashes the body with SHA-256 to check the checksum header: part of the price.
# What the agent does per recording that the others don't: parse the XML and check the WAV
# header and duration, a SHA-256 of the file, HeadObject before (already there?) and after
# (verify) the PUT, a sidecar PutObject, and a journal commit (redb, fsync) per recording.
#
#   bench/agent/run.sh [RECORDINGS [SMALL [XML_FILES]]]     defaults 1000, 50000, 10000
#   UPLOAD_ROUNDS=1 bench/agent/run.sh 100 1000 1000          a quick check (under a minute)
#
# Table on stdout (tab-separated), progress on stderr. Tools it needs and installs when missing:
# rclone and awscli (apt-get), s3s-fs (cargo install into $MUARA_TOOLS, default
# ~/.cache/muara/tools). Uses the release build of muara in $CARGO_TARGET_DIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib.sh"
recordings=${1:-1000}
small=${2:-50000}
xml_files=${3:-10000}
rounds=${UPLOAD_ROUNDS:-3}
target=${CARGO_TARGET_DIR:-$root/target}
tools=${MUARA_TOOLS:-$HOME/.cache/muara/tools}
bench_workdir agent
note() { say "[${SECONDS}s] $*" >&2; }
now() { printf '%s' "$EPOCHREALTIME"; }

# --- tools ------------------------------------------------------------------------------------
apt_updated=0
ensure_deb() { # package path-of-its-binary
    [[ -x $2 ]] && return 0
    command -v apt-get >/dev/null 2>&1 || die "$2 is missing and there is no apt-get to install $1"
    note "installing $1 (apt-get)"
    if [[ $apt_updated == 0 ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >&2
    [[ -x $2 ]] || die "$1 installed but $2 is not there"
}
ensure_deb rclone /usr/bin/rclone
ensure_deb awscli /usr/bin/aws # Debian's v2; a pip-installed `aws` earlier on PATH may be v1
rclone=/usr/bin/rclone
aws=/usr/bin/aws
s3s=$tools/bin/s3s-fs
if [[ ! -x $s3s ]]; then
    note "installing s3s-fs 0.14.1 into $tools (cargo install, a few minutes)"
    cargo install -q s3s-fs --version 0.14.1 --features binary --locked --root "$tools" >&2
fi

note "building muara (release)"
(cd "$root" && cargo build --release -q -p muara && cargo build --release -q -p muara-recordings --example xml_rate) >&2
muara=$target/release/muara
xml_rate=$target/release/examples/xml_rate

# --- data -------------------------------------------------------------------------------------
note "generating $recordings recordings of about 1 MB and $small small ones"
python3 "$root/bench/agent/gen.py" "$work/big" "$recordings" 62.5 --days 4 >&2
python3 "$root/bench/agent/gen.py" "$work/small" "$small" 0.02 --days 10 --prefix S >&2
big_mb=$(find "$work/big" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1e6}')

# --- the endpoint -----------------------------------------------------------------------------
port=$(free_port)
endpoint=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=muara-bench AWS_SECRET_ACCESS_KEY=muara-bench-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$work/aws.config AWS_SHARED_CREDENTIALS_FILE=$work/aws.credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
printf '[default]\ns3 =\n  max_concurrent_requests = 8\n' >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
mkdir -p "$work/s3"
"$s3s" --host 127.0.0.1 --port "$port" --access-key "$AWS_ACCESS_KEY_ID" \
    --secret-key "$AWS_SECRET_ACCESS_KEY" "$work/s3" >"$work/s3s.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "$endpoint/" && break; sleep 0.2; done
s3() { "$aws" --endpoint-url "$endpoint" "$@"; }
# rclone 1.60's S3 backend fails on AWS_CA_BUNDLE ("unable to load custom CA bundle"); the
# endpoint is plain HTTP, so it is dropped for rclone only.
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_BENCH_ENDPOINT=$endpoint RCLONE_CONFIG_BENCH_REGION=us-east-1

agent_toml() { # file folder journal target-lines
    cat >"$1" <<EOF
host = "bench"
[source]
folders = ["$2"]
stable_secs = 0
[upload]
concurrency = 8
[run]
journal = "$3"
[target]
$4
EOF
}
counts() { # json file → "uploaded unchanged failed" ("? ? ?" when there is no report)
    python3 -c '
import json, sys
try:
    c = json.load(open(sys.argv[1]))["report"]["counts"]
    print(c["uploaded"], c["unchanged"], c["failed"])
except Exception:
    print("? ? ?")' "$1"
}
objects() { find "$work/s3/$1" -type f | wc -l; }
row() { # benchmark tool recordings files seconds mb check
    python3 - "$@" <<'PY'
import sys
bench, tool, recs, files, secs, mb, check = sys.argv[1:]
recs, files, secs = int(recs), int(files), float(secs)
mbs = f"{float(mb) / secs:.1f}" if mb != "-" else "-"
print(f"{bench}\t{tool}\t{recs}\t{files}\t{secs:.3f}\t{recs / secs:.0f}\t{files / secs:.0f}\t{mbs}\t{check}")
PY
}
upload_once() { # tool-key round expected-objects bucket command…
    local key=$1 round=$2 want=$3 bucket=$4; shift 4
    s3 s3api create-bucket --bucket "$bucket" >/dev/null
    sync
    note "upload, round $round: $key"
    local t0 t1 rc=0
    t0=$(now)
    "$@" >"$work/$bucket.out" 2>"$work/$bucket.err" || rc=$?
    t1=$(now)
    local got check=ok up failed
    got=$(objects "$bucket")
    [[ $rc == 0 ]] || { check="FAILED (exit $rc)"; tail -n 5 "$work/$bucket.err" >&2; }
    [[ $got == "$want" ]] || check="$check; $got objects, expected $want"
    if [[ $key == muara ]]; then
        read -r up _ failed < <(counts "$work/$bucket.out")
        [[ $up == "$recordings" && $failed == 0 ]] || check="$check; uploaded $up, failed $failed"
    fi
    printf '%s\t%s\t%s\n' "$(python3 -c "print($t1 - $t0)")" "$got" "$check" >>"$work/upload-$key.tsv"
    # Free the disk and let the next run start with no writeback pending.
    rm -rf "${work:?}/s3/$bucket"
    find "$work/s3" -maxdepth 1 -name ".bucket-$(printf %s "$bucket" | base64 | tr -d = | tr '+/' '-_').*" -delete
    sync
}
upload_run() { # tool-key round
    local b=bench-$1-$2
    case $1 in
    muara)
        agent_toml "$work/$b.toml" "$work/big" "$work/$b.journal" \
            "$(printf 'bucket = "%s"\nregion = "us-east-1"\nendpoint_url = "%s"' "$b" "$endpoint")"
        upload_once "$1" "$2" $((2 * recordings + 1)) "$b" "$muara" agent once --json --config "$work/$b.toml" ;;
    rclone)
        upload_once "$1" "$2" $((2 * recordings)) "$b" \
            env -u AWS_CA_BUNDLE "$rclone" copy -q --transfers 8 "$work/big" "bench:$b/recordings" ;;
    awscli)
        upload_once "$1" "$2" $((2 * recordings)) "$b" \
            "$aws" --endpoint-url "$endpoint" s3 cp --recursive --only-show-errors "$work/big" "s3://$b/recordings" ;;
    esac
}
upload_row() { # tool-key tool-label: the median run, every run's seconds in the check column
    python3 - "$work/upload-$1.tsv" "$2" "$recordings" "$big_mb" <<'PY'
import sys
path, tool, recs, mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
runs = [line.rstrip("\n").split("\t") for line in open(path)]
runs = [(float(s), int(n), c) for s, n, c in runs]
secs, objs, _ = sorted(runs)[len(runs) // 2]
bad = sorted({c for _, _, c in runs if c != "ok"})
check = ("ok" if not bad else "; ".join(bad)) + f" (runs: {', '.join(f'{s:.1f}' for s, _, _ in runs)} s)"
print(f"upload ~1 MB recordings, median of {len(runs)}\t{tool}\t{recs}\t{objs}\t{secs:.3f}"
      f"\t{recs / secs:.0f}\t{objs / secs:.0f}\t{mb / secs:.1f}\t{check}")
PY
}

printf 'benchmark\ttool\trecordings\tfiles/objects\tseconds\trecordings/s\tfiles/s\tMB/s\tcheck\n'

# --- 1. upload throughput: ROUNDS rounds, each tool once a round, the order rotated -------------
keys=(muara rclone awscli)
for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < 3; i++)); do upload_run "${keys[(r + i) % 3]}" $((r + 1)); done
done
upload_row muara "muara agent once (concurrency 8)"
upload_row rclone "rclone copy --transfers 8 ($("$rclone" version | awk 'NR==1 {print $2}'))"
upload_row awscli "aws s3 cp --recursive ($("$aws" --version | awk '{print $1}'), 8 requests)"

# --- 2. rescan of an unchanged folder ---------------------------------------------------------
agent_toml "$work/local.toml" "$work/small" "$work/local.journal" "local_dir = \"$work/lake\""
for pass in first second; do
    sync
    note "rescan: $pass run over $((2 * small)) files"
    t0=$(now)
    "$muara" agent once --json --config "$work/local.toml" >"$work/rescan-$pass.out" 2>"$work/rescan-$pass.err"
    t1=$(now)
    read -r up unchanged failed < <(counts "$work/rescan-$pass.out")
    if [[ $pass == first ]]; then
        check="uploaded $up, failed $failed"
        [[ $up == "$small" && $failed == 0 ]] && check="ok ($check)"
        what="first run: publish all to a local lake"
    else
        check="unchanged $unchanged, uploaded $up"
        [[ $unchanged == "$small" && $up == 0 ]] && check="ok ($check)"
        what="second run: nothing to do"
    fi
    row "rescan $((2 * small)) files" "muara agent once, $what" "$small" $((2 * small)) \
        "$(python3 -c "print($t1 - $t0)")" - "$check"
done

# --- 3. XML parse rate ------------------------------------------------------------------------
xml_row() { # tool json
    python3 - "$1" "$2" <<'PY'
import json, sys
tool, r = sys.argv[1], json.loads(sys.argv[2])
check = "ok" if r["errors"] == 0 else f"{r['errors']} documents failed"
print(f"XML parse, in memory\t{tool}\t{r['files']}\t{r['files']}\t{r['best_pass_seconds']:.3f}"
      f"\t{r['files_per_second']:.0f}\t{r['files_per_second']:.0f}\t{r['mb_per_second']:.1f}\t{check}")
PY
}
note "XML parse rate over $xml_files files"
xml_row "muara_recordings::xml::parse (release)" "$("$xml_rate" "$work/small" "$xml_files" 20)"
xml_row "python3 ElementTree ($(python3 -c 'import platform; print(platform.python_version())'))" \
    "$(python3 "$root/bench/agent/xml_rate.py" "$work/small" "$xml_files" 20)"
