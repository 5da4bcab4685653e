"""The hub history service: `python -m jupyter_usage.hub`, run by JupyterHub as a service.

It needs JupyterHub and SQLAlchemy (the `hub` extra); the single-user extension does not
import this package.
"""
