"""Connections: encrypted secrets, settings validation, subscriptions and keys, API-call counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from switchboard import clients, connection_settings, connections, usage
from switchboard.crypto import SecretBox, generate_master_key
from switchboard.store import Database, migrate
from switchboard.store.models import ApiCallCount, AuditEntry

QUO_KEY = "quo-key-ZZZZ9999"
CRM_TOKEN = "crm-token-YYYY8888"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    migrate(db_url)
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def box() -> SecretBox:
    import base64

    return SecretBox(base64.urlsafe_b64decode(generate_master_key()))


def _create(db: Database, box: SecretBox, **kw: object) -> connections.ConnectionInfo:
    return connections.create_connection(
        db, box, crm="attio", quo_api_key=QUO_KEY, crm_token=CRM_TOKEN,
        quo_base_url="http://quo.test/", crm_base_url="http://attio.test", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_create_encrypts_and_loads(db: Database, box: SecretBox) -> None:
    info = _create(db, box, name="Acme")
    assert info.id.startswith("conn_") and len(info.id) >= 25
    assert info.quo_base_url == "http://quo.test"
    assert info.settings == connection_settings.DEFAULT_SETTINGS
    assert info.settings["create_without_phone"] is False
    with db.engine.connect() as c:
        dump = " ".join(str(r) for r in c.execute(text("SELECT * FROM connections")))
    assert QUO_KEY not in dump and CRM_TOKEN not in dump
    creds = connections.load_credentials(db, box, info.id)
    assert (creds.quo_api_key, creds.crm_token) == (QUO_KEY, CRM_TOKEN)
    assert QUO_KEY not in repr(creds) and QUO_KEY not in str(info.to_dict())
    assert [c.id for c in connections.list_connections(db)] == [info.id]
    other = _create(db, box)
    assert other.id != info.id
    with pytest.raises(connections.ConnectionNotFound):
        connections.get_connection(db, "conn_missing")
    with pytest.raises(ValueError):
        connections.create_connection(
            db, box, crm="salesforce", quo_api_key="a", crm_token="b",
            quo_base_url="q", crm_base_url="c",
        )  # fmt: skip
    with pytest.raises(ValueError):
        connections.create_connection(
            db, box, crm="attio", quo_api_key="", crm_token="b", quo_base_url="q", crm_base_url="c"
        )
    with db.session() as s:
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
    assert actions.count("connect") == 2


def test_settings_validation_and_update(db: Database, box: SecretBox) -> None:
    info = _create(db, box)
    change = {
        "default_region": "gb",
        "enabled_lines": ["PN2", "PN1", "PN1"],
        "event_kinds": ["messages", "calls"],
        "quo_contact_policy": "quo_edits_to_crm",
    }
    updated = connections.update_settings(db, info.id, change)
    assert updated.settings["quo_contact_policy"] == "quo_edits_to_crm"
    assert updated.settings["default_region"] == "GB"
    assert updated.settings["enabled_lines"] == ["PN1", "PN2"]
    assert updated.settings["event_kinds"] == ["calls", "messages"]
    assert connections.get_settings_for(db, info.id)["default_region"] == "GB"
    assert connections.get_settings_for(db, "conn_gone") == connection_settings.DEFAULT_SETTINGS
    for bad in (
        {"unknown": 1},
        {"default_region": "ZZ"},
        {"enabled_lines": "PN1"},
        {"event_kinds": ["calls", "faxes"]},
        {"auto_create_people": 1},
        {"create_without_phone": "no"},
        {"sync_objects": [""]},
        {"quo_contact_policy": "quo_wins"},
    ):
        with pytest.raises(connection_settings.InvalidSettings):
            connections.update_settings(db, info.id, bad)
    with pytest.raises(connections.ConnectionNotFound):
        connections.update_settings(db, "conn_missing", {"auto_create_people": True})


def test_subscriptions_keys_and_delete(db: Database, box: SecretBox) -> None:
    info = _create(db, box)
    for i in range(2):
        connections.add_subscription(
            db, box, connection_id=info.id, provider="quo", remote_id=f"WH{i}", kind="calls",
            url="u", events=["call.completed"], resource_ids=["PN1"], key=f"key-number-{i}",
        )  # fmt: skip
    again = connections.add_subscription(
        db, box, connection_id=info.id, provider="quo", remote_id="WH0", kind="calls", url="u",
        events=[], key="other",
    )  # fmt: skip
    assert again.remote_id == "WH0"
    assert sorted(connections.webhook_keys(db, box, info.id, "quo")) == [
        "key-number-0",
        "key-number-1",
    ]
    connections.remove_subscription(db, "quo", "WH1")
    assert connections.webhook_keys(db, box, info.id, "quo") == ["key-number-0"]
    with db.engine.connect() as c:
        dump = " ".join(str(r) for r in c.execute(text("SELECT * FROM webhook_subscriptions")))
    assert "key-number-0" not in dump
    assert "key" not in str(connections.get_connection(db, info.id).to_dict()["webhooks"])
    connections.delete_connection(db, info.id)
    gone = connections.get_connection(db, info.id)
    assert gone.status == "disconnected" and gone.disconnected_at is not None
    assert gone.webhooks == []
    with pytest.raises(connections.ConnectionNotFound):
        connections.load_credentials(db, box, info.id)


def test_api_call_counter_batches(db: Database, box: SecretBox) -> None:
    info = _create(db, box)
    counter = usage.ApiCallCounter(db)
    for i in range(1000):
        counter.record(info.id, "quo", 429 if i % 100 == 0 else 200)
    counter.record(info.id, "attio", 503)
    counter.record(info.id, "attio", None, error=True)
    assert counter.flush() == 2
    assert counter.flush() == 0
    counter.record(info.id, "quo", 200)
    counter.flush()
    with db.session() as s:
        rows = list(s.execute(select(ApiCallCount)).scalars())
    assert len(rows) in (2, 3)  # one row per provider per minute
    totals = {u["provider"]: u for u in usage.api_usage(db, info.id)}
    assert totals["quo"]["requests"] == 1001 and totals["quo"]["http_429"] == 10
    assert totals["attio"] == {
        "connection_id": info.id, "provider": "attio", "requests": 2, "http_429": 0, "errors": 2,
    }  # fmt: skip
    assert usage.api_usage_series(db, info.id)


def test_clients_are_built_with_counting_hooks(tmp_path: Path) -> None:
    crm = clients.build_crm_connector("attio", CRM_TOKEN, "http://attio.test", hook=None)
    assert type(crm).__name__ == "AttioConnector" and crm.name == "attio"
    quo = clients.build_quo_client(QUO_KEY, "http://quo.test", hook=lambda info: None)
    assert type(quo).__name__ == "QuoClient"
    with pytest.raises(ValueError):
        clients.build_crm_connector("nope", "t", "u")


def test_wrong_master_key_is_a_clear_error(db: Database, box: SecretBox) -> None:
    import base64

    info = _create(db, box)
    other = SecretBox(base64.urlsafe_b64decode(generate_master_key()))
    with pytest.raises(connections.SecretsUnreadable, match="master key"):
        connections.load_credentials(db, other, info.id)


def test_the_settings_model_is_the_common_one_extended_by_the_crms() -> None:
    from switchboard.crm.pipedrive.provider import PipedriveSettings

    model = connection_settings.settings_model("pipedrive")
    assert issubclass(model, connection_settings.CommonSettings)
    assert issubclass(model, PipedriveSettings)
    assert connection_settings.settings_model("attio") is connection_settings.CommonSettings
    # one sentence per setting, naming it, whatever the wrong value's type
    for bad, says in [
        ({"auto_create_people": "yes"}, "auto_create_people must be true or false"),
        ({"default_region": 44}, "default_region must be a region code"),
        ({"link_action_company_id": "acme"}, "link_action_company_id:"),
        ({"quo_webhooks": "v1"}, "migrate-webhooks"),
        ({"typo": 1}, "unknown setting 'typo'"),
    ]:
        with pytest.raises(connection_settings.InvalidSettings, match=says):
            connection_settings.validate_settings(bad, "pipedrive")
    assert connection_settings.validate_settings(
        {"default_region": "gb", "link_action_company_id": 42}, "pipedrive"
    ) == {"default_region": "GB", "link_action_company_id": "42"}
