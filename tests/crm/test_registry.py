"""The CRM provider registry: records, lookups, and that only a CRM's own packages name it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from switchboard.crm import registry
from switchboard.crm.base import ConnectorConfig
from switchboard.crm.registry import CrmProvider, RateBudget, UnknownCrm, WebhookCodec

SRC = Path(__file__).resolve().parents[2] / "src" / "switchboard"


def test_attio_record_is_found_by_scanning_the_crm_packages() -> None:
    attio = registry.get("attio")
    assert "attio" in registry.names()
    assert attio.display_name == "Attio" and attio.note_format == "markdown"
    assert attio.quo_source == "switchboard-attio" and attio.token_env == "ATTIO_TOKEN"
    per_s, label = attio.budget_summary()
    assert per_s == 125.0 and "read: 100 requests/s" in label and "write: 25" in label
    connector = attio.connect(ConnectorConfig(token="t-0123456789", base_url="http://x.test"))
    assert connector.name == "attio"
    assert attio.emulator is not None and callable(attio.emulator.load_command())


def test_unknown_crm_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownCrm, match="attio") as err:
        registry.get("nope")
    assert isinstance(err.value, ValueError)
    assert registry.find("nope") is None


def test_rate_budgets_describe_request_token_and_credit_shapes() -> None:
    # Attio: requests per second; Pipedrive-like: token costs per 2-s window plus a daily
    # budget; Zoho-like: daily credits and a concurrency cap.
    tokens = RateBudget("tokens", limit=80, window_s=2, unit="tokens", costs={"search": 20})
    credits = RateBudget("credits", unit="credits", daily=25_000, concurrency=10)
    assert tokens.per_second == 40 and tokens.describe() == "tokens: 80 tokens/2 s"
    assert credits.per_second == 0
    assert credits.describe() == "credits: 25,000 credits/day, 10 concurrent"


def test_register_and_unregister_a_crm() -> None:
    def parse(body: bytes, headers: object) -> list[object]:
        return []

    provider = CrmProvider(
        name="registrytest",
        display_name="Registry Test",
        api_url="http://registry.test",
        connector=registry.get("attio").connector,
        webhooks=WebhookCodec(verify=lambda b, h, s: None, parse=parse),  # type: ignore[arg-type]
        budgets=(RateBudget("read", limit=5),),
        note_format="plain",
    )
    registry.register(provider)
    try:
        assert registry.get("registrytest") is provider
        assert "registrytest" in registry.names()
        assert provider.person_url("p1", {"workspace_slug": "w"}) is None  # no record_url
    finally:
        registry.unregister("registrytest")
    assert registry.find("registrytest") is None


def test_only_the_crm_packages_name_a_crm() -> None:
    """Outside `crm/<name>/` and `emulators/<name>/`, no source file names a registered CRM."""
    for name in registry.names():
        allowed = (SRC / "crm" / name, SRC / "emulators" / name)
        pattern = re.compile(name, re.IGNORECASE)
        offenders = [
            str(path.relative_to(SRC))
            for path in SRC.rglob("*")
            if path.is_file()
            and path.suffix in (".py", ".html", ".css", ".js", ".md", ".ini", ".mako")
            and not any(path.is_relative_to(a) for a in allowed)
            and pattern.search(path.read_text("utf-8"))
        ]
        assert not offenders, f"{name} named outside its packages: {offenders}"


def test_a_crm_adds_settings_of_its_own(tmp_path: Path) -> None:
    """The record's settings model: defaults merged, values validated, only for that CRM."""
    import base64

    from switchboard import connections
    from switchboard.connection_settings import InvalidSettings
    from switchboard.crypto import SecretBox, generate_master_key
    from switchboard.store import Database, migrate
    from tests.crm.tiny.provider import PROVIDER as TINY

    url = f"sqlite:///{tmp_path / 'sb.db'}"
    migrate(url)
    db, box = Database(url), SecretBox(base64.urlsafe_b64decode(generate_master_key()))
    registry.register(TINY)
    try:
        info = connections.create_connection(
            db, box, crm="tiny", quo_api_key="quo-k-123456", crm_token="tiny-t-123456",
            quo_base_url="http://q", crm_base_url="http://t", settings={"data_centre": "eu"},
        )  # fmt: skip
        assert info.settings["data_centre"] == "eu"
        assert info.settings["log_calls_as"] == "notes"  # the model's default
        assert info.settings["default_region"] == "US"  # the common ones stay
        with pytest.raises(InvalidSettings, match="data_centre"):
            connections.update_settings(db, info.id, {"data_centre": "mars"})
        changed = connections.update_settings(db, info.id, {"log_calls_as": "call_records"})
        assert changed.settings["log_calls_as"] == "call_records"
        attio = connections.create_connection(
            db, box, crm="attio", quo_api_key="quo-k-123456", crm_token="attio-t-123456",
            quo_base_url="http://q", crm_base_url="http://a",
        )  # fmt: skip
        assert "data_centre" not in attio.settings
        with pytest.raises(InvalidSettings, match="unknown setting"):
            connections.update_settings(db, attio.id, {"data_centre": "eu"})
    finally:
        registry.unregister(TINY.name)
        db.dispose()


