"""Connection setup, re-subscription and teardown.

    wf_id = start_setup(connection_id)             # enqueue on the `setup` queue (per connection)
    wf_id = start_resubscribe(connection_id)       # after enabled lines / event kinds changed
    report = await disconnect(db, box, connection_id, delete_quo_contacts=False)

`setup_connection` (DBOS workflow) is idempotent and converges: every run diffs what should exist
against what we stored and what the providers report, so a re-run after a crash, a partial
failure or a settings change does exactly the missing work.

1. **Quo webhooks** (`ensure_quo_webhooks`, in a DBOS step with retries): one webhook per
   (endpoint kind, ≤ 10 enabled lines) for the connection's event kinds (`enabled_lines: null`
   → `["*"]`, every line); the URL is `<public_url>/webhooks/quo/<connection id>`. Missing
   webhooks are created first and their signing keys stored encrypted at once; then stored
   webhooks no longer wanted are deleted (create new, then delete old — no gap); then webhooks
   at Quo that
   point at our URL but that we have no record of (a crash between create and store) are
   deleted. The Quo client retries 401 for 60 s (a new key answers 401 for ~30 s) and 5xx with
   backoff, and the step itself is retried by DBOS with backoff.
2. **CRM webhook** (`_ensure_crm_webhook`): one people-change webhook at the CRM (filtered to
   people where the CRM allows), secret stored encrypted; unknown webhooks at our URL are removed.
3. **Status**: `active` when both are in place; otherwise `degraded` with a message naming what
   failed and why (e.g. "Quo webhooks: ApiError 500 ..."), never silently half-configured. A
   later `start_setup` ("retry setup") converges from there.
4. **Initial sync**: `switchboard.sync.start_initial_sync(db, connection_id)` (joins a running one).

`disconnect` deletes every remote webhook we created (and any at our URLs), optionally the Quo
contacts Switchboard created (from the contact mappings), wipes the stored secrets, marks the
connection disconnected and writes an audit row with what was removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import datetime
from typing import Any

from dbos import DBOS

from switchboard import clients, connections
from switchboard.crypto import SecretBox
from switchboard.http import RetryPolicy
from switchboard.logs import get_logger, mask_text
from switchboard.oauth import forget_tokens
from switchboard.quo.kinds import KIND_EVENTS
from switchboard.quo.webhooks import plan_subscriptions
from switchboard.runtime import after_launch, runtime
from switchboard.store.db import Database
from switchboard.store.models import ContactMapping
from switchboard.sync import start_initial_sync
from switchboard.workflows import enqueue, enqueue_async

log = get_logger("switchboard.setup")


def quo_webhook_url(settings: Any, connection_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/webhooks/quo/{connection_id}"


def crm_webhook_url(settings: Any, crm: str, connection_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/webhooks/{crm}/{connection_id}"


#: Events only the dated webhook generation has, added per event kind on that generation.
DATED_KIND_EVENTS: dict[str, tuple[str, ...]] = {
    "calls": ("call.voicemail.completed",),  # the voicemail, instead of a delayed fetch
    "messages": ("message.failed",),
}


#: Edits and deletions made in Quo to synced contacts (two-way contacts, `sync/quo_edits.py`):
#: only the dated generation announces them.
DATED_CONTACT_EVENTS = ("contact.updated", "contact.deleted")


def wanted_events(
    event_kinds: list[str], generation: str = "v1", *, contacts: bool = False
) -> list[str]:
    """The Quo events a connection subscribes to; `contacts` adds the contact events on the
    dated generation (a connection that syncs contacts)."""
    out: list[str] = []
    for kind in event_kinds:
        out.extend(KIND_EVENTS[kind][1])
        if generation == DATED_GENERATION:
            out.extend(DATED_KIND_EVENTS.get(kind, ()))
    if contacts and generation == DATED_GENERATION:
        out.extend(DATED_CONTACT_EVENTS)
    return out


def _setup_retry() -> Any:

    return RetryPolicy(max_attempts=12, base_delay=0.5, max_delay=5.0, unauthorized_grace=60.0)


def _rt() -> Any:

    return runtime()


def _error_text(exc: BaseException) -> str:
    return mask_text(f"{type(exc).__name__}: {exc}")[:500]


# ------------------------------------------------------------------------------------ Quo part
DATED_GENERATION = "2026-03-30"


async def decide_quo_generation(db: Database, connection_id: str) -> str:
    """A connection without a decided webhook generation and without Quo webhooks yet (a new
    one) takes the dated generation when the workspace answers it, else v1. Existing
    connections keep theirs until migrated (`switchboard connections migrate-webhooks`)."""
    info = connections.get_connection(db, connection_id)
    decided = info.settings.get("quo_webhooks")
    if decided:
        return str(decided)
    if any(w.provider == "quo" for w in info.webhooks):
        return "v1"
    quo = clients.quo_client_for(connection_id, retry=_setup_retry())
    try:
        generation = DATED_GENERATION if await quo.supports_dated() else "v1"
    finally:
        await quo.aclose()
    connections.set_quo_webhooks_generation(db, connection_id, generation)
    log.info("quo_webhooks_generation", connection_id=connection_id, generation=generation)
    return generation


async def notice_new_lines(
    db: Database, connection_id: str, current_settings: dict[str, Any], quo: Any
) -> list[str] | None:
    """The lines to subscribe, after noticing lines added to the Quo workspace since the last
    look. With `enabled_lines: null` the "*" subscriptions already cover new lines; with a list,
    a new line is enabled when `auto_enable_new_lines` is on and otherwise offered (added to
    `offered_lines`, shown with the connection, for the user to enable). Lines that existed when
    we first looked are never "new": the user chose not to enable them."""
    enabled: list[str] | None = current_settings.get("enabled_lines")
    current = sorted(n.id for n in await quo.list_phone_numbers())
    known = current_settings.get("known_lines")
    changes: dict[str, Any] = {}
    if known is None:
        changes["known_lines"] = current
    else:
        new = [line for line in current if line not in set(known)]
        if new:
            changes["known_lines"] = sorted(set(known) | set(current))
            if enabled is not None and current_settings.get("auto_enable_new_lines"):
                enabled = sorted(set(enabled) | set(new))
                changes["enabled_lines"] = enabled
            elif enabled is not None:
                offered = current_settings.get("offered_lines") or []
                changes["offered_lines"] = sorted(set(offered) | set(new))
            log.info("quo_lines_added", connection_id=connection_id, lines=new)
    if changes:
        connections.update_settings(db, connection_id, changes)
    return enabled


async def ensure_quo_webhooks(
    db: Database, box: SecretBox, settings: Any, connection_id: str, quo: Any
) -> dict[str, Any]:
    """Converge the connection's Quo webhooks to its settings. Returns a summary."""
    from switchboard.quo.webhooks import plan_dated_subscriptions

    info = connections.get_connection(db, connection_id)
    url = quo_webhook_url(settings, connection_id)
    lines = await notice_new_lines(db, connection_id, info.settings, quo)
    generation = getattr(quo, "webhooks_version", "v1")
    events = wanted_events(
        list(info.settings.get("event_kinds") or []),
        generation,
        contacts=info.settings.get("sync_contacts") is not False,
    )
    if generation == DATED_GENERATION:
        plans = plan_dated_subscriptions(events, lines) if events else []
    else:
        plans = plan_subscriptions(events, lines) if events else []
    remote = await quo.list_webhooks()
    remote_ids = {h.id for h in remote}
    stored = [w for w in info.webhooks if w.provider == "quo"]
    missing = 0
    for w in stored:  # deleted at Quo behind our back: forget it, so it is recreated below
        if w.is_previous_key:  # a rotated-out key: kept until this check, then dropped
            connections.remove_subscription(db, "quo", w.remote_id)
        elif w.remote_id not in remote_ids:
            connections.remove_subscription(db, "quo", w.remote_id)
            missing += 1
    stored = [w for w in stored if w.remote_id in remote_ids]

    def sig(kind: str, evs: Any, rids: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        return (kind, tuple(sorted(evs)), tuple(sorted(rids)))

    stored_by_sig = {sig(w.kind, w.events, w.resource_ids): w for w in stored}
    wanted = {sig(p.kind, p.events, p.resource_ids): p for p in plans}
    created = 0
    for key, plan in wanted.items():
        if key in stored_by_sig:
            continue
        hook = await quo.create_webhook(
            plan.kind,
            url,
            list(plan.events),
            resource_ids=list(plan.resource_ids),
            label=f"switchboard {connection_id}",
        )
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
            version=generation,
        )
        created += 1
    deleted = 0
    deleted_ids: set[str] = set()
    for key, w in stored_by_sig.items():
        if key not in wanted:
            await quo.delete_webhook(w.remote_id)
            connections.remove_subscription(db, "quo", w.remote_id)
            deleted_ids.add(w.remote_id)
            deleted += 1
    known = {w.remote_id for w in connections.list_subscriptions(db, connection_id, "quo")}
    orphans = 0
    for hook_now in remote:  # listed before our creates, so only older webhooks can match
        if hook_now.url == url and hook_now.id not in known and hook_now.id not in deleted_ids:
            await quo.delete_webhook(hook_now.id)
            orphans += 1
    return {
        "created": created,
        "deleted": deleted,
        "orphans_deleted": orphans,
        "recreated_missing": missing,
        "wanted": len(wanted),
    }


