"""`python -m jupyter_usage.hub`: start the hub history service, or run one of its commands.

python -m jupyter_usage.hub [--UsageService.option=value …]   the service (as the hub runs it)
python -m jupyter_usage.hub import --db-url URL FILE.jsonl …   sessions as servers POST them
python -m jupyter_usage.hub export --db-url URL > FILE.jsonl   every stored session
python -m jupyter_usage.hub import-events --db-url URL FILE …  JupyterHub's server events
"""

from __future__ import annotations

import sys


def run(argv: list[str]) -> int:
    if argv[:1] == ["import-events"]:
        from .intake.import_events import main as import_events

        return import_events(argv[1:])
    if argv[:1] in (["import"], ["export"]):
        from .cli import main as command

        return command(argv)
    from .service import main

    main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
