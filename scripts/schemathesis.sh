#!/usr/bin/env bash
# Runs Schemathesis (v4, from PyPI) with every check against a running server built from this
# tree, on a fresh SQLite file, and fails on any finding: the OpenAPI document must describe
# the API it serves (issue 14 §2).
#
#   scripts/schemathesis.sh [BINARY]     (default target/debug/loyalty, which `cargo test` built)
#
# LOYALTY_ST_EXAMPLES (default 40) bounds the examples per operation and phase, so the whole
# step takes a few minutes; LOYALTY_ST_VENV is where Schemathesis is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/debug/loyalty}"
EXAMPLES="${LOYALTY_ST_EXAMPLES:-40}"
VENV="${LOYALTY_ST_VENV:-${TMPDIR:-/tmp}/loyalty-schemathesis-venv}"
KEY="schemathesis-admin-key-0123456789"

if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'schemathesis>=4,<5'
fi
[ -x "$BIN" ] || cargo build -p loyalty

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
LOYALTY_ADMIN_KEY="$KEY" LOYALTY_LOG=warn "$BIN" serve --database-url "sqlite://$WORK/st.db" \
  --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq 1 60); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.5
done
curl -fsS "$BASE/healthz" >/dev/null

# Every check, none excluded (scripts/schemathesis.toml lists the operations whose rules a
# schema cannot state, where a 422 answers a schema-valid request). The admin key passes every
# scope group, so every operation is reached past its auth layer (the scope contract test covers who else may call what).
# One worker: with two, Hypothesis parses lambda sources on two threads at once, and CPython
# 3.11.7's `ast.parse` is not safe for that ("SystemError: AST constructor recursion depth
# mismatch", seen as a runtime error of a random operation).
run_st() {
  "$VENV/bin/st" --config-file scripts/schemathesis.toml run "$BASE/openapi.json" \
    --checks all \
    --max-examples "$EXAMPLES" \
    --workers 1 \
    --seed 14 \
    --request-timeout 120 \
    --max-response-time 120 \
    --phases examples,coverage,fuzzing \
    -H "Authorization: Bearer $KEY" \
    "${@:2}"
}
# A generated request may ask for up to a million one-time codes, which the debug binary takes
# longer than Schemathesis' default 10 s to write: requests get 120 s, and so does the
# response-time check. The stateful phase is left out: its sequences depend on what earlier
# requests stored and on timing, so a seeded run did not find the same things twice, and a CI
# step must (it found one real gap, a replayed adjustment's undocumented 200, now documented).
# Schemathesis 4 sometimes stops an operation on an error of its own ("AST constructor recursion
# depth mismatch", inside Hypothesis), not on a finding about the API; such a run is tried
# once more. A run with a finding fails at once.
if ! run_st "$@" | tee "$WORK/st.log"; then
  if grep -q "Runtime Error" "$WORK/st.log" && ! grep -q "=== FAILURES ===" "$WORK/st.log"; then
    echo "== schemathesis stopped on an internal error, not a finding: once more"
    run_st "$@"
  else
    exit 1
  fi
fi