async def ensure_crm_webhook(
    db: Database, box: SecretBox, settings: Any, connection_id: str, crm: Any
) -> dict[str, Any]:
    info = connections.get_connection(db, connection_id)
    url = crm_webhook_url(settings, info.crm, connection_id)
    stored = [w for w in info.webhooks if w.provider == info.crm]
    remote = await crm.list_subscriptions()
    remote_ids = {r.remote_id for r in remote}
    created = 0
    # A stored webhook the CRM no longer has (deleted by hand, expired) is recreated.
    for w in stored:
        if w.remote_id not in remote_ids:
            connections.remove_subscription(db, info.crm, w.remote_id)
    stored = [w for w in stored if w.remote_id in remote_ids]
    renewed = 0
    # A CRM whose subscriptions expire (watch channels with an expiry) extends them here, before
    # they lapse; one the CRM says is gone is created anew below.
    for w in list(stored):
        if not await crm.renew_subscription(w.remote_id):
            connections.remove_subscription(db, info.crm, w.remote_id)
            stored.remove(w)
        else:
            renewed += 1
    if not stored:
        sub = await crm.subscribe(url)
        connections.add_subscription(
            db,
            box,
            connection_id=connection_id,
            provider=info.crm,
            remote_id=sub.remote_id,
            kind="people",
            url=url,
            events=["record.created", "record.updated", "record.deleted", "record.merged"],
            key=sub.secret,
        )
        created = 1
    known = {w.remote_id for w in connections.list_subscriptions(db, connection_id, info.crm)}
    orphans = 0
    for r in remote:
        if r.target_url == url and r.remote_id not in known:
            await crm.unsubscribe(r.remote_id)
            orphans += 1
    return {"created": created, "orphans_deleted": orphans, "checked": renewed}


