"""The hub service's price list, seen from a single-user server.

Under a hub with the usage service, the service is the one price list: this server asks
it for the rates of its user and server (`GET <service>/api/v1/rates`) and prices its
session with them, so the panel shows what the hub charges. Without a service, or until
it answers, the server's own `CostModel` prices. Plain Python: the HTTP call is injected.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from .cost import BASES, RATE_NAMES, Rates
from .currencies import ACTIVE_CURRENCY_CODES

LOCAL = "local"
SERVICE = "service"
RATES_SOURCE_KEY = "rates_source"
"""`meta` key: where the session's rates came from, "local" or "service"."""


def _rate(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def rates_from_json(body: Any) -> Rates | None:
    """The `rates` of the service's answer, or None when they are not rates this server
    understands (every flat rate a number >= 0, a known currency and basis)."""
    rates = body.get("rates") if isinstance(body, Mapping) else None
    if not isinstance(rates, Mapping):
        return None
    flat = {name: _rate(rates.get(name)) for name in RATE_NAMES}
    by_model = rates.get("gpu_hour_by_model", {})
    currency, basis = rates.get("currency"), rates.get("basis")
    if any(value is None for value in flat.values()) or not isinstance(by_model, Mapping):
        return None
    if currency not in ACTIVE_CURRENCY_CODES or basis not in BASES:
        return None
    models = {str(model): _rate(rate) for model, rate in by_model.items()}
    if any(rate is None for rate in models.values()):
        return None
    sources = rates.get("sources", [])
    sources = sources if isinstance(sources, list) else []
    return Rates(
        **{name: float(value or 0.0) for name, value in flat.items()},
        gpu_hour_by_model={model: float(rate or 0.0) for model, rate in models.items()},
        currency=str(currency),
        basis=str(basis),
        sources=tuple(s for s in sources if isinstance(s, str)),
    )


def differences(local: Rates, service: Rates) -> list[str]:
    """What the server's own config prices differently from the service, by name."""
    names = [*RATE_NAMES, "gpu_hour_by_model", "currency", "basis"]
    return [name for name in names if getattr(local, name) != getattr(service, name)]


class ServiceRates:
    """Asks the service for rates until it answers, at most every `retry_seconds`."""

    def __init__(
        self,
        fetch: Callable[[], Any],
        *,
        retry_seconds: float,
        log: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.retry_seconds = retry_seconds
        self.log = log
        self._clock = clock
        self._next_try = float("-inf")
        self.rates: Rates | None = None
        self.without_price_list = False
        """The service answered that it has no price list: ask no more."""

    def due(self) -> bool:
        if self.rates is not None or self.without_price_list:
            return False
        return self._clock() >= self._next_try

    def fetch(self, local: Rates) -> Rates | None:
        """The service's rates, once it has answered with some; None until then. Logs
        which rates price the session, and a warning when the local ones differ."""
        if self.rates is not None:
            return self.rates
        self._next_try = self._clock() + self.retry_seconds
        if self.without_price_list:
            return None
        try:
            body = self._fetch()
            rates = rates_from_json(body)
        except Exception:  # the service's answer must never stop the server
            self.log.debug("jupyter_usage: cannot read the service's rates", exc_info=True)
            return None
        if rates is None:
            if isinstance(body, Mapping) and "rates" in body and body["rates"] is None:
                self.without_price_list = True
                self.log.info(
                    "jupyter_usage: the hub usage service has no price list; pricing with "
                    "this server's CostModel"
                )
            return None
        self.rates = rates
        different = differences(local, rates)
        if different and local != Rates(sources=local.sources):
            self.log.warning(
                "jupyter_usage: this server's CostModel differs from the hub usage "
                "service's in %s; the service's rates price the session (%s)",
                ", ".join(different),
                _describe(rates),
            )
        else:
            self.log.info(
                "jupyter_usage: pricing with the hub usage service's rates (%s)", _describe(rates)
            )
        return rates


def _describe(rates: Rates) -> str:
    shown = [f"{name}={getattr(rates, name):g}" for name in RATE_NAMES if getattr(rates, name)]
    return f"{', '.join(shown) or 'all free'} {rates.currency}, basis {rates.basis}"
