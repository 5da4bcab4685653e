"""`python -m jupyter_usage.hub`: the hub history service, or `import` / `export`."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("import", "export"):
        from .cli import main as command

        sys.exit(command(sys.argv[1:]))
    from .service import main

    main()
