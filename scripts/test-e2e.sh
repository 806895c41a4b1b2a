#!/usr/bin/env bash
# npm run test:e2e [-- --n8n 1] [-- <jest args>]      npm run test:browser (= --browser)   npm run test:queue (= --queue)
# Provisions n8n (scripts/provision-n8n.sh, idempotent) and runs the e2e suite (jest.e2e.config.js) in band;
# --browser runs the browser suite (jest.browser.config.js: Chromium through n8n's editor) instead.
# --queue runs the queue-mode suite (jest.queue.config.js: per test file PostgreSQL + own Redis + main + 2 workers;
# needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and redis-server on PATH).
# --n8n 1|2 (or N8N_E2E_MAJOR) picks n8n 1.123.81 on the system Node or n8n 2.41.1 on Node 24 (default).
# Any other argument goes to jest, e.g. `npm run test:e2e -- -t OAuth` or a test file path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MAJOR="${N8N_E2E_MAJOR:-2}"
CONFIG=jest.e2e.config.js
JEST_ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
		--n8n) MAJOR="${2:?--n8n needs 1 or 2}"; shift 2 ;;
		--n8n=*) MAJOR="${1#--n8n=}"; shift ;;
		--browser) CONFIG=jest.browser.config.js; shift ;;
		--queue) CONFIG=jest.queue.config.js; shift ;;
		*) JEST_ARGS+=("$1"); shift ;;
	esac
done
export N8N_E2E_MAJOR="$MAJOR"

start=$(date +%s)
bash scripts/provision-n8n.sh --n8n "$MAJOR"
echo "[test:e2e] provisioning: $(( $(date +%s) - start )) s" >&2

jest_start=$(date +%s)
status=0
node node_modules/jest/bin/jest.js -c "$CONFIG" --runInBand ${JEST_ARGS[@]+"${JEST_ARGS[@]}"} || status=$?
echo "[test:e2e] jest ($CONFIG): $(( $(date +%s) - jest_start )) s, total: $(( $(date +%s) - start )) s (n8n $MAJOR)" >&2
exit $status
