#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 and lets user postgres in without a
# password (trust), as the tests expect: starts the installed cluster, or installs Debian's
# postgresql first. Does nothing when DATABASE_URL points elsewhere and answers.
set -euo pipefail

url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
can_connect() { psql "$url" -Atqc 'select 1' >/dev/null 2>&1; }

if command -v psql >/dev/null 2>&1 && can_connect; then
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "ensure-postgres: PostgreSQL is not installed; installing Debian's postgresql" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi

ver="$(ls /etc/postgresql | sort -V | tail -n 1)"
hba="/etc/postgresql/$ver/main/pg_hba.conf"
if ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" 2>/dev/null; then
  # The tests connect as postgres over TCP without a password (as on the project's machines).
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
fi
as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || \
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload 2>/dev/null || true

for _ in $(seq 1 60); do
  if can_connect; then exit 0; fi
  sleep 1
done
echo "ensure-postgres: PostgreSQL does not answer at $url after 60 s; start it by hand (pg_ctlcluster $ver main start) and check $hba" >&2
exit 1
