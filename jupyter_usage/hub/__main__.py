"""`python -m jupyter_usage.hub`: start the hub history service."""

from __future__ import annotations

from .service import main

if __name__ == "__main__":
    main()
