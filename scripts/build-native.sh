#!/usr/bin/env bash
# Builds our libvirt addon (native/ -> native/build/Release/vdpa_libvirt.node)
# against Debian's libvirt-dev. The addon is optional at runtime, so this is
# not an npm install script; it says what it did and fails only when it tried
# to build and could not.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[build-native] $*"; }
out=native/build/Release/vdpa_libvirt.node

if ! command -v pkg-config >/dev/null || ! pkg-config --exists libvirt; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "libvirt-dev or pkg-config is missing; installing them with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends libvirt-dev pkg-config >/dev/null
  else
    say "libvirt-dev is not installed (pkg-config libvirt); not building the addon"
    exit 1
  fi
fi

# Skip the rebuild when the addon is newer than its sources.
if [ -f "$out" ] && [ -z "$(find native/src native/binding.gyp -newer "$out" 2>/dev/null)" ]; then
  say "addon is up to date ($out, libvirt $(pkg-config --modversion libvirt))"
  exit 0
fi
say "building the addon against libvirt $(pkg-config --modversion libvirt) with node-gyp"
t0=$(date +%s)
npx --no-install node-gyp rebuild --directory native --loglevel=warn >/dev/null
say "built $out in $(( $(date +%s) - t0 )) s"
