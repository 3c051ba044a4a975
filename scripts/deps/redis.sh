#!/usr/bin/env bash
# Installs redis-server (Debian's package), which the redis source's
# integration tests and test/brokers start on a free port. No-op when present.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "redis-server is missing; install it as root: apt-get update && apt-get install -y redis-server" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq redis-server >/dev/null
