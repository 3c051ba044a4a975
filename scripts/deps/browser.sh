#!/usr/bin/env bash
# Browser tests (test/browser) need Debian's Chromium and the npm packages in
# test/browser/package-lock.json. Installs what is missing; a no-op otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Chromium, and a Chinese font so the zh-CN screenshots show characters,
# not boxes (servers rarely have one).
pkgs=()
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then pkgs+=(fonts-wqy-microhei); fi
if [ ${#pkgs[@]} -gt 0 ]; then
	echo "browser.sh: installing ${pkgs[*]} (apt-get)"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${pkgs[@]}"
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
