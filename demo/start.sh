#!/usr/bin/env bash
# Start JupyterLab on 127.0.0.1 with the extension and the demo configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-8888}
home=.demo-home
mkdir -p "$home"
cp -n demo/usage-demo.ipynb "$home/" 2>/dev/null || true
token=$(python -c "import secrets; print(secrets.token_hex(16))")
echo
echo "JupyterLab with jupyter-usage: http://127.0.0.1:${port}/lab/tree/usage-demo.ipynb?token=${token}"
echo "Open the Usage panel from the right sidebar. Stop with Ctrl+C."
echo
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-root)
exec jupyter lab --no-browser --ip=127.0.0.1 --port="$port" \
  --IdentityProvider.token="$token" --ServerApp.root_dir="$home" \
  --config=demo/jupyter_server_config.py "${extra[@]}"
