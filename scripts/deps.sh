#!/bin/sh
# Installs the Debian packages some tests drive for real: chromium (the
# report renders in a real browser), supervisor (the real supervisorctl
# talks to tend), redis-server (a daemon that speaks the systemd
# notification protocol, under tend), systemd's systemd-notify and tmux
# (`tend top` runs on a real terminal). Needs root and Debian's apt;
# elsewhere it says what is missing and those tests skip.
set -eu
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v supervisorctl >/dev/null 2>&1 || missing="$missing supervisor"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v systemd-notify >/dev/null 2>&1 || missing="$missing systemd"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: not root or no apt-get; missing:$missing (the tests that need them will skip)" >&2
	exit 0
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# supervisor's package would start its own daemon; tests start what they need.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
	echo "deps: apt-get could not install$missing (the tests that need them will skip)" >&2
fi
rm -f /usr/sbin/policy-rc.d
