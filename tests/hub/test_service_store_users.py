"""The hub's service store users: the dashboards read as a reader, and acknowledge alerts as a reader whose
only extra right is inserting into ``alert_acks`` (``MI_ALERT_ACK_URL``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from marketintel import config
from marketintel.hub import paths
from marketintel.hub.users import ALERT_ACKS_TABLES, ALERT_ACKS_USER, ensure_service_store_user
from marketintel.services.alerts import ack_client
from marketintel.store.endpoint.auth import Users, write_user
from marketintel.store.insert import insert_df
from tests.storeproc import start_store


def test_the_acks_user_is_a_reader_granted_alert_acks_only() -> None:
    read_url = ensure_service_store_user("dashboards")
    ack_url = ensure_service_store_user(ALERT_ACKS_USER, insert_into=ALERT_ACKS_TABLES)
    users = Users.load(config.store_users_file()).users
    assert (users["dashboards"].role, users["dashboards"].insert_into) == ("reader", ())
    acks = users[ALERT_ACKS_USER]
    assert (acks.role, acks.insert_into) == ("reader", ("alert_acks", "access_rules"))
    parts = urlsplit(ack_url)
    assert parts.username == ALERT_ACKS_USER
    assert acks.check_password(paths.store_password(ALERT_ACKS_USER) or "")
    assert urlsplit(read_url).password != parts.password
    # ensuring again keeps the password (a running dashboards service keeps working) and the grant
    assert ensure_service_store_user(ALERT_ACKS_USER, insert_into=ALERT_ACKS_TABLES) == ack_url
    assert Users.load(config.store_users_file()).users[ALERT_ACKS_USER].insert_into == ALERT_ACKS_TABLES
    # the grant follows what is asked: without it, the same user loses it
    ensure_service_store_user(ALERT_ACKS_USER)
    assert Users.load(config.store_users_file()).users[ALERT_ACKS_USER].insert_into == ()


def test_the_ack_url_stores_an_acknowledgement_and_nothing_else(tmp_path: Path) -> None:
    users_file = config.store_users_file()
    write_user(users_file, "default", "admin", "admin-password")
    read_url = ensure_service_store_user("dashboards")
    ack_url = ensure_service_store_user(ALERT_ACKS_USER, insert_into=ALERT_ACKS_TABLES)
    store = start_store(tmp_path / "store", "--users", str(users_file))
    try:
        store.client(username="default", password="admin-password").command(
            "CREATE TABLE alert_acks (alert_id String, acknowledged_by String) "
            "ENGINE = MergeTree ORDER BY alert_id"
        )

        def on_store(url: str) -> str:  # the same credentials, this test's store
            parts = urlsplit(url)
            return parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{store.port}").geturl()

        acks = ack_client({"MI_ALERT_ACK_URL": on_store(ack_url)})
        frame = pd.DataFrame({"alert_id": ["a1"], "acknowledged_by": ["demo-ops"]})
        assert insert_df(acks, "alert_acks", frame) == 1
        with pytest.raises(DatabaseError, match="Code: 164"):
            acks.command("DROP TABLE alert_acks")
        reader = ack_client({"MI_ALERT_ACK_URL": on_store(read_url)})
        with pytest.raises(DatabaseError, match="Code: 164"):
            insert_df(reader, "alert_acks", frame)
        assert reader.command("SELECT count() FROM alert_acks") == 1
    finally:
        store.stop()
