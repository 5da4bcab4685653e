"""One way to write money on every page the hub service writes: the report's figures and
the budget texts (the spawn page's refusal, the report's Budgets section)."""

from __future__ import annotations

import pytest

from jupyter_usage.currencies import format_money
from jupyter_usage.hub.budgets.rules import describe_amount
from jupyter_usage.hub.report import formatting as fmt


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0.004, "0.00400 EUR"),
        (0.0, "0.00 EUR"),
        (0.3, "0.300 EUR"),
        (12.4, "12.40 EUR"),
        (1234.5, "1,234.50 EUR"),
    ],
)
def test_the_report_and_the_budget_texts_write_an_amount_alike(amount: float, shown: str) -> None:
    assert format_money(amount, "EUR") == shown
    assert fmt.format_money_amount(amount, "EUR") == shown
    assert fmt.format_money({"EUR": amount}) == shown
    assert describe_amount(amount, {"currency": "EUR"}) == shown
