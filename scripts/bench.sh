#!/usr/bin/env bash
# bench.sh — benchmark `migrate plan` against `git diff`, or `migrate export` against
# `git archive | gzip`, on a large generated repo.
#
# Usage: scripts/bench.sh [plan|export] [--generate-only] [--help]   (default: plan)
#
# What it does
#   1. Generates (or reuses) a git repository with fixed authors/dates, built with
#      `git fast-import` and packed with `git gc`:
#        - migrate.yaml at the root
#        - 100,000 assets   assets/<kind>/[rN/]gNNN/item-NNNNN.yaml  (20 kinds, 100 files per leaf dir)
#        - 5,000 migrations migrations/NNNNN_slug.sql (00001..05000)
#      commit A (tag bench-a) on branch main, and its child commit B (tag bench-b) which
#      modifies 1,000 assets (spec.limits.timeout_ms), adds 50 migrations (05001..05050)
#      and deletes 100 other assets  => `git diff --stat bench-a bench-b` shows 1150 files.
#   2. Runs, alternating, 1 warm-up + RUNS measured runs of each of
#        plan:   $MIGRATE plan --repo $REPO --base bench-a --head bench-b --format json
#                git --no-pager -C $REPO diff --no-color bench-a bench-b
#        export: $MIGRATE export --repo $REPO --head bench-b -o bundle.tar.gz   (a full bundle)
#                git -C $REPO archive bench-b | gzip > archive.tar.gz
#                $MIGRATE export --repo $REPO --head bench-b -o bundle.tar
#                git -C $REPO archive -o archive.tar bench-b
#      recording wall time (date +%s%N around the command) and peak RSS (/usr/bin/time %M).
#   3. Prints a markdown table (median/min/max wall ms, median peak RSS MiB), the
#      ratio and the targets (plan: <= 1.0x git diff; export: <= 1.5x git archive | gzip and
#      <= 2.0x an uncompressed `git archive -o B.tar`; peak RSS <= 300 MB), once on the pack that
#      `git fast-import` leaves and once on a copy repacked with git's defaults
#      (`git repack -a -d -f`, as real repositories are packed); the targets apply to the latter.
#
# Options
#   --generate-only   only generate (or verify reuse of) the repository, do not benchmark
#   -h, --help        show this help
#
# Environment
#   MIGRATE    migrate binary (default: build target/release/migrate; relative paths are resolved
#              against the project root = parent of this scripts/ directory)
#   RUNS       measured runs per command (default 7, minimum 5)
#   BENCH_DIR  directory holding the generated data (repo in $BENCH_DIR/repo). If it already
#              holds a finished repo it is reused; it is never deleted by this script.
#              Default: a fresh temp dir, deleted at exit unless KEEP=1.
#   KEEP       set to 1 to keep the temp dir when BENCH_DIR is not set (its path is printed).
#
# Exit status: 0 when the benchmark ran (targets met or not), non-zero on errors (e.g. the
# migrate command exiting with something other than 0 or 1, or printing invalid JSON).
# Requires: bash, git, python3, GNU time at /usr/bin/time.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "bench: error: $*" >&2; exit 2; }
log() { echo "bench: $*" >&2; }

GENERATE_ONLY=0
BENCH=plan
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --generate-only) GENERATE_ONLY=1 ;;
    plan|export) BENCH=$arg ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

RUNS=${RUNS:-7}
[[ "$RUNS" =~ ^[0-9]+$ ]] || die "RUNS must be a number, got '$RUNS'"
(( RUNS >= 5 )) || die "RUNS must be at least 5, got $RUNS"

if [[ -z "${MIGRATE:-}" ]] && (( ! GENERATE_ONLY )); then
  log "building migrate (cargo build --release)"
  cargo build --release --quiet --manifest-path "$PROJECT_ROOT/Cargo.toml"
