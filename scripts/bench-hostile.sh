#!/usr/bin/env bash
# bench-hostile.sh — how fast, and in how little memory, `migrate` refuses hostile inputs (issue
# 12, items 3 and 4): gzip bombs, forged tar header sizes, a million empty members, YAML alias
# amplification and deep nesting; and how much memory check, plan and export take for a 56 MB
# data migration and a 200 MB asset, which still exports and imports. Each row is one run of the
# release binary under /usr/bin/time (wall seconds and peak RSS), with the exit code and the
# diagnostic.
#
# Usage: scripts/bench-hostile.sh     (MIGRATE to use a binary; ASSET_MB=200 for the large asset)
# Needs: git, /usr/bin/time, python3. Prints a markdown table; targets: refusals under 2 s and
# 100 MB; check, plan and export at most 4x the largest input file + CONSTANT_MB (exit 1 if not).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
ASSET_MB=${ASSET_MB:-200}
if [[ -z "${MIGRATE:-}" ]]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  MIGRATE="$root/target/release/migrate"
fi
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --example hostile
HOSTILE="$root/target/release/examples/hostile"
work=$(mktemp -d "${TMPDIR:-/tmp}/migrate-bench-hostile.XXXXXX")
trap 'rm -rf "$work"' EXIT

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=b@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=b@example.com GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"

# Runs "$@" under /usr/bin/time and prints a table row: what, seconds, peak MB, exit, code; with
# INPUT_MB set (the largest input file), also peak / input and whether it is within the memory
# target of issue 12, item 4: at most 4x the largest input plus a constant (CONSTANT_MB, 32: the
# binary alone takes 11 to 14 MB).
CONSTANT_MB=${CONSTANT_MB:-32}
over=0
row() {
  local what=$1; shift
  local status=0
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || status=$?
  read -r secs kb < <(tail -n 1 "$work/time")
  local code
  code=$(grep -o 'migrate::[a-z_]*' "$work/err" | head -n 1 || true)
  local ratio=""
  if [[ -n "${INPUT_MB:-}" ]]; then
    ratio=$(awk -v kb="$kb" -v mb="$INPUT_MB" 'BEGIN { printf "%.1fx", kb / 1024 / mb }')
    if (( kb / 1024 > 4 * INPUT_MB + CONSTANT_MB )); then
      ratio="$ratio (over)"
      over=1
    fi
  fi
  printf '| %s | %s | %d | %s | %d | %s |\n' "$what" "$secs" "$((kb / 1024))" "$ratio" "$status" "${code:-}"
}

echo "| input | seconds | peak RSS (MB) | peak / largest input | exit | diagnostic |"
echo "|---|---:|---:|---:|---:|---|"

# Hostile bundles, built from a small good one.
repo="$work/repo"
mkdir -p "$repo/migrations" "$repo/assets/query"
printf 'version: 1\nproject: bench\ndialects: [sqlite]\n' > "$repo/migrate.yaml"
printf 'CREATE TABLE a (id INTEGER);\n' > "$repo/migrations/0001_a.sql"
printf 'spec: {sql: SELECT 1}\n' > "$repo/assets/query/one.yaml"
git -C "$repo" init -q -b main && git -C "$repo" add -A && git -C "$repo" commit -q -m one
"$MIGRATE" export --repo "$repo" -o "$work/good.tar" 2>/dev/null
"$HOSTILE" "$work/good.tar" "$work/hostile" > "$work/cases"
while read -r file exit code _; do
  name=$(basename "$file")
  row "verify $name ($(du -k "$file" | cut -f1) KB)" "$MIGRATE" verify "$file"
  row "import $name" "$MIGRATE" import "$file" --target "$work/t-$name"
done < "$work/cases"

# Hostile YAML: 4 MB of aliases to one 1,000-item list, 1 MB of nested flow collections.
for case in aliases nesting; do
  y="$work/yaml-$case"
  mkdir -p "$y/migrations" "$y/assets/query"
  cp "$repo/migrate.yaml" "$y/" && cp "$repo/migrations/0001_a.sql" "$y/migrations/"
  git -C "$y" init -q -b main && git -C "$y" add -A && git -C "$y" commit -q -m base
  python3 - "$y/assets/query/$case.yaml" "$case" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    if sys.argv[2] == "aliases":
        f.write("base: &a [%s]\nspec:\n" % ", ".join(["x"] * 1000))
        size, n = 0, 0
        while size < 4_000_000:
            line = "  k%d: *a\n" % n
            f.write(line)
            size, n = size + len(line), n + 1
    else:
        f.write("spec: " + "[" * 500_000 + "]" * 500_000 + "\n")
