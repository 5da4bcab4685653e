#!/usr/bin/env bash
# Copy the screenshots the UI tests took (ui-tests/test-results/) to docs/images/, where
# the README and docs/ui.md show them. Run after `CI=1 jlpm playwright test` in ui-tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
results=ui-tests/test-results
copied=0
for name in usage-panel-light usage-panel-dark usage-kernels session-summary \
    usage-dashboard usage-dashboard-dark usage-panel-250 usage-panel-320 usage-panel-400 \
    usage-panel-1400x900 usage-panel-1366x768 \
    notebook7-dashboard usage-budget usage-budget-bars usage-budget-status usage-budget-notices; do
  if [ -f "$results/$name.png" ]; then
    cp "$results/$name.png" "docs/images/$name.png"
    copied=$((copied + 1))
  else
    echo "not found (its test did not run or failed): $results/$name.png" >&2
  fi
done
echo "copied $copied screenshots to docs/images/"
