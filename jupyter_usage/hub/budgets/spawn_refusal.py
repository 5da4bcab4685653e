"""The error a refused spawn raises, worded for JupyterHub's spawn page as well as its API.

JupyterHub's spawn page shows an `HTTPError` raised by a pre-spawn hook as its generic
"Failed to start your server on the last attempt" unless the exception carries
`jupyterhub_message` (text) or `jupyterhub_html_message` (markup); the REST API answers
with the error's own message either way. Both attributes are set, so the person at the
browser reads what the API client reads.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from tornado import web

USAGE_LINK_TEXT = "See your usage and budgets"


def spawn_error(status: int, message: str, html: str | None = None) -> web.HTTPError:
    """An `HTTPError` whose `message` the hub's spawn page shows (and `html`, when given)."""
    error = web.HTTPError(status, message)
    error.jupyterhub_message = message  # type: ignore[attr-defined]
    error.jupyterhub_html_message = html or f"<p>{escape(message)}</p>"  # type: ignore[attr-defined]
    return error


def refusal_error(
    message: str, resets_at: float, when: str, usage_url: str | None
) -> web.HTTPError:
    """A 403 for a spent budget: `message` as text; as markup, the reset time (`when`,
    written out in the hub's time zone, as `message` has it) marked up as a time, and a
    link to the usage service (`usage_url`, a path on the hub's host), when known."""
    moment = datetime.fromtimestamp(resets_at, timezone.utc).isoformat().replace("+00:00", "Z")
    marked = escape(message).replace(
        escape(when), f'<time datetime="{moment}">{escape(when)}</time>', 1
    )
    html = f"<p>{marked}</p>"
    if usage_url:
        html += f'<p><a href="{escape(usage_url, quote=True)}">{USAGE_LINK_TEXT}</a></p>'
    return spawn_error(403, message, html)
