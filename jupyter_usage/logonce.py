"""Logging for things that fail again and again: the sampler's sources, NVML, the disk
scan, the store and the hub client. An admin sees the first failure at its level; the
repeats go to debug until the thing works again and `forget` re-arms it."""

from __future__ import annotations

import logging
from typing import Any


class LogOnce:
    """A failing thing logs once at its level, then at debug until it works again."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.logger = logger
        self._said: set[str] = set()

    def __call__(self, key: str, level: int, message: str, *args: Any, **kwargs: Any) -> None:
        if key in self._said:
            self.logger.debug(message, *args, **kwargs)
        else:
            self._said.add(key)
            self.logger.log(level, message, *args, **kwargs)

    def forget(self, key: str) -> bool:
        """Re-arm `key`; True when it had been said."""
        if key in self._said:
            self._said.discard(key)
            return True
        return False
