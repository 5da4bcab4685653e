#!/usr/bin/env bash
# Run the test suites (all of them by default, or the ones named) and end with
# one summary line. Expects the virtualenv active (see `make test`).
#
#   scripts/run-tests.sh [lint] [python] [js] [ui] [integration]
set -uo pipefail
cd "$(dirname "$0")/.."

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(lint python js ui integration)

passed=0
failed=0
failures=()

run() {
  local name=$1
  shift
  echo
  echo "=== $name: $* ==="
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

for suite in "${suites[@]}"; do
  case $suite in
    lint)
      run "ruff" ruff check jupyter_usage tests benchmarks demo scripts ui-tests/jupyter_server_test_config.py ui-tests/budget_hub.py
      run "ruff format" ruff format --check jupyter_usage tests benchmarks demo scripts ui-tests/jupyter_server_test_config.py ui-tests/budget_hub.py
      run "mypy" mypy
      run "prettier" jlpm prettier:check
      run "eslint" jlpm eslint:check
      run "tsc" jlpm typecheck
      ;;
    python)
      run "pytest" python -m pytest -W error tests --ignore=tests/integration -q
      ;;
    js)
      run "jest" jlpm jest --ci
      ;;
    ui)
      run "galata" bash -c "cd ui-tests && CI=1 jlpm playwright test"
      run "hub report" bash -c "cd ui-tests && CI=1 jlpm playwright test -c playwright-hub.config.js"
      ;;
    integration)
      run "integration" python -m pytest -W error tests/integration -q
      ;;
    *)
      echo "unknown suite: $suite" >&2
      failed=$((failed + 1))
      failures+=("$suite")
      ;;
  esac
done

echo
if [ $failed -gt 0 ]; then
  echo "Failed: ${failures[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
