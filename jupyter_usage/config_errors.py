"""Configuration mistakes found at start, each kept local to the setting it concerns.

jupyter_server applies an extension's config in one step: when one value is refused,
every other value of the extension is dropped too, and the server starts anyway with all
of them at their defaults (toolchain fact 38). It also reads only the extension switches
from `jupyter_server_config.d/*.json` (fact 37), so rates an admin put there are silently
ignored. Both make a server that looks healthy and charges nothing. This module takes
the refused values out before they are applied, and finds settings in those folders, so
that the app can say what is wrong while every other setting stays in force.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from traitlets import TraitError
from traitlets.config import Config, Configurable
from traitlets.config.loader import DeferredConfig, LazyConfigValue

CONFD_IGNORED = "ignored"
REFUSED = "refused"


@dataclass(frozen=True)
class ConfigError:
    """One setting that is not in force, and why."""

    trait: str
    """`Class.name`, as written in a config file."""
    value: str
    """The value as configured (its repr, shortened)."""
    message: str
    """A sentence an admin recognises, ending with what happens instead."""
    kind: str = REFUSED
    """`refused` (a bad value: the default is used) or `ignored` (a place jupyter_server
    does not read for extensions)."""
    source: str | None = None
    """The file the setting came from, when known."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def take_out_refused(
    config: Config, instances: dict[str, Configurable]
) -> tuple[Config, list[ConfigError]]:
    """`config` without the values that the trait of one of `instances` refuses.

    `instances` maps a config section to an object of that class, used only to validate
    (nothing is set on it). Values traitlets resolves later (`.append()`, a command line
    string) are checked once resolved the same way traitlets resolves them.
    """
    errors: list[ConfigError] = []
    kept = Config(config)
    for section, obj in instances.items():
        if section not in config:
            continue
        traits = obj.traits(config=True)
        cleaned = Config()
        for name, value in config[section].items():
            trait = traits.get(name)
            if trait is None:
                cleaned[name] = value  # traitlets itself warns about unknown names
                continue
            try:
                resolved = value
                if isinstance(value, DeferredConfig):
                    resolved = value.get_value(trait)
                elif isinstance(value, LazyConfigValue):
                    resolved = value.get_value(trait.default())
                trait._validate(obj, resolved)
            except (TraitError, ValueError, TypeError) as error:
                errors.append(
                    ConfigError(
                        trait=f"{section}.{name}",
                        value=_shown(value),
                        message=_refused_message(section, name, error, trait.default()),
                    )
                )
                continue
            cleaned[name] = value
        kept[section] = cleaned
    return kept, errors


def _refused_message(section: str, name: str, error: Exception, default: Any) -> str:
    reason = str(error).strip()
    named = f"{section}.{name}"
    if named not in reason:
        reason = f"{named}: {reason}"
    return f"{reason}; using the default, {default!r}, and keeping every other setting"


def ignored_in_confd(
    config_dirs: list[str], sections: list[str], effective: Config
) -> list[ConfigError]:
    """Settings of `sections` in `<dir>/jupyter_server_config.d/*.json` that are not in
    force: jupyter_server reads only the extension switches there.

    A setting whose value is in force anyway (the same value also set in a file that is
    read) is not reported.
    """
    errors: list[ConfigError] = []
    seen: set[str] = set()
    for directory in config_dirs:
        pattern = os.path.join(directory, "jupyter_server_config.d", "*.json")
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            try:
                with open(path, encoding="utf-8") as file:
                    content = json.load(file)
            except (OSError, ValueError):
                continue  # jupyter_server reports an unreadable file itself
            if not isinstance(content, dict):
                continue
            for section in sections:
                settings = content.get(section)
                if not isinstance(settings, dict):
                    continue
                in_force = effective.get(section, {}) if section in effective else {}
                for name, value in settings.items():
                    if name in in_force and in_force[name] == value:
                        continue
                    errors.append(
                        ConfigError(
                            trait=f"{section}.{name}",
                            value=_shown(value),
                            message=(
                                f"{section}.{name} in {path} is ignored: jupyter_server "
                                "reads only the extension switches from "
                                "jupyter_server_config.d; put it in "
                                "jupyter_server_config.json or jupyter_server_config.py"
                            ),
                            kind=CONFD_IGNORED,
                            source=path,
                        )
                    )
    return errors
