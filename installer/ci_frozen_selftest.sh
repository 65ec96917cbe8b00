#!/usr/bin/env bash
# CI: build the Linux one-folder app with PyInstaller and prove the frozen build works.
#
#   installer/ci_frozen_selftest.sh [PYTHON] [--deb]
#       PYTHON  the venv interpreter (default .venv/bin/python); PyInstaller is installed into it
#               from the project's "build" extra if missing
#       --deb   also build the .deb (gzip, for speed) and run dentsend from its extracted tree
#
# Checks, each fatal: no library the app needs is missing at build time; the folder is at most
# 250 MiB; every file under resources/ is in the bundle, byte for byte; --version; the packaging
# probe (decoder plugins, keyring backends, Qt plugins, crypto, word lists); `inspect` and
# `preview` of JPEG 2000, JPEG-LS, 12-bit JPEG, lossless JPEG, RLE and plain JPEG files, with
# previews byte-identical to the unfrozen app's; `dentsend --self-test` offscreen (once the app has
# one). Printed: build time, size, and the start-to-window time (target 1.5 s).
# Work files go to $DENTSEND_FROZEN_DIR (default /tmp/dentsend-frozen), never into the checkout.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
python=.venv/bin/python
build_deb=0
for argument in "$@"; do
    case "$argument" in
        --deb) build_deb=1 ;;
        *) python=$argument ;;
    esac
