#!/usr/bin/env bash
# `pnpm test:compose`: compose.yaml for real, with Debian's podman and podman-compose (no Docker
# engine). Installs them when missing, makes the base image locally when it cannot be pulled,
# builds every image (podman's layer cache is kept between runs, so an unchanged tree rebuilds in
# seconds), then runs e2e/compose/scenario.test.ts, which brings the stack up, checks it, takes it
# down and up again and checks what was kept. However it ends, the stack and its volumes go.
set -euo pipefail
cd "$(dirname "$0")/../.."

export SIGHTLINE_COMPOSE_PROJECT="${SIGHTLINE_COMPOSE_PROJECT:-sightline-ci}"
project="$SIGHTLINE_COMPOSE_PROJECT"
# Images keep their HEALTHCHECK (OCI images drop it, with a warning per build step).
export BUILDAH_FORMAT=docker
# Past this, the image store is emptied before building (the next build is then a cold one).
store_max_gb="${SIGHTLINE_COMPOSE_STORE_MAX_GB:-40}"
say() { echo "compose: $*"; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export PATH="$PATH:/usr/sbin:/sbin"

# Debian's podman 4.3 and podman-compose 1.0.3; runc (crun fails here); debootstrap for the base
# image; the CNI dnsname plugin, without which services cannot find each other by name.
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v podman-compose >/dev/null || missing+=(podman-compose)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ -x /usr/lib/cni/dnsname ] || missing+=(golang-github-containernetworking-plugin-dnsname)
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    say "missing: ${missing[*]}. Install podman, podman-compose, runc and debootstrap (Debian 12 has them all)." >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in podman podman-compose runc debootstrap; do
  command -v "$tool" >/dev/null || { say "$tool is missing and could not be installed" >&2; exit 1; }
done

conf=/etc/containers/containers.conf
if [ ! -e "$conf" ]; then
  say "writing $conf (runc, cgroupfs, default ulimits)"
  $sudo mkdir -p /etc/containers
  printf '%s\n' '[containers]' 'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]' '' \
    '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' | $sudo tee "$conf" >/dev/null
fi

stack() { podman-compose -p "$project" -f compose.yaml "$@"; }
logs="$(mktemp -d)"
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" -ne 0 ] && [ -n "$(podman ps -aq --filter "label=io.podman.compose.project=$project")" ]; then
    say "failed: the last lines of each container's log"
    for name in $(podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}'); do
      echo "--- $name"
      podman logs --tail 15 "$name" 2>&1 | cut -c1-400
    done
  fi
  say "removing the stack and its volumes"
  stack down -v >/dev/null 2>&1 || true
  local left
  left="$(podman ps -aq --filter "label=io.podman.compose.project=$project")"
  [ -z "$left" ] || podman rm -f $left >/dev/null
  podman volume ls -q --filter "label=io.podman.compose.project=$project" | xargs -r podman volume rm -f >/dev/null
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  rm -rf "$logs"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What an earlier run left (killed before its cleanup), then the host ports compose publishes.
stack down -v >/dev/null 2>&1 || true
busy=()
for port in 1883 9001 8081 8082 8083 8084 8085 8086 8087 8088 8089 8090 10000; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=("$port"); fi
done
if [ "${#busy[@]}" -gt 0 ]; then
  say "127.0.0.1 ports ${busy[*]} are taken (another Sightline stack?): compose publishes them" >&2
  exit 1
fi

store_gb=$(($(du -sk /var/lib/containers/storage 2>/dev/null | cut -f1 || echo 0) / 1024 / 1024))
if [ "$store_gb" -gt "$store_max_gb" ]; then
  say "the image store holds ${store_gb} GB (over ${store_max_gb}): removing every unused image"
  podman image prune -af >/dev/null
fi

start=$(date +%s)
infra/containers/base-image.sh

# Every image, two builds at a time (the machine has few cores; a third only waits). One goes
# first alone: it fills the layers all of them share (the package store).
mapfile -t services < <(node -e "import('./e2e/compose/podman.ts').then((m) => console.log(m.composeServices.join('\n')))")
build() {
  local t0=$SECONDS
  if stack build "$1" >"$logs/$1.log" 2>&1; then
    echo "compose: built $1 in $((SECONDS - t0)) s"
  else
    echo "compose: building $1 failed:" >&2
    tail -40 "$logs/$1.log" >&2
    return 1
  fi
}
export -f build stack
export project logs
build "${services[0]}"
printf '%s\n' "${services[@]:1}" | xargs -P 2 -I{} bash -c 'build {}'
say "images built in $(($(date +%s) - start)) s:"
podman images --filter 'reference=sightline/*:dev' --format '  {{.Repository}} {{.Size}}'

node --test --test-reporter=spec e2e/compose/scenario.test.ts
say "done in $(($(date +%s) - start)) s"
