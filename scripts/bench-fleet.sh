#!/usr/bin/env bash
# bench-fleet.sh — one release to many PostgreSQL tenants (issue 13, item 8), on the local server:
#   (a) a pass over 1,000 up-to-date tenants (a schema each) with `import --fleet --parallel 16`:
#       target at most 30 s;
#   (b) 200 tenants upgraded by 10 migrations each: `import --fleet --parallel 8` against a shell
#       loop of single imports (200 other tenants at the same release), side by side, RUNS times
#       (3) on tenants of their own, alternating which goes first: target, the median speed-up at
#       least 4x. The machine's CPU time per tenant (every process, the server's too) is shown,
#       and the ceiling it sets: a fleet that keeps every core busy cannot beat it;
#   (c) peak RSS of the fleet run over 1,000 targets: target under 200 MB.
#
# Usage: scripts/bench-fleet.sh     (MIGRATE to use a binary; TENANTS=1000, UPGRADED=200, RUNS=3,
#        PGURL=postgres://postgres@127.0.0.1:5432 to change them)
# Needs: git, psql, /usr/bin/time. Prints a markdown table; exits 1 when a target is missed.
# Creates and drops the database `migrate_bench_fleet`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
TENANTS=${TENANTS:-1000}
UPGRADED=${UPGRADED:-200}
RUNS=${RUNS:-3}
# Each run of (b) upgrades tenants of its own: UPGRADED for the fleet, UPGRADED for the loop.
SCHEMAS=$(( TENANTS > RUNS * 2 * UPGRADED ? TENANTS : RUNS * 2 * UPGRADED ))
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=migrate_bench_fleet
if [[ -z "${MIGRATE:-}" ]]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  MIGRATE="$root/target/release/migrate"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/migrate-bench-fleet.XXXXXX")
cleanup() {
  psql -X -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=b@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=b@example.com GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
unset MIGRATE_DATABASE_URL

# The project: release 1 creates `accounts` with rows; release 2 adds ten migrations of the
# kinds a module release has (columns, an index, a table, a data fix).
repo="$work/repo"
mkdir -p "$repo/migrations"
git -C "$repo" init -q -b main
printf 'version: 1\nproject: bench-fleet\ndialects: [postgres]\nenvironments: [prod]\n' > "$repo/migrate.yaml"
printf 'CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);\nINSERT INTO accounts SELECT g, %s FROM generate_series(1, 100) g;\n' "'account ' || g" \
  > "$repo/migrations/0001_accounts.sql"
git -C "$repo" add -A && git -C "$repo" commit -q -m one
"$MIGRATE" export --repo "$repo" -o "$work/r1.tar" >/dev/null 2>&1
for i in $(seq 2 11); do
  n=$(printf '%04d' "$i")
  case $((i % 4)) in
    0) sql="ALTER TABLE accounts ADD COLUMN c$i integer NOT NULL DEFAULT 0;" ;;
    1) sql="CREATE INDEX accounts_c$((i - 1))_idx ON accounts (c$((i - 1)));" ;;
    2) sql="CREATE TABLE t$i (id bigint PRIMARY KEY, account bigint REFERENCES accounts (id));" ;;
    3) sql="UPDATE accounts SET name = upper(name) WHERE id % $i = 0;" ;;
  esac
  printf '%s\n' "$sql" > "$repo/migrations/${n}_step_$i.sql"
done
# Step 2 adds a column rather than a table.
printf 'ALTER TABLE accounts ADD COLUMN c1 integer NOT NULL DEFAULT 0;\n' > "$repo/migrations/0002_step_2.sql"
git -C "$repo" add -A && git -C "$repo" commit -q -m eleven
"$MIGRATE" export --repo "$repo" -o "$work/r2.tar" >/dev/null 2>&1

# The tenants: a schema each in one database.
psql -X -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql -X -q "$PGURL/$DB" -c "DO \$\$ BEGIN FOR i IN 1..$SCHEMAS LOOP EXECUTE format('CREATE SCHEMA t%s', lpad(i::text, 4, '0')); END LOOP; END \$\$" >/dev/null
url() { printf '%s/%s?options=-csearch_path%%3D%s' "$PGURL" "$DB" "$1"; }
fleet() { # fleet FILE FIRST LAST: one wave of tenants FIRST..LAST
  {
    printf 'version: 1\nwaves:\n  - name: all\n    targets:\n'
    for i in $(seq "$2" "$3"); do
      t=$(printf 't%04d' "$i")
      printf '      - { name: %s, db: "%s", folder: targets/%s }\n' "$t" "$(url "$t")" "$t"
    done
  } > "$1"
}
fleet "$work/every.yaml" 1 "$SCHEMAS"
fleet "$work/all.yaml" 1 "$TENANTS"

busy() { # CPU time of the whole machine so far (every process: migrate, the shell, the server), in ms
  awk -v hz="$(getconf CLK_TCK)" '/^cpu /{ print int(($2 + $3 + $4 + $7 + $8) * 1000 / hz) }' /proc/stat
}
timed() { # timed NAME CMD...: runs under /usr/bin/time, fails loudly, prints "seconds peak_kb cpu_ms"
  local name=$1; shift
  # Each phase starts from a clean server: no checkpoint left to write during it.
  psql -X -q "$PGURL/$DB" -c "CHECKPOINT" >/dev/null
  local before; before=$(busy)
  if ! /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err"; then
    echo "$name failed:" >&2; tail -n 20 "$work/$name.err" >&2; exit 2
  fi
  echo "$(tail -n 1 "$work/$name.time") $(( $(busy) - before ))"
}
fleet_import() { # fleet_import NAME BUNDLE FLEET PARALLEL
  timed "$1" "$MIGRATE" import "$2" --fleet "$3" --env prod --parallel "$4" --receipts "$work/receipts-$1" --quiet
}