done
work=${DENTSEND_FROZEN_DIR:-/tmp/dentsend-frozen}
app=$work/dist/dentsend
max_bytes=$(( 250 * 1024 * 1024 ))
target_ms=1500
fail() { echo "frozen: FAIL: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The frozen app must not see the test suite's settings: its own home, no test keyring backend.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for dir in data config cache state Documents; do mkdir -p "$scratch/home/$dir"; done
run_frozen() {
    env -u PYTHON_KEYRING_BACKEND -u DENTSEND_TEST_KEYRING -u PYTHONPATH \
        HOME="$scratch/home" XDG_DATA_HOME="$scratch/home/data" XDG_CONFIG_HOME="$scratch/home/config" \
        XDG_CACHE_HOME="$scratch/home/cache" XDG_STATE_HOME="$scratch/home/state" \
        XDG_DOCUMENTS_DIR="$scratch/home/Documents" QT_QPA_PLATFORM=offscreen "$@"
}

# --- build ---------------------------------------------------------------------------------------
if ! "$python" -m PyInstaller --version >/dev/null 2>&1; then
    "$python" -m pip install -q -e '.[build]'
fi
start=$(now_ms)
mkdir -p "$work"
DENTSEND_FREEZE_PROBE=1 "$python" -m PyInstaller installer/dentsend.spec --noconfirm --clean \
    --distpath "$work/dist" --workpath "$work/build" > "$work/pyinstaller.log" 2>&1 \
    || { tail -n 40 "$work/pyinstaller.log" >&2; fail "PyInstaller failed"; }
echo "frozen: built in $(( ($(now_ms) - start) / 1000 )) s"
if grep -q "Library not found" "$work/pyinstaller.log"; then
    grep "Library not found" "$work/pyinstaller.log" | sed -E "s/.*resolve '([^']+)'.*/  \1/" | sort -u >&2
    fail "libraries the frozen app needs are not installed on the build machine (above)"
fi

# --- size and contents ---------------------------------------------------------------------------
# The probe is a CI-only extra (a 7 MB launcher); the size that counts is the release folder's.
bytes=$(du -sb --exclude=dentsend-probe "$app" | cut -f1)
echo "frozen: size $(( bytes / 1024 / 1024 )) MiB ($(( bytes / 1000000 )) MB) without the probe, $(find "$app" -type f | wc -l) files"
(( bytes <= max_bytes )) || fail "the folder is larger than 250 MiB"
while IFS= read -r -d '' file; do
    relative=${file#resources/}
    cmp -s "$file" "$app/_internal/resources/$relative" || fail "resources/$relative is not in the bundle"
done < <(find resources -type f ! -path '*/.*' ! -path '*/__pycache__/*' -print0)
echo "frozen: all $(find resources -type f ! -path '*/.*' ! -path '*/__pycache__/*' | wc -l) resource files bundled"

expected="dentsend $("$python" -c 'import sys; sys.path.insert(0, "installer"); import frozen_layout; print(frozen_layout.app_version())')"
actual=$(run_frozen "$app/dentsend" --version)
[[ "$actual" == "$expected" ]] || fail "--version printed '$actual', expected '$expected'"
echo "frozen: $actual"

# --- packaging probe -----------------------------------------------------------------------------
run_frozen "$app/dentsend-probe" > "$scratch/probe.jsonl" || { cat "$scratch/probe.jsonl" >&2; fail "packaging probe"; }
cut -c1-160 "$scratch/probe.jsonl" | sed 's/^/frozen: probe /'

# --- the command line on real files ----------------------------------------------------------------
mapfile -t samples < <("$python" - <<'EOF'
from pathlib import Path
from pydicom.data import get_testdata_file
names = ["JPEG2000.dcm", "JPEGLSNearLossless_16.dcm", "MR_small_jpeg_ls_lossless.dcm",
         "JPEG-lossy.dcm", "MR_small_RLE.dcm", "SC_rgb_jpeg_gdcm.dcm"]
for name in names:
    print(get_testdata_file(name, download=False))
try:  # pydicom-data (the test extra): lossless JPEG process 14 and a real radiograph
    for name in ["JPEG-LL.dcm", "RG1_UNCI.dcm"]:
        found = get_testdata_file(name, download=False)
        if found:
            print(found)
except Exception:
    pass
for path in sorted(Path("tests/data/fixtures").glob("*")):
    if path.suffix.lower() in {".jpg", ".dcm", ".png"}:
        print(path)
EOF
)
for sample in "${samples[@]}"; do
    name=$(basename "$sample")
    syntax=$(run_frozen "$app/dentsend" inspect "$sample" \
        | "$python" -c 'import json, sys; print(json.loads(sys.stdin.read())["transfer_syntax"])') \
        || fail "inspect $name"
    t0=$(now_ms)
    run_frozen "$app/dentsend" preview "$sample" -o "$scratch/frozen-$name.png" || fail "preview $name"
    t1=$(now_ms)
    "$python" -m dentsend preview "$sample" -o "$scratch/source-$name.png"
    cmp -s "$scratch/frozen-$name.png" "$scratch/source-$name.png" \
        || fail "preview of $name differs between the frozen and the unfrozen app"
    echo "frozen: $name ($syntax): inspect ok, preview identical, $(( t1 - t0 )) ms"
done
run_frozen "$app/dentsend" inspect "$scratch/missing.dcm" 2> "$scratch/err.txt" && fail "inspect of a missing file succeeded"
grep -q "^dentsend: missing.dcm" "$scratch/err.txt" || fail "no one-line error for a missing file: $(cat "$scratch/err.txt")"

# --- self-test and start-to-window -------------------------------------------------------------------
if [[ -f src/dentsend/selftest.py ]]; then
    t0=$(now_ms)
    run_frozen env DENTSEND_SELFTEST_TRACEBACK=1 "$app/dentsend" --self-test || fail "dentsend --self-test"
    echo "frozen: dentsend --self-test passed in $(( $(now_ms) - t0 )) ms"
else
    echo "frozen: (no src/dentsend/selftest.py yet: --self-test skipped)"
fi

timings=()
if grep -rqs DENTSEND_EXIT_AFTER_SHOW src/dentsend/gui; then
    # The app prints "dentsend: window shown 0.84 s after process start" at its first paint,
    # measured from the kernel's process start time, and quits.
    what="dentsend main window, first paint (DENTSEND_EXIT_AFTER_SHOW=1)"
    for _ in 1 2 3; do
        shown=$(run_frozen env DENTSEND_EXIT_AFTER_SHOW=1 "$app/dentsend" 2>> "$scratch/app-stderr.txt") \
            || { cat "$scratch/app-stderr.txt" >&2; fail "the app did not start"; }
        seconds=$(printf '%s\n' "$shown" | sed -n 's/^dentsend: window shown \([0-9.]*\) s after.*/\1/p')
        [[ -n "$seconds" ]] || fail "the app did not report its start-up time: $shown"
        timings+=("$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 1000 }')")
    done
else
    what="bare Qt window from the frozen folder, wall clock (the app has no DENTSEND_EXIT_AFTER_SHOW hook yet)"
    for _ in 1 2 3; do
        t0=$(now_ms)
        run_frozen "$app/dentsend-probe" --window > /dev/null || fail "no Qt window"
        timings+=($(( $(now_ms) - t0 )))
    done
fi
median=$(printf '%s\n' "${timings[@]}" | sort -n | sed -n 2p)
echo "frozen: start-to-window ${median} ms (median of ${timings[*]} ms): $what; target ${target_ms} ms"
(( median <= target_ms )) || echo "frozen: WARNING: start-to-window is over the ${target_ms} ms target"

# --- optional: the .deb ------------------------------------------------------------------------------
if (( build_deb )); then
    t0=$(now_ms)
    deb=$(DEB_COMPRESSION=gzip installer/linux/make_deb.sh "$app" "$work" | tail -n 1)
    dpkg-deb -x "$deb" "$scratch/root"
    run_frozen "$scratch/root/opt/dentsend/dentsend" --version > /dev/null || fail "dentsend from the .deb"
    run_frozen "$scratch/root/opt/dentsend/dentsend" inspect "${samples[0]}" > /dev/null || fail "inspect from the .deb"
    echo "frozen: $(basename "$deb") $(du -h "$deb" | cut -f1) built and run in $(( ($(now_ms) - t0) / 1000 )) s"
fi
echo "frozen: all checks passed"
