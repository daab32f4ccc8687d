"""Rules compiled to the engine: expansion, slots, the row-policy filter and the server DDL, as text."""

from __future__ import annotations

import json

import pytest

from marketintel.access import policy
from marketintel.access.policy import RuleSpec, compile_user, expand, row_filter, server_ddl
from marketintel.access.rules import AccessError, format_duration, make_rule, parse_duration

CATALOGUE = [
    ("SPP_DA", "SPPNORTH_HUB", "hub"),
    ("SPP_DA", "AECC_CSWS", "settlement_location"),
    ("SPP_RT", "SPPSOUTH_HUB", "hub"),
    ("PJM", "WESTERN HUB", "hub"),
]


def test_patterns_expand_over_the_catalogue_exactly() -> None:
    rule = RuleSpec("prices", markets=("SPP*",), locations=("*_HUB",))
    assert expand(rule, CATALOGUE) == {("SPP_DA", "SPPNORTH_HUB"), ("SPP_RT", "SPPSOUTH_HUB")}
    by_type = RuleSpec("prices", location_types=("hub",))
    assert len(expand(by_type, CATALOGUE)) == 3
    exact = RuleSpec("prices", locations=("WESTERN HUB",))
    assert expand(exact, CATALOGUE) == {("PJM", "WESTERN HUB")}
    assert expand(RuleSpec("prices", locations=("spp*",)), CATALOGUE) == set()  # case-sensitive


def test_rules_add_up_and_split_by_delay_and_history() -> None:
    rules = [
        RuleSpec("prices", markets=("PJM",)),
        RuleSpec("prices", markets=("SPP*",), locations=("*_HUB",), export=True),
        RuleSpec("prices", markets=("ERCOT",), delay_s=3600),
        RuleSpec("fundamentals"),
    ]
    out = compile_user("u", rules, {"prices": CATALOGUE})
    prices = out["t"]["prices"]  # type: ignore[index]
    assert [(s["d"], s["h"]) for s in prices] == [(0, 0), (3600, 0)]
    assert prices[0]["m"] == ["PJM"] and len(prices[0]["k"]) == 2 and prices[0]["a"] == 0
    assert prices[1]["m"] == ["ERCOT"]
    assert out["t"]["fundamentals"] == [{"a": 1, "m": [], "k": [], "d": 0, "h": 0}]  # type: ignore[index]
    assert out["x"] == ["prices"]


def test_more_delay_classes_than_slots_is_refused() -> None:
    rules = [RuleSpec("prices", markets=("PJM",), delay_s=60 * k) for k in range(policy.SLOTS + 1)]
    with pytest.raises(ValueError, match="at most"):
        compile_user("u", rules, {})


def test_the_row_filter_reads_only_the_connection_setting_and_the_database() -> None:
    text = row_filter("prices_hourly", "mkt")
    assert text.startswith("getSetting('log_comment') = 'rls:all' OR ")
    assert "'d', 'mkt', 't', 'prices', 1, 'k'" in text and "max_published_at_utc <=" in text
    assert "hour_utc >=" in text and text.count(" IN JSONExtract") == 2 * policy.SLOTS
    assert row_filter("access_rules", "mkt") == "getSetting('log_comment') = 'rls:all'"
    curves = row_filter("curves", "mkt")
    assert "market" not in curves and "curve_name IN JSONExtract" in curves
    xml = policy.users_xml(["mkt", "default"])
    assert (
        "<mkt><prices><filter>" in xml
        and "<instruments><filter>" in xml
        and "<log_comment><const/></log_comment>" in xml
    )
    assert "&lt;=" in xml  # escaped


def test_entitlement_text_is_bounded() -> None:
    big = {"db": compile_user("u", [RuleSpec("prices", locations=("*",))], {"prices": [
        ("M", f"LOCATION_{i:06d}", "node") for i in range(20_000)]})}  # fmt: skip
    with pytest.raises(ValueError, match="more than the engine's"):
        policy.entitlement_text("u", big)
    assert json.loads(policy.entitlement_text("u", {"db": compile_user("u", [], {})}))["u"] == "u"


def test_server_ddl_has_roles_grants_and_one_policy_per_group_and_table() -> None:
    rules = {"customers-spp": [RuleSpec("prices", markets=("SPP*",), locations=("*_HUB",), delay_s=3600)]}
    ddl = server_ddl({"pilot": ["customers-spp"], "boss": ["admins"]}, rules, {"prices": CATALOGUE},
                     database="mkt", cluster="prod")  # fmt: skip
    assert "CREATE ROLE IF NOT EXISTS mi_group_customers-spp ON CLUSTER 'prod'" in ddl
    pol = next(s for s in ddl if s.startswith("CREATE ROW POLICY OR REPLACE mi_customers-spp_prices "))
    assert "ON CLUSTER 'prod' ON mkt.prices AS PERMISSIVE FOR SELECT USING" in pol
    assert "(market, location) IN (('SPP_DA', 'SPPNORTH_HUB'), ('SPP_RT', 'SPPSOUTH_HUB'))" in pol
    assert "published_at_utc <= now64(3) - toIntervalSecond(3600)" in pol
    other = next(
        s for s in ddl if s.startswith("CREATE ROW POLICY OR REPLACE mi_customers-spp_fundamentals ")
    )
    assert "USING 0 TO" in other  # no rule on the table: nothing
    assert any(s.startswith("CREATE ROW POLICY OR REPLACE mi_admins_prices ") and "USING 1" in s for s in ddl)
    assert "GRANT ON CLUSTER 'prod' mi_group_customers-spp TO pilot" in ddl


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("90 min", 5400), ("30d", 2_592_000), ("2y", 63_072_000), ("PT1H", 3600), ("15", 15)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_bad_input_names_what_is_expected() -> None:
    with pytest.raises(AccessError, match="duration looks like"):
        parse_duration("soon")
    with pytest.raises(AccessError, match="--location-type does not apply to fundamentals"):
        make_rule("pilot", "fundamentals", location_types=("hub",))
    with pytest.raises(AccessError, match="one of"):
        make_rule("pilot", "price")
    with pytest.raises(AccessError, match="sees everything already"):
        make_rule("admins", "prices")
    with pytest.raises(AccessError, match="lowercase"):
        make_rule("Pilot Group", "prices")
    assert format_duration(3600) == "1h" and format_duration(0) == "-"
