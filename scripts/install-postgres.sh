#!/bin/sh
# Installs the PostgreSQL server binaries that orchard's embedded database
# (store/embeddedpg) runs, unless some are already present. Safe to re-run.
set -eu
# Progress goes to stderr so callers can capture stdout (see make test-db).
exec 1>&2

find_initdb() {
	if command -v initdb >/dev/null 2>&1; then
		command -v initdb
		return 0
	fi
	for f in /usr/lib/postgresql/*/bin/initdb; do
		if [ -x "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

if found=$(find_initdb); then
	echo "install-postgres: PostgreSQL server binaries already present ($found); nothing to do"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-postgres: no initdb found and apt-get is unavailable; install the PostgreSQL server package with your system's package manager" >&2
	exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-postgres: no initdb found; run this script as root to install PostgreSQL" >&2
		exit 1
	fi
	SUDO=sudo
fi

echo "install-postgres: no initdb found; installing PostgreSQL with apt-get"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql

if found=$(find_initdb); then
	echo "install-postgres: installed; initdb is $found"
else
	echo "install-postgres: apt-get finished but initdb is still missing" >&2
	exit 1
fi
