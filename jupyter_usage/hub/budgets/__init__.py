"""Budgets: the rules and their traits, use against a budget, the keeper and the stop loop,
the refusals counted, and the spawn hook that runs inside JupyterHub's own process.

`from jupyter_usage.hub.budgets import refuse_over_budget` is the spawn hook's public
name, so this package imports nothing else: JupyterHub's process loads it alone.
"""

from .spawn_hook import chain_hooks, refuse_over_budget

__all__ = ["chain_hooks", "refuse_over_budget"]
