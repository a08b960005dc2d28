#!/usr/bin/env bash
# Builds a free-threaded CPython 3.13 ("3.13t", PEP 703) for the py313t tox environment.
#
# Why build: nothing on the CI machine can download an interpreter (pyenv, uv and
# friends fetch from hosts that are not reachable), and no Debian suite ships a
# free-threaded binary package.  Debian trixie's python3.13 *source* package is
# served by the machine's own mirror, so we build from it with
# `./configure --disable-gil` (about 3.5 min on two cores, Tk included).
# forky's and sid's sources are not served (404), so 3.14t and 3.15t cannot be built.
#
# The result goes to $PREFIX (default /opt/tcpchat-py313t) and is reused by the
# next run on the same machine if it is a working free-threaded build; a fresh
# machine builds it.  Prints the interpreter's path as the last line.
# Needs root (apt), the build dependencies (.ci/run installs them) and a C compiler.
# Usage: bash .ci/build-py313t.sh [PREFIX]
set -euo pipefail

PREFIX="${1:-${TCPCHAT_PY313T_PREFIX:-/opt/tcpchat-py313t}}"
PYTHON="$PREFIX/bin/python3.13t"

log() { printf 'build-py313t: %s\n' "$*" >&2; }

works() {
	# A free-threaded build whose GIL is off with PYTHON_GIL=0, with the modules the
	# tests and pip need.
	[[ -x $PYTHON ]] && PYTHON_GIL=0 "$PYTHON" -c '
import sys, ssl, sqlite3, ctypes, tkinter, venv, ensurepip
assert not sys._is_gil_enabled(), "the GIL is enabled"
' 2>/dev/null
}

if works; then
	log "reusing $("$PYTHON" -VV | head -n1) at $PYTHON"
	echo "$PYTHON"
	exit 0
fi

# The machine's own Debian mirror (no host name is written in the project).
# shellcheck disable=SC2016 # $(SITE) is apt's placeholder, not the shell's
MIRROR="$(apt-get indextargets --format '$(SITE)' 'Codename: bookworm' | head -n1)"
[[ -n $MIRROR ]] || {
	log "no bookworm mirror in this machine's apt configuration"
	exit 1
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

# A private apt configuration with a deb-src line for trixie: the machine's own
# sources, lists and cache are left untouched.
mkdir -p "$WORK/sources" "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/src"
cat >"$WORK/sources/trixie-src.sources" <<SOURCES
Types: deb-src
URIs: $MIRROR
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt_options=(
	-o "Dir::Etc::SourceList=/dev/null"
	-o "Dir::Etc::SourceParts=$WORK/sources"
	-o "Dir::State::Lists=$WORK/lists"
	-o "Dir::Cache=$WORK/cache"
	-o "APT::Sandbox::User=root" # the private folders are root's own
)
log "fetching trixie's python3.13 source package"
apt-get "${apt_options[@]}" update -qq
(cd "$WORK/src" && apt-get "${apt_options[@]}" source --download-only -qq python3.13)
# The upstream tarball is all we need: Debian's patches adapt the layout to Debian.
orig="$(ls "$WORK"/src/python3.13_*.orig.tar.* | head -n1)"
tar -C "$WORK/src" -xf "$orig"
tree="$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'Python-3.13*' | head -n1)"
[[ -n $tree ]] || {
	log "no Python-3.13* folder in $orig"
	exit 1
}
log "source $(basename "$tree") ready in $((SECONDS - start)) s"

cd "$tree"
step=$SECONDS
./configure --disable-gil --prefix="$PREFIX" --with-ensurepip=install \
	>"$WORK/configure.log" 2>&1 || {
	tail -n 40 "$WORK/configure.log" >&2
	exit 1
}
log "configure: $((SECONDS - step)) s"
step=$SECONDS
make -j"$(nproc)" >"$WORK/make.log" 2>&1 || {
	tail -n 60 "$WORK/make.log" >&2
	exit 1
}
log "make -j$(nproc): $((SECONDS - step)) s"
# Modules that failed to build are listed by make, not fatal: the tests need these.
grep -A3 -E 'Failed to build these modules|Following modules built successfully but were removed' \
	"$WORK/make.log" >&2 || true
step=$SECONDS
rm -rf "$PREFIX"
make install >"$WORK/install.log" 2>&1 || {
	tail -n 40 "$WORK/install.log" >&2
	exit 1
}
log "make install: $((SECONDS - step)) s"

works || {
	log "the build at $PYTHON does not work as a free-threaded Python with ssl, sqlite3, ctypes, tkinter"
	PYTHON_GIL=0 "$PYTHON" -c 'import sys, ssl, sqlite3, ctypes, tkinter; print(sys._is_gil_enabled())' >&2 || true
	exit 1
}
log "built $("$PYTHON" -VV | head -n1) in $((SECONDS - start)) s"
echo "$PYTHON"
