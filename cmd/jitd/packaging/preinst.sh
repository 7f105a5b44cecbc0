#!/bin/sh
# The jitd system user owns the data directory; it has no shell and no home
# but the data.
set -e
if [ "$1" = install ] || [ "$1" = upgrade ]; then
	if ! getent group jitd >/dev/null; then
		addgroup --system --quiet jitd
	fi
	if ! getent passwd jitd >/dev/null; then
		adduser --system --quiet --ingroup jitd --home /var/lib/jitd --no-create-home --shell /usr/sbin/nologin --gecos "jitd" jitd
	fi
fi
exit 0
