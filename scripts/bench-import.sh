#!/usr/bin/env bash
# bench-import.sh — benchmark `migrate import` of a 1,000-migration release into a fresh SQLite
# database and a fresh PostgreSQL database, and of a 300-migration release into a fresh MariaDB
# database, against the plain client running the same bundle's offline script
# (`sqlite3 db < sql/sqlite.sql`, `psql -f sql/postgres.sql`, `mariadb db < sql/mysql.sql`),
# alternating who goes first.
#
# Usage: scripts/bench-import.sh            (RUNS=7 by default, at least 5; MIGRATE to use a binary;
#                                            MYSQL_MIGRATIONS=300 for the size of the MariaDB release)
# Needs: git, sqlite3, psql/createdb/dropdb and a PostgreSQL server on 127.0.0.1:5432 (trust auth,
# user postgres), mariadb and a MariaDB server on 127.0.0.1:3306 (root, no password), python3.
# Prints a markdown table and the ratio to the target (≤ 1.2x).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-7}
MYSQL_MIGRATIONS=${MYSQL_MIGRATIONS:-300}
(( RUNS >= 5 )) || { echo "RUNS must be at least 5" >&2; exit 2; }
if [[ -z "${MIGRATE:-}" ]]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  MIGRATE="$root/target/release/migrate"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/migrate-bench-import.XXXXXX")
cleanup() {
  rm -rf "$work"
  for d in $(seq 1 $((RUNS + 1))); do
    dropdb -h 127.0.0.1 -U postgres --if-exists "migrate_bench_$d" 2>/dev/null || true
    mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS migrate_bench_${d}a; DROP DATABASE IF EXISTS migrate_bench_${d}b" 2>/dev/null || true
  done
}
trap cleanup EXIT

# A project with 1,000 migrations (a table, an index and a row each), in one commit.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=b@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=b@example.com GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
repo="$work/repo"
mkdir -p "$repo/migrations" "$repo/assets/query"
printf 'version: 1\nproject: bench\ndialects: [sqlite, postgres]\n' > "$repo/migrate.yaml"
printf 'spec: {sql: SELECT 1}\n' > "$repo/assets/query/one.yaml"
python3 - "$repo/migrations" <<'PY'
import sys
for i in range(1, 1001):
    with open("%s/%04d_table_%d.sql" % (sys.argv[1], i, i), "w") as f:
        f.write("CREATE TABLE t_%d (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT);\n" % i)
        f.write("CREATE INDEX t_%d_name ON t_%d (name);\n" % (i, i))
        f.write("INSERT INTO t_%d (id, name, note) VALUES (1, 'row; %d', 'it''s here');\n" % (i, i))
PY
git -C "$repo" init -q -b main && git -C "$repo" add -A && git -C "$repo" commit -q -m bench
"$MIGRATE" export --repo "$repo" -o "$work/release.tar" 2>/dev/null
tar -xf "$work/release.tar" -C "$work" sql/sqlite.sql sql/postgres.sql

