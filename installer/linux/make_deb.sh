#!/usr/bin/env bash
# Wrap a frozen dentsend folder (PyInstaller's dist/dentsend) into a Debian package.
#
#   installer/linux/make_deb.sh DIST_FOLDER OUT_DIR
#
# Layout of the package:
#   /opt/dentsend/                         the one-folder app, unchanged
#   /usr/bin/dentsend -> /opt/dentsend/dentsend
#   /usr/share/applications/org.dentsend.dentsend.desktop
#   /usr/share/metainfo/org.dentsend.dentsend.metainfo.xml
#   /usr/share/icons/hicolor/{16..512}x*/apps/org.dentsend.dentsend.png, scalable/…svg
#   /usr/share/doc/dentsend/copyright
# No maintainer scripts: desktop-file-utils, shared-mime-info and hicolor-icon-theme refresh their
# caches through dpkg triggers when files land in those folders.
#
# Depends is worked out from the folder itself: every shared library its ELF files need that the
# folder does not carry is looked up with dpkg -S (so build on the oldest Debian/Ubuntu you
# support), and libc6 gets the newest GLIBC symbol version any of them uses.
#
# Environment: DEB_COMPRESSION (xz, the default, or gzip/zstd/none), DENTSEND_MAINTAINER.
# Prints the path of the .deb on its last line.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 DIST_FOLDER OUT_DIR" >&2
    exit 2
fi
dist=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
app_id=org.dentsend.dentsend

[[ -x "$dist/dentsend" ]] || { echo "make_deb: $dist/dentsend is not an executable" >&2; exit 1; }

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/src/dentsend/__init__.py")
[[ -n "$version" ]] || { echo "make_deb: no __version__ in src/dentsend/__init__.py" >&2; exit 1; }
# PEP 440 pre-releases sort before the release in Debian only with a tilde: 1.2.0rc1 -> 1.2.0~rc1
deb_version=$(printf '%s' "$version" | sed -E 's/(a|b|rc|\.dev)([0-9]+)$/~\1\2/')
arch=$(dpkg --print-architecture)
maintainer=${DENTSEND_MAINTAINER:-dentsend contributors <release@dentsend.org>}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# --- the tree ----------------------------------------------------------------------------------
mkdir -p "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
    "$stage/usr/share/metainfo" "$stage/usr/share/doc/dentsend" "$stage/DEBIAN"
cp -a "$dist" "$stage/opt/dentsend"
ln -s /opt/dentsend/dentsend "$stage/usr/bin/dentsend"
install -m 0644 "$here/$app_id.desktop" "$stage/usr/share/applications/$app_id.desktop"
install -m 0644 "$here/$app_id.metainfo.xml" "$stage/usr/share/metainfo/$app_id.metainfo.xml"
install -m 0644 "$here/copyright" "$stage/usr/share/doc/dentsend/copyright"
for size in 16 24 32 48 64 128 256 512; do
    install -D -m 0644 "$repo/resources/icons/dentsend-$size.png" \
        "$stage/usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png"
done
install -D -m 0644 "$repo/resources/icons/dentsend.svg" \
    "$stage/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
# Files as dpkg expects them: nothing group- or world-writable, executables stay executable.
chmod -R u+rwX,go+rX,go-w "$stage"

if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$stage/usr/share/applications/$app_id.desktop"
fi

# --- Depends -----------------------------------------------------------------------------------
is_elf() { [[ -f "$1" && ! -L "$1" ]] && [[ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" == '177ELF' ]]; }
mapfile -t elves < <(find "$stage/opt/dentsend" -type f | while read -r f; do is_elf "$f" && echo "$f"; done)
bundled=$(find "$stage/opt/dentsend" \( -type f -o -type l \) -printf '%f\n' | sort -u)
needed=""
glibc="2.17"
if [[ ${#elves[@]} -gt 0 ]]; then
    needed=$(printf '%s\0' "${elves[@]}" | xargs -0 objdump -p 2>/dev/null | awk '/NEEDED/ {print $2}' | sort -u)
    newest=$(printf '%s\0' "${elves[@]}" | xargs -0 objdump -T 2>/dev/null \
        | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1 || true)
    glibc=${newest:-$glibc}
fi
packages=()
missing=()
for soname in $(comm -23 <(printf '%s\n' "$needed" | sed '/^$/d') <(printf '%s\n' "$bundled")); do
    path=$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64|AArch64|64bit/ {print $NF; exit}')
    [[ -n "$path" ]] || path=$(ldconfig -p | awk -v s="$soname" '$1 == s {print $NF; exit}')
    if [[ -z "$path" ]]; then
        missing+=("$soname")
        continue
    fi
    package=""
    # merged-/usr systems register a library under /lib or /usr/lib: try both spellings
    for candidate in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr${path}"; do
        package=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1) && [[ -n "$package" ]] && break
    done
    if [[ -z "$package" ]]; then
        missing+=("$soname")
    elif [[ "$package" != "libc6" ]]; then
        packages+=("$package")
    fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "make_deb: no installed package provides: ${missing[*]} (install them and build again)" >&2
    exit 1
fi
depends="libc6 (>= $glibc), fontconfig"
if [[ ${#packages[@]} -gt 0 ]]; then
    depends+=", $(printf '%s\n' "${packages[@]}" | sort -u | paste -sd, | sed 's/,/, /g')"
fi

installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: dentsend
Version: $deb_version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: $depends
Recommends: xdg-utils, fonts-dejavu-core | fonts-liberation2, gnome-keyring | kwalletmanager
Section: science
Priority: optional
Description: send dental radiographs de-identified and encrypted
 dentsend lets a dentist send radiographs (DICOM, JPEG, PNG, TIFF, BMP) to another doctor:
 de-identified (or not, for a named referral) and encrypted, either as OpenPGP or as a
 password-protected web page the recipient opens offline in any browser.
EOF

deb="$out/dentsend_${deb_version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$stage" "$deb" >/dev/null
echo "$deb"
