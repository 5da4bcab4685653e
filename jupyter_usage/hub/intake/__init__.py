"""Sessions coming in: reports checked against SessionRecord, the JSON Lines import and
export, the watch over the hub's running servers, and JupyterHub's server events."""
