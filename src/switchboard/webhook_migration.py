"""Move a connection's Quo webhooks from v1 to the dated generation (2026-03-30).

Quo's guide: create the replacement disabled, send it a test delivery, delete the v1 webhook
(it cannot be restored), enable the new one. Switchboard follows it with one change of order:
the replacement is enabled *before* the v1 webhooks are deleted, so an event fired during the
switch arrives through both generations (the ledger dedupes it: its key is
`<type>:<call or message id>` in both envelopes) instead of through neither.

    report = await migrate_quo_webhooks(db, box, settings, connection_id)

1. the workspace must answer the dated generation (else `MigrationAborted`, nothing changed);
2. one replacement per group of lines, created **disabled** with the v1 webhooks' events plus
   the dated ones of the connection's kinds, its key stored at once (so its deliveries verify);
3. a test delivery to each, waited for in Quo's delivery history: any failed attempt, or no
   delivery within `test_timeout`, aborts — the replacements are deleted and v1 keeps working;
4. the replacements are enabled, then every v1/v2 Quo webhook of the connection is deleted;
5. the connection's generation becomes `2026-03-30` (audited).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, cast

from switchboard import clients, connections
from switchboard.crypto import SecretBox
from switchboard.http import ApiError
from switchboard.logs import get_logger
from switchboard.quo.client import WebhooksVersion
from switchboard.store.db import Database

log = get_logger(__name__)

DATED = "2026-03-30"
#: The test delivery's event type: activity ignores it, so the test writes nothing anywhere.
TEST_EVENT = "call.ringing"


class MigrationAborted(RuntimeError):
    """The migration stopped before touching the v1 webhooks; the connection is unchanged."""


async def migrate_quo_webhooks(
    db: Database,
    box: SecretBox,
    settings: Any,
    connection_id: str,
    *,
    test_timeout: float = 60.0,
    poll_s: float = 0.2,
) -> dict[str, Any]:
    from switchboard.quo.webhooks import plan_dated_subscriptions
    from switchboard.setup import quo_webhook_url, wanted_events

    info = connections.get_connection(db, connection_id)
    if info.disconnected_at is not None:
        raise MigrationAborted("the connection is disconnected")
    current = connections.quo_webhooks_generation(info.settings, settings.quo_webhooks_version)
    if current == DATED:
        return {"status": "unchanged", "generation": DATED, "reason": "already migrated"}
    dated = clients.quo_client_for(connection_id, webhooks_version=DATED)
    legacy = clients.quo_client_for(connection_id, webhooks_version=current)
    try:
        try:
            offered = await dated.supports_dated()
        except ApiError as exc:  # nothing has changed yet: report it as an abort, not a crash
            raise MigrationAborted(f"Quo did not answer the {DATED} check: {exc}") from exc
        if not offered:
            raise MigrationAborted(f"the Quo workspace does not offer the {DATED} webhooks")
        url = quo_webhook_url(settings, connection_id)
        # Event names are unchanged across generations: the replacement takes every event the
        # v1 webhooks carry, plus the dated generation's own for the connection's kinds.
        carried = [e for w in info.webhooks if w.provider == "quo" for e in w.events]
        kinds = list(info.settings.get("event_kinds") or [])
        contacts = info.settings.get("sync_contacts") is not False
        events = list(dict.fromkeys([*carried, *wanted_events(kinds, DATED, contacts=contacts)]))
        if not events:
            raise MigrationAborted("the connection subscribes to no Quo events (event_kinds)")
        plans = plan_dated_subscriptions(events, info.settings.get("enabled_lines"))
        created: list[str] = []
        tests: list[dict[str, Any]] = []
        try:
            for plan in plans:
                hook = await dated.create_webhook(
                    plan.kind,
                    url,
                    list(plan.events),
                    resource_ids=list(plan.resource_ids),
                    label=f"switchboard {connection_id}",
                    status="disabled",
                )
                created.append(hook.id)
                connections.add_subscription(
                    db,
                    box,
                    connection_id=connection_id,
                    provider="quo",
                    remote_id=hook.id,
                    kind=plan.kind,
                    url=url,
                    events=list(plan.events),
                    resource_ids=list(plan.resource_ids),
                    key=hook.key.get_secret_value() if hook.key is not None else None,
                    version=DATED,
                )
            for hook_id in created:
                tests.append(await _test_delivery(dated, hook_id, test_timeout, poll_s))
        except BaseException as exc:
            for hook_id in created:
                with contextlib.suppress(ApiError):
                    await dated.delete_webhook(hook_id)
                connections.remove_subscription(db, "quo", hook_id)
            connections.audit(db, connection_id, "migrate_webhooks_aborted", {"error": str(exc)})
            if isinstance(exc, MigrationAborted | ApiError):
                raise MigrationAborted(f"test delivery failed, v1 kept: {exc}") from exc
            raise
        for hook_id in created:
            await dated.set_webhook_enabled(hook_id, True)
        deleted: list[str] = []
        for sub in connections.list_subscriptions(db, connection_id, "quo"):
            if sub.version == DATED:
                continue
            await legacy.delete_webhook(sub.remote_id, version=cast(WebhooksVersion, sub.version))
            connections.remove_subscription(db, "quo", sub.remote_id)
            deleted.append(sub.remote_id)
        connections.set_quo_webhooks_generation(db, connection_id, DATED)
        report = {
            "status": "migrated",
            "generation": DATED,
            "from": current,
            "created": created,
            "deleted": deleted,
            "tests": tests,
        }
        connections.audit(db, connection_id, "migrate_webhooks", report)
        log.info("quo_webhooks_migrated", connection_id=connection_id, created=len(created))
        return report
    finally:
        await dated.aclose()
        await legacy.aclose()


async def _test_delivery(quo: Any, hook_id: str, timeout: float, poll_s: float) -> dict[str, Any]:
    """Send a test event and wait until Quo's history shows it delivered (2xx from us)."""
    sent = await quo.send_test_event(hook_id, TEST_EVENT)
    deadline = time.monotonic() + timeout
    while True:
        event = await quo.get_webhook_event(hook_id, sent.id)
        if event.status == "delivered":
            return {"webhook": hook_id, "event": sent.id, "attempts": len(event.attempts)}
        failed = [a for a in event.attempts if not 200 <= int(a.get("status") or 0) < 300]
        if failed:
            last = failed[-1]
            raise MigrationAborted(
                f"test delivery to {hook_id} failed: {last.get('status') or last.get('error')}"
            )
        if time.monotonic() > deadline:
            raise MigrationAborted(f"test delivery to {hook_id} did not arrive in {timeout:.0f} s")
        await asyncio.sleep(poll_s)
