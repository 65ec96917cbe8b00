#!/usr/bin/env bash
# Build dentsend.app and a DMG on a Mac; sign, notarize and staple them when credentials are set.
#
#   installer/macos/build_macos.sh [PYTHON]      (default: .venv/bin/python)
#
# Environment (both optional; without them the result is ad-hoc signed and only runs on this Mac
# or after the user right-clicks > Open):
#   DENTSEND_CODESIGN_IDENTITY  "Developer ID Application: Example Practice Software (TEAMID1234)"
#                               (security find-identity -v -p codesigning lists yours)
#   DENTSEND_NOTARY_PROFILE     a notarytool keychain profile, created once with:
#                               xcrun notarytool store-credentials dentsend-notary \
#                                   --apple-id you@example.org --team-id TEAMID1234
#                               (it asks for an app-specific password from appleid.apple.com)
# Results: dist/dentsend.app, dist/dentsend-<version>-macos-<arch>.dmg and its .sha256.
#
# The app is built for the machine's architecture (arm64 on Apple silicon, x86_64 on Intel):
# numpy and other wheels are not universal2, so build once on each kind of Mac.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
python=${1:-.venv/bin/python}
identity=${DENTSEND_CODESIGN_IDENTITY:-}
profile=${DENTSEND_NOTARY_PROFILE:-}
entitlements=installer/macos/entitlements.plist
version=$("$python" -c 'import sys; sys.path.insert(0, "installer"); import frozen_layout; print(frozen_layout.app_version())')
arch=$(uname -m)
app=dist/dentsend.app
dmg=dist/dentsend-$version-macos-$arch.dmg

"$python" installer/make_icons.py --check

# 1. Build. With DENTSEND_CODESIGN_IDENTITY set, PyInstaller signs every binary in the bundle with
#    it, the hardened runtime (--options runtime), a secure timestamp and the entitlements.
"$python" -m PyInstaller installer/dentsend.spec --noconfirm --clean --distpath dist --workpath build

# 2. Smoke test the bundle before anything leaves this machine.
"$app/Contents/MacOS/dentsend" --version
QT_QPA_PLATFORM=offscreen "$app/Contents/MacOS/dentsend" --self-test

if [[ -n "$identity" ]]; then
    # 3. Seal the bundle itself (PyInstaller signed its contents; re-signing the outer bundle
    #    with the same options is the documented, idempotent last step).
    codesign --force --options runtime --timestamp --entitlements "$entitlements" \
        --sign "$identity" "$app"
    codesign --verify --deep --strict --verbose=2 "$app"

    # 4. Notarize the app and staple the ticket to it, so it opens offline on first launch.
    if [[ -n "$profile" ]]; then
        ditto -c -k --keepParent "$app" dist/dentsend-notarize.zip
        xcrun notarytool submit dist/dentsend-notarize.zip --keychain-profile "$profile" --wait
        rm dist/dentsend-notarize.zip
        xcrun stapler staple "$app"
        xcrun stapler validate "$app"
        spctl --assess --type execute --verbose=4 "$app"
    fi
fi

# 5. The DMG: the app and a link to /Applications to drag it onto.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ditto "$app" "$stage/dentsend.app"
ln -s /Applications "$stage/Applications"
rm -f "$dmg"
hdiutil create -volname "dentsend $version" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg"

if [[ -n "$identity" ]]; then
    # 6. Sign, notarize and staple the DMG too: Gatekeeper checks the download itself first.
    codesign --force --timestamp --sign "$identity" "$dmg"
    if [[ -n "$profile" ]]; then
        xcrun notarytool submit "$dmg" --keychain-profile "$profile" --wait
        xcrun stapler staple "$dmg"
        xcrun stapler validate "$dmg"
        spctl --assess --type open --context context:primary-signature --verbose=4 "$dmg"
    fi
fi

(cd dist && shasum -a 256 "$(basename "$dmg")" > "$(basename "$dmg").sha256")
echo "build_macos: $dmg"
