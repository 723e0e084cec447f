#!/usr/bin/env bash
# Provides what `npm test` needs on a fresh Debian machine and says what it did:
# the openstack/nova clients, libvirt's virsh and schemas, xmllint, Debian's
# chromium (the dashboard's browser tests drive it headless), and a reachable
# PostgreSQL. Safe to run again: it only acts on what is missing.
set -euo pipefail
say() { echo "[test-deps] $*"; }

need_apt=()
command -v openstack >/dev/null || need_apt+=(python3-openstackclient)
command -v nova >/dev/null || need_apt+=(python3-novaclient)
command -v virsh >/dev/null || need_apt+=(libvirt-clients)
command -v xmllint >/dev/null || need_apt+=(libxml2-utils)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v pg_ctlcluster >/dev/null || command -v pg_isready >/dev/null || need_apt+=(postgresql)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" != 0 ]; then
    say "missing packages ${need_apt[*]}; run as root or install them with apt-get"; exit 1
  fi
  say "installing ${need_apt[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
else
  say "openstack, nova, virsh, xmllint and chromium are installed"
fi

PGHOST_ADDR=${VDPA_TEST_PG_HOST:-127.0.0.1}
if pg_isready -q -h "$PGHOST_ADDR" -p 5432 2>/dev/null; then
  say "PostgreSQL answers on $PGHOST_ADDR:5432"
else
  say "PostgreSQL is not answering on $PGHOST_ADDR:5432; starting it"
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    ver=$(ls /etc/postgresql | sort -V | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST_ADDR" -p 5432 && break; sleep 1; done
  pg_isready -q -h "$PGHOST_ADDR" -p 5432 || { say "PostgreSQL could not be started"; exit 1; }
  say "PostgreSQL started"
fi

# The tests connect as postgres@127.0.0.1 without a password (as this machine kind is set up);
# a freshly installed cluster asks for one, so allow local TCP connections from this host.
if ! psql -h "$PGHOST_ADDR" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$hba" ] && [ "$(id -u)" = 0 ]; then
    say "allowing trust auth for postgres on 127.0.0.1 in $hba"
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    ver=$(basename "$(dirname "$(dirname "$hba")")")
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
    sleep 1
  fi
  psql -h "$PGHOST_ADDR" -U postgres -d postgres -Atc 'select 1' >/dev/null || { say "cannot connect to PostgreSQL as postgres@$PGHOST_ADDR"; exit 1; }
fi
say "PostgreSQL accepts postgres@$PGHOST_ADDR"