# ------------------------------------------------------------------------------ DBOS workflow
#: Step-level retries on top of the HTTP client's own (attempts, first delay s, backoff factor).
STEP_RETRY = {"attempts": 4, "delay": 2.0, "backoff": 2.0}


async def _with_retries(what: str, connection_id: str, fn: Any) -> Any:
    delay = float(STEP_RETRY["delay"])
    attempts = int(STEP_RETRY["attempts"])
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except Exception as exc:
            if attempt >= attempts:
                raise
            log.warning(
                "setup_step_retry", what=what, connection_id=connection_id,
                attempt=attempt, error=_error_text(exc),
            )  # fmt: skip
            await asyncio.sleep(delay)
            delay *= float(STEP_RETRY["backoff"])
    raise AssertionError("unreachable")


@DBOS.step()
async def _quo_step(connection_id: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        rt = _rt()
        await decide_quo_generation(rt.db, connection_id)
        quo = clients.quo_client_for(connection_id, retry=_setup_retry())
        try:
            return await ensure_quo_webhooks(rt.db, rt.box, rt.settings, connection_id, quo)
        finally:
            await quo.aclose()

    result: dict[str, Any] = await _with_retries("quo_webhooks", connection_id, run)
    return result


async def _remember_account(db: Database, connection_id: str, crm: Any) -> None:
    """The CRM account's facts (for links into the CRM's web app), read once per connection
    when `connect` did not record them. Best effort: links are a convenience."""
    if await asyncio.to_thread(connections.crm_account, db, connection_id):
        return
    try:
        facts = dict(await crm.check_credentials())
    except Exception as exc:
        log.warning("crm_account_unknown", connection_id=connection_id, error=_error_text(exc))
        return
    await asyncio.to_thread(connections.save_crm_account, db, connection_id, facts)


@DBOS.step()
async def _crm_step(connection_id: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        rt = _rt()
        crm = clients.crm_connector_for(connection_id)
        try:
            report = await ensure_crm_webhook(rt.db, rt.box, rt.settings, connection_id, crm)
            await _remember_account(rt.db, connection_id, crm)  # the token works by now
            return report
        finally:
            await crm.aclose()

    result: dict[str, Any] = await _with_retries("crm_webhook", connection_id, run)
    return result


@DBOS.step()
async def _set_status(connection_id: str, status: str, message: str) -> None:
    db = _rt().db
    await asyncio.to_thread(connections.set_status, db, connection_id, status, message)


@DBOS.step()
async def _audit(connection_id: str, action: str, detail: dict[str, Any]) -> None:
    db = _rt().db
    await asyncio.to_thread(connections.audit, db, connection_id, action, detail)


@DBOS.workflow()
async def setup_connection(connection_id: str, start_sync: bool = True) -> dict[str, Any]:
    """Converge webhooks at both providers, record the status, then start the initial sync."""
    await _set_status(connection_id, "setting_up", "registering webhooks")
    problems: list[str] = []
    report: dict[str, Any] = {}
    try:
        report["quo"] = await _quo_step(connection_id)
    except Exception as exc:
        problems.append(f"Quo webhooks: {_error_text(exc)}")
    try:
        report["crm"] = await _crm_step(connection_id)
    except Exception as exc:
        problems.append(f"CRM webhook: {_error_text(exc)}")
    if problems:
        message = "; ".join(problems) + " — fix the cause, then retry setup"
        await _set_status(connection_id, "degraded", message)
    else:
        await _set_status(connection_id, "active", "webhooks registered")
    report["problems"] = problems
    if start_sync:
        try:
            run_id, joined = start_initial_sync(_rt().db, connection_id)
            report["sync_run_id"] = run_id
            report["sync_joined"] = joined
        except Exception as exc:  # a missing sync package must not fail setup
            report["sync_error"] = _error_text(exc)
            log.warning("initial_sync_not_started", connection_id=connection_id, error=str(exc))
    await _audit(connection_id, "setup", {"problems": problems, "report": _plain(report)})
    return report


WEBHOOK_CHECK_CRON = "0 */15 * * * *"  # every 15 minutes (DBOS crons have a seconds field)


@DBOS.workflow()
async def webhook_check_tick(scheduled: datetime, context: Any) -> None:
    """Scheduled: converge the webhooks of every active or degraded connection (recreates ones
    deleted at a provider, retries a half-failed setup). One setup run per connection and tick."""

    ids = await _active_connection_ids()
    stamp = scheduled.isoformat()
    for cid in ids:
        await enqueue_async(
            "setup", setup_connection, cid, False,
            partition_key=cid, workflow_id=f"webhook-check:{cid}:{stamp}",
        )  # fmt: skip


@DBOS.step()
async def _active_connection_ids() -> list[str]:
    def work() -> list[str]:
        return [
            c.id
            for c in connections.list_connections(_rt().db, include_disconnected=False)
            if c.status in ("active", "degraded")
        ]

    return await asyncio.to_thread(work)


def install_webhook_check(cron: str = WEBHOOK_CHECK_CRON) -> None:
    """Register the webhook check schedule with DBOS (after launch; idempotent)."""
    DBOS.apply_schedules(
        [
            {
                "schedule_name": "switchboard-webhook-check",
                "workflow_fn": webhook_check_tick,
                "schedule": cron,
            }
        ]
    )


def _register_hook() -> None:

    after_launch(install_webhook_check)


_register_hook()


def _plain(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if isinstance(v, str | int | float | dict | list)}


def _wid(prefix: str, connection_id: str) -> str:
    return f"{prefix}:{connection_id}:{secrets.token_hex(4)}"


def start_setup(connection_id: str, force: bool = False, start_sync: bool = True) -> str:
    """Enqueue `setup_connection` on the `setup` queue (serialised per connection); returns the
    workflow id. `force` is accepted for API symmetry: every run converges."""

    wid = _wid("setup", connection_id)
    enqueue("setup", setup_connection, connection_id, start_sync, partition_key=connection_id,
            workflow_id=wid)  # fmt: skip
    return wid


def start_resubscribe(connection_id: str) -> str:
    """Re-converge webhooks after a lines / event-kinds change (no new initial sync)."""

    wid = _wid("resubscribe", connection_id)
    enqueue("setup", setup_connection, connection_id, False, partition_key=connection_id,
            workflow_id=wid)  # fmt: skip
    return wid


# ---------------------------------------------------------------------------------- teardown
async def disconnect(
    db: Database,
    box: SecretBox,
    settings: Any,
    connection_id: str,
    *,
    delete_quo_contacts: bool = False,
    quo: Any = None,
    crm: Any = None,
) -> dict[str, Any]:
    """Remove everything we created remotely, wipe secrets, keep an audit row.

    Errors on individual deletions are collected (and reported) rather than stopping the
    teardown; the connection is marked disconnected either way."""
    from sqlalchemy import select

    info = connections.get_connection(db, connection_id)
    creds = connections.load_credentials(db, box, connection_id)
    own_quo = quo is None
    own_crm = crm is None
    if quo is None:
        quo = clients.build_quo_client(
            creds.quo_api_key,
            info.quo_base_url,
            retry=_setup_retry(),
            database_url=settings.resolved_database_url(),
            redis_url=settings.redis_url,
            webhooks_version=settings.quo_webhooks_version,
        )
    if crm is None:
        crm = clients.build_crm_connector(
            info.crm, creds.crm_token, info.crm_base_url,
            database_url=settings.resolved_database_url(), redis_url=settings.redis_url,
        )  # fmt: skip
    report: dict[str, Any] = {
        "quo_webhooks_deleted": 0,
        "crm_webhooks_deleted": 0,
        "quo_contacts_deleted": 0,
        "errors": [],
    }
    try:
        quo_url = quo_webhook_url(settings, connection_id)
        crm_url = crm_webhook_url(settings, info.crm, connection_id)
        ours = {w.remote_id for w in info.webhooks if w.provider == "quo"}
        try:
            ours |= {h.id for h in await quo.list_webhooks() if h.url == quo_url}
        except Exception as exc:
            report["errors"].append(f"list Quo webhooks: {_error_text(exc)}")
        for remote_id in sorted(ours):
            try:
                await quo.delete_webhook(remote_id)
                report["quo_webhooks_deleted"] += 1
            except Exception as exc:
                report["errors"].append(f"delete Quo webhook {remote_id}: {_error_text(exc)}")
        crm_ours = {w.remote_id for w in info.webhooks if w.provider == info.crm}
        try:
            crm_ours |= {
                s.remote_id for s in await crm.list_subscriptions() if s.target_url == crm_url
            }
        except Exception as exc:
            report["errors"].append(f"list CRM webhooks: {_error_text(exc)}")
        for remote_id in sorted(crm_ours):
            try:
                await crm.unsubscribe(remote_id)
                report["crm_webhooks_deleted"] += 1
            except Exception as exc:
                report["errors"].append(f"delete CRM webhook {remote_id}: {_error_text(exc)}")
        if delete_quo_contacts:
            with db.session() as s:
                ids = [
                    cid
                    for (cid,) in s.execute(
                        select(ContactMapping.quo_contact_id).where(
                            ContactMapping.connection_id == connection_id,
                            ContactMapping.created_by_us.is_(True),
                            ContactMapping.quo_contact_id.is_not(None),
                        )
                    )
                ]
            for cid in ids:
                try:
                    await quo.delete_contact(cid)
                    report["quo_contacts_deleted"] += 1
                except Exception as exc:
                    report["errors"].append(f"delete Quo contact {cid}: {_error_text(exc)}")
    finally:
        if own_quo:
            with contextlib.suppress(Exception):
                await quo.aclose()
        if own_crm:
            with contextlib.suppress(Exception):
                await crm.aclose()
    connections.delete_connection(db, connection_id)
    forget_tokens(db, connection_id)  # the OAuth tokens are secrets too
    connections.audit(db, connection_id, "disconnect", {**report, "errors": report["errors"][:50]})
    return report


async def disconnect_with_own_clients(
    db: Database,
    box: SecretBox,
    settings: Any,
    connection_id: str,
    *,
    delete_quo_contacts: bool = False,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """`disconnect` with the connection's own clients (a signed-in connection's access token is
    refreshed as needed; a refused refresh becomes an error in the report)."""
    quo = await asyncio.to_thread(clients.quo_client_for, connection_id, retry=retry)
    crm = await asyncio.to_thread(clients.crm_connector_for, connection_id, retry=retry)
    try:
        report = await disconnect(
            db,
            box,
            settings,
            connection_id,
            delete_quo_contacts=delete_quo_contacts,
            quo=quo,
            crm=crm,
        )
    finally:
        await quo.aclose()
        await crm.aclose()
    clients.forget(connection_id)
    return report
