"""Scenarios: "what if" cases as short, versioned text, run against a base curve and compared with it.

A scenario is text, one statement per line; ``#`` starts a comment. Keywords are lower case; names are
letters, digits and ``_``. The grammar is ``grammar.lark`` (lark, LALR); :mod:`.language` parses and checks
it,
:mod:`.engine` evaluates it, :mod:`.store` keeps assumptions, runs and output curves;
:mod:`marketintel.services.scenarios` is the one call per use case (check, run, runs, compare, assumptions).

Statements
----------
``scenario "NAME"``
    The scenario's name (once; not ``base``). Its output curves are stored with ``curves.scenario = NAME``.
``base curve CURVE [as of YYYY-MM-DD [version N]]``
    The base is a stored curve: the latest version of the latest build whose information cutoff is at or
    before the end of that date in the curve's market zone (the build current at the end of that trade
    date); without ``as of``, the latest build. ``version N`` picks that version of the chosen cutoff.
``base quotes "FILE" [daily|hourly] [weights hours|days] [calendar NAME] [tz ZONE] [from DATE to DATE]
[shape "FILE"] [as of DATE] [named CURVE]``
    The base is built from a contracts CSV (``name,start,end,price[,bid,ask][,profile]``, as
    ``mi curves build --quotes``); relative file names are read from the working directory (``mi scenario``:
    the scenario file's folder). ``weights`` defaults by the calendar's commodity (gas: days, power: hours);
    ``calendar`` defaults to one of zone ``tz`` and the commodity the weights suggest (``weights days`` in
    ``America/...``: HENRY_HUB with the zone replaced), else ``EEX_DE``; ``from .. to`` to the quoted strip;
    ``as of`` (the trade date, giving the cutoff) to today; ``named`` to ``<file stem>_<granularity>``.
    The base build is stored once (scenario ``base``) so runs can be compared with it later.
    One ``base`` per scenario.
``use NAME[@N]``
    Assumption NAME at version N, or its latest version when the scenario runs (the version used is
    recorded with the run). Assumptions are named, versioned values in the store (``mi scenario assume``):
    a scalar (a heat rate, a growth rate) or a series by date (a fuel price path), where each point's value
    holds from its date until the next point's.
``shift START..END [on PROFILE] by AMOUNT``
    Changes the built curve on the delivery days START..END (local, inclusive), pointwise, in the order the
    shifts are written: ``by +15%`` multiplies by 1.15 (``by -10%`` by 0.9, ``by +load_growth%`` by
    1 + load_growth/100), ``by +0.25`` adds 0.25 in the curve's unit, ``by *1.15`` multiplies by 1.15.
    AMOUNT is an expression (below); a series assumption in it takes its value on each delivery day.
    ``on peak`` (hourly curves) shifts only the profile's hours.
``requote CONTRACT = VALUE``
    Replaces a quoted contract's price (VALUE: a number or an expression of scalar assumptions) *before*
    the build: the curve is rebuilt from the base's quotes with the new ones, so it reprices every quote,
    the new ones included, exactly; shifts then apply to the rebuilt curve. A stored base is rebuilt from
    the quotes its lineage names (the stored settlements of its trade date, or the contracts recorded with
    the build), checked against the build's inputs sha256.
``derive NAME = EXPR [in "UNIT"]``
    A second output curve, pointwise: EXPR may use ``base`` (the base curve), ``scenario`` (the scenario
    curve after requotes and shifts), assumptions and earlier derived series, e.g.
    ``derive power = scenario * heat_rate + spread in "USD/MWh"``. Stored as curve ``NAME`` (upper case)
    tagged with the scenario; its unit defaults to the base's.

Expressions: numbers, names, ``+ - * /``, unary minus, parentheses, the usual precedence.

Errors are :class:`ScenarioError` (a :class:`~marketintel.exceptions.MarketIntelError`) with ``line`` and
``column``: :class:`ScenarioSyntaxError` says what was expected there; :class:`UnknownNameError` lists the
curves, contracts or assumptions that exist, closest first.

Example::

    scenario "gas-cold-winter"
    base curve HENRY_HUB_DAILY as of 2014-12-29
    use heat_rate@2
    use spread
    shift 2015-01-01..2015-03-31 by +15%       # a cold first quarter
    shift 2015-12-01..2016-02-29 by +0.25      # and a dearer next winter [USD/MMBtu]
    requote M-2015-06 = 3.10
    derive power = scenario * heat_rate + spread in "USD/MWh"
"""

from marketintel.scenarios.errors import ScenarioError, ScenarioSyntaxError, UnknownNameError

__all__ = ["ScenarioError", "ScenarioSyntaxError", "UnknownNameError"]
