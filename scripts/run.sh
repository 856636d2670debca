#!/bin/sh
# Starts `orchard serve` with its embedded PostgreSQL in $DATA_DIR. Called by
# `make run`.
#
# As root, orchard runs PostgreSQL as an unprivileged user, which must be able
# to enter every parent of the data directory. A checkout under /root (mode
# 0700) is the common case where it cannot; rather than loosen /root, the data
# goes to /var/lib/orchard/<checkout hash>, and this says so.
set -eu
: "${DATA_DIR:?}" "${BIN:?}"

server_user() {
	for u in postgres nobody; do
		if id "$u" >/dev/null 2>&1; then
			echo "$u"
			return
		fi
	done
}

if [ "$(id -u)" -eq 0 ]; then
	user=$(server_user)
	parent=$(cd "$(dirname "$DATA_DIR")" && pwd)
	if [ -n "$user" ] && ! runuser -u "$user" -- test -x "$parent" 2>/dev/null; then
		fallback=/var/lib/orchard/$(printf %s "$parent" | sha256sum | cut -c1-8)
		echo "run: $user cannot enter $parent; keeping orchard's data in $fallback instead" >&2
		mkdir -p "$fallback"
		chmod 0755 /var/lib/orchard
		DATA_DIR=$fallback/orchard-data
		echo "run: other orchard commands need --data-dir $DATA_DIR" >&2
	fi
fi

exec "$BIN" serve --data-dir "$DATA_DIR" "$@"
