"""Budgets: the rules and their traits, use against a budget, the keeper and the stop loop,
the refusals counted, and the spawn hook that runs inside JupyterHub's own process.

`from jupyter_usage.hub.budgets import refuse_over_budget` (and `record_allocation`,
`allocation_of`, `chain_hooks`) are the spawn hooks' public names, so this package imports
nothing else: JupyterHub's process loads it alone.
"""

from .spawn_allocation import allocation_of, record_allocation
from .spawn_hook import chain_hooks, refuse_over_budget

__all__ = ["allocation_of", "chain_hooks", "record_allocation", "refuse_over_budget"]
