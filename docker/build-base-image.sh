#!/usr/bin/env bash
# Builds a Debian bookworm base image without any container registry:
# debootstrap (minbase) from the Debian mirror this machine's apt already uses,
# trimmed, then `docker import`.  The Dockerfile builds on it with
#   docker build --build-arg PYTHON_IMAGE=tcpchat-base:bookworm .
# Usage (as root, needs debootstrap): docker/build-base-image.sh [IMAGE] [SUITE]
set -euo pipefail

IMAGE="${1:-tcpchat-base:bookworm}"
SUITE="${2:-bookworm}"

# The mirror comes from the machine's apt configuration at run time, so no
# mirror's host name is ever written into the project.
# shellcheck disable=SC2016 # $(SITE) is apt's placeholder, not the shell's
MIRROR="$(apt-get indextargets --format '$(SITE)' "Codename: $SUITE" | head -n1)"
if [[ -z $MIRROR ]]; then
	echo "build-base-image: no '$SUITE' mirror in this machine's apt configuration" >&2
	exit 1
fi

ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT

start=$SECONDS
echo "build-base-image: debootstrap --variant=minbase $SUITE"
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || {
	tail -n 30 "$ROOT.log" >&2
	exit 1
}
rm -f "$ROOT.log"

# What the official debian:*-slim images do: keep later `apt-get install`s from
# adding documentation and translations, and clean apt's cache after each one.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/excludes" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CONF
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF

# Trim what an image never needs: package lists (fetched again by `apt-get
# update`), caches, documentation, manuals, translations.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/var/log/* \
	"$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/*
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete

tar --numeric-owner -C "$ROOT" -c . |
	docker import --change 'CMD ["bash"]' \
		--message "debootstrap --variant=minbase $SUITE" - "$IMAGE" >/dev/null
echo "build-base-image: $IMAGE built in $((SECONDS - start)) s," \
	"$(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
