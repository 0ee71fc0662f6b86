#!/usr/bin/env bash
# fuzz.sh — coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the code that reads hostile input
# (issue "hostile input", item 8). Four targets in fuzz/fuzz_targets/:
#   bundle_reader  archive::read + verify::admit + verify::finish on a bundle file (tar or tar.gz)
#   manifest       Manifest::parse on manifest.json (and its round trip through to_bytes)
#   yaml           Project::parse (migrate.yaml), yaml::parse_data and catalog::parse_asset
#   sql            parse_migration_text, sql_split::split and hazard::analyse in every dialect
#
# Usage: scripts/fuzz.sh [TARGET...]          (default: all four, one after another)
#   FUZZ_SECONDS=600    seconds per target (default 600)
#   FUZZ_RSS_MB=2048    libFuzzer -rss_limit_mb: using more memory is a finding (oom-* artifact)
#   FUZZ_TIMEOUT=10     libFuzzer -timeout: one input taking longer is a finding (timeout-*)
#   FUZZ_KEEP_GOING=1   fork mode with -ignore_crashes/-ignore_timeouts/-ignore_ooms, so that a
#                       target keeps fuzzing after a finding (each is still written to artifacts)
#   FUZZ_FLAGS="..."    more libFuzzer flags, e.g. "-max_len=65536 -len_control=0" to try large
#                       inputs at once (libFuzzer otherwise grows the length limit slowly)
#   MIGRATE=PATH        the release binary that exports the seed bundles (default: built here)
# Each target runs in one process (no -jobs/-workers). At the end a markdown table: target,
# seconds, executions (libFuzzer's stat::number_of_executed_units), crashes (files in
# fuzz/artifacts/TARGET/: crash-*, timeout-*, oom-*, leak-*, slow-unit-*, counted over every run
# so far), corpus size. The log of each run is fuzz/artifacts/TARGET.log.
#
# Needs: the nightly toolchain (`rustup toolchain install nightly`), cargo-fuzz
# (`cargo install cargo-fuzz --locked`), git. The seed corpora in fuzz/corpus/TARGET/ are
# generated when missing: bundles exported by the release binary from throwaway repositories
# (the tiny project below and fixtures/inventory), their manifests, and YAML and SQL written here.
#
# Reproduce a finding (prints the panic and its stack):
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-<sha1>
# Minimise it:  cargo +nightly fuzz tmin TARGET fuzz/artifacts/TARGET/crash-<sha1>
# Show it:      xxd fuzz/artifacts/TARGET/crash-<sha1> | head
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_KEEP_GOING=${FUZZ_KEEP_GOING:-0}
all_targets=(bundle_reader manifest yaml sql)
if (($#)); then targets=("$@"); else targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (${all_targets[*]})" >&2; exit 2; }
done

cargo +nightly fuzz --version >/dev/null 2>&1 || {
  echo "fuzz.sh: needs the nightly toolchain and cargo-fuzz: cargo install cargo-fuzz --locked" >&2
  exit 2
}

echo "== building the fuzz targets" >&2
cargo +nightly fuzz build
bin_dir="$root/fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

# ---------------------------------------------------------------------------------------------
# Seed corpora, generated when missing.
# ---------------------------------------------------------------------------------------------
corpus="$root/fuzz/corpus"
work=$(mktemp -d "${TMPDIR:-/tmp}/migrate-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=fuzz GIT_AUTHOR_EMAIL=f@example.com
export GIT_COMMITTER_NAME=fuzz GIT_COMMITTER_EMAIL=f@example.com GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"

commit() { git -C "$1" add -A && git -C "$1" commit -qm "$2"; }

# Writes "$2" (printf format, no arguments) to corpus file "$1".
seed() { printf '%s' "$2" >"$1"; }

need_seeds() { [[ ! -d "$corpus/$1" ]] || [[ -z "$(ls -A "$corpus/$1")" ]]; }

migrate_binary() {
  if [[ -n "${MIGRATE:-}" ]]; then echo "$MIGRATE"; return; fi
  if cargo build --release --quiet; then
    echo "$root/target/release/migrate"
  elif [[ -x "$root/target/release/migrate" ]]; then
    echo "fuzz.sh: the release build failed; exporting seeds with the existing target/release/migrate" >&2
    echo "$root/target/release/migrate"
  else
    echo "fuzz.sh: no migrate binary to export seed bundles" >&2
    exit 1
  fi
}

if need_seeds bundle_reader || need_seeds manifest; then
  echo "== exporting seed bundles" >&2
  bin=$(migrate_binary)
  bundles="$work/bundles"
  mkdir -p "$bundles"
  # A tiny project: one migration with a down section, one asset; plain, gzip and signed.
  tiny="$work/tiny"
  mkdir -p "$tiny/migrations" "$tiny/assets/query"
  git init -q "$tiny"
  printf 'version: 1\nproject: p\ndialects: [sqlite]\n' >"$tiny/migrate.yaml"
  printf 'CREATE TABLE a (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE a;\n' >"$tiny/migrations/0001_a.sql"
  printf 'spec: {}\n' >"$tiny/assets/query/a.yaml"
  commit "$tiny" one
  "$bin" export --repo "$tiny" -o "$bundles/tiny.tar" >/dev/null
  "$bin" export --repo "$tiny" -o "$bundles/tiny.tar.gz" >/dev/null
  "$bin" keygen --repo "$tiny" -o "$work/key" >/dev/null
  "$bin" export --repo "$tiny" --sign "$work/key" -o "$bundles/tiny-signed.tar" >/dev/null
  # The second commit deletes the asset and adds a migration: an incremental bundle with a deletion.
  rm "$tiny/assets/query/a.yaml"
  printf 'ALTER TABLE a ADD COLUMN b TEXT;\n-- migrate:down\nALTER TABLE a DROP COLUMN b;\n' >"$tiny/migrations/0002_b.sql"
  commit "$tiny" two
  "$bin" export --repo "$tiny" --base HEAD~1 -o "$bundles/tiny-incremental.tar" >/dev/null
  "$bin" export --repo "$tiny" --base HEAD --head HEAD~1 -o "$bundles/tiny-downgrade.tar.gz" >/dev/null
  # fixtures/inventory: two dialects, a PostgreSQL variant, a schema, renames and removals.
  inventory="$work/inventory"
  git init -q "$inventory"
  for step in "$root"/fixtures/inventory/[0-9]*/; do
    cp -R "$step". "$inventory/"
    if [[ -f "$inventory/DELETE" ]]; then
      while read -r path; do [[ -n "$path" ]] && rm -f "$inventory/$path"; done <"$inventory/DELETE"
      rm -f "$inventory/DELETE"
    fi
    commit "$inventory" "$(basename "$step")"
  done
  "$bin" export --repo "$inventory" -o "$bundles/inventory.tar.gz" >/dev/null
  "$bin" export --repo "$inventory" --base HEAD~1 -o "$bundles/inventory-incremental.tar" >/dev/null
  if need_seeds bundle_reader; then
    mkdir -p "$corpus/bundle_reader"
    cp "$bundles"/* "$corpus/bundle_reader/"
  fi
  if need_seeds manifest; then
    mkdir -p "$corpus/manifest"
    for b in "$bundles"/*; do
      tar -xOf "$b" manifest.json >"$corpus/manifest/$(basename "${b%%.tar*}").json"
    done
  fi
fi

if need_seeds yaml; then
  echo "== writing YAML seeds" >&2
  y="$corpus/yaml"
  mkdir -p "$y"
  i=0
  for f in "$root"/fixtures/inventory/*/migrate.yaml "$root"/fixtures/inventory/*/assets/*/*.yaml \
    "$root"/fixtures/inventory/*/assets/*/*/*.yaml; do
    if [[ -f "$f" ]]; then cp "$f" "$y/fixture-$((i++)).yaml"; fi
  done
  seed "$y/project-min.yaml" $'version: 1\nproject: p\ndialects: [sqlite]\n'
  seed "$y/project-full.yaml" $'# yaml-language-server: $schema=./migrate.schema.json\nversion: 1\nproject: shop\ndialects: [sqlite, postgres, mysql]\nmigrations: db/migrations\nassets: db/assets\nhistory_table: migrate_history\nenvironments:\n  staging:\n  prod: { skip_always: ["query/debug-*", "dashboard/**"] }\nignore: ["assets/legacy/**", "**/*.md"]\nallow_out_of_order: true\nhazards:\n  destructive: error\n  unparsed/statement: info\n  transaction: "off"\npolicy:\n  version_bump: error\n  promotion: enforce\nsession:\n  postgres: ["SET lock_timeout = \'5s\'"]\n  mysql: [SET NAMES utf8mb4]\n'
  seed "$y/asset-header.yaml" $'kind: query\nname: a\ndepends_on: [datasource/main, "query/b"]\nspec:\n  sql: SELECT 1\n  tags: [a, b]\n  limit: 10\n  ratio: 0.5\n  on: true\n  none: ~\n'
  seed "$y/asset-anchors.yaml" $'spec:\n  base: &base { a: 1, b: [1, 2] }\n  derived:\n    <<: *base\n    c: 3\n  list: [*base, *base]\n'
  seed "$y/asset-scalars.yaml" $'spec:\n  literal: |\n    line one\n    line two\n  folded: >-\n    folded\n    text\n  single: \'it\'\'s\'\n  double: "tab\\t\\u00e9\\x41"\n  plain: a: b\n  int: 0x1F\n  octal: 0o17\n  float: 1e3\n  date: 2024-01-01\n'
  seed "$y/asset-flow.yaml" $'{spec: {a: [1, {b: c}], "d": null, ? e : f}}\n'
  seed "$y/asset-tags.yaml" $'--- !!map\nspec: !custom\n  a: !!str 1\n  b: .nan\n  c: -.inf\n...\n'
  seed "$y/asset-multidoc.yaml" $'spec: 1\n---\nspec: 2\n'
  seed "$y/asset-complex-key.yaml" $'spec:\n  ? [a, b]\n  : value\n  ? {x: 1}\n  : other\n'
  seed "$y/asset-dup.yaml" $'spec:\n  a: 1\n  a: 2\n'
  seed "$y/asset-crlf-bom.yaml" $'\xef\xbb\xbfspec:\r\n  a: 1\r\n'
  seed "$y/asset-deep.yaml" "spec: $(printf '[%.0s' {1..40})1$(printf ']%.0s' {1..40})"$'\n'
fi

if need_seeds sql; then
  echo "== writing SQL seeds" >&2
  s="$corpus/sql"
  mkdir -p "$s"
  i=0
  for f in "$root"/fixtures/inventory/*/migrations/*.sql; do
    if [[ -f "$f" ]]; then cp "$f" "$s/fixture-$((i++)).sql"; fi
  done
  seed "$s/create-alter-drop.sql" $'-- a comment; with a semicolon\nCREATE TABLE users (\n  id INTEGER PRIMARY KEY,\n  name TEXT NOT NULL DEFAULT \'a;b\'\n);\nALTER TABLE users ADD COLUMN email TEXT;\nCREATE INDEX users_email ON users (email);\nINSERT INTO users (name) VALUES (\'it\'\'s; fine\'), ("dq;");\nUPDATE users SET name = \'x\';\nDELETE FROM users;\n\n-- migrate:down\nDROP INDEX users_email;\nALTER TABLE users DROP COLUMN email;\nDROP TABLE users;\n'
  seed "$s/directives.sql" $'-- migrate:no-transaction\n-- migrate:allow destructive/drop-table moved to the archive\nDROP TABLE old;\nCREATE INDEX CONCURRENTLY i ON t (c);\nVACUUM;\n-- migrate:allow nothing/here\n-- migrate:bogus\n-- migrate:down\n-- migrate:down\nBEGIN; COMMIT; ROLLBACK;\n'
  seed "$s/postgres-function.sql" $'CREATE FUNCTION f() RETURNS trigger AS $body$\nBEGIN\n  NEW.updated = now(); -- ; inside\n  RETURN NEW;\nEND;\n$body$ LANGUAGE plpgsql;\nCREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION f();\nDO $$ BEGIN RAISE NOTICE \'a;b\'; END $$;\nALTER TABLE users ALTER COLUMN name TYPE varchar(10), ADD COLUMN n int NOT NULL DEFAULT 0;\nCOMMENT ON TABLE users IS E\'it\\\'s;\';\nSELECT "quoted;ident", U&\'\\0041\' FROM "t";\n/* block /* nested */ comment; */\nREINDEX TABLE CONCURRENTLY users;\nDROP INDEX CONCURRENTLY IF EXISTS i;\nTRUNCATE users CASCADE;\nALTER TYPE mood ADD VALUE \'ok\';\n'
  seed "$s/mysql-delimiter.sql" $'DELIMITER //\nCREATE PROCEDURE p()\nBEGIN\n  DECLARE x INT DEFAULT 0;\n  IF x = 0 THEN SELECT \'a;b\'; END IF;\nEND//\nDELIMITER ;\nCREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END;\nCREATE TABLE `t` (`a` INT, b VARCHAR(10) DEFAULT "x;y") ENGINE=InnoDB;\nALTER TABLE t MODIFY b TEXT, ALGORITHM=INPLACE, LOCK=NONE;\nRENAME TABLE t TO u;\n# hash comment;\nSTART TRANSACTION;\nLOCK TABLES u WRITE;\n'
  seed "$s/sqlite-trigger.sql" $'CREATE TABLE t (a, b);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET b = 1 WHERE a = NEW.a;\n  SELECT CASE WHEN 1 THEN \'x;\' END;\nEND;\nPRAGMA foreign_keys = OFF;\nATTACH DATABASE \'x.db\' AS x;\nCREATE VIEW v AS SELECT [a] FROM t;\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT x FROM c;\n'
  seed "$s/unterminated.sql" $'CREATE TABLE t (a TEXT DEFAULT \'never closed;\nDROP TABLE t;\n/* open comment\n$$ dollar\n'
fi

# ---------------------------------------------------------------------------------------------
# Runs, one target after another.
# ---------------------------------------------------------------------------------------------
# As `cargo fuzz run`: the bundled SQLite's C globals trip ASan's one-definition-rule check.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
declare -A seconds executions stopped
for t in "${targets[@]}"; do
  mkdir -p "$root/fuzz/artifacts/$t"
  log="$root/fuzz/artifacts/$t.log"
  flags=(-max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$FUZZ_RSS_MB" -timeout="$FUZZ_TIMEOUT" -print_final_stats=1)
  read -r -a extra <<<"${FUZZ_FLAGS:-}"
  flags+=("${extra[@]}")
  if [[ "$FUZZ_KEEP_GOING" == 1 ]]; then
    flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  echo "== fuzzing $t for $FUZZ_SECONDS s (log: $log)" >&2
  start=$(date +%s)
  status=0
  # The binary `cargo fuzz run` would run, run directly: every target fuzzes the code built above,
  # even if the source changes meanwhile.
  "$bin_dir/$t" -artifact_prefix="$root/fuzz/artifacts/$t/" "${flags[@]}" "$corpus/$t" >"$log" 2>&1 || status=$?
  seconds[$t]=$(($(date +%s) - start))
  # One process: the final stats. Fork mode: the last `#N: cov: …` line of the parent.
  n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
  [[ -n "$n" ]] || n=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#' || true)
  executions[$t]=${n:-?}
  if ((status == 0)); then
    stopped[$t]="time"
  else
    stopped[$t]=$(grep -m1 -oE 'panicked at [^ ]+|ERROR: (libFuzzer|AddressSanitizer): [a-z-]+' "$log" || echo "exit $status")
  fi
  echo "   $t: ${executions[$t]} executions in ${seconds[$t]} s, stopped by ${stopped[$t]}" >&2
done

echo
echo "| target | seconds | executions | crashes | corpus size | stopped by |"
echo "|---|---:|---:|---|---:|---|"
for t in "${targets[@]}"; do
  dir="$root/fuzz/artifacts/$t"
  total=$(find "$dir" -maxdepth 1 -type f | wc -l)
  kinds=""
  for kind in crash timeout oom leak slow-unit; do
    c=$(find "$dir" -maxdepth 1 -type f -name "$kind-*" | wc -l)
    if ((c)); then kinds+="${kinds:+, }$kind $c"; fi
  done
  files=$(find "$corpus/$t" -maxdepth 1 -type f | wc -l)
  bytes=$(du -sk --apparent-size "$corpus/$t" | cut -f1)
  printf '| %s | %s | %s | %s | %s files (%s KiB) | %s |\n' "$t" "${seconds[$t]}" "${executions[$t]}" \
    "$total${kinds:+ ($kinds)}" "$files" "$bytes" "${stopped[$t]}"
done
