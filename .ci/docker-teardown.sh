#!/usr/bin/env bash
# Stops the Docker daemon that .ci/docker-setup.sh started, if it started one;
# a daemon that was already running before setup is left alone.  Idempotent.
set -euo pipefail

STATE_DIR="${TCPCHAT_DOCKER_STATE:-${TMPDIR:-/tmp}/tcpchat-dockerd}"

log() { printf 'docker-teardown: %s\n' "$*"; }

if [[ ! -f $STATE_DIR/owner || ! -f $STATE_DIR/dockerd.pid ]]; then
	log "no daemon started by docker-setup.sh; nothing to stop"
	exit 0
fi
pid="$(cat "$STATE_DIR/dockerd.pid")"
if kill -0 "$pid" 2>/dev/null; then
	log "stopping dockerd (pid $pid)"
	kill -TERM "$pid"
	# dockerd stops its containers and its own containerd first; wait for it to exit.
	if ! timeout 60 tail --pid="$pid" -f /dev/null; then
		log "dockerd did not exit within 60 s"
		exit 1
	fi
fi
rm -f "$STATE_DIR/owner" "$STATE_DIR/dockerd.pid"
log "done"
