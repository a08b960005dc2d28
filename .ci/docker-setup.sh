#!/usr/bin/env bash
# Prepares this machine for the container tests (`tox -e docker`), idempotently:
#   1. a Docker engine: Debian's docker.io, installed and started only if none answers;
#   2. the compose v2 plugin, taken from Debian trixie's docker-compose package;
#   3. the host tools the tests use (debootstrap, Xvfb, xauth, xdotool);
#   4. the registry-free base image (docker/build-base-image.sh), since no
#      container registry is reachable here.
# Run it as root from the repository root: `bash .ci/docker-setup.sh`.
# .ci/docker-teardown.sh stops the daemon again if, and only if, this script started it.
set -euo pipefail

STATE_DIR="${TCPCHAT_DOCKER_STATE:-${TMPDIR:-/tmp}/tcpchat-dockerd}"
BASE_IMAGE="${TCPCHAT_BASE_IMAGE:-tcpchat-base:bookworm}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins # searched by the docker CLI for every user
HOST_PACKAGES=(debootstrap xvfb xauth xdotool)

TEMP_DIRS=()
trap 'rm -rf "${TEMP_DIRS[@]}"' EXIT

log() { printf 'docker-setup: %s\n' "$*"; }

apt_updated=false
apt_install() {
	# `apt-get update` once, and only when something has to be installed.
	if ! $apt_updated; then
		apt-get update -qq
		apt_updated=true
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The Debian mirror this machine already uses: no host name is written in the project.
debian_mirror() {
	# shellcheck disable=SC2016 # $(SITE) is apt's placeholder, not the shell's
	apt-get indextargets --format '$(SITE)' 'Codename: bookworm' | head -n1
}

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_engine() {
	if ! command -v dockerd >/dev/null; then
		log "installing Debian's docker.io"
		apt_install docker.io
	fi
	mkdir -p "$STATE_DIR"
	log "starting dockerd (log: $STATE_DIR/dockerd.log)"
	# No bridge, no iptables, no forwarding: nothing gets a private-range address;
	# every build and container of this project uses the host network.
	# setsid: a signal sent to the CI job's process group must not reach the daemon.
	setsid dockerd --bridge=none --iptables=false --ip-forward=false \
		--pidfile "$STATE_DIR/dockerd.pid" </dev/null >"$STATE_DIR/dockerd.log" 2>&1 &
	echo started-by-setup >"$STATE_DIR/owner"
	local deadline=$((SECONDS + 60))
	until engine_answers; do
		if ((SECONDS > deadline)); then
			log "dockerd did not answer within 60 s; its log:"
			cat "$STATE_DIR/dockerd.log" >&2
			exit 1
		fi
		# Poll, don't guess: the daemon answers within about half a second.
		sleep 0.2
	done
}

install_compose_plugin() {
	# Bookworm has only compose v1; trixie's docker-compose package holds the v2
	# plugin, a static binary needing only libc.  A private apt configuration fetches
	# it without touching the machine's own sources, lists or cache.
	local work mirror
	work="$(mktemp -d)"
	TEMP_DIRS+=("$work")
	mirror="$(debian_mirror)"
	[[ -n $mirror ]] || {
		log "no bookworm mirror in this machine's apt configuration"
		exit 1
	}
	mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial"
	cat >"$work/sources/trixie.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
	local apt_options=(
		-o "Dir::Etc::SourceList=/dev/null"
		-o "Dir::Etc::SourceParts=$work/sources"
		-o "Dir::State::Lists=$work/lists"
		-o "Dir::Cache=$work/cache"
		-o "APT::Sandbox::User=root" # the private folders are root's own
	)
	log "fetching the compose v2 plugin (trixie's docker-compose)"
	apt-get "${apt_options[@]}" update -qq
	(cd "$work" && apt-get "${apt_options[@]}" download -qq docker-compose)
	dpkg-deb -x "$work"/docker-compose_*.deb "$work/root"
	install -D -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" \
		"$PLUGIN_DIR/docker-compose"
}

missing_host_packages() {
	local package
	for package in "${HOST_PACKAGES[@]}"; do
		dpkg-query -W -f '${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$package"
	done
}

main() {
	local start=$SECONDS missing
	if engine_answers; then
		log "a Docker engine already answers; using it"
	else
		start_engine
	fi
	docker compose version >/dev/null 2>&1 || install_compose_plugin
	missing="$(missing_host_packages)"
	if [[ -n $missing ]]; then
		log "installing host tools: $missing"
		# shellcheck disable=SC2086 # one package name per word
		apt_install $missing
	fi
	if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		log "base image $BASE_IMAGE already built"
	else
		bash docker/build-base-image.sh "$BASE_IMAGE"
	fi
	log "ready in $((SECONDS - start)) s: engine $(docker version --format '{{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
}

main "$@"
