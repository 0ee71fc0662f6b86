#!/usr/bin/env bash
# bench-fleet.sh — one release to many PostgreSQL tenants (issue 13, item 8), on the local server:
#   (a) a pass over 1,000 up-to-date tenants (a schema each) with `import --fleet --parallel 16`:
#       target at most 30 s;
#   (b) 200 tenants upgraded by 10 migrations each: `import --fleet --parallel 8` against a shell
#       loop of single imports (200 other tenants at the same release), side by side: target at
#       least 4x faster;
#   (c) peak RSS of the fleet run over 1,000 targets: target under 200 MB.
#
# Usage: scripts/bench-fleet.sh     (MIGRATE to use a binary; TENANTS=1000, UPGRADED=200,
#        PGURL=postgres://postgres@127.0.0.1:5432 to change them)
# Needs: git, psql, /usr/bin/time. Prints a markdown table; exits 1 when a target is missed.
# Creates and drops the database `migrate_bench_fleet`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
TENANTS=${TENANTS:-1000}
UPGRADED=${UPGRADED:-200}
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
psql -X -q "$PGURL/$DB" -c "DO \$\$ BEGIN FOR i IN 1..$TENANTS LOOP EXECUTE format('CREATE SCHEMA t%s', lpad(i::text, 4, '0')); END LOOP; END \$\$" >/dev/null
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
fleet "$work/all.yaml" 1 "$TENANTS"
fleet "$work/upgraded.yaml" 1 "$UPGRADED"

timed() { # timed NAME CMD...: runs under /usr/bin/time, fails loudly, prints "seconds peak_kb"
  local name=$1; shift
  if ! /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err"; then
    echo "$name failed:" >&2; tail -n 20 "$work/$name.err" >&2; exit 2
  fi
  tail -n 1 "$work/$name.time"
}
fleet_import() { # fleet_import NAME BUNDLE FLEET PARALLEL
  timed "$1" "$MIGRATE" import "$2" --fleet "$3" --env prod --parallel "$4" --receipts "$work/receipts-$1" --quiet
}

# Every tenant at release 1 (not measured), then the pass over up-to-date tenants.
fleet_import first "$work/r1.tar" "$work/all.yaml" 16 >/dev/null
read -r pass_s pass_kb < <(fleet_import pass "$work/r1.tar" "$work/all.yaml" 16)
grep -q "$TENANTS converged" "$work/pass.out" || { echo "the pass did not converge" >&2; exit 2; }

# The upgrade: the fleet on tenants 1..UPGRADED, the loop on the next UPGRADED.
read -r fleet_s fleet_kb < <(fleet_import upgrade "$work/r2.tar" "$work/upgraded.yaml" 8)
loop() {
  for i in $(seq $((UPGRADED + 1)) $((2 * UPGRADED))); do
    t=$(printf 't%04d' "$i")
    "$MIGRATE" import "$work/r2.tar" --target "$work/targets/$t" --db "$(url "$t")" --env prod --quiet
  done
}
export -f loop url
export MIGRATE work UPGRADED PGURL DB
read -r loop_s loop_kb < <(timed loop bash -c loop)
applied=$(psql -X -q -A -t "$PGURL/$DB" -c "SELECT count(*) FROM t0001.migrate_history")
[[ "$applied" == 11 ]] || { echo "tenant t0001 holds $applied migrations, not 11" >&2; exit 2; }
applied=$(psql -X -q -A -t "$PGURL/$DB" -c "SELECT count(*) FROM t$(printf '%04d' $((2 * UPGRADED))).migrate_history")
[[ "$applied" == 11 ]] || { echo "the loop's last tenant holds $applied migrations, not 11" >&2; exit 2; }

missed=0
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; missed=1; fi; }
speedup=$(awk -v a="$loop_s" -v b="$fleet_s" 'BEGIN { printf "%.1f", a / b }')
echo "| run | seconds | peak RSS (MB) | target | |"
echo "|---|---:|---:|---|---|"
printf '| (a) %d up-to-date tenants, --parallel 16 | %s | %d | <= 30 s | %s |\n' "$TENANTS" "$pass_s" $((pass_kb / 1024)) "$(verdict "$pass_s <= 30")"
printf '| (c) peak RSS of that run | | %d | < 200 MB | %s |\n' $((pass_kb / 1024)) "$(verdict "$pass_kb < 200 * 1024")"
printf '| (b) %d tenants + 10 migrations, --fleet --parallel 8 | %s | %d | | |\n' "$UPGRADED" "$fleet_s" $((fleet_kb / 1024))
printf '| (b) %d tenants + 10 migrations, a shell loop of imports | %s | %d | | |\n' "$UPGRADED" "$loop_s" $((loop_kb / 1024))
printf '| (b) speed-up | %sx | | >= 4x | %s |\n' "$speedup" "$(verdict "$speedup >= 4")"
exit "$missed"
