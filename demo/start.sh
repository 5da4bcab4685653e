#!/usr/bin/env bash
# Start JupyterLab on 127.0.0.1 with the extension and the demo configuration.
#
# Everything the demo writes lives under .demo-home/ (notebooks) and .demo-data/
# (the usage store, JupyterLab's workspaces and settings), so it never mixes with
# your own history. The store starts empty on every start: pass --keep-history to
# keep the sessions of earlier demo runs. DEMO_TOKEN sets the token (default random);
# DEMO_HOME and DEMO_DATA move the two directories (relative to the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-8888}
keep=${2:-}
home=${DEMO_HOME:-.demo-home}
data=${DEMO_DATA:-.demo-data}
mkdir -p "$home"
cp -n demo/usage-demo.ipynb "$home/" 2>/dev/null || true
if [ "$keep" != "--keep-history" ]; then
  rm -rf "$data"
fi
mkdir -p "$data/usage" "$data/workspaces" "$data/settings"
data=$(cd "$data" && pwd)
export JUPYTERLAB_WORKSPACES_DIR="$data/workspaces"
export JUPYTERLAB_SETTINGS_DIR="$data/settings"
token=${DEMO_TOKEN:-$(python -c "import secrets; print(secrets.token_hex(16))")}
echo
echo "JupyterLab with jupyter-usage: http://127.0.0.1:${port}/lab/tree/usage-demo.ipynb?token=${token}"
echo "Usage is the bar-chart icon in the right sidebar; the status bar item (CPU · Mem · cost)"
echo "opens it too. Warnings come as notifications even while it is closed."
if [ "$keep" = "--keep-history" ]; then
  echo "History: kept from earlier demo runs in $data/usage."
else
  echo "History: empty (a fresh store in $data/usage; --keep-history keeps it)."
fi
echo "Stop with Ctrl+C."
echo
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-root)
exec jupyter lab --no-browser --ip=127.0.0.1 --port="$port" \
  --IdentityProvider.token="$token" --ServerApp.root_dir="$home" \
  --UsageApp.data_dir="$data/usage" \
  --config=demo/jupyter_server_config.py "${extra[@]}"