PY
  git -C "$y" add -A && git -C "$y" commit -q -m yaml
  row "check $case.yaml ($(du -k "$y/assets/query/$case.yaml" | cut -f1) KB)" "$MIGRATE" check --repo "$y"
  row "plan $case.yaml" "$MIGRATE" plan --repo "$y" --base HEAD~1
done

# A 56 MB data migration of 800,000 statements: plan and export (target: peak RSS at most 4x the
# file plus a constant).
data="$work/data"
mkdir -p "$data/migrations"
cp "$repo/migrate.yaml" "$data/" && cp "$repo/migrations/0001_a.sql" "$data/migrations/"
git -C "$data" init -q -b main && git -C "$data" add -A && git -C "$data" commit -q -m base
python3 - "$data/migrations/0002_data.sql" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    size, i = 0, 0
    while size < 56_000_000:
        line = "INSERT INTO a (id) VALUES (%d); -- row %d with some padding text here\n" % (i, i)
        f.write(line)
        size, i = size + len(line), i + 1
PY
git -C "$data" add -A && git -C "$data" commit -q -m data
INPUT_MB=$(( $(stat -c %s "$data/migrations/0002_data.sql") / 1000000 ))
row "check 56 MB migration" "$MIGRATE" check --repo "$data"
row "plan 56 MB migration" "$MIGRATE" plan --repo "$data" --base HEAD~1
row "export 56 MB migration (incremental)" "$MIGRATE" export --repo "$data" --base HEAD~1 -o "$work/data.tar"
row "export 56 MB migration (full)" "$MIGRATE" export --repo "$data" -o "$work/data-full.tar"
unset INPUT_MB

# The control: a release with a large asset exports, verifies and imports.
big="$work/big"
mkdir -p "$big/migrations" "$big/assets/data"
cp "$repo/migrate.yaml" "$big/" && cp "$repo/migrations/0001_a.sql" "$big/migrations/"
python3 - "$big/assets/data/large.yaml" "$ASSET_MB" <<'PY'
import sys
line = "- " + "x" * 97 + "\n"
with open(sys.argv[1], "w") as f:
    f.write("spec:\n  rows:\n")
    for _ in range(int(sys.argv[2]) * 1024 * 1024 // (len(line) + 2)):
        f.write("  " + line)
PY
git -C "$big" init -q -b main && git -C "$big" add -A && git -C "$big" commit -q -m big
INPUT_MB=$(( $(stat -c %s "$big/assets/data/large.yaml") / 1000000 ))
row "check ${ASSET_MB} MB asset" "$MIGRATE" check --repo "$big"
row "export ${ASSET_MB} MB asset (full)" "$MIGRATE" export --repo "$big" -o "$work/big.tar.gz"
unset INPUT_MB
row "verify ${ASSET_MB} MB asset" "$MIGRATE" verify "$work/big.tar.gz"
row "import ${ASSET_MB} MB asset" "$MIGRATE" import "$work/big.tar.gz" --target "$work/t-big"
cmp -s "$work/t-big/assets/data/large.yaml" "$big/assets/data/large.yaml" \
  || { echo "the imported asset differs from the source" >&2; exit 1; }
# A change to every line of the large asset: plan and export compare two texts of that size.
sed -i 's/- x/- y/' "$big/assets/data/large.yaml"
git -C "$big" commit -q -am change
INPUT_MB=$(( $(stat -c %s "$big/assets/data/large.yaml") / 1000000 ))
row "plan ${ASSET_MB} MB asset, every line changed" "$MIGRATE" plan --repo "$big" --base HEAD~1
row "export ${ASSET_MB} MB asset, every line changed (incremental)" "$MIGRATE" export --repo "$big" --base HEAD~1 -o "$work/big2.tar"
unset INPUT_MB
if (( over )); then
  echo "peak memory over 4x the largest input + ${CONSTANT_MB} MB in a row marked (over)" >&2
  exit 1
fi
