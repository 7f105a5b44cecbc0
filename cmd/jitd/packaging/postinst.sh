#!/bin/sh
# Installed, not started: the configuration must name real directories first.
set -e
if [ "$1" = configure ]; then
	install -d -o jitd -g jitd -m 0700 /var/lib/jitd
	chown root:jitd /etc/jitd/config.yaml
	chmod 0640 /etc/jitd/config.yaml
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null || true
	fi
	echo "jitd: edit /etc/jitd/config.yaml, check it with jitd config check --online --config /etc/jitd/config.yaml,"
	echo "jitd: then systemctl enable --now jitd"
fi
exit 0
