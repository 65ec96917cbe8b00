#!/usr/bin/env bash
# Build dentsend for Linux: PyInstaller one-folder app, then a .deb around it.
#
#   installer/build_linux.sh [PYTHON]        PYTHON: the build environment's interpreter
#                                            (default: .venv/bin/python, else python3)
# Results: dist/dentsend/ (the folder), dist/dentsend_<version>_<arch>.deb and its .sha256.
# build/ holds PyInstaller's work files. Both are ignored by git; DENTSEND_DIST_DIR and
# DENTSEND_WORK_DIR put them elsewhere.
#
# Needs: pip install -e '.[build]' in that environment; binutils (objdump, strip); on Debian also
# the X libraries Qt's xcb plugin links (libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
# libxkbcommon-x11-0), which get bundled. Build on the oldest distribution you want to support:
# the folder needs at least the glibc it was built with.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
python=${1:-}
if [[ -z "$python" ]]; then
    if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi

if ! "$python" -m PyInstaller --version >/dev/null 2>&1; then
    echo "build_linux: PyInstaller is missing; run: $python -m pip install -e '.[build]'" >&2
    exit 1
fi
"$python" installer/make_icons.py --check

dist=${DENTSEND_DIST_DIR:-dist}
work=${DENTSEND_WORK_DIR:-build}
start=$(date +%s)
log=$work/pyinstaller.log
mkdir -p "$work"
"$python" -m PyInstaller installer/dentsend.spec --noconfirm --clean \
    --distpath "$dist" --workpath "$work" > "$log" 2>&1 || { tail -n 40 "$log" >&2; exit 1; }
if grep -q "Library not found" "$log"; then
    echo "build_linux: libraries the app needs are not installed on this machine:" >&2
    grep "Library not found" "$log" | sed -E "s/.*resolve '([^']+)'.*/  \1/" | sort -u >&2
    exit 1
fi
echo "build_linux: folder built in $(( $(date +%s) - start )) s: $(du -sh "$dist/dentsend" | cut -f1)"
"$dist/dentsend/dentsend" --version
QT_QPA_PLATFORM=offscreen "$dist/dentsend/dentsend" --self-test

deb=$(installer/linux/make_deb.sh "$dist/dentsend" "$dist" | tail -n 1)
(cd "$(dirname "$deb")" && sha256sum "$(basename "$deb")" > "$(basename "$deb").sha256")
echo "build_linux: $deb ($(du -h "$deb" | cut -f1)) in $(( $(date +%s) - start )) s"
