#!/usr/bin/env bash
# check-glibc.sh BINARY MAX [--newest] — lists the GLIBC_ symbol versions BINARY needs and fails
# when one is newer than MAX (e.g. 2.17), naming it; with --newest, prints the newest and exits 0.
set -euo pipefail
bin=$1 max=$2
versions=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV)
newest=$(printf '%s\n' "$versions" | tail -n 1)
if [[ "${3:-}" == --newest ]]; then
  echo "GLIBC_$newest"
  exit 0
fi
too_new=$(printf '%s\n' "$versions" | awk -v max="$max" '
  function cmp(a, b,   x, y, i, n) {
    n = split(a, x, "."); split(b, y, ".")
    for (i = 1; i <= (n > length(y) ? n : length(y)); i++) { if (x[i] + 0 != y[i] + 0) return (x[i] + 0 > y[i] + 0) ? 1 : -1 }
    return 0
  }
  cmp($0, max) > 0 { print "GLIBC_" $0 }')
if [[ -n "$too_new" ]]; then
  echo "$bin needs glibc symbols newer than $max:" >&2
  for v in $too_new; do
    echo "  $v: $(objdump -T "$bin" | grep -F "($v)" | awk '{ print $NF }' | tr '\n' ' ')" >&2
  done
  exit 1
fi
echo "$bin: every glibc symbol is at version $max or older (newest: GLIBC_$newest)" >&2
