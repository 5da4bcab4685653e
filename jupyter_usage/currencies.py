"""ISO 4217 alphabetic codes in current use, for validating `CostModel.currency`.

Taken from ISO 4217 list one (table A.1, currencies and funds) as published on 2024-06-25,
then brought up to date with CLDR's currency dates: XCG added (the Caribbean guilder, legal
tender since 2025-03-31) and ANG removed (it ceased to be legal tender on 2025-06-30). BGN
stays until list one drops it: rejecting a code still listed would stop a server at start-up.
The X-codes for funds, precious metals, testing (XTS) and "no currency" (XXX) are part of
list one, so they are accepted too.
"""

from __future__ import annotations

import math

_LIST_ONE = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP
    SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN
    UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD
    XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
"""

ACTIVE_CURRENCY_CODES: frozenset[str] = frozenset(_LIST_ONE.split())


def significant(value: float, digits: int = 3) -> str:
    """`value` with at least `digits` significant digits, thousands separated, so that two
    different small amounts never both read "0.0"."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else "\N{EN DASH}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{min(decimals, 6)}f}"


def format_money(amount: float, currency: str | None) -> str:
    """An amount of money as the hub's pages and budget texts write it: two decimals from
    1 up (or 0), three significant digits below, so that 0.004 EUR reads "0.00400 EUR",
    never "0.00 EUR"."""
    shown = f"{amount:,.2f}" if abs(amount) >= 1 or amount == 0 else significant(amount)
    return f"{shown} {currency or ''}".strip()