# Every tenant at release 1 (not measured), then the pass over up-to-date tenants.
fleet_import first "$work/r1.tar" "$work/every.yaml" 16 >/dev/null
# What autovacuum would do to the new tables during the measured phases, done now.
psql -X -q "$PGURL/$DB" -c "VACUUM ANALYZE" >/dev/null
read -r pass_s pass_kb pass_cpu < <(fleet_import pass "$work/r1.tar" "$work/all.yaml" 16)
grep -q "$TENANTS converged" "$work/pass.out" || { echo "the pass did not converge" >&2; exit 2; }

# The upgrade, RUNS times on tenants of its own, alternating which side goes first: the fleet
# on UPGRADED tenants, the loop of single imports on the next UPGRADED.
loop() { # loop FIRST LAST
  for i in $(seq "$1" "$2"); do
    t=$(printf 't%04d' "$i")
    "$MIGRATE" import "$work/r2.tar" --target "$work/targets/$t" --db "$(url "$t")" --env prod --quiet
  done
}
export -f loop url
export MIGRATE work PGURL DB
fleet_runs=() loop_runs=() speedups=()
for run in $(seq 0 $((RUNS - 1))); do
  first=$((run * 2 * UPGRADED + 1))
  fleet "$work/upgrade-$run.yaml" "$first" $((first + UPGRADED - 1))
  side_fleet() { fleet_import "upgrade-$run" "$work/r2.tar" "$work/upgrade-$run.yaml" 8; }
  side_loop() { timed "loop-$run" bash -c "loop $((first + UPGRADED)) $((first + 2 * UPGRADED - 1))"; }
  if (( run % 2 == 0 )); then f=$(side_fleet); l=$(side_loop); else l=$(side_loop); f=$(side_fleet); fi
  fleet_runs+=("$f") loop_runs+=("$l")
  speedups+=("$(awk -v a="${l%% *}" -v b="${f%% *}" 'BEGIN { printf "%.1f", a / b }')")
  for t in "$first" $((first + 2 * UPGRADED - 1)); do
    applied=$(psql -X -q -A -t "$PGURL/$DB" -c "SELECT count(*) FROM t$(printf '%04d' "$t").migrate_history")
    [[ "$applied" == 11 ]] || { echo "tenant $t holds $applied migrations, not 11" >&2; exit 2; }
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
column() { local k=$1; shift; for r in "$@"; do echo "$r" | awk -v k="$k" '{ print $k }'; done; }
fleet_s=$(median $(column 1 "${fleet_runs[@]}")) fleet_kb=$(median $(column 2 "${fleet_runs[@]}"))
fleet_cpu=$(median $(column 3 "${fleet_runs[@]}"))
loop_s=$(median $(column 1 "${loop_runs[@]}")) loop_kb=$(median $(column 2 "${loop_runs[@]}"))
loop_cpu=$(median $(column 3 "${loop_runs[@]}"))

missed=0
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; missed=1; fi; }
speedup=$(median "${speedups[@]}")
cores=$(nproc)
# The machine's CPU time per tenant (migrate, the server's backends, everything): a fleet that
# keeps every core busy cannot be faster than its CPU time per tenant divided by the cores.
per() { awk -v ms="$1" -v n="$2" 'BEGIN { printf "%.1f", ms / n }'; }
ceiling=$(awk -v a="$loop_s" -v c="$fleet_cpu" -v n="$cores" 'BEGIN { printf "%.1f", a / (c / 1000 / n) }')
echo "| run | seconds | peak RSS (MB) | machine CPU per tenant (ms) | target | |"
echo "|---|---:|---:|---:|---|---|"
printf '| (a) %d up-to-date tenants, --parallel 16 | %s | %d | %s | <= 30 s | %s |\n' "$TENANTS" "$pass_s" $((pass_kb / 1024)) "$(per "$pass_cpu" "$TENANTS")" "$(verdict "$pass_s <= 30")"
printf '| (c) peak RSS of that run | | %d | | < 200 MB | %s |\n' $((pass_kb / 1024)) "$(verdict "$pass_kb < 200 * 1024")"
printf '| (b) %d tenants + 10 migrations, --fleet --parallel 8 (median of %d) | %s | %d | %s | | |\n' "$UPGRADED" "$RUNS" "$fleet_s" $((fleet_kb / 1024)) "$(per "$fleet_cpu" "$UPGRADED")"
printf '| (b) %d tenants + 10 migrations, a shell loop of imports (median of %d) | %s | %d | %s | | |\n' "$UPGRADED" "$RUNS" "$loop_s" $((loop_kb / 1024)) "$(per "$loop_cpu" "$UPGRADED")"
printf '| (b) speed-up, median of the runs (%s) | %sx | | | >= 4x | %s |\n' "$(printf '%sx ' "${speedups[@]}" | sed 's/ $//')" "$speedup" "$(verdict "$speedup >= 4")"
printf '| (b) ceiling on %d cores: the loop'"'"'s seconds / (the fleet'"'"'s CPU seconds / %d) | %sx | | | | |\n' "$cores" "$cores" "$ceiling"
exit "$missed"
