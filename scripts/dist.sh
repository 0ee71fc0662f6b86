#!/usr/bin/env bash
# dist.sh — the release archive, for any x86_64 Linux with glibc 2.17 or newer (RHEL 7 and 8,
# Debian 9 and later, Ubuntu 18.04 and later):
#
#   dist/migrate-<version>-x86_64-linux.tar.gz   the binary (stripped, LTO), shell completions,
#                                                the man page, schemas/, docs/, README, licences
#   dist/SHA256SUMS                              its sha256
#   dist/SHA256SUMS.minisig                      signed by `migrate sign` with DIST_KEY
#
# Usage: scripts/dist.sh      (no arguments; DIST_DIR to write elsewhere than dist/; DIST_KEY, a
#        secret key from `migrate keygen`, to sign with — without it a key is made once in
#        $DIST_DIR/dist.key, fine for trying, not for shipping)
# Needs: the Rust toolchain, git, python3 (pip installs cargo-zigbuild and ziglang when missing),
#        objdump (binutils). The binary links against glibc 2.17 through zig's linker; the script
#        fails when the binary asks for a newer glibc symbol. The archive is reproducible: the
#        same commit gives the same bytes (file times from the commit, owners 0, sorted names,
#        `gzip -n`, paths in the binary remapped).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${DIST_DIR:-$root/dist}
glibc=2.17
triple=x86_64-unknown-linux-gnu
version=$(awk -F'"' '/^version *=/ { print $2; exit }' "$root/Cargo.toml")
name="migrate-$version-x86_64-linux"

if ! command -v cargo-zigbuild >/dev/null || ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "installing cargo-zigbuild and ziglang from PyPI (python3 -m pip install --user)" >&2
  python3 -m pip install --quiet --user cargo-zigbuild ziglang
  export PATH="$HOME/.local/bin:$PATH"
fi
rustup target list --installed 2>/dev/null | grep -qx "$triple" || rustup target add "$triple"

# Reproducible: no absolute path of this machine in the binary, times from the commit.
export SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct)
export RUSTFLAGS="--remap-path-prefix=$HOME/.cargo/registry/src=/cargo --remap-path-prefix=$root=/migrate"
echo "building migrate $version for $triple with glibc $glibc (cargo zigbuild, profile dist: a first build takes 10 to 20 minutes on two cores)" >&2
cargo zigbuild --manifest-path "$root/Cargo.toml" --profile dist --target "$triple.$glibc" \
  --target-dir "$root/target/dist" --locked
bin="$root/target/dist/$triple/dist/migrate"

"$root/scripts/check-glibc.sh" "$bin" "$glibc"

work=$(mktemp -d "${TMPDIR:-/tmp}/migrate-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/$name"
mkdir -p "$stage/completions" "$stage/man"
install -m 0755 "$bin" "$stage/migrate"
"$bin" completions bash > "$stage/completions/migrate.bash"
"$bin" completions zsh > "$stage/completions/_migrate"
"$bin" completions fish > "$stage/completions/migrate.fish"
"$bin" man > "$stage/man/migrate.1"
cp -R "$root/schemas" "$root/docs" "$stage/"
cp "$root/README.md" "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/"

mkdir -p "$out"
archive="$out/$name.tar.gz"
tar --sort=name --format=gnu --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --mode='u+rwX,go+rX,go-w' -C "$work" -cf - "$name" | gzip -n -9 > "$archive"
(cd "$out" && sha256sum "$name.tar.gz" > SHA256SUMS)

key=${DIST_KEY:-$out/dist.key}
if [[ ! -f "$key" ]]; then
  echo "no DIST_KEY: making a key to try the signature with, $key (ship with your own)" >&2
  "$bin" keygen -o "$key"
fi
"$bin" sign --key "$key" "$out/SHA256SUMS"

size=$(stat -c %s "$bin")
echo "binary: $((size / 1024 / 1024)) MB ($size bytes), newest glibc symbol: $("$root/scripts/check-glibc.sh" "$bin" "$glibc" --newest)"
ls -l "$archive" "$out/SHA256SUMS" "$out/SHA256SUMS.minisig"
cat "$out/SHA256SUMS"

# The container image, where an engine runs here (the Containerfile documents its base).
for engine in podman docker; do
  if command -v "$engine" >/dev/null && "$engine" info >/dev/null 2>&1; then
    "$engine" build -q -f "$root/Containerfile" --build-arg "VERSION=$version" -t "migrate:$version" "$root" >/dev/null
    echo "image migrate:$version ($engine): $("$engine" run --rm "migrate:$version" --version)"
    break
  fi
done