fi
MIGRATE=${MIGRATE:-target/release/migrate}
[[ "$MIGRATE" = /* ]] || MIGRATE="$PROJECT_ROOT/$MIGRATE"

command -v git >/dev/null || die "git not found"
command -v python3 >/dev/null || die "python3 not found"
[[ -x /usr/bin/time ]] || die "GNU time not found at /usr/bin/time"
if (( ! GENERATE_ONLY )); then
  [[ -x "$MIGRATE" ]] || die "migrate binary not found or not executable: $MIGRATE (build it with 'cargo build --release' or set MIGRATE)"
fi

# --- directories --------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/migrate-bench-work.XXXXXX")   # scratch files, always removed
CLEAN_BENCH_DIR=""
if [[ -z "${BENCH_DIR:-}" ]]; then
  BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/migrate-bench.XXXXXX")
  [[ "${KEEP:-0}" = 1 ]] || CLEAN_BENCH_DIR=$BENCH_DIR
fi
cleanup() {
  rm -rf "$WORK"
  if [[ -n "$CLEAN_BENCH_DIR" ]]; then
    rm -rf "$CLEAN_BENCH_DIR"
  elif [[ -f "${READY:-/nonexistent}" ]]; then
    log "generated repo kept in $REPO (rerun with BENCH_DIR=$BENCH_DIR to reuse it)"
  fi
}
trap cleanup EXIT

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
SENTINEL="$BENCH_DIR/.migrate-bench"
if [[ ! -e "$SENTINEL" ]]; then
  if [[ -n "$(ls -A "$BENCH_DIR")" ]]; then
    die "BENCH_DIR=$BENCH_DIR is not empty and was not created by this script; refusing to use it"
  fi
  echo "created by scripts/bench.sh" > "$SENTINEL"
fi
REPO="$BENCH_DIR/repo"
READY="$BENCH_DIR/.ready"
GEN_VERSION=2

# Isolate git (and migrate, which reads git config too) from user/system configuration.
export HOME="$BENCH_DIR/home"
mkdir -p "$HOME"
: > "$HOME/.gitconfig"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL="$HOME/.gitconfig" XDG_CONFIG_HOME="$HOME/.config"
export GIT_PAGER=cat PAGER=cat LC_ALL=C
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES 2>/dev/null || true

now_ns() { date +%s%N; }

# --- generation ---------------------------------------------------------------------------
read -r -d '' GEN_PY <<'PY' || true
import random, sys

out = sys.stdout.buffer
w = out.write
A_TIME, B_TIME = 1700000000, 1700003600
IDENT = b"Bench Bot <bench@example.invalid>"

KINDS = ["query", "view", "dashboard", "alert", "report", "job", "dataset", "metric",
         "pipeline", "role", "policy", "schedule", "webhook", "template", "connection",
         "secret-ref", "feature-flag", "quota", "index-hint", "retention"]
PER_KIND = 5000          # 20 kinds * 5000 = 100,000 assets
PER_DIR = 100            # files per leaf directory
TABLES = ["hosts", "users", "orders", "events", "sessions", "invoices", "devices", "jobs"]
COLS = ["id", "name", "shard", "created_at", "updated_at", "status", "owner_id", "region"]
TAGWORDS = ["core", "edge", "billing", "ops", "infra", "beta", "legacy", "pii", "hot", "cold"]

def asset_path_name(k, i):
    kind = KINDS[k]
    g = i // PER_DIR
    if k % 2:            # odd kinds nest one level deeper: rN/gNNN/item-NNNNN
        name = "r%d/g%03d/item-%05d" % (g % 5, g, i)
    else:
        name = "g%03d/item-%05d" % (g, i)
    return kind, name, "assets/%s/%s.yaml" % (kind, name)

def render_asset(k, i, timeout):
    kind, name, _ = asset_path_name(k, i)
    r = random.Random(k * 1_000_003 + i)
    tags = r.sample(TAGWORDS, r.randint(0, 3))
    lines = ["kind: " + kind, "name: " + name]
    lines.append("spec:")
    if r.random() < 0.3:
        lines.append('  description: "%s %s asset %d"' % (r.choice(TAGWORDS), kind, i))
    t = r.choice(TABLES)
    cols = ", ".join(r.sample(COLS, r.randint(1, 4)))
    if kind in ("query", "view", "report", "metric", "dataset"):
        lines.append('  sql: "SELECT %s FROM %s WHERE shard = %d"' % (cols, t, i % 64))
        lines.append("  dialect: postgres")
    elif kind in ("alert", "quota", "retention"):
        lines.append("  threshold: %d" % r.randint(1, 10000))
        lines.append("  window: %dm" % r.choice([1, 5, 15, 60]))
    elif kind in ("job", "pipeline", "schedule"):
        lines.append('  cron: "%d */%d * * *"' % (r.randint(0, 59), r.choice([1, 2, 4, 6, 12])))
        lines.append("  steps:")
        for s in range(r.randint(1, 3)):
            lines.append("    - run: %s-%d" % (r.choice(["extract", "load", "transform", "check"]), s))
    elif kind in ("webhook", "connection"):
        lines.append("  url: https://%s.example.invalid/%s/%d" % (r.choice(TAGWORDS), kind, i))
        lines.append("  retries: %d" % r.randint(0, 5))
    else:
        lines.append("  target: %s.%s" % (t, r.choice(COLS)))
        lines.append("  enabled: %s" % r.choice(["true", "false"]))
    lines.append("  owner: team-%d" % r.randint(1, 40))
    lines.append("  tags: [%s]" % ", ".join(tags))
    lines.append("  limits: { rows: %d, timeout_ms: %d }" % (r.choice([100, 1000, 10000]), timeout))
    if r.random() < 0.5:
        lines.append("  labels:")
        for key in r.sample(["env", "tier", "zone", "cost"], r.randint(1, 3)):
            lines.append("    %s: %s" % (key, r.choice(TAGWORDS)))
    return ("\n".join(lines) + "\n").encode()

def base_timeout(k, i):
    return 50 * (1 + (k * 7 + i) % 20)

SLUGS = ["create_table", "with_index", "with_column", "with_backfill", "with_check"]

def migration(v):
    # every migration creates its own table t_NNNNN and maybe does one more thing to it
    kind = SLUGS[v % len(SLUGS)]
    t = "t_%05d" % v
    slug = "create_%s" % t if kind == "create_table" else "create_%s_%s" % (t, kind)
    body = ["-- migration %05d: %s" % (v, slug),
            "CREATE TABLE %s (id BIGINT PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now());" % t]
    if kind == "with_index":
        body.append("CREATE INDEX idx_%s_name ON %s (name);" % (t, t))
    elif kind == "with_column":
        body.append("ALTER TABLE %s ADD COLUMN note TEXT;" % t)
    elif kind == "with_backfill":
        body.append("INSERT INTO %s (id, name) VALUES (%d, 'seed-%d');" % (t, v, v))
    elif kind == "with_check":
        body.append("ALTER TABLE %s ADD CONSTRAINT ck_%s_id CHECK (id > 0);" % (t, t))
    return "migrations/%05d_%s.sql" % (v, slug), ("\n".join(body) + "\n").encode()

def data(b):
    w(b"data %d\n" % len(b)); w(b); w(b"\n")

def put(path, content):
    w(b"M 100644 inline " + path.encode() + b"\n"); data(content)

def commit(mark, when, msg, parent=None):
    w(b"commit refs/heads/main\nmark :%d\n" % mark)
    w(b"author %s %d +0000\ncommitter %s %d +0000\n" % (IDENT, when, IDENT, when))
    data(msg)
    if parent:
        w(b"from :%d\n" % parent)

# modified: one asset per leaf directory (1000); deleted: 100 others, spread as well
def is_modified(k, i): return i % PER_DIR == 7
def is_deleted(k, i):  return i % 1000 == 503

w(b"feature done\n")
commit(1, A_TIME, b"bench: initial state (A)\n")
put("migrate.yaml", b"version: 1\nproject: bench\ndialects: [postgres]\nmigrations: migrations\nassets: assets\n")
for k in range(len(KINDS)):
    for i in range(PER_KIND):
        put(asset_path_name(k, i)[2], render_asset(k, i, base_timeout(k, i)))
for v in range(1, 5001):
    put(*migration(v))
w(b"\n")

commit(2, B_TIME, b"bench: change 1000 assets, add 50 migrations, delete 100 assets (B)\n", parent=1)
n_mod = n_del = 0
for k in range(len(KINDS)):
    for i in range(PER_KIND):
        if is_modified(k, i):
            put(asset_path_name(k, i)[2], render_asset(k, i, base_timeout(k, i) + 5000)); n_mod += 1
        elif is_deleted(k, i):
            w(b"D " + asset_path_name(k, i)[2].encode() + b"\n"); n_del += 1
for v in range(5001, 5051):
    put(*migration(v))
w(b"\n")
assert (n_mod, n_del) == (1000, 100), (n_mod, n_del)

w(b"reset refs/tags/bench-a\nfrom :1\n\n")
w(b"reset refs/tags/bench-b\nfrom :2\n\n")
w(b"done\n")
PY

repo_ready() {
  [[ -f "$READY" ]] && [[ "$(cat "$READY")" = "$GEN_VERSION" ]] &&
    git -C "$REPO" rev-parse -q --verify bench-a^{commit} >/dev/null 2>&1 &&
    git -C "$REPO" rev-parse -q --verify bench-b^{commit} >/dev/null 2>&1
}

if repo_ready; then
  log "reusing generated repo $REPO"
else
  log "generating repo in $REPO (100,000 assets, 5,000 migrations) ..."
  rm -rf "$REPO" "$READY"
  t0=$(now_ns)
  git init -q -b main "$REPO"
  git -C "$REPO" config gc.auto 0
  python3 -c "$GEN_PY" | git -C "$REPO" fast-import --quiet --done --date-format=raw
  t1=$(now_ns)
  git -C "$REPO" gc --quiet
  t2=$(now_ns)
  # check out B so the repo looks like an ordinary working copy (HEAD = main = bench-b)
  git -C "$REPO" reset -q --hard main
  t3=$(now_ns)
  n_a=$(git -C "$REPO" ls-tree -r bench-a | wc -l)
  n_b=$(git -C "$REPO" ls-tree -r bench-b | wc -l)
  [[ "$n_a" -eq 105001 ]] || die "bench-a has $n_a files, expected 105001"
  [[ "$n_b" -eq 104951 ]] || die "bench-b has $n_b files, expected 104951"
  echo "$GEN_VERSION" > "$READY"
  log "$(printf 'generated in %.1f s (fast-import %.1f s, gc %.1f s, checkout %.1f s)' \
    "$(( (t3 - t0) / 1000000 ))e-3" "$(( (t1 - t0) / 1000000 ))e-3" \
    "$(( (t2 - t1) / 1000000 ))e-3" "$(( (t3 - t2) / 1000000 ))e-3")"
fi

# --- the same content packed with git's defaults --------------------------------------------
# `git fast-import` leaves delta chains up to 50 deep, which slows git itself down and flatters
# migrate; real repositories are packed by `git gc`/`git repack` with git's defaults. The targets
# apply to that packing; both are reported.
REPO_DEFAULT="$BENCH_DIR/repo-default"
READY_DEFAULT="$BENCH_DIR/.ready-default"
if [[ -f "$READY_DEFAULT" ]] && [[ "$(cat "$READY_DEFAULT")" = "$GEN_VERSION" ]] && [[ -d "$REPO_DEFAULT/.git" ]]; then
  log "reusing $REPO_DEFAULT (repacked with git's defaults)"
else
  log "copying the repo and repacking it with git's defaults (git repack -a -d -f) ..."
  rm -rf "$REPO_DEFAULT" "$READY_DEFAULT"
  cp -a "$REPO" "$REPO_DEFAULT"
  t0=$(now_ns)
  git -C "$REPO_DEFAULT" repack -a -d -f --quiet
  t1=$(now_ns)
  echo "$GEN_VERSION" > "$READY_DEFAULT"
  log "repacked in $(python3 -c "print(round(($t1 - $t0) / 1e9, 1))") s"
fi

if (( GENERATE_ONLY )); then
  echo "repos ready: $REPO (fast-import packing), $REPO_DEFAULT (git's default packing)"
  exit 0
fi

# --- measurement --------------------------------------------------------------------------
# commands R: the command lines of each measured command, for the repository R
commands() {
  local repo=$1
  if [[ "$BENCH" = plan ]]; then
    NAMES=('`migrate plan --format json`' '`git diff A B`')
    CMD0=("$MIGRATE" plan --repo "$repo" --base bench-a --head bench-b --format json)
    CMD1=(git --no-pager -C "$repo" diff --no-color bench-a bench-b)
    COUNT=2
  else
    NAMES=('`migrate export` (full, .tar.gz)' '`git archive B | gzip`'
           '`migrate export` (full, .tar)' '`git archive -o B.tar` (uncompressed)')
    CMD0=("$MIGRATE" export --repo "$repo" --head bench-b -o "$WORK/bundle.tar.gz")
    CMD1=(sh -c 'git -C "$0" archive bench-b | gzip > "$1"' "$repo" "$WORK/archive.tar.gz")
    CMD2=("$MIGRATE" export --repo "$repo" --head bench-b -o "$WORK/bundle.tar")
    CMD3=(git -C "$repo" archive -o "$WORK/archive.tar" bench-b)
    COUNT=4
  fi
}

# run_one NAME STDOUT_FILE CMD... : sets LAST to "wall_us rss_kib" and RC
run_one() {
  local name=$1 out=$2; shift 2
  local tfile="$WORK/time.txt" efile="$WORK/$name.stderr" start end
  start=$(now_ns)
  set +e
  /usr/bin/time -f '%e %M' -o "$tfile" "$@" > "$out" 2> "$efile"
  RC=$?
  set -e
  end=$(now_ns)
  local rss
  rss=$(tail -n 1 "$tfile" | awk '{print $2}')
  [[ "$rss" =~ ^[0-9]+$ ]] || { cat "$tfile" >&2; die "could not read peak RSS for $name"; }
  LAST="$(( (end - start) / 1000 )) $rss"   # microseconds, KiB
}

# check_rc NAME ALLOWED... : fails with the command's stderr unless RC is allowed
check_rc() {
  local name=$1; shift
  for ok in "$@"; do [[ "$RC" -eq "$ok" ]] && return 0; done
  echo "---- $name stderr ----" >&2
  cat "$WORK/$name.stderr" >&2
  die "$name exited with status $RC (expected one of: $*)"
}

# run_command K : runs command K once (0 = migrate)
run_command() {
  local k=$1 out=/dev/null
  local -n cmd="CMD$k"
  [[ "$k" = 0 ]] && out="$WORK/c0.out"
  run_one "c$k" "$out" "${cmd[@]}"
  if [[ "$k" = 0 && "$BENCH" = plan ]]; then check_rc c0 0 1; else check_rc "c$k" 0; fi
}

# measure LABEL REPO : warm-up, then RUNS alternating runs; data in $WORK/LABEL.K.dat
measure() {
  local label=$1 repo=$2
  commands "$repo"
  log "$label: warm-up ..."
  for (( k = 0; k < COUNT; k++ )); do run_command "$k"; : > "$WORK/$label.$k.dat"; done
  if [[ "$BENCH" = plan ]]; then
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/c0.out" || die "migrate plan did not print valid JSON"
    SUMMARY="plan: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(", ".join("%s %s" % (k, v) for k, v in d["summary"].items() if v))' "$WORK/c0.out")"
  else
    "$MIGRATE" verify "$WORK/bundle.tar.gz" > /dev/null || die "the exported bundle does not verify"
    SUMMARY="bundle: $(stat -c %s "$WORK/bundle.tar.gz") bytes, verified; git archive | gzip: $(stat -c %s "$WORK/archive.tar.gz") bytes"
  fi
  for (( r = 1; r <= RUNS; r++ )); do
    log "$label: run $r/$RUNS"
    for (( k = 0; k < COUNT; k++ )); do run_command "$k"; echo "$LAST" >> "$WORK/$label.$k.dat"; done
  done
}

cd "$REPO"
measure fastimport "$REPO"
measure default "$REPO_DEFAULT"

# --- report -------------------------------------------------------------------------------
CPU_MODEL=$(awk -F': *' '/^(model name|Hardware|cpu model|Model)[[:space:]]*:/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
obj_info() {
  git -C "$1" count-objects -v | awk -F': ' '
  {v[$1]=$2} END {printf "%d objects (%d packed in %d pack(s), %d loose), pack size %.1f MiB",
  v["count"]+v["in-pack"], v["in-pack"], v["packs"], v["count"], v["size-pack"]/1024}'
}

echo
echo "## ${NAMES[0]} vs ${NAMES[*]:1}"
echo
echo "- machine: $(nproc) CPU(s), ${CPU_MODEL:-unknown CPU model}, $(uname -sm)"
echo "- $(git --version)"
echo "- repo as \`git fast-import\` packs it: $(obj_info "$REPO")"
echo "- the same content after \`git repack -a -d -f\` (git's defaults): $(obj_info "$REPO_DEFAULT")"
echo "- change A→B: $(git -C "$REPO" diff --stat bench-a bench-b | tail -n 1 | sed 's/^ *//')"
echo "- migrate: $MIGRATE; $SUMMARY"
echo "- runs: 1 warm-up + $RUNS measured per command, alternating"
python3 - "$WORK" "$BENCH" "${NAMES[@]}" <<'PY'
import statistics, sys

work, bench, names = sys.argv[1], sys.argv[2], sys.argv[3:]

def load(p):
    rows = [tuple(map(int, l.split())) for l in open(p) if l.strip()]
    return [us / 1000.0 for us, _ in rows], [kib / 1024.0 for _, kib in rows]

ok = lambda c: "met" if c else "NOT met"
# Targets on git's default packing: plan ≤ 1.0× git diff; export ≤ 1.5× git archive | gzip
# (both compressed) and ≤ 2.0× an uncompressed git archive (both uncompressed); peak RSS ≤ 300 MB.
pairs = {"plan": [(0, 1, 1.0)], "export": [(0, 1, 1.5), (2, 3, 2.0)]}[bench]
for label, title in (("fastimport", "packed by `git fast-import` (delta chains up to 50 deep)"),
                     ("default", "repacked with git's defaults (`git repack -a -d -f`): the targets apply here")):
    data = [load("%s/%s.%d.dat" % (work, label, k)) for k in range(len(names))]
    print()
    print("### %s" % title)
    print()
    print("| command | median wall ms | min ms | max ms | median peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, (w, r) in zip(names, data):
        print("| %s | %.1f | %.1f | %.1f | %.1f |" % (name, statistics.median(w), min(w), max(w), statistics.median(r)))
    print()
    for a, b, target in pairs:
        ratio = statistics.median(data[a][0]) / statistics.median(data[b][0])
        verdict = " — target ≤ %.1f×: **%s**" % (target, ok(ratio <= target)) if label == "default" else ""
        print("- %s / %s: **%.2f×**%s" % (names[a], names[b], ratio, verdict))
    peak = max(max(data[a][1]) for a, _, _ in pairs)
    peak_mb = peak * 1024 * 1024 / 1e6
    verdict = " — target ≤ 300 MB: **%s**" % ok(peak_mb <= 300.0) if label == "default" else ""
    print("- migrate peak RSS (max over runs): %.1f MiB = %.1f MB%s" % (peak, peak_mb, verdict))
PY
