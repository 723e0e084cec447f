#!/usr/bin/env bash
# Provides a real libvirtd (qemu:///system) for the libvirt driver tests and
# builds our libvirt addon. No systemd here, so virtlogd and libvirtd are
# started in the background. Safe to run again: it only acts on what is
# missing, and says what it did. Exits non-zero when it cannot provide the
# daemon, because the libvirt tests must fail rather than be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[libvirtd] $*"; }
started=$(date +%s)
URI=qemu:///system

answers() { timeout 10 virsh -c "$URI" version >/dev/null 2>&1; }

need_apt=()
command -v libvirtd >/dev/null || need_apt+=(libvirt-daemon)
[ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] \
  || ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so >/dev/null 2>&1 \
  || need_apt+=(libvirt-daemon-driver-qemu)
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
command -v virsh >/dev/null || need_apt+=(libvirt-clients)
# qemu-img: the libvirt agent makes each instance's disk (an overlay) and flattens snapshots with it.
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
pkg-config --exists libvirt 2>/dev/null || need_apt+=(libvirt-dev)

if ((${#need_apt[@]})); then
  if [ "$(id -u)" != 0 ]; then
    say "FAILED: missing ${need_apt[*]}; run as root or install them with apt-get"; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  say "apt-get update"
  apt-get update -qq
  # Only install what this Debian actually offers (libvirt-daemon-driver-qemu is
  # a separate package on bookworm, part of libvirt-daemon on older releases).
  available=()
  for p in "${need_apt[@]}"; do
    if [[ "$(apt-cache policy "$p" 2>/dev/null)" == *"Candidate: "[0-9]* ]]; then available+=("$p"); else say "no Debian package $p here; skipping it"; fi
  done
  ((${#available[@]})) || { say "FAILED: none of ${need_apt[*]} is available from apt"; exit 1; }
  say "installing ${available[*]} (--no-install-recommends)"
  apt-get install -y -qq --no-install-recommends "${available[@]}" >/dev/null
else
  say "libvirtd, the QEMU driver, qemu-system-x86_64, virsh and libvirt-dev are installed"
fi

# libvirtd refuses to start without the user and group its QEMU driver runs
# guests as (Debian builds it for libvirt-qemu:libvirt-qemu; the
# libvirt-daemon-system package would create them, and it needs systemd).
for g in kvm libvirt-qemu; do
  getent group "$g" >/dev/null || { groupadd --system "$g"; say "created system group $g"; }
done
if ! getent passwd libvirt-qemu >/dev/null; then
  useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin -g kvm -G libvirt-qemu libvirt-qemu
  say "created system user libvirt-qemu (groups kvm, libvirt-qemu)"
fi

# Without udev, /dev/kvm stays root-only. libvirt then finds KVM at its QEMU
# probe (as root) but not for the guest user, so it judges its capabilities
# cache stale at every call and re-probes QEMU: ~50 s per define. Give
# /dev/kvm the owner and mode Debian's udev rules give it.
if [ -e /dev/kvm ] && [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ] && [ "$(id -u)" = 0 ]; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  say "gave /dev/kvm group kvm, mode 0660 (as Debian's udev rules do)"
fi

if answers; then
  say "libvirtd already answers on $URI"
else
  [ "$(id -u)" = 0 ] || { say "FAILED: libvirtd does not answer on $URI and starting it needs root"; exit 1; }
  mkdir -p /var/log/libvirt /run/libvirt
  if ! pgrep -x virtlogd >/dev/null; then
    setsid virtlogd </dev/null >>/var/log/libvirt/virtlogd-ci.log 2>&1 &
    say "started virtlogd (log /var/log/libvirt/virtlogd-ci.log)"
  fi
  if ! pgrep -x libvirtd >/dev/null; then
    setsid libvirtd </dev/null >>/var/log/libvirt/libvirtd-ci.log 2>&1 &
    say "started libvirtd (log /var/log/libvirt/libvirtd-ci.log)"
  fi
  for _ in $(seq 1 60); do answers && break; sleep 0.5; done
  if ! answers; then
    say "FAILED: libvirtd does not answer on $URI after 30 s; last log lines:"
    tail -n 20 /var/log/libvirt/libvirtd-ci.log || true
    exit 1
  fi
  say "libvirtd answers on $URI"
fi

bash scripts/build-native.sh
say "done in $(( $(date +%s) - started )) s"
