#!/bin/sh
# tcpchat-web-view: the browser view's screen and the page that shows it.
#
# 1. Xvnc, an X server that is also a VNC server: the screen the server and
#    client containers draw their windows on.  It picks a free display number
#    itself (-displayfd: with host networking, X's abstract sockets are shared
#    between containers, so a fixed number could collide), admits only holders
#    of a random cookie, and serves VNC on a Unix socket of this container's
#    own, never on a TCP port.
# 2. The display and the cookie are shared with the windows' containers through
#    the /tmp/.X11-unix volume: tcpchat.env (DISPLAY, XAUTHORITY) and
#    tcpchat.xauth (mode 600, uid 1000).  Their entrypoint reads tcpchat.env
#    (TCPCHAT_X11_ENV).
# 3. websockify serves noVNC's pages and relays the page's WebSocket to the VNC
#    socket, on TCPCHAT_WEB_LISTEN:TCPCHAT_WEB_PORT (0.0.0.0:6080 inside its
#    own network namespace; compose publishes it on the host's 127.0.0.1 only).
#
#   TCPCHAT_WEB_SCREEN  the screen's size, default 1280x720
#   tcpchat-web-view --check   the healthcheck: screen shared and page served
set -eu

say() { echo "tcpchat-web-view: $*" >&2; }

shared=/tmp/.X11-unix
private=/tmp/tcpchat-web
listen="${TCPCHAT_WEB_LISTEN:-0.0.0.0}"
port="${TCPCHAT_WEB_PORT:-6080}"

if [ "${1:-}" = "--check" ]; then
	[ "$listen" = "0.0.0.0" ] && listen=127.0.0.1
	test -S "$private/vnc.sock" && test -s "$shared/tcpchat.env" || exit 1
	exec python3 -c 'import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/vnc.html", timeout=2).close()' \
		"$listen" "$port"
fi

umask 077
rm -rf "$private" "$shared/tcpchat.env" "$shared/tcpchat.xauth"
mkdir "$private"
cookie="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
: >"$private/server.auth"
# The server reads every cookie in its -auth file whatever the display
# number, which is not known yet; ":0" is only a placeholder.
xauth -q -f "$private/server.auth" add :0 . "$cookie"
mkfifo "$private/displayfd"
Xvnc -displayfd 3 -auth "$private/server.auth" -nolisten tcp \
	-geometry "${TCPCHAT_WEB_SCREEN:-1280x720}" -depth 24 -desktop tcpchat \
	-rfbport -1 -rfbunixpath "$private/vnc.sock" -rfbunixmode 0600 \
	-SecurityTypes None -AlwaysShared -AcceptSetDesktopSize=0 \
	3>"$private/displayfd" >"$private/xvnc.log" 2>&1 &
number=""
read -r number <"$private/displayfd" || true
if [ -z "$number" ]; then
	say "Xvnc did not start:"
	tail -n 20 "$private/xvnc.log" >&2
	exit 1
fi

: >"$shared/tcpchat.xauth.new"
xauth -q -f "$shared/tcpchat.xauth.new" add ":$number" . "$cookie"
mv "$shared/tcpchat.xauth.new" "$shared/tcpchat.xauth"
printf 'DISPLAY=:%s\nXAUTHORITY=%s\n' "$number" "$shared/tcpchat.xauth" >"$shared/tcpchat.env.new"
mv "$shared/tcpchat.env.new" "$shared/tcpchat.env"
say "screen :$number (${TCPCHAT_WEB_SCREEN:-1280x720}); page on http://$listen:$port/"

# websockify in the foreground; Xvnc stays its child and ends with the container.
exec websockify --web /opt/tcpchat-web --unix-target "$private/vnc.sock" "$listen:$port"