async def test_a_crm_signed_link_proof_is_what_the_call_page_consults() -> None:
    """`signed_link_proof` on the record: the call page's `proofs.check_for` runs it with the
    connection's settings, account id and connector; an in-process `proofs.register` overrides."""
    import dataclasses
    from datetime import UTC, datetime
    from typing import Any

    from switchboard.connections import ConnectionInfo
    from switchboard.crm.registry import LinkProofContext, LinkProofRefused
    from switchboard.web.callpage import clients, proofs

    seen: list[LinkProofContext] = []

    async def proof(query: Any, context: LinkProofContext) -> str:
        seen.append(context)
        if query.get("sig") != "ok":
            raise LinkProofRefused("bad sig")
        return str(query["who"])

    connector = object()

    async def factory(_connection_id: str) -> clients.PageClients:
        return clients.PageClients(crm=connector, quo=None)  # type: ignore[arg-type]

    base = registry.get("attio")
    assert base.signed_link_proof is None and proofs.check_for("registryproof") is None
    provider = dataclasses.replace(base, name="registryproof", signed_link_proof=proof)
    now = datetime.now(UTC)
    info = ConnectionInfo(
        id="conn_registryproof", crm="registryproof", name="", status="active",
        status_message="", quo_base_url="", crm_base_url="", crm_workspace_id="acct-1",
        settings={"x": 1}, created_at=now, updated_at=now, last_event_at=None,
        last_sync_at=None, last_reconcile_at=None, last_reconcile_status=None,
        disconnected_at=None,
    )  # fmt: skip
    registry.register(provider)
    clients.set_factory(factory)
    try:
        check = proofs.check_for("registryproof")
        assert check is not None
        assert await check({"sig": "ok", "who": "p1"}, info) == "p1"
        assert seen[0] == LinkProofContext({"x": 1}, "acct-1", connector)  # type: ignore[arg-type]
        with pytest.raises(proofs.ProofRefused, match="bad sig"):
            await check({"sig": "no"}, info)

        async def override(_query: Any, _info: Any) -> str:
            return "p2"

        proofs.register("registryproof", override)
        try:
            assert proofs.check_for("registryproof") is override
        finally:
            proofs.unregister("registryproof")
    finally:
        clients.set_factory(None)
        registry.unregister("registryproof")
    assert proofs.check_for("registryproof") is None


@pytest.mark.parametrize(
    ("crm", "account", "record_id", "url"),
    [
        ("attio", {"workspace_slug": "acme"}, "rec1", "https://app.attio.com/acme/person/rec1"),
        ("attio", {"workspace_id": "w1"}, "rec1", None),  # no slug recorded: no link
        ("pipedrive", {"company_domain": "acme"}, "42", "https://acme.pipedrive.com/person/42"),
        ("pipedrive", {"company_domain": "acme"}, "not-a-number", None),
        ("pipedrive", {}, "42", None),
    ],
)
def test_a_person_page_url_from_the_account_facts(
    crm: str, account: dict[str, str], record_id: str, url: str | None
) -> None:
    assert registry.get(crm).person_url(record_id, account) == url


def test_connector_config_shares_limiters_only_through_a_store() -> None:
    from typing import Any

    from switchboard.crm.base import ConnectorConfig

    built: list[tuple[str, dict[str, Any]]] = []

    def build(token: str, **kw: Any) -> dict[str, Any]:
        built.append((token, kw))
        return {"read": object()}

    assert ConnectorConfig("t").shared_limiters(build) is None  # the connector's own, in-process
    given: dict[str, Any] = {"read": object()}
    assert (
        ConnectorConfig("t", limiters=given, redis_url="redis://x").shared_limiters(build) is given
    )
    assert not built
    shared = ConnectorConfig("t", database_url="sqlite:///sb.db").shared_limiters(build)
    assert shared is not None and set(shared) == {"read"}
    assert built[0][0] == "t" and built[0][1]["database_url"] == "sqlite:///sb.db"
