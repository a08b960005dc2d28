#!/bin/sh
# tcpchat-entrypoint: gives the command an X display, then runs it (exec "$@").
#
# The windows need an X server.  Either the host's display is forwarded
# (DISPLAY set, /tmp/.X11-unix mounted, XAUTHORITY pointing at a cookie), or
# this script starts a private Xvfb inside the container:
#   TCPCHAT_XVFB=auto  (default) start Xvfb only when DISPLAY is empty
#   TCPCHAT_XVFB=1     always start Xvfb (headless machines, CI, screenshots)
#   TCPCHAT_XVFB=0     never; run the command as it is
#   TCPCHAT_XVFB_SCREEN  its screen, default 1024x768x24
#   TCPCHAT_XVFB_FBDIR   if set, Xvfb keeps the screen as an XWD file,
#                        $TCPCHAT_XVFB_FBDIR/Xvfb_screen0: a screenshot at any time
#   TCPCHAT_X11_ENV      a file setting DISPLAY and XAUTHORITY: the screen another
#                        container shares (the browser view, docker/compose.web.yaml)
#
# Xvfb picks its own free display number (-displayfd).  A fixed ":99" is not
# safe: with host networking, X's abstract sockets are shared between
# containers, so two containers both asking for :99 would silently share one
# X server.  The display and cookie chosen are written to /tmp/tcpchat-x11.env
# for `docker exec` (which does not see this script's environment).
set -eu

say() { echo "tcpchat-entrypoint: $*" >&2; }

start_xvfb() {
	runtime="$(mktemp -d /tmp/tcpchat-x11.XXXXXX)"
	# A random cookie: only clients holding it may use this display, although
	# with host networking every process on the host can reach its socket.
	cookie="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
	# The server reads every cookie in its -auth file whatever the display
	# number, which is not known yet; ":0" is only a placeholder.  (Empty
	# files first: xauth complains about files that do not exist.)
	: >"$runtime/server.auth"
	: >"$runtime/client.auth"
	xauth -q -f "$runtime/server.auth" add :0 . "$cookie"
	mkfifo "$runtime/displayfd"
	# shellcheck disable=SC2086 # ${TCPCHAT_XVFB_FBDIR:+...} is two words or none
	Xvfb -displayfd 3 -auth "$runtime/server.auth" -nolisten tcp \
		-screen 0 "${TCPCHAT_XVFB_SCREEN:-1024x768x24}" \
		${TCPCHAT_XVFB_FBDIR:+-fbdir "$TCPCHAT_XVFB_FBDIR"} \
		3>"$runtime/displayfd" >"$runtime/xvfb.log" 2>&1 &
	# Xvfb writes its display number once it accepts clients: no polling.  If
	# it dies first, the read sees end of file and the number stays empty.
	number=""
	read -r number <"$runtime/displayfd" || true
	if [ -z "$number" ]; then
		say "Xvfb did not start:"
		cat "$runtime/xvfb.log" >&2
		exit 1
	fi
	DISPLAY=":$number"
	XAUTHORITY="$runtime/client.auth"
	export DISPLAY XAUTHORITY
	xauth -q -f "$XAUTHORITY" add "$DISPLAY" . "$cookie"
	printf 'DISPLAY=%s\nXAUTHORITY=%s\nexport DISPLAY XAUTHORITY\n' "$DISPLAY" "$XAUTHORITY" \
		>/tmp/tcpchat-x11.env
	say "started Xvfb on display $DISPLAY"
}

if [ -n "${TCPCHAT_X11_ENV:-}" ]; then
	. "$TCPCHAT_X11_ENV"
	export DISPLAY XAUTHORITY
fi

case "${TCPCHAT_XVFB:-auto}" in
1 | yes | true) start_xvfb ;;
auto)
	if [ -z "${DISPLAY:-}" ]; then
		say "DISPLAY is empty: the windows open on a private Xvfb, not on a desktop"
		start_xvfb
	fi
	;;
0 | no | false) ;;
*)
	say "TCPCHAT_XVFB must be auto, 1 or 0, not '$TCPCHAT_XVFB'"
	exit 2
	;;
esac

# Xvfb stays a child of this process after exec; when the command ends the
# container ends, and Xvfb with it.
exec "$@"
