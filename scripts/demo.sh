#!/usr/bin/env bash
# The quick-start demo: livesim serves 7 days of call-backs for 3 domains; cbarchive migrates a
# fresh local database, syncs everything, prints its status and answers one analyst question.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-postgres.sh

admin="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
db=cbarchive_demo
port="${LIVESIM_PORT:-18080}"
demo_url="$(printf '%s' "$admin" | sed -E "s#/[^/?]*(\?|$)#/$db\1#")"

PGOPTIONS=--client-min-messages=warning psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
psql "$admin" -qc "CREATE DATABASE $db" >/dev/null

export VOLC_ACCESSKEY=AKLTDEMO VOLC_SECRETKEY=demo-secret-not-real
mkdir -p .demo
./bin/livesim --listen "127.0.0.1:$port" --seed 42 --num-domains 3 --records-per-day 2000 --days-back 7 \
  >.demo/livesim.log 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

export DATABASE_URL="$demo_url" CBARCHIVE_ENDPOINT="http://127.0.0.1:$port"
echo "== cbarchive migrate up"
./bin/cbarchive migrate up
echo "== cbarchive sync (7 days, 3 domains; logs in .demo/sync.log)"
./bin/cbarchive sync --initial-lookback 7d --log-format json 2>.demo/sync.log || { tail -n 20 .demo/sync.log; exit 1; }
grep '"run finished' .demo/sync.log | tail -n 1
echo "== cbarchive status"
./bin/cbarchive status
echo "== failure rate by domain, last 7 days"
psql "$demo_url" -P pager=off -c "
  SELECT domain,
         count(*)                                              AS callbacks,
         count(*) FILTER (WHERE status = 'fail')               AS failed,
         round(100.0 * count(*) FILTER (WHERE status = 'fail') / count(*), 2) AS failure_pct,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms
  FROM callback_records
  WHERE callback_time > now() - interval '7 days'
  GROUP BY domain ORDER BY domain;"
echo "The archive is in $demo_url — try: psql '$demo_url'"
