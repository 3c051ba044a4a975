#!/usr/bin/env bash
# Browser tests (test/browser) need Debian's Chromium and the npm packages in
# test/browser/package-lock.json. Installs what is missing; a no-op otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
	echo "browser.sh: installing chromium (apt-get)"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "browser.sh: node and npm are needed for the browser tests: apt-get install -y nodejs npm" >&2
	exit 1
fi

# node_modules is stale when it was installed from another lock file: the
# checksum of the lock it came from is kept beside it.
dir=test/browser
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
have=$(cat "$dir/node_modules/.lookout-lock.sha256" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
	echo "browser.sh: npm ci in $dir"
	(cd "$dir" && npm ci --no-audit --no-fund)
	echo "$want" >"$dir/node_modules/.lookout-lock.sha256"
fi
