#!/bin/sh
# purge removes the data (grants, audit log, keys) and the user; remove keeps them.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/jitd
	if getent passwd jitd >/dev/null; then
		deluser --quiet --system jitd >/dev/null || true
	fi
fi
exit 0
