#!/usr/bin/env bash
# A Debian forky (testing) chroot with Python 3.14 and 3.15 (Tk and venv included),
# where CI runs the py314 and py315 tox environments.
#
# Why a chroot: nothing on the CI machine can download an interpreter, but Debian
# forky packages python3.14 and python3.15 with Tk.  Their binaries need forky's
# glibc (2.38+, bookworm has 2.36), so they cannot run on the host: they run in a
# forky minbase tree made by debootstrap from the mirror the machine's own apt
# already uses (no host name is written in the project).  A plain chroot needs no
# container engine.
#
#   bash .ci/forky-chroot.sh build        # debootstrap (~25 s) + apt (~10 s); reused if ready
#   bash .ci/forky-chroot.sh run CMD ...  # CMD as root inside, in this repository
#
# `run` mounts /proc, a /dev/shm (Tk needs it), the host's X socket folder and this
# repository (at the same path, so tox's paths are the same inside) in a private
# mount namespace (unshare -m): the mounts vanish with the command, whatever happens.
# Pitfalls met: pip inside fails with CERTIFICATE_VERIFY_FAILED unless the host's CA
# bundle is copied in; name resolution needs /etc/hosts and /etc/resolv.conf.
# The tree is $TCPCHAT_FORKY_ROOT (default /opt/tcpchat-forky), about 700 MB.
set -euo pipefail

ROOT="${TCPCHAT_FORKY_ROOT:-/opt/tcpchat-forky}"
REPO="$(cd "$(dirname "$0")/.." && pwd -P)"
READY="$ROOT/.tcpchat-ready" # written last by `build`: the tree is complete
PACKAGES=(
	python3.14 python3.14-tk python3.14-venv python3.15 python3.15-tk python3.15-venv
	# what the test suite needs, as on the host (.ci/run): Xvfb for the windows,
	# xdotool and friends for the GUI process tests, peers for the interop tests
	xvfb xauth xdotool x11-utils imagemagick fonts-dejavu-core
	netcat-openbsd socat openssl ca-certificates procps
	# a real redis-server for the Redis store tests (tests/redis_store)
	redis-server
)

log() { printf 'forky-chroot: %s\n' "$*" >&2; }

copy_host_files() {
	# Name resolution and TLS for apt and pip inside; refreshed on every use since
	# the host's may change.
	cp -L /etc/hosts /etc/resolv.conf "$ROOT/etc/"
	install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
}

in_root() {
	# CMD inside the tree, with a clean environment and the mounts of a private namespace.
	local workdir="$1"
	shift
	mkdir -p "$ROOT/proc" "$ROOT/dev/shm" "$ROOT/tmp/.X11-unix" "$ROOT$REPO"
	chmod 1777 "$ROOT/tmp" "$ROOT/tmp/.X11-unix"
	mkdir -p /tmp/.X11-unix
	unshare --mount --propagation private -- bash -euo pipefail -c '
		root="$1" repo="$2" workdir="$3"
		shift 3
		mount -t proc proc "$root/proc"
		mount -t tmpfs -o mode=1777,size=512m shm "$root/dev/shm"
		# Xvfb in the chroot and on the host share abstract X sockets (same network
		# namespace); sharing the socket folder too keeps display numbers unique.
		mount --bind /tmp/.X11-unix "$root/tmp/.X11-unix"
		mount --bind "$repo" "$root$repo"
		exec chroot "$root" env -i \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive \
			CI="${CI:-}" TCPCHAT_ARTIFACTS="${TCPCHAT_ARTIFACTS:-}" \
			TCPCHAT_SOAK_SECONDS="${TCPCHAT_SOAK_SECONDS:-}" \
			sh -c "cd \"\$0\" && exec \"\$@\"" "$workdir" "$@"
	' forky-chroot "$ROOT" "$REPO" "$workdir" "$@"
}

build() {
	# The stamp names the package list too: a tree built with another list is topped up.
	local stamp="packages: ${PACKAGES[*]}"
	if [[ -f $READY ]] && grep -qxF "$stamp" "$READY"; then
		log "reusing $ROOT ($(head -n1 "$READY"))"
		copy_host_files
		return
	fi
	local mirror start=$SECONDS step
	# shellcheck disable=SC2016 # $(SITE) is apt's placeholder, not the shell's
	mirror="$(apt-get indextargets --format '$(SITE)' 'Codename: bookworm' | head -n1)"
	[[ -n $mirror ]] || {
		log "no bookworm mirror in this machine's apt configuration"
		exit 1
	}
	if [[ ! -f $ROOT/.tcpchat-debootstrapped ]]; then
		rm -rf "$ROOT"
		mkdir -p "$(dirname "$ROOT")"
		log "debootstrap --variant=minbase forky $ROOT"
		# Bookworm's debootstrap has no script named forky; sid's fits every later suite.
		debootstrap --variant=minbase forky "$ROOT" "$mirror" /usr/share/debootstrap/scripts/sid \
			>"$ROOT.debootstrap.log" 2>&1 || {
			tail -n 30 "$ROOT.debootstrap.log" >&2
			exit 1
		}
		rm -f "$ROOT.debootstrap.log"
		touch "$ROOT/.tcpchat-debootstrapped"
		log "debootstrap: $((SECONDS - start)) s"
	fi
	# A mirror that is a dated snapshot serves a testing suite whose Release file has
	# passed its Valid-Until date; debootstrap does not check it, apt does.
	echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/99tcpchat-snapshot"
	copy_host_files
	step=$SECONDS
	in_root / sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null && apt-get clean' \
		apt "${PACKAGES[@]}" || {
			log "apt-get install in the chroot failed"
		exit 1
	}
	log "apt-get install (${#PACKAGES[@]} packages): $((SECONDS - step)) s"
	in_root / python3.14 -c 'import tkinter, venv, ssl; print("3.14 Tk", tkinter.TkVersion)' >&2
	in_root / python3.15 -c 'import tkinter, venv, ssl; print("3.15 Tk", tkinter.TkVersion)' >&2
	{
		in_root / sh -c 'python3.14 -V && python3.15 -V' | tr '\n' ' '
		printf '\n%s\n' "$stamp"
	} >"$READY"
	log "ready in $((SECONDS - start)) s: $(head -n1 "$READY")"
}

case "${1:-}" in
build) build ;;
run)
	shift
	[[ -f $READY ]] || {
		log "no chroot at $ROOT: run 'bash .ci/forky-chroot.sh build' first"
		exit 1
	}
	copy_host_files
	in_root "$REPO" "$@"
	;;
*)
	echo "usage: bash .ci/forky-chroot.sh build | run CMD ..." >&2
	exit 2
	;;
esac
