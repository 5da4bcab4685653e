"""Write docs/configuration.md from the traits' own help, so the two never disagree.

python scripts/config_reference.py            # rewrite the file
python scripts/config_reference.py --check    # exit 1 when it is out of date
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from traitlets import HasTraits, TraitType
from traitlets.config import Configurable

from jupyter_usage.app import UsageApp
from jupyter_usage.cost import CostModel
from jupyter_usage.hub.service import UsageService

TARGET = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

HEADER = """# Configuration reference

Every option of jupyter-usage, as `jupyter_server_config.py` sets it (for example
`c.CostModel.cpu_core_hour = 0.04`). A worked example of cost rates is in
[admins.md](admins.md). This page is generated from the code by
`python scripts/config_reference.py`; a test fails when it is out of date.
"""


def _kind(trait: object) -> str:
    """The traitlets type a trait is, as a config file writes it (not our subclass)."""
    for kind in type(trait).__mro__:
        if kind.__module__.startswith("traitlets"):
            return kind.__name__
    return type(trait).__name__


def _own(cls: type[HasTraits], name: str, trait: TraitType[Any, Any]) -> bool:
    """Defined on `cls`, or on a mixin of its own that is no Configurable (the service's
    BudgetConfig), rather than on a parent such as Application."""
    where = trait.this_class
    return name in cls.class_own_traits(config=True) or (
        where is not None and not issubclass(where, Configurable)
    )


def describe(cls: type[HasTraits]) -> str:
    lines = [f"## `{cls.__name__}`", "", inspect.cleandoc(cls.__doc__ or ""), ""]
    for name, trait in sorted(cls.class_traits(config=True).items()):
        if name in {
            "log_level",
            "log_format",
            "log_datefmt",
            "config_file",
            "config_file_name",
            "open_browser",
            "default_url",
            "file_url_prefix",
            "static_paths",
            "template_paths",
            "settings",
            "handlers",
            "answer_yes",
            "show_config",
            "show_config_json",
            "generate_config",
            "extra_args",
            "logging_config",
            "log",
            "parent",
        }:
            continue
        if cls is not CostModel and not _own(cls, name, trait):
            continue
        default = trait.default_value_repr()
        lines += [
            f"### `c.{cls.__name__}.{name}`",
            "",
            f"{_kind(trait)}, default `{default}`.",
            "",
            inspect.cleandoc(trait.help or ""),
            "",
        ]
    return "\n".join(lines)


def render() -> str:
    hub = (
        "The hub history service (`python -m jupyter_usage.hub`, see [hub.md](hub.md)) "
        "reads these from its own config file or command line."
    )
    parts = [HEADER, describe(UsageApp), describe(CostModel), hub, "", describe(UsageService)]
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python scripts/config_reference.py")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
