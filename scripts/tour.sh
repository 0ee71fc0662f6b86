#!/usr/bin/env bash
# The README's five-minute tour, end to end: builds the example repository from
# `fixtures/inventory/` (one commit per numbered folder, fixed dates), then runs `migrate check`
# and `migrate plan` on it in each format, exports, verifies and inspects a bundle, applies its
# offline SQL with sqlite3 (when installed), imports the first commit into a SQLite target, shows
# its status, ships the second commit as an upgrade, and records the receipt in the repository.
# Needs git and the Rust toolchain; nothing else.
#
#   scripts/tour.sh            build migrate (release) and run the tour in a temp folder
#   TOUR_DIR=/tmp/tour ...     keep the example repository there
#   MIGRATE=path/to/migrate    use that binary instead of building one
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${MIGRATE:-}" ]]; then
  # Cargo's own progress shows; a first build compiles every dependency (about 6 to 12 minutes
  # on two cores), a later one only what changed.
  echo "building migrate (release): a first build takes about 6 to 12 minutes on two cores" >&2
  cargo build --release --manifest-path "$root/Cargo.toml"
  MIGRATE="$root/target/release/migrate"
fi
MIGRATE=$(cd "$(dirname "$MIGRATE")" && pwd)/$(basename "$MIGRATE")
dir=${TOUR_DIR:-$(mktemp -d)}
repo="$dir/inventory"
rm -rf "$repo"
mkdir -p "$repo"

# A repository of our own, isolated from the user's git configuration.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Tour GIT_AUTHOR_EMAIL=tour@example.com
export GIT_COMMITTER_NAME=Tour GIT_COMMITTER_EMAIL=tour@example.com
g() { git -C "$repo" "$@"; }
g init -q -b main
time=1700000000
for step in "$root"/fixtures/inventory/[0-9]*/; do
  name=$(basename "$step")
  if [[ "$name" != 1-* ]]; then
    g checkout -q -B feature   # later steps are the pull request
  fi
  cp -R "$step". "$repo/"
  if [[ -f "$repo/DELETE" ]]; then
    while read -r path; do [[ -n "$path" ]] && rm -f "$repo/$path"; done < "$repo/DELETE"
    rm -f "$repo/DELETE"
  fi
  time=$((time + 100))
  g add -A
  GIT_AUTHOR_DATE="$time +0000" GIT_COMMITTER_DATE="$time +0000" g commit -q -m "$name"
done

# run EXPECTED_STATUS ARGS...: the tour fails if migrate exits otherwise.
run() {
  local expected=$1
  shift
  echo
  echo "\$ migrate $*"
  local status=0
  (cd "$repo" && "$MIGRATE" "$@") || status=$?
  echo "[exit status: $status]"
  if [[ "$status" != "$expected" ]]; then
    echo "tour: expected exit status $expected" >&2
    exit 1
  fi
}

echo "example repository: $repo (main = 1-initial, feature = the pull request)"
run 0 check
run 0 plan
run 0 plan --format markdown
run 0 plan --format json --release-version 1.1.0 > "$dir/plan.json"
head -n 20 "$dir/plan.json"
run 0 export --base main --head feature -o "$dir/release.tar"
run 0 inspect "$dir/release.tar"
run 0 verify "$dir/release.tar"
# The offline script, applied by sqlite3 to a database at the base (the full bundle of main):
run 0 export --head main -o "$dir/base.tar"
rm -f "$dir/db.sqlite3"
if command -v sqlite3 > /dev/null; then
  tar -xOf "$dir/base.tar" sql/sqlite.sql | sqlite3 "$dir/db.sqlite3"
  tar -xOf "$dir/release.tar" sql/sqlite.sql | sqlite3 "$dir/db.sqlite3"
  echo "history: $(sqlite3 "$dir/db.sqlite3" 'SELECT group_concat(version, " ") FROM migrate_history')"
else
  echo "(no sqlite3 client here: the offline script is skipped; Debian's sqlite3 package has it)"
fi
# The air-gapped side: import the base into a fresh SQLite target, then the release as an upgrade.
rm -rf "$dir/site"
run 0 import "$dir/base.tar" --target "$dir/site" --env prod
run 0 status --target "$dir/site"
# The upgrade: the second commit, as the incremental bundle exported above.
run 0 import "$dir/release.tar" --target "$dir/site" --dry-run
run 0 import "$dir/release.tar" --target "$dir/site" --receipt "$dir/receipt.json"
run 0 import "$dir/release.tar" --target "$dir/site"
run 0 status --target "$dir/site"
# Back on the development side, the receipt says what prod holds; a plan against it is empty.
run 0 env record "$dir/receipt.json"
run 0 plan --env prod --head WORKTREE
# An edit to a migration that shipped on main is refused (exit 1):
printf 'CREATE TABLE hosts (id BIGINT PRIMARY KEY);\n' > "$repo/migrations/0001_create_hosts.sql"
run 1 plan --head WORKTREE
g checkout -q -- migrations/0001_create_hosts.sql
