"""jupyter-usage: see what your Jupyter server uses and costs."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # a source checkout that was never built
    __version__ = "dev"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-usage"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import UsageApp

    return [{"module": "jupyter_usage", "app": UsageApp}]
