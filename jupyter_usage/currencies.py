"""ISO 4217 alphabetic codes in current use, for validating `CostModel.currency`.

Taken from ISO 4217 list one (table A.1, currencies and funds) as published on 2024-06-25,
then brought up to date with CLDR's currency dates: XCG added (the Caribbean guilder, legal
tender since 2025-03-31) and ANG removed (it ceased to be legal tender on 2025-06-30). BGN
stays until list one drops it: rejecting a code still listed would stop a server at start-up.
The X-codes for funds, precious metals, testing (XTS) and "no currency" (XXX) are part of
list one, so they are accepted too.
"""

from __future__ import annotations

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