# The same shape for MySQL/MariaDB, smaller: every DDL statement there commits by itself.
mrepo="$work/repo-mysql"
mkdir -p "$mrepo/migrations"
printf 'version: 1\nproject: bench\ndialects: [mysql]\n' > "$mrepo/migrate.yaml"
cp "$repo"/migrations/*.sql "$mrepo/migrations/"
find "$mrepo/migrations" -name '*.sql' | sort | tail -n +$((MYSQL_MIGRATIONS + 1)) | xargs -r rm
git -C "$mrepo" init -q -b main && git -C "$mrepo" add -A && git -C "$mrepo" commit -q -m bench
"$MIGRATE" export --repo "$mrepo" -o "$work/release-mysql.tar" 2>/dev/null
mkdir -p "$work/m" && tar -xf "$work/release-mysql.tar" -C "$work/m" sql/mysql.sql

measure() { # NAME CMD...: appends wall microseconds to $work/NAME.dat
  local name=$1; shift
  local start end
  start=$(date +%s%N)
  "$@" > /dev/null 2> "$work/$name.err" || { cat "$work/$name.err" >&2; echo "bench-import: $name failed" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 )) >> "$work/$name.dat"
}

for run in $(seq 0 "$RUNS"); do
  # run 0 is the warm-up, not recorded
  rm -rf "$work/t1" "$work/t2" "$work/raw.sqlite3"
  db="migrate_bench_$((run + 1))"
  suffix=""; [[ $run -eq 0 ]] && suffix="-warmup"
  measure "migrate-sqlite$suffix" "$MIGRATE" import "$work/release.tar" --target "$work/t1"
  measure "sqlite3$suffix" sh -c "sqlite3 '$work/raw.sqlite3' < '$work/sql/sqlite.sql'"
  # Each database is made right before its own run, with a checkpoint after, and the two take
  # turns going first: the server's own work after a large CREATE/DROP DATABASE otherwise lands
  # on whichever command runs next.
  fresh() {
    dropdb -h 127.0.0.1 -U postgres --if-exists "$1" 2>/dev/null
    createdb -h 127.0.0.1 -U postgres "$1"
    psql -X -q -h 127.0.0.1 -U postgres -d "$1" -c CHECKPOINT >/dev/null 2>&1 || true
    sleep 1
  }
  migrate_pg() { fresh "${db}a"; measure "migrate-postgres$suffix" "$MIGRATE" import "$work/release.tar" --target "$work/t2" --db "postgres://postgres@127.0.0.1:5432/${db}a"; }
  psql_pg() { fresh "${db}b"; measure "psql$suffix" psql -X -q -h 127.0.0.1 -U postgres -d "${db}b" -f "$work/sql/postgres.sql"; }
  if (( run % 2 )); then psql_pg; migrate_pg; else migrate_pg; psql_pg; fi
  dropdb -h 127.0.0.1 -U postgres "${db}a"; dropdb -h 127.0.0.1 -U postgres "${db}b"
  mfresh() { mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"; sleep 1; }
  migrate_my() { rm -rf "$work/t3"; mfresh "${db}a"; measure "migrate-mariadb$suffix" "$MIGRATE" import "$work/release-mysql.tar" --target "$work/t3" --db "mysql://root@127.0.0.1:3306/${db}a"; }
  client_my() { mfresh "${db}b"; measure "mariadb$suffix" sh -c "mariadb --comments -h 127.0.0.1 -u root '${db}b' < '$work/m/sql/mysql.sql'"; }
  if (( run % 2 )); then client_my; migrate_my; else migrate_my; client_my; fi
  mariadb -h 127.0.0.1 -u root -e "DROP DATABASE ${db}a; DROP DATABASE ${db}b"
done
[[ $(sqlite3 "$work/t1/db.sqlite3" 'SELECT count(*) FROM migrate_history') = 1000 ]] || { echo "bench-import: the import did not apply 1000 migrations" >&2; exit 1; }

echo
echo "## migrate import (1,000 migrations; $MYSQL_MIGRATIONS on MariaDB) vs the plain client running its offline script"
echo
echo "- machine: $(nproc) CPU(s), $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(psql -X -A -t -h 127.0.0.1 -U postgres -d test -c 'SHOW server_version' 2>/dev/null | head -1 | sed 's/^/PostgreSQL /'), MariaDB $(mariadb -N -h 127.0.0.1 -u root -e 'SELECT VERSION()' 2>/dev/null), sqlite3 $(sqlite3 --version | cut -d' ' -f1)"
echo "- runs: 1 warm-up + $RUNS measured per command, alternating; each run on a fresh database"
echo
python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
def load(name):
    return [int(l) / 1000.0 for l in open("%s/%s.dat" % (work, name)) if l.strip()]
print("| command | median ms | min ms | max ms |")
print("|---|---:|---:|---:|")
rows = [("`migrate import` → SQLite", "migrate-sqlite"), ("`sqlite3 db < sql/sqlite.sql`", "sqlite3"),
        ("`migrate import` → PostgreSQL", "migrate-postgres"), ("`psql -f sql/postgres.sql`", "psql"),
        ("`migrate import` → MariaDB", "migrate-mariadb"), ("`mariadb db < sql/mysql.sql`", "mariadb")]
for label, name in rows:
    w = load(name)
    print("| %s | %.1f | %.1f | %.1f |" % (label, statistics.median(w), min(w), max(w)))
print()
for db, a, b in (("SQLite", "migrate-sqlite", "sqlite3"), ("PostgreSQL", "migrate-postgres", "psql"),
                 ("MariaDB", "migrate-mariadb", "mariadb")):
    ratio = statistics.median(load(a)) / statistics.median(load(b))
    print("%s: import / raw client = **%.2f×** — target ≤ 1.2×: **%s**" % (db, ratio, "met" if ratio <= 1.2 else "NOT met"))
PY
