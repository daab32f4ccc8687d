"""Entitlements enforced by the store: the seed's pilot on SPP's recorded nodal prices, and the bypass suite.

One store with a users file: ``default`` (admin), ``pilot`` (group ``customers-spp``: SPP's ``*_HUB``
locations of prices, no export), ``late`` (group ``delayed``: PJM delayed by one hour), ``nobody`` (a group
without rules), ``svc`` (a service account that may act for users) and ``flows`` (a writer service account).
SPP's day-ahead file has 1,234 settlement locations, five of them named ``*_HUB``; the same rows are also
stored as market PJM, published two hours and ten minutes ago, so the delay shows.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

from marketintel.access import rules
from marketintel.store.endpoint.auth import write_user
from marketintel.store.insert import insert_df
from marketintel.store.migrate import migrate
from tests.storeproc import start_store, wait_until

SPP = "SPP_DAY_AHEAD_HOURLY"
HUBS = {"GRDA_HUB", "HAST_TNSK_HUB", "KCPL_GMOC_HUB", "SPPNORTH_HUB", "SPPSOUTH_HUB"}
PASSWORDS = {
    "default": "admin-pw",
    "pilot": "pilot-pw",
    "late": "late-pw",
    "nobody": "nobody-pw",
    "svc": "svc-pw",
    "flows": "flows-pw",
}


def _frames(shared_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from marketintel.ingest import registry
    from marketintel.ingest.sdk import RawPayload

    path = shared_dir / "fixtures" / "spp" / "DA-LMP-SL-202503190100.csv"
    ingestor = registry.load("spp")()
    raw = RawPayload("spp", "lmp_day_ahead_hourly", path.as_uri(), path.read_bytes(), pd.Timestamp.now("UTC"))
    spp = ingestor.map_to_schema(raw)
    pjm = spp.copy()
    pjm["market"] = "PJM"
    now = pd.Timestamp.now("UTC").floor("s")
    # half published 2h10m ago (visible to a 1 h delay), half 10 minutes ago (not yet)
    pjm["published_at_utc"] = [now - pd.Timedelta("130min") if i % 2 else now - pd.Timedelta("10min")
                               for i in range(len(pjm))]  # fmt: skip
    return spp, pjm


@pytest.fixture(scope="module")
def ent(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("entitlements")
    users = tmp / "users.toml"
    write_user(users, "default", "admin", PASSWORDS["default"])
    write_user(users, "pilot", "reader", PASSWORDS["pilot"], groups=["customers-spp"])
    write_user(users, "late", "reader", PASSWORDS["late"], groups=["delayed"])
    write_user(users, "nobody", "reader", PASSWORDS["nobody"], groups=["prospects"])
    write_user(users, "svc", "reader", PASSWORDS["svc"], impersonate=True)
    write_user(users, "flows", "writer", PASSWORDS["flows"])
    sp = start_store(tmp / "store", "--users", str(users))
    admin = sp.client(username="default", password=PASSWORDS["default"])
    migrate(admin, database="default")
    spp, pjm = _frames(shared_dir)
    insert_df(admin, "prices", pd.concat([spp, pjm], ignore_index=True))
    admin.command(
        "INSERT INTO raw_payloads (source, dataset, sha256, url, request, http_status, content_type, "
        "size_bytes, payload, status, reason, fetched_at_utc) VALUES ('spp', 'lmp', 'x', 'u', '', 200, "
        "'text/csv', 3, 'secret payload', 'ok', '', now64(3))"
    )
    from marketintel.store.rollup import refresh_prices_hourly

    refresh_prices_hourly(admin)
    pilot_rule = rules.grant(
        admin,
        rules.make_rule("customers-spp", "prices", markets=["SPP*"], locations=["*_HUB"], changed_by="t"),
    )
    late_rule = rules.grant(admin, rules.make_rule("delayed", "prices", markets=["PJM"], delay="1h"))
    yield {"sp": sp, "spp": spp, "pjm": pjm, "pilot_rule": pilot_rule, "late_rule": late_rule, "tmp": tmp}
    sp.stop()


def client(ent: dict[str, Any], user: str, **kw: Any) -> Any:
    return ent["sp"].client(username=user, password=PASSWORDS[user], **kw)


def http(ent: dict[str, Any], user: str, sql: str, **params: str) -> tuple[int, str]:
    """Run ``sql`` as ``user`` through raw HTTP (Basic auth), as curl would; return (status, body)."""
    url = f"{ent['sp'].url}/?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, data=sql.encode(), method="POST")
    token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def by_market(c: Any, table: str = "prices") -> dict[str, tuple[int, int]]:
    rows = c.query(f"SELECT market, count(), uniqExact(location) FROM {table} GROUP BY market").result_rows
    return {m: (n, k) for m, n, k in rows}


# -- the pilot ----------------------------------------------------------------------------------------
def test_the_pilot_sees_only_spp_hubs_through_clickhouse_connect(ent: dict[str, Any]) -> None:
    pilot = client(ent, "pilot")
    frame = pilot.query_df("SELECT market, location, price FROM prices")
    assert set(frame["market"]) == {SPP}
    assert set(frame["location"]) == HUBS
    spp = ent["spp"]
    assert len(frame) == int(spp["location"].isin(HUBS).sum()) == 5 * 24
    admin = client(ent, "default")
    assert by_market(admin)[SPP] == (len(spp), 1234)  # everything is there for an admin


@pytest.mark.filterwarnings(  # ibis 12 reads pandas' deprecated `future.infer_string` option
    "ignore:The 'future.infer_string' option is deprecated:pandas.errors.Pandas4Warning"
)
def test_the_pilot_sees_the_same_through_raw_http_async_sqlalchemy_and_ibis(ent: dict[str, Any]) -> None:
    import asyncio

    import clickhouse_connect
    import ibis
    import sqlalchemy as sa

    status, body = http(
        ent, "pilot", "SELECT DISTINCT location FROM prices ORDER BY location FORMAT JSONEachRow"
    )
    assert status == 200 and {json.loads(line)["location"] for line in body.splitlines()} == HUBS

    async def run() -> set[str]:
        c = await clickhouse_connect.get_async_client(
            host="127.0.0.1", port=ent["sp"].port, username="pilot", password=PASSWORDS["pilot"]
        )
        try:
            return {r[0] for r in (await c.query("SELECT DISTINCT location FROM prices")).result_rows}
        finally:
            await c.close()

    assert asyncio.run(run()) == HUBS
    engine = sa.create_engine(f"clickhousedb://pilot:{PASSWORDS['pilot']}@127.0.0.1:{ent['sp'].port}/default")
    try:
        frame = pd.read_sql("SELECT location, count() AS n FROM prices GROUP BY location", engine)
        assert set(frame["location"]) == HUBS and frame["n"].sum() == 120
        table = pd.read_sql_table("prices", engine)
        assert set(table["location"]) == HUBS
    finally:
        engine.dispose()
    con = ibis.clickhouse.connect(
        host="127.0.0.1", port=ent["sp"].port, user="pilot", password=PASSWORDS["pilot"], database="default"
    )
    try:
        t = con.table("prices")
        assert set(t.location.to_pyarrow().to_pylist()) == HUBS
        assert t.count().execute() == 120
    finally:
        con.disconnect()


def test_derived_tables_follow_prices_and_hidden_tables_show_nothing(ent: dict[str, Any]) -> None:
    pilot = client(ent, "pilot")
    assert set(by_market(pilot, "prices_hourly")) == {SPP}
    assert {r[0] for r in pilot.query("SELECT DISTINCT location FROM prices_hourly").result_rows} == HUBS
    assert by_market(client(ent, "default"), "prices_hourly")[SPP][1] == 1234
    for hidden in ("raw_payloads", "access_rules"):  # no rule on raw payloads; the rules: never
        assert pilot.query(f"SELECT count() FROM {hidden}").result_rows == [(0,)], hidden
        assert client(ent, "default").query(f"SELECT count() FROM {hidden}").result_rows[0][0] > 0
    for other in ("fundamentals", "forward_quotes", "curves", "forecasts"):  # no rule: nothing
        assert pilot.query(f"SELECT count() FROM {other}").result_rows == [(0,)]


def test_a_delayed_group_sees_rows_an_hour_after_publication(ent: dict[str, Any]) -> None:
    late = client(ent, "late")
    seen = by_market(late)
    pjm = ent["pjm"]
    old = pjm[pjm["published_at_utc"] <= pd.Timestamp.now("UTC") - pd.Timedelta("1h")]
    assert set(seen) == {"PJM"}
    assert seen["PJM"][0] == len(old) == len(pjm) // 2
    newest = late.query("SELECT max(published_at_utc) FROM prices").result_rows[0][0]
    assert pd.Timestamp(newest) <= pd.Timestamp.now("UTC") - pd.Timedelta("1h")


def test_no_rule_no_rows_admins_and_service_accounts_see_everything(ent: dict[str, Any]) -> None:
    assert by_market(client(ent, "nobody")) == {}
    everything = by_market(client(ent, "default"))
    assert set(everything) == {SPP, "PJM"}
    assert by_market(client(ent, "svc")) == everything
    assert by_market(client(ent, "flows")) == everything


def test_a_service_acts_for_a_user_only_with_the_impersonate_grant(ent: dict[str, Any]) -> None:
    svc = client(ent, "svc")
    as_pilot = svc.query("SELECT DISTINCT location FROM prices", settings={"execute_as": "pilot"}).result_rows
    assert {r[0] for r in as_pilot} == HUBS
    assert set(by_market(svc)) == {SPP, "PJM"}  # the same client, on its own again
    with pytest.raises(DatabaseError, match="IMPERSONATE"):
        client(ent, "late").query("SELECT 1", settings={"execute_as": "pilot"})
    with pytest.raises(DatabaseError, match="no user `ghost`"):
        svc.query("SELECT 1", settings={"execute_as": "ghost"})


def test_grant_and_revoke_apply_to_open_connections_within_seconds(ent: dict[str, Any]) -> None:
    admin = client(ent, "default")
    nobody = client(ent, "nobody")
    rule = rules.grant(admin, rules.make_rule("prospects", "prices", markets=["PJM"], history="3650d"))
    try:
        wait_until(lambda: set(by_market(nobody)) == {"PJM"}, "the new rule applies", timeout=10)
    finally:
        rules.revoke(admin, "prospects", rule.rule_id, changed_by="test")
    wait_until(lambda: by_market(nobody) == {}, "the revoke applies", timeout=10)
    changes = rules.history(admin, rule.rule_id)
    assert list(changes["action"]) == ["grant", "revoke"] and list(changes["version"]) == [1, 2]


def test_a_user_cannot_read_or_change_the_rules(ent: dict[str, Any]) -> None:
    pilot = client(ent, "pilot")
    assert pilot.query("SELECT count() FROM access_rules").result_rows == [(0,)]
    with pytest.raises(DatabaseError, match=r"READONLY|readonly"):
        pilot.command(
            "INSERT INTO access_rules (rule_id, group_name, table_name) VALUES ('x', 'p', 'prices')"
        )
    with pytest.raises(DatabaseError, match=r"READONLY|readonly"):
        pilot.command("DROP TABLE access_rules")
    # its own entitlement is what its connections carry; no other user's rules are in it
    own = json.loads(pilot.query("SELECT getSetting('log_comment')").result_rows[0][0])
    assert own["u"] == "pilot" and "PJM" not in json.dumps(own)


# -- the bypass suite ---------------------------------------------------------------------------------
ONLY_HUBS = "hubs"  # the result's locations are SPP hubs (or it is empty)
AT_MOST_HUB_ROWS = "count"  # a single count of at most the hubs' 120 rows
REFUSED = "refused"
NOTHING = "nothing"  # answered, with no rows
METADATA = "metadata"  # answered: part-level row counts are metadata the hourly rollup's read needs

BYPASSES: list[tuple[str, str, str, dict[str, str]]] = [
    ("plain", "SELECT DISTINCT location FROM prices", ONLY_HUBS, {}),
    ("qualified", "SELECT DISTINCT location FROM default.prices", ONLY_HUBS, {}),
    ("quoted", 'SELECT DISTINCT location FROM "default"."prices"', ONLY_HUBS, {}),
    ("final", "SELECT DISTINCT location FROM prices FINAL", ONLY_HUBS, {}),
    ("join", "SELECT DISTINCT a.location FROM prices a JOIN prices_hourly b USING (market, location)", ONLY_HUBS, {}),  # noqa: E501
    ("subquery", "SELECT DISTINCT location FROM (SELECT * FROM prices WHERE 1)", ONLY_HUBS, {}),
    ("in-subquery", "SELECT count() FROM prices WHERE location IN (SELECT location FROM prices)", AT_MOST_HUB_ROWS, {}),  # noqa: E501
    ("cte", "WITH x AS (SELECT * FROM prices) SELECT DISTINCT location FROM x", ONLY_HUBS, {}),
    ("union", "SELECT location FROM prices UNION DISTINCT SELECT location FROM prices_hourly", ONLY_HUBS, {}),
    ("window", "SELECT DISTINCT location FROM (SELECT location, row_number() OVER (PARTITION BY market) r FROM prices)", ONLY_HUBS, {}),  # noqa: E501
    ("scalar", "SELECT (SELECT count() FROM prices)", AT_MOST_HUB_ROWS, {}),
    ("array-join", "SELECT count() FROM (SELECT groupArray(location) AS l FROM prices) ARRAY JOIN l", AT_MOST_HUB_ROWS, {}),  # noqa: E501
    ("view()", "SELECT DISTINCT location FROM view(SELECT * FROM prices)", ONLY_HUBS, {}),
    ("loop()", "SELECT DISTINCT location FROM (SELECT location FROM loop(prices) LIMIT 1000)", ONLY_HUBS, {}),
    ("merge()", "SELECT count() FROM merge('default', '^prices$')", REFUSED, {}),
    ("merge() system", "SELECT count() FROM merge('system', '^parts$')", REFUSED, {}),
    ("cluster()", "SELECT count() FROM cluster('default', default.prices)", REFUSED, {}),
    ("remote()", "SELECT count() FROM remote('127.0.0.1', default.prices)", REFUSED, {}),
    ("file()", "SELECT * FROM file('/etc/passwd', 'LineAsString')", REFUSED, {}),
    ("file() scalar", "SELECT file('mi-engine-users.xml')", REFUSED, {}),
    ("url()", "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", REFUSED, {}),
    ("Python()", "SELECT * FROM Python(x)", REFUSED, {}),
    ("mergeTreeIndex", "SELECT * FROM mergeTreeIndex('default', 'prices')", REFUSED, {}),
    ("mergeTreeAnalyzeIndexes", "SELECT * FROM mergeTreeAnalyzeIndexes('default', 'prices')", REFUSED, {}),
    ("dictionary", "SELECT * FROM dictionary('d')", REFUSED, {}),
    ("dictGet", "SELECT dictGet('d', 'x', 1)", REFUSED, {}),
    ("system.parts", "SELECT sum(rows) FROM system.parts", METADATA, {}),
    ("system.mutations", "SELECT command FROM system.mutations", REFUSED, {}),
    ("system quoted", "SELECT * FROM `system`.`mutations`", REFUSED, {}),
    ("system.query_log other users", "SELECT count() FROM system.query_log WHERE user != 'pilot'", AT_MOST_HUB_ROWS, {}),  # noqa: E501
    ("system.processes", "SELECT count() FROM system.processes WHERE user != 'pilot'", AT_MOST_HUB_ROWS, {}),
    ("system.row_policies", "SELECT * FROM system.row_policies", REFUSED, {}),
    ("mi_system query log", "SELECT * FROM mi_system.query_log", REFUSED, {}),
    ("USE system", "USE system", REFUSED, {}),
    ("database=system", "SELECT count() FROM parts", REFUSED, {"database": "system"}),
    ("SET log_comment", "SET log_comment = 'rls:all'", REFUSED, {}),
    ("SETTINGS log_comment", "SELECT count() FROM prices SETTINGS log_comment = 'rls:all'", REFUSED, {}),
    ("sub-SETTINGS", "SELECT DISTINCT location FROM (SELECT * FROM prices SETTINGS log_comment='rls:all')", ONLY_HUBS, {}),  # noqa: E501
    ("URL log_comment", "SELECT count() FROM prices", REFUSED, {"log_comment": "rls:all"}),
    ("additional_table_filters", "SELECT count() FROM prices SETTINGS additional_table_filters={'prices': '1'}", REFUSED, {}),  # noqa: E501
    ("additional_result_filter", "SELECT 1 SETTINGS additional_result_filter='1'", REFUSED, {}),
    ("readonly=0", "SELECT count() FROM prices SETTINGS readonly=0", REFUSED, {}),
    ("query cache", "SELECT count() FROM prices SETTINGS use_query_cache=1, query_cache_share_between_users=1", AT_MOST_HUB_ROWS, {}),  # noqa: E501
    ("implicit table", "SELECT count() FROM prices SETTINGS implicit_table_at_top_level='prices'", AT_MOST_HUB_ROWS, {}),  # noqa: E501
    ("CREATE VIEW", "CREATE VIEW v AS SELECT * FROM prices", REFUSED, {}),
    ("CREATE TABLE AS SELECT", "CREATE TABLE t2 ENGINE = Memory AS SELECT * FROM prices", REFUSED, {}),
    ("temporary table", "CREATE TEMPORARY TABLE tt AS SELECT * FROM prices", REFUSED, {}),
    ("INSERT SELECT", "INSERT INTO alerts SELECT * FROM prices", REFUSED, {}),
    ("ALTER policy", "ALTER ROW POLICY x ON prices USING 1", REFUSED, {}),
    ("DROP", "DROP TABLE prices", REFUSED, {}),
    ("multi-statement", "SELECT 1; SELECT count() FROM system.mutations", REFUSED, {}),
    ("param Identifier", "SELECT count() FROM {t:Identifier}", REFUSED, {"param_t": "system.mutations"}),
    ("param String", "SELECT count() FROM prices WHERE location = {l:String}", AT_MOST_HUB_ROWS, {"param_l": "x' OR 1=1 --"}),  # noqa: E501
    ("KILL others", "KILL QUERY WHERE user != 'pilot' SYNC", NOTHING, {}),
    ("very long", "SELECT count() FROM prices WHERE " + " OR ".join(["1"] * 200_000), REFUSED, {}),
    ("malformed", "SELEC count() FROM prices", REFUSED, {}),
    ("unterminated", "SELECT count() FROM prices WHERE location = 'x", REFUSED, {}),
]  # fmt: skip


def check_bypass(status: int, body: str, expect: str, name: str) -> None:
    if expect == REFUSED:
        assert status != 200 and "DB::Exception" in body, f"{name}: not refused: {body[:300]}"
        return
    assert status == 200, f"{name}: {body[:400]}"
    lines = [line for line in body.splitlines() if line]
    if expect == NOTHING:
        assert lines == [], f"{name}: {lines[:5]}"
    elif expect == METADATA:
        assert len(lines) == 1, f"{name}: {lines[:5]}"
    elif expect == ONLY_HUBS:
        assert set(lines) <= HUBS and lines, f"{name}: {lines[:10]}"
    else:
        assert len(lines) == 1 and int(lines[0]) <= 120, f"{name}: {lines[:5]}"


@pytest.mark.parametrize(("name", "sql", "expect", "params"), BYPASSES, ids=[b[0] for b in BYPASSES])
def test_bypass_over_raw_http(
    ent: dict[str, Any], name: str, sql: str, expect: str, params: dict[str, str]
) -> None:
    status, body = http(ent, "pilot", sql, **params)
    check_bypass(status, body, expect, name)


def test_bypass_suite_through_clickhouse_connect_and_acting_for_the_pilot(ent: dict[str, Any]) -> None:
    """The same statements through clickhouse-connect, as the pilot and as a service acting for it."""
    pilot = client(ent, "pilot")
    svc = client(ent, "svc")
    for name, sql, expect, params in BYPASSES:
        if name in ("very long", "URL log_comment", "database=system"):
            continue  # transport-level cases: covered over raw HTTP
        settings = {"execute_as": "pilot"}
        qparams = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        for who, c, extra in (("pilot", pilot, {}), ("svc as pilot", svc, settings)):
            try:
                res = c.raw_query(sql, parameters=qparams or None, settings=extra or None, fmt="TabSeparated")
            except (DatabaseError, ProgrammingError) as exc:
                refusal = str(exc)
            else:
                check_bypass(200, res.decode(), expect, f"{who} {name}")
                continue
            assert expect == REFUSED, f"{who} {name}: refused: {refusal}"


def test_a_database_created_after_the_start_is_refused_until_a_restart(ent: dict[str, Any]) -> None:
    admin = client(ent, "default")
    admin.command("CREATE DATABASE IF NOT EXISTS late_db")
    admin.command("CREATE TABLE IF NOT EXISTS late_db.prices AS default.prices")
    admin.command("INSERT INTO late_db.prices SELECT * FROM default.prices LIMIT 10")
    status, body = http(ent, "pilot", "SELECT count() FROM late_db.prices")
    assert status != 200 and "restart the store" in body, body
    status, body = http(ent, "pilot", "SELECT count() FROM prices", database="late_db")
    assert status != 200 and "restart the store" in body, body


def test_the_server_ddl_conditions_select_what_the_engine_shows(ent: dict[str, Any]) -> None:
    """``CREATE ROW POLICY`` cannot run on the embedded engine; its USING conditions can, as WHERE clauses."""
    from marketintel.access import policy

    admin = client(ent, "default")
    found = rules.rules_in_force(admin)
    by_group: dict[str, list[rules.Rule]] = {}
    for rule in found:
        by_group.setdefault(rule.group, []).append(rule)
    existing = {r[0] for r in admin.query("SHOW TABLES").result_rows}
    sql = policy.catalogue_sql("prices", "default", existing)
    assert sql is not None
    cats = {"prices": [tuple(map(str, r)) for r in admin.query(sql).result_rows]}
    ddl = policy.server_ddl({"pilot": ["customers-spp"], "late": ["delayed"]}, by_group, cats)
    for user, group in (("pilot", "customers-spp"), ("late", "delayed")):
        for table in ("prices", "prices_hourly"):
            statement = next(
                s for s in ddl if s.startswith(f"CREATE ROW POLICY OR REPLACE mi_{group}_{table} ")
            )
            using = statement.split(" USING ", 1)[1].rsplit(" TO ", 1)[0]
            expected = admin.query(
                f"SELECT market, location, count() FROM {table} WHERE {using} GROUP BY ALL"
            )
            seen = client(ent, user).query(f"SELECT market, location, count() FROM {table} GROUP BY ALL")
            assert sorted(seen.result_rows) == sorted(expected.result_rows) != [], (user, table)


def test_the_access_cli_grants_shows_and_revokes(ent: dict[str, Any]) -> None:
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        MI_CLICKHOUSE_URL=f"http://default:{PASSWORDS['default']}@127.0.0.1:{ent['sp'].port}/default",
        MI_STORE_USERS_FILE=str(ent["tmp"] / "users.toml"),
    )

    def mi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "marketintel.cli", "access", *args], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    done = mi(
        "grant", "prospects", "prices", "--market", "SPP*", "--location", "SPPNORTH_HUB", "--delay", "15min"
    )
    assert done.returncode == 0 and "granted r-" in done.stdout, done.stdout + done.stderr
    rule_id = done.stdout.split("granted ", 1)[1].split()[0]
    shown = mi("show", "--user", "nobody")
    assert "nobody: groups prospects" in shown.stdout and rule_id in shown.stdout, shown.stdout
    assert (
        "prices: 0 market(s), 1 key(s), delayed 15min" in shown.stdout and "export: nothing" in shown.stdout
    )
    bad = mi("grant", "prospects", "fundamentals", "--location-type", "hub")
    assert bad.returncode != 0 and "--location-type does not apply to fundamentals" in bad.stderr, bad.stderr
    ddl = mi("ddl", "--cluster", "prod")
    assert "CREATE ROW POLICY OR REPLACE mi_prospects_prices ON CLUSTER 'prod'" in ddl.stdout, ddl.stdout
    gone = mi("revoke", "prospects", rule_id)
    assert gone.returncode == 0 and f"revoked {rule_id}" in gone.stdout
    again = mi("revoke", "prospects", rule_id)
    assert again.returncode != 0 and "has no rule" in again.stderr
    history = mi("history", rule_id)
    assert history.stdout.count(rule_id) == 2


def test_the_dashboards_reads_acting_for_the_pilot_return_only_hubs(ent: dict[str, Any]) -> None:
    """The services the pages call, through a client that acts for the pilot (as the dashboards do)."""
    from marketintel.services import queries

    svc = client(ent, "svc", settings={"execute_as": "pilot"})
    latest = queries.latest_prices(svc)
    assert set(latest["location"]) == HUBS and set(latest["market"]) == {SPP}
    start, end = pd.Timestamp("2025-03-19", tz="UTC"), pd.Timestamp("2025-03-21", tz="UTC")
    for resolution in ("native", "hourly", "daily"):
        hub = queries.price_series(svc, SPP, "SPPNORTH_HUB", start, end, resolution=resolution)  # type: ignore[arg-type]
        node = queries.price_series(
            svc,
            SPP,
            "AECC_CSWS",
            start,
            end,
            resolution=resolution,
            allow_empty=True,  # type: ignore[arg-type]
        )
        assert len(hub) > 0 and len(node) == 0, resolution
    everything = client(ent, "svc")
    assert len(queries.price_series(everything, SPP, "AECC_CSWS", start, end)) == 24


def test_the_pilots_notebook_shows_only_spp_hubs(
    ent: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quants' getting-started notebook, run with the pilot's own store credentials (its kernel's
    ``MI_CLICKHOUSE_URL``, as a server of the hub carries them)."""
    import nbformat

    from marketintel.notebooks import execute

    url = f"http://pilot:{PASSWORDS['pilot']}@127.0.0.1:{ent['sp'].port}/default"
    monkeypatch.setenv("MI_CLICKHOUSE_URL", url)  # the kernel inherits it
    notebook = (
        Path(__file__).resolve().parents[2] / "lib" / "marketintel" / "hub" / "home" / "getting_started.ipynb"
    )
    out = execute(notebook, ent["tmp"] / "pilot-getting-started.ipynb", {}, timeout_s=300)
    cells = nbformat.read(out, as_version=4).cells
    kinds = ("text/markdown", "text/plain")
    text = "\n".join(
        str(o.get("text", "")) + "".join(str(o.get("data", {}).get(k, "")) for k in kinds)
        for c in cells if c.cell_type == "code" for o in c.get("outputs", [])
    )  # fmt: skip
    assert "**5** market/location series with prices" in text, text[:2000]
    assert "SPPNORTH_HUB" in text and "AECC_CSWS" not in text and "PJM" not in text
