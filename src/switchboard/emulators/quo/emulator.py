"""`QuoEmulator`: the state object behind the Quo emulator app, usable straight from Python.

    emu = QuoEmulator(bulk_delay_s=0, phase_delay_scale=0)
    ws = emu.create_workspace(api_key="k1")            # "Front Desk" 📞 +15550100100, owner Sam
    app = create_app(emu)                              # switchboard.emulators.quo.app
    call = await emu.simulate_call(ws.id, outcome="answered", recording=True, summary=True)

Every method that answers an API operation raises `QuoError(status, message)` for error answers;
the app turns that into the spec's error body for the operation.

Over 600 lines on purpose: emulator state — workspaces, calls and their phases, webhook
delivery — kept together so a simulated call's timeline reads in one place.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from switchboard.emulators.common import (
    FaultInjector,
    RequestLog,
    SlidingWindowRateLimiter,
    WebhookDeliverer,
)
from switchboard.emulators.quo import webhooks as wh
from switchboard.emulators.quo.state import (
    DATED_VERSION,
    PROFILES,
    ApiKey,
    BulkJob,
    Call,
    Clock,
    Contact,
    Conversation,
    CustomField,
    Ids,
    Message,
    PhoneNumber,
    QuoError,
    Recording,
    Settings,
    Summary,
    Transcript,
    User,
    Voicemail,
    Webhook,
    WebhookEvent,
    Workspace,
    default_clock,
    iso,
)

RESERVED_SOURCES = {"openphone", "device", "csv", "zapier", "google-people", "other"}
RESERVED_SOURCE_PREFIXES = ("openphone", "csv")
MAX_EXTERNAL_IDS = 20

WEBHOOK_KINDS = {
    "messages": ["message.received", "message.delivered"],
    "calls": ["call.completed", "call.ringing", "call.recording.completed"],
    "call-summaries": ["call.summary.completed"],
    "call-transcripts": ["call.transcript.completed"],
}

# Seconds after a call ends at which each phase completes (scaled by `phase_delay_scale`).
PHASE_DELAYS = {"recording": 3.0, "voicemail": 5.0, "summary": 20.0, "transcript": 30.0}

DEFAULT_PHONE = {"number": "+15550100100", "name": "Front Desk", "symbol": "📞"}
DEFAULT_USER = {
    "email": "sam@example.test",
    "firstName": "Sam",
    "lastName": "Ortiz",
    "role": "owner",
}
DEFAULT_CUSTOM_FIELDS = [
    {"key": "inbound-lead", "name": "Inbound lead", "type": "boolean"},
    {"key": "crm-link", "name": "CRM link", "type": "url"},
    {"key": "tags", "name": "Tags", "type": "multi-select"},
]


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not raw.startswith("o:"):
            raise ValueError(raw)
        offset = int(raw[2:])
        if offset < 0:
            raise ValueError(raw)
        return offset
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise QuoError(400, "Invalid pageToken") from exc


def paginate(items: list[Any], max_results: int, token: str | None) -> tuple[list[Any], str | None]:
    start = decode_token(token)
    page = items[start : start + max_results]
    nxt = start + max_results
    return page, encode_token(nxt) if nxt < len(items) else None


def _err(path: str, value: Any) -> list[dict[str, Any]]:
    return [{"path": path, "message": "invalid", "value": value, "schema": {}}]


def is_http_url(value: str) -> bool:
    try:
        parsed = urlparse(value)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


class QuoEmulator:
    """All workspaces, knobs, the request log, faults, rate limiter and webhook deliverer."""

    def __init__(
        self,
        *,
        profile: str = "current",
        bulk_delay_s: float = 2.5,
        key_propagation_s: float = 0.0,
        rate_limit: int = 10,
        phase_delay_scale: float = 1.0,
        seed: int = 0,
        clock: Clock = default_clock,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.settings = Settings(
            profile=profile,  # type: ignore[arg-type]
            bulk_delay_s=bulk_delay_s,
            key_propagation_s=key_propagation_s,
            rate_limit=rate_limit,
            phase_delay_scale=phase_delay_scale,
        )
        self.ids = Ids(seed)
        self.lock = threading.RLock()
        self.log = RequestLog()
        self.faults = FaultInjector(seed=seed, clock=clock)
        self.limiter = SlidingWindowRateLimiter(limit=rate_limit, window=1.0)
        self.deliverer = WebhookDeliverer(faults=self.faults)
        self.workspaces: dict[str, Workspace] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self._phase_tasks: set[asyncio.Task[None]] = set()
        self.apply_settings({})

    # ------------------------------------------------------------------ settings / reset

    def apply_settings(self, patch: dict[str, Any]) -> Settings:
        names = {
            "profile": "profile",
            "bulkDelayS": "bulk_delay_s",
            "bulkVisibilityJitterS": "bulk_visibility_jitter_s",
            "contactsOrder": "contacts_order",
            "keyPropagationS": "key_propagation_s",
            "rateLimit": "rate_limit",
            "rateWindowS": "rate_window_s",
            "phaseDelayScale": "phase_delay_scale",
            "messageDeliveryDelayS": "message_delivery_delay_s",
            "webhookMaxAttempts": "webhook_max_attempts",
            "webhookBackoffS": "webhook_backoff_s",
            "webhookRetryScheduleS": "webhook_retry_schedule_s",
            "webhookScheduleScale": "webhook_schedule_scale",
            "maxWebhooks": "max_webhooks",
            "datedErrorEnvelope": "dated_error_envelope",
            "datedCalls": "dated_calls",
            "mediaUrl": "media_url",
        }
        with self.lock:
            new = dataclasses.replace(self.settings)
            for key, value in patch.items():
                attr = names.get(key, key)
                if attr == "webhook_retry_schedule_s":
                    if not isinstance(value, list | tuple) or not value:
                        raise ValueError(f"{key} must be a non-empty list of seconds")
                    if any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0
                           for v in value):  # fmt: skip
                        raise ValueError(f"{key} must hold non-negative numbers")
                    new.webhook_retry_schedule_s = tuple(float(v) for v in value)
                    continue
                if not hasattr(new, attr):
                    raise ValueError(f"unknown setting {key!r}")
                current = getattr(new, attr)
                if isinstance(current, str):
                    value = str(value)
                elif isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{key} must be a number")
                elif isinstance(current, int) and not isinstance(current, bool):
                    value = int(value)
                else:
                    value = float(value)
                setattr(new, attr, value)
            if new.profile not in PROFILES:
                raise ValueError("profile must be one of " + ", ".join(PROFILES))
            if new.dated_error_envelope not in ("documented", "v1"):
                raise ValueError("datedErrorEnvelope must be 'documented' or 'v1'")
            if new.contacts_order not in ("oldest", "newest"):
                raise ValueError("contactsOrder must be 'oldest' or 'newest'")
            if new.dated_calls not in ("absent", "served"):
                raise ValueError("datedCalls must be 'absent' or 'served'")
            if min(new.bulk_delay_s, new.bulk_visibility_jitter_s, new.key_propagation_s,
                   new.rate_limit) < 0:  # fmt: skip
                raise ValueError("delays and the rate limit must not be negative")
            if new.webhook_max_attempts < 1:
                raise ValueError("webhookMaxAttempts must be at least 1")
            self.settings = new
            if new.rate_window_s <= 0:
                raise ValueError("rateWindowS must be positive")
            self.limiter.limit = new.rate_limit
            self.limiter.window = new.rate_window_s
            self.deliverer.max_attempts = new.webhook_max_attempts
            self.deliverer.backoff_s = new.webhook_backoff_s
            return self.settings

    def reset(self, *, keep_workspaces: bool = False) -> None:
        """Forget data (and workspaces unless kept), the request log, faults, pending phases."""
        with self.lock:
            for task in list(self._phase_tasks):
                task.cancel()
            self._phase_tasks.clear()
            self.deliverer.cancel_all()
            self.deliverer.deliveries.clear()
            self.log.clear()
            self.faults.clear()
            self.limiter.reset()
            if keep_workspaces:
                for ws in self.workspaces.values():
                    for attr in (
                        "contacts",
                        "by_external",
                        "calls",
                        "messages",
                        "conversations",
                        "webhooks",
                    ):
                        getattr(ws, attr).clear()
                    ws.bulk_jobs.clear()
            else:
                self.workspaces.clear()
                self.api_keys.clear()

    # ------------------------------------------------------------------ workspaces

    def create_workspace(
        self,
        *,
        api_key: str | None = None,
        api_keys: list[str] | None = None,
        name: str = "Emulated workspace",
        phone_numbers: list[dict[str, Any]] | None = None,
        users: list[dict[str, Any]] | None = None,
        contacts: list[dict[str, Any]] | None = None,
        custom_fields: list[dict[str, Any]] | None = None,
        bulk: str = "enabled",
        key_propagation_s: float | None = None,
    ) -> Workspace:
        """A workspace with phone numbers (name + emoji symbol), users and optional contacts.

        `users` items: {email, firstName, lastName, role, id?}; the first user is the owner unless
        one says role "owner". `phone_numbers` items: {number, name, symbol, users?: [email|id],
        id?} — a number without `users` is shared by every user.
        """
        if bulk not in ("enabled", "forbidden", "missing"):
            raise ValueError("bulk must be enabled, forbidden or missing")
        now = self.clock()
        with self.lock:
            ws = Workspace(
                id=self.ids.new("WS", 12),
                org_id=self.ids.new("OR", 12),
                name=name,
                bulk=bulk,  # type: ignore[arg-type]
                ai_agent_id=self.ids.new("SY", 12),
            )
            user_specs = users or [DEFAULT_USER]
            has_owner = any(u.get("role") == "owner" for u in user_specs)
            for i, spec in enumerate(user_specs):
                role = spec.get("role") or ("owner" if i == 0 and not has_owner else "member")
                uid = spec.get("id") or self.ids.new("US", 12)
                if not str(uid).startswith("US"):
                    raise ValueError(f"user id must start with US: {uid}")
                ws.users[uid] = User(
                    id=uid,
                    email=spec.get("email") or f"user{i + 1}@example.test",
                    first_name=spec.get("firstName"),
                    last_name=spec.get("lastName"),
                    role=role,
                    picture_url=spec.get("pictureUrl"),
                    created_at=now,
                    updated_at=now,
                )
            for spec in phone_numbers or [DEFAULT_PHONE]:
                pid = spec.get("id") or self.ids.new("PN", 12)
                if not str(pid).startswith("PN"):
                    raise ValueError(f"phone number id must start with PN: {pid}")
                refs = spec.get("users")
                if refs is None:
                    user_ids = list(ws.users)
                else:
                    user_ids = [u.id for u in ws.users.values() if u.id in refs or u.email in refs]
                ws.phone_numbers[pid] = PhoneNumber(
                    id=pid,
                    number=spec["number"],
                    name=spec.get("name") or spec["number"],
                    symbol=spec.get("symbol"),
                    group_id=self.ids.new("GR", 12),
                    user_ids=user_ids,
                    forward=spec.get("forward"),
                    created_at=now,
                    updated_at=now,
                )
            for spec in custom_fields if custom_fields is not None else DEFAULT_CUSTOM_FIELDS:
                cf = CustomField(
                    key=spec["key"], name=spec["name"], type=spec["type"], id=self.ids.new("CF", 12)
                )
                ws.custom_fields[cf.key] = cf
            self.workspaces[ws.id] = ws
            delay = (
                self.settings.key_propagation_s if key_propagation_s is None else key_propagation_s
            )
            for key in [*(api_keys or []), *([api_key] if api_key else [])]:
                self.add_api_key(ws.id, key, propagation_s=delay)
            for c in contacts or []:
                self.create_contact(ws, c, operation="seed")
            return ws

    def add_api_key(
        self, workspace_id: str, key: str, *, propagation_s: float | None = None
    ) -> None:
        """Attach a key; it answers 401 for `propagation_s` seconds (the fresh-key quirk)."""
        if not key:
            raise ValueError("api key must not be empty")
        delay = self.settings.key_propagation_s if propagation_s is None else propagation_s
        with self.lock:
            if key in self.api_keys and self.api_keys[key].workspace_id != workspace_id:
                raise ValueError("api key already belongs to another workspace")
            self.api_keys[key] = ApiKey(key, workspace_id, self.clock() + delay)

    def keys_of(self, workspace_id: str) -> list[str]:
        return [k.key for k in self.api_keys.values() if k.workspace_id == workspace_id]

    def workspace(self, ref: str) -> Workspace:
        """By workspace id or by one of its API keys."""
        if ref in self.workspaces:
            return self.workspaces[ref]
        key = self.api_keys.get(ref)
        if key is None:
            raise KeyError(ref)
        return self.workspaces[key.workspace_id]

    def authenticate(self, authorization: str | None) -> Workspace:
        if not authorization:
            raise QuoError(401, "Unauthorized")
        key = self.api_keys.get(authorization)
        if key is None or self.clock() < key.active_at:
            raise QuoError(401, "Unauthorized")
        return self.workspaces[key.workspace_id]

    # ------------------------------------------------------------------ contacts

    def _process_bulk(self, ws: Workspace) -> None:
        now = self.clock()
        for job in ws.bulk_jobs:
            if job.processed or job.visible_at > now:
                continue
            job.processed = True
            jitter = self.settings.bulk_visibility_jitter_s
            for i, body in enumerate(job.contacts):
                visible_at = job.visible_at
                if jitter:
                    visible_at += self.faults.random.uniform(0, jitter)
                try:
                    self.create_contact(ws, body, operation="bulk", visible_at=visible_at)
                    job.created += 1
                except QuoError as exc:
                    job.rejected.append({"index": i, "status": exc.status, "message": exc.message})

    def validate_contact(self, ws: Workspace, body: Any, *, partial: bool) -> None:
        from switchboard.emulators.quo.validation import validate_body

        op = "updateContactById_v1" if partial else "createContact_v1"
        validate_body(op, body)
        source = body.get("source")
        if isinstance(source, str):
            low = source.lower()
            if low in RESERVED_SOURCES or low.startswith(RESERVED_SOURCE_PREFIXES):
                raise QuoError(400, f"source {source!r} is reserved")
        url = body.get("sourceUrl")
        if isinstance(url, str) and not is_http_url(url):
            raise QuoError(400, "sourceUrl must be a URL")
        for item in body.get("customFields") or []:
            key = item.get("key")
            if key is not None and key not in ws.custom_fields:
                raise QuoError(400, f"Invalid Custom Field Item: unknown key {key!r}")

    def _custom_fields(self, ws: Workspace, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            cf = ws.custom_fields.get(item.get("key") or "")
            if cf is None:
                continue
            out.append(
                {
                    "name": cf.name,
                    "key": cf.key,
                    "id": cf.id,
                    "type": cf.type,
                    "value": item.get("value"),
                }
            )
        return out

    def _fields(self, ws: Workspace, defaults: dict[str, Any]) -> dict[str, Any]:
        def labeled(items: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
            return [
                {
                    "name": i["name"],
                    "value": i.get("value"),
                    "id": i.get("id") or self.ids.new(prefix, 12),
                }
                for i in items
            ]

        return {
            "company": defaults.get("company"),
            "emails": labeled(defaults.get("emails") or [], "EM"),
            "firstName": defaults.get("firstName"),
            "lastName": defaults.get("lastName"),
            "phoneNumbers": labeled(defaults.get("phoneNumbers") or [], "PH"),
            "role": defaults.get("role"),
        }

    def external_id_taken(
        self, ws: Workspace, external_id: str | None, but: str | None = None
    ) -> bool:
        if external_id is None:
            return False
        holder = ws.by_external.get(external_id)
        return holder is not None and holder != but

    def create_contact(
        self,
        ws: Workspace,
        body: Any,
        *,
        operation: str = "createContact_v1",
        visible_at: float | None = None,
    ) -> Contact:
        with self.lock:
            self._process_bulk(ws)
            self.validate_contact(ws, body, partial=False)
            external_id = body.get("externalId")
            if self.external_id_taken(ws, external_id):
                raise QuoError(409, "Failed to create contact", body=CONFLICT_BODY)
            creator = body.get("createdByUserId")
            if creator not in ws.users:
                creator = ws.owner_id
            now = self.clock()
            contact = Contact(
                id=self.ids.new("CT", 20),
                external_id=external_id,
                source=body.get("source") or "public-api",
                source_url=body.get("sourceUrl"),
                default_fields=self._fields(ws, body["defaultFields"]),
                custom_fields=self._custom_fields(ws, body.get("customFields") or []),
                created_by_user_id=creator,
                created_at=now,
                updated_at=now,
                visible_at=now if visible_at is None else visible_at,
            )
            ws.contacts[contact.id] = contact
            if external_id is not None:
                ws.by_external[external_id] = contact.id
            if operation != "seed":
                self._fire_contact(ws, "contact.updated", contact)
            return contact

    def bulk_create(self, ws: Workspace, body: Any) -> BulkJob:
        if ws.bulk == "missing":
            raise QuoError(404, "Not Found")
        if ws.bulk == "forbidden":
            raise QuoError(403, "Forbidden")
        if not isinstance(body, dict) or not isinstance(body.get("contacts"), list):
            raise QuoError(400, 'Body must be {"contacts": [...]}')
        if not all(isinstance(c, dict) for c in body["contacts"]):
            raise QuoError(400, "Every contact must be an object")
        now = self.clock()
        with self.lock:
            job = BulkJob(
                id=self.ids.new("BJ", 12),
                contacts=body["contacts"],
                received_at=now,
                visible_at=now + self.settings.bulk_delay_s,
            )
            ws.bulk_jobs.append(job)
            self._process_bulk(ws)
            return job

    def visible_contacts(self, ws: Workspace) -> list[Contact]:
        with self.lock:
            self._process_bulk(ws)
            now = self.clock()
            return [c for c in ws.contacts.values() if c.visible_at <= now]

    def get_contact(self, ws: Workspace, contact_id: str) -> Contact:
        with self.lock:
            self._process_bulk(ws)
            contact = ws.contacts.get(contact_id)
            if contact is None or contact.visible_at > self.clock():
                raise QuoError(404, "Contact not found")
            return contact

    def find_contacts(
        self, ws: Workspace, external_ids: list[str], sources: list[str]
    ) -> list[Contact]:
        """Visible contacts, filtered like GET /v1/contacts (externalIds via the index)."""
        with self.lock:
            self._process_bulk(ws)
            now = self.clock()
            if external_ids:
                ids = [
                    ws.by_external[e] for e in dict.fromkeys(external_ids) if e in ws.by_external
                ]
                found = sorted((ws.contacts[i] for i in ids), key=lambda c: c.created_at)
            else:
                found = list(ws.contacts.values())
            if self.settings.contacts_order == "newest":
                found.reverse()
            return [
                c for c in found if c.visible_at <= now and (not sources or c.source in sources)
            ]

    def update_contact(self, ws: Workspace, contact_id: str, body: Any) -> Contact:
        with self.lock:
            contact = self.get_contact(ws, contact_id)
            self.validate_contact(ws, body, partial=True)
            if "externalId" in body and self.external_id_taken(
                ws, body["externalId"], but=contact.id
            ):
                raise QuoError(409, "Failed to update contact")
            if "externalId" in body:
                if contact.external_id is not None:
                    ws.by_external.pop(contact.external_id, None)
                contact.external_id = body["externalId"]
                if contact.external_id is not None:
                    ws.by_external[contact.external_id] = contact.id
            if "source" in body:
                contact.source = body["source"]
            if "sourceUrl" in body:
                contact.source_url = body["sourceUrl"]
            if "defaultFields" in body and body["defaultFields"] is not None:
                merged = {**contact.default_fields, **body["defaultFields"]}
                contact.default_fields = self._fields(ws, merged)
            if "customFields" in body and body["customFields"] is not None:
                existing = {f["key"]: f for f in contact.custom_fields}
                for f in self._custom_fields(ws, body["customFields"]):
                    existing[f["key"]] = f
                contact.custom_fields = list(existing.values())
            contact.updated_at = self.clock()
            self._fire_contact(ws, "contact.updated", contact)
            return contact

    def delete_contact(self, ws: Workspace, contact_id: str) -> None:
        with self.lock:
            contact = self.get_contact(ws, contact_id)
            del ws.contacts[contact.id]
            if contact.external_id is not None:
                ws.by_external.pop(contact.external_id, None)
            self._fire_contact(ws, "contact.deleted", contact)

    # ------------------------------------------------------------------ webhooks

    def create_webhook(self, ws: Workspace, kind: str, body: Any, *, version: int) -> Webhook:
        from switchboard.emulators.quo.validation import validate_body

        op = {
            "messages": "createMessageWebhook_v1",
            "calls": "createCallWebhook_v1",
            "call-summaries": "createCallSummaryWebhook_v1",
            "call-transcripts": "createCallTranscriptWebhook_v1",
        }[kind]
        validate_body(op, body)
        if not is_http_url(body["url"]):
            raise QuoError(400, "url must be an http(s) URL")
        events = body["events"]
        if not events:
            raise QuoError(400, "events must not be empty")
        resource_ids = body.get("resourceIds") or ["*"]
        if "*" in resource_ids and len(resource_ids) > 1:
            raise QuoError(400, "resourceIds is either ['*'] or phone number ids")
        for rid in resource_ids:
            if rid != "*" and rid not in ws.phone_numbers:
                raise QuoError(400, f"Unknown phone number id {rid!r}")
        user_id = body.get("userId") or ws.owner_id
        if user_id not in ws.users:
            raise QuoError(400, f"Unknown user id {user_id!r}")
        now = self.clock()
        key = self.ids.key(24)
        with self.lock:
            hook = Webhook(
                id=self.ids.new("WH", 20),
                user_id=user_id,
                org_id=ws.org_id,
                label=body.get("label"),
                status=body.get("status") or "enabled",
                url=body["url"],
                key=("whsec_" + key) if version == 2 else key,
                events=list(dict.fromkeys(events)),
                resource_ids=list(resource_ids),
                kind=kind,
                version=version,
                created_at=now,
                updated_at=now,
            )
            ws.webhooks[hook.id] = hook
            return hook

    def create_dated_webhook(self, ws: Workspace, body: Any) -> Webhook:
        """`POST /webhooks`: one webhook for any mix of event families."""
        if not isinstance(body, dict):
            raise QuoError(400, "Body must be an object")
        url = body.get("url")
        if not isinstance(url, str) or not is_http_url(url):
            raise QuoError(400, "url must be an http(s) URL", errors=_err("url", url))
        events = body.get("events")
        if not isinstance(events, list) or not events:
            raise QuoError(400, "events must be a non-empty list", errors=_err("events", events))
        unknown = [e for e in events if e not in wh.DATED_EVENTS]
        if unknown:
            raise QuoError(400, f"Unknown event types {unknown}", errors=_err("events", unknown))
        scoped = any(str(e).startswith(("message.", "call.")) for e in events)
        resource_ids = self._resource_ids(ws, body.get("resourceIds"), scoped)
        status = body.get("status", "enabled")
        if status not in ("enabled", "disabled"):
            raise QuoError(400, "status must be enabled or disabled", errors=_err("status", status))
        if len([h for h in ws.webhooks.values() if h.version == 3]) >= self.settings.max_webhooks:
            raise QuoError(400, f"At most {self.settings.max_webhooks} webhooks per workspace")
        now = self.clock()
        with self.lock:
            hook = Webhook(
                id=self.ids.new("WH", 20),
                user_id=ws.owner_id,
                org_id=ws.org_id,
                label=body.get("label"),
                status=status,
                url=url,
                key="whsec_" + self.ids.key(24),
                events=list(dict.fromkeys(events)),
                resource_ids=resource_ids,
                kind="",
                version=3,
                created_at=now,
                updated_at=now,
            )
            ws.webhooks[hook.id] = hook
            return hook

    def _resource_ids(self, ws: Workspace, value: Any, scoped: bool) -> list[str]:
        if value is None:
            return ["*"] if scoped else []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QuoError(400, "resourceIds must be a list", errors=_err("resourceIds", value))
        if "*" in value and len(value) > 1:
            raise QuoError(400, "resourceIds is either ['*'] or phone number ids")
        for rid in value:
            if rid != "*" and rid not in ws.phone_numbers:
                raise QuoError(400, f"Unknown phone number id {rid!r}")
        return list(value)

    def update_dated_webhook(self, ws: Workspace, webhook_id: str, body: Any) -> Webhook:
        """`PATCH /webhooks/{id}`: url, events, label, resourceIds, status (enable/disable)."""
        hook = self.get_dated_webhook(ws, webhook_id)
        if not isinstance(body, dict):
            raise QuoError(400, "Body must be an object")
        with self.lock:
            if "url" in body:
                if not isinstance(body["url"], str) or not is_http_url(body["url"]):
                    raise QuoError(400, "url must be an http(s) URL")
                hook.url = body["url"]
            if "events" in body:
                events = body["events"]
                if (
                    not isinstance(events, list)
                    or not events
                    or any(e not in wh.DATED_EVENTS for e in events)
                ):
                    raise QuoError(400, "events must be a non-empty list of known event types")
                hook.events = list(dict.fromkeys(events))
            if "resourceIds" in body:
                scoped = any(e.startswith(("message.", "call.")) for e in hook.events)
                hook.resource_ids = self._resource_ids(ws, body["resourceIds"], scoped)
            if "status" in body:
                if body["status"] not in ("enabled", "disabled"):
                    raise QuoError(400, "status must be enabled or disabled")
                hook.status = body["status"]
            if "label" in body:
                hook.label = body["label"]
            hook.updated_at = self.clock()
            return hook

    def get_dated_webhook(self, ws: Workspace, webhook_id: str) -> Webhook:
        hook = ws.webhooks.get(webhook_id)
        if hook is None or hook.version != 3:
            raise QuoError(404, "Webhook not found")
        return hook

    def rotate_webhook(self, ws: Workspace, webhook_id: str) -> Webhook:
        """`POST /webhooks/{id}/rotate`: a new secret, used for every delivery from now on
        (pending retries included)."""
        hook = self.get_dated_webhook(ws, webhook_id)
        with self.lock:
            hook.key = "whsec_" + self.ids.key(24)
            hook.updated_at = self.clock()
            return hook

    def send_test_event(self, ws: Workspace, webhook_id: str, body: Any) -> WebhookEvent:
        """`POST /webhooks/{id}/events/test {eventType}`: a test delivery, sent whether the
        webhook is enabled or not (so a replacement can be tested before it is enabled)."""
        hook = self.get_dated_webhook(ws, webhook_id)
        event_type = body.get("eventType") if isinstance(body, dict) else None
        if event_type is None:
            event_type = hook.events[0]
        if event_type not in wh.DATED_EVENTS:
            raise QuoError(400, f"Unknown event type {event_type!r}")
        now = self.clock()
        event_id = self.ids.new("EV", 20)
        resource = wh.sample_resource(event_type, ws, now)
        body_bytes = wh.dated_envelope(event_id, event_type, now, resource, None, DATED_VERSION)
        event = WebhookEvent(event_id, event_type, now, body_bytes, test=True)
        self._deliver_dated(hook, event)
        return event

    def webhook_event(self, ws: Workspace, webhook_id: str, event_id: str) -> WebhookEvent:
        hook = self.get_dated_webhook(ws, webhook_id)
        for event in hook.history:
            if event.id == event_id:
                return event
        raise QuoError(404, "Event not found")

    def retry_event(self, ws: Workspace, webhook_id: str, event_id: str) -> WebhookEvent:
        """`POST /webhooks/{id}/events/{eventId}/retry`: deliver the same event again."""
        hook = self.get_dated_webhook(ws, webhook_id)
        event = self.webhook_event(ws, webhook_id, event_id)
        self._deliver_dated(hook, event)
        return event

    def get_webhook(self, ws: Workspace, webhook_id: str) -> Webhook:
        """A legacy (v1/v2) webhook: dated ones are not part of those endpoints."""
        hook = ws.webhooks.get(webhook_id)
        if hook is None or hook.version == 3:
            raise QuoError(404, "Webhook not found")
        return hook

    # ------------------------------------------------------------------ conversations

    def _conversation(
        self, ws: Workspace, pn: str, external: list[str], at: float, activity: str
    ) -> str:
        wanted = sorted(set(external))
        for conv in ws.conversations.values():
            if conv.phone_number_id == pn and sorted(conv.participants) == wanted:
                conv.updated_at = conv.last_activity_at = at
                conv.last_activity_id = activity
                return conv.id
        conv = Conversation(
            id=self.ids.new("CN", 20),
            phone_number_id=pn,
            participants=wanted,
            created_at=at,
            updated_at=at,
            last_activity_at=at,
            last_activity_id=activity,
        )
        ws.conversations[conv.id] = conv
        return conv.id

    # ------------------------------------------------------------------ simulation

    def _track(self, task: asyncio.Task[None]) -> None:
        self._phase_tasks.add(task)
        task.add_done_callback(self._phase_tasks.discard)

    def _fire(
        self,
        ws: Workspace,
        event: str,
        pn: str | None,
        obj: dict[str, Any],
        link: str | None,
        delay_s: float,
    ) -> list[str]:
        """Schedule `event` to every matching webhook; returns the webhook ids it goes to.

        Legacy webhooks (v1/v2) get the legacy envelope, dated ones the dated envelope (and a
        delivery-history entry); both carry the same event id, so a receiver subscribed through
        both generations (during a migration) sees one event twice and can dedupe it.
        `pn` None marks a workspace-wide event (contact.*). Needs a running event loop."""
        targets = [h for h in ws.webhooks.values() if h.matches(event, pn)]
        if not targets:
            return []
        event_id = self.ids.new("EV", 20)
        created = self.clock() + delay_s
        legacy = wh.envelope(event_id, event, created, obj, link or "")
        dated = wh.dated_envelope(event_id, event, created, obj, link, DATED_VERSION)
        for hook in targets:
            if hook.version == 3:
                self._deliver_dated(hook, WebhookEvent(event_id, event, created, dated), delay_s)
            else:
                self.deliverer.schedule(
                    hook.url,
                    legacy,
                    self._signer(hook, event_id),
                    event_id=event_id,
                    event_type=event,
                    delay_s=delay_s,
                )
        return [h.id for h in targets]

    def _deliver_dated(self, hook: Webhook, event: WebhookEvent, delay_s: float = 0.0) -> None:
        """Deliver one event to a dated webhook on the (scaled) documented retry schedule,
        recording every attempt in the webhook's delivery history."""
        if event not in hook.history:
            hook.history.append(event)
        scale = self.settings.webhook_schedule_scale
        schedule = [s * scale for s in self.settings.webhook_retry_schedule_s]

        def record(attempt: int, status: int | None, error: str | None) -> None:
            event.attempts.append(
                {"attempt": attempt, "at": iso(self.clock()), "status": status, "error": error}
            )

        self.deliverer.schedule(
            hook.url,
            event.body,
            self._signer(hook, event.id),
            event_id=event.id,
            event_type=event.type,
            delay_s=delay_s,
            retry_schedule_s=schedule,
            on_attempt=record,
        )

    def _signer(self, hook: Webhook, event_id: str) -> Callable[[bytes], dict[str, str]]:
        def sign(body: bytes) -> dict[str, str]:
            now = time.time()
            if hook.version >= 2:
                # The key is read at signing time: a rotation applies to retries too.
                return wh.standard_headers(hook.key, body, "msg_" + event_id, int(now))
            return wh.legacy_headers(hook.key, body, int(now * 1000))

        return sign

    def _fire_contact(self, ws: Workspace, event: str, contact: Contact) -> None:
        """contact.updated / contact.deleted to dated webhooks — only with a running loop
        (seeding from plain Python, e.g. at start-up, fires nothing)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._fire(ws, event, None, contact.to_api(), None, 0.0)

    async def simulate_call(
        self,
        workspace: str,
        *,
        direction: str = "incoming",
        outcome: str = "answered",
        duration: int = 125,
        phone_number_id: str | None = None,
        user_id: str | None = None,
        participants: list[str] | None = None,
        participant_count: int | None = None,
        recording: bool | int = False,
        summary: bool | dict[str, Any] = False,
        transcript: bool | list[dict[str, Any]] = False,
        voicemail: bool | dict[str, Any] | None = None,
        status: str | None = None,
        answered_by: str | None = None,
        forwarded_to: str | None = None,
        empty_participants: bool = False,
        ringing: bool = True,
        shuffle_participants: bool = False,
        delays: dict[str, float] | None = None,
        delay_scale: float | None = None,
    ) -> dict[str, Any]:
        """Record a finished call and schedule its phases' webhooks. Must run on an event loop.

        outcome: answered | missed | voicemail | ai-handled | forwarded.
        """
        if outcome not in ("answered", "missed", "voicemail", "ai-handled", "forwarded"):
            raise ValueError("outcome must be answered, missed, voicemail, ai-handled or forwarded")
        if direction not in ("incoming", "outgoing"):
            raise ValueError("direction must be incoming or outgoing")
        ws = self.workspace(workspace)
        with self.lock:
            pn = (
                ws.phone_number(phone_number_id)
                if phone_number_id
                else next(iter(ws.phone_numbers.values()), None)
            )
            if pn is None:
                raise ValueError(f"unknown phone number {phone_number_id!r}")
            uid = user_id or (pn.user_ids[0] if pn.user_ids else ws.owner_id)
            if uid not in ws.users:
                raise ValueError(f"unknown user {uid!r}")
            external = list(participants or [])
            if participant_count is not None:
                while len(external) < participant_count - 1:
                    external.append(f"+1555014{len(ws.calls) % 10}{len(external):03d}")
            if not external:
                external = ["+15550142231"]
            all_parts = (
                [*external, pn.number] if direction == "incoming" else [pn.number, *external]
            )
            if shuffle_participants:  # "participants order is not fixed"
                self.faults.random.shuffle(all_parts)
            scale = self.settings.phase_delay_scale if delay_scale is None else delay_scale
            phase = {k: v * scale for k, v in {**PHASE_DELAYS, **(delays or {})}.items()}
            now = self.clock()
            answered = outcome in ("answered", "ai-handled", "forwarded")
            started = now - duration - 5
            call = Call(
                id=self.ids.new("AC", 20),
                phone_number_id=pn.id,
                user_id=uid,
                direction=direction,
                status=status
                or {"missed": "no-answer", "forwarded": "forwarded"}.get(outcome, "completed"),
                participants=all_parts,
                duration=duration,
                created_at=started,
                completed_at=now,
                answered_at=started + 5 if answered else None,
                answered_by=None,
                initiated_by=uid if direction == "outgoing" else None,
            )
            if outcome == "answered" and direction == "incoming":
                call.answered_by = answered_by or uid
            elif outcome == "ai-handled":
                call.answered_by = answered_by or ws.ai_agent_id
                call.ai_handled = "ai-agent"
            elif outcome == "forwarded":
                call.forwarded_to = forwarded_to or uid
                call.answered_by = answered_by
            n_rec = int(recording) if not isinstance(recording, bool) else (1 if recording else 0)
            for i in range(n_rec if answered else 0):
                call.recordings.append(
                    Recording(
                        id=self.ids.new("CR", 20),
                        duration=max(duration - 4, 1),
                        start_time=(call.answered_at or started) + i,
                        ready_at=now + phase["recording"],
                        url=f"{self.settings.media_url}/recordings/{call.id}-{i + 1}.mp3",
                    )
                )
            if voicemail is None:
                voicemail = outcome == "voicemail"
            if voicemail:
                vm = voicemail if isinstance(voicemail, dict) else {}
                call.voicemail = Voicemail(
                    id=self.ids.new("VM", 20),
                    duration=int(vm.get("duration", max(duration - 6, 1))),
                    transcript=vm.get(
                        "transcript", "Hi, it's about my installation, please call back."
                    ),
                    recording_url=f"{self.settings.media_url}/voicemails/{call.id}.mp3",
                    ready_at=now + phase["voicemail"],
                )
            if summary:
                spec = summary if isinstance(summary, dict) else {}
                call.summary = Summary(
                    summary=spec.get(
                        "summary", ["Caller asked about moving the installation date."]
                    ),
                    next_steps=spec.get("nextSteps", ["Send the updated confirmation by email."]),
                    jobs=spec.get("jobs"),
                    ready_at=now + phase["summary"],
                )
            if transcript:
                dialogue = (
                    transcript
                    if isinstance(transcript, list)
                    else [
                        {
                            "start": 0.4,
                            "end": 3.1,
                            "content": "Thanks for calling.",
                            "identifier": pn.number,
                            "userId": uid,
                        },
                        {
                            "start": 3.5,
                            "end": 8.0,
                            "content": "Hi, I need to move my date.",
                            "identifier": external[0],
                            "userId": None,
                        },
                    ]
                )
                call.transcript = Transcript(
                    dialogue=list(dialogue),  # type: ignore[arg-type]
                    duration=float(duration),
                    created_at=now + phase["transcript"],
                    ready_at=now + phase["transcript"],
                )
            call.conversation_id = self._conversation(ws, pn.id, external, now, call.id)
            ws.calls[call.id] = call
            link = wh.deep_link(pn.id, call.conversation_id, call.id)
            sent: dict[str, list[str]] = {}
            if ringing:
                obj = wh.call_object(ws, call, now, status="ringing")
                sent["call.ringing"] = self._fire(ws, "call.ringing", pn.id, obj, link, 0.0)
            obj = wh.call_object(ws, call, now, empty_participants=empty_participants)
            # Dated-generation call events (legacy webhooks cannot subscribe to them).
            if outcome in ("answered", "ai-handled"):
                sent["call.answered"] = self._fire(ws, "call.answered", pn.id, obj, link, 0.0)
            elif outcome == "forwarded":
                sent["call.forwarded"] = self._fire(ws, "call.forwarded", pn.id, obj, link, 0.0)
            elif direction == "incoming":  # missed or voicemail: missed is incoming only
                sent["call.missed"] = self._fire(ws, "call.missed", pn.id, obj, link, 0.0)
            sent["call.completed"] = self._fire(ws, "call.completed", pn.id, obj, link, 0.0)
            if call.voicemail is not None:
                sent["call.voicemail.completed"] = self._fire(
                    ws,
                    "call.voicemail.completed",
                    pn.id,
                    wh.voicemail_object(call),
                    link,
                    phase["voicemail"],
                )
            if call.recordings:
                obj = wh.call_object(ws, call, now, with_recordings=True)
                sent["call.recording.completed"] = self._fire(
                    ws, "call.recording.completed", pn.id, obj, link, phase["recording"]
                )
            if call.summary is not None:
                sent["call.summary.completed"] = self._fire(
                    ws,
                    "call.summary.completed",
                    pn.id,
                    wh.summary_object(call),
                    link,
                    phase["summary"],
                )
            if call.transcript is not None:
                sent["call.transcript.completed"] = self._fire(
                    ws,
                    "call.transcript.completed",
                    pn.id,
                    wh.transcript_object(call),
                    link,
                    phase["transcript"],
                )
            return {
                "callId": call.id,
                "call": call.to_api(),
                "conversationId": call.conversation_id,
                "webhooks": sent,
                "readyAt": {k: now + v for k, v in phase.items()},
            }

    def find_call(self, call_id: str) -> tuple[Workspace, Call]:
        for ws in self.workspaces.values():
            if call_id in ws.calls:
                return ws, ws.calls[call_id]
        raise KeyError(call_id)

    async def simulate_summary(
        self,
        call_id: str,
        *,
        summary: list[str] | None = None,
        next_steps: list[str] | None = None,
        jobs: list[dict[str, Any]] | None = None,
        delay_s: float = 0.0,
    ) -> dict[str, Any]:
        """Give an existing call a (new) AI summary and fire call.summary.completed."""
        ws, call = self.find_call(call_id)
        with self.lock:
            call.summary = Summary(
                summary=summary or ["Caller asked about moving the installation date."],
                next_steps=next_steps or [],
                jobs=jobs,
                ready_at=self.clock() + delay_s,
            )
            link = wh.deep_link(call.phone_number_id, call.conversation_id, call.id)
            sent = self._fire(
                ws,
                "call.summary.completed",
                call.phone_number_id,
                wh.summary_object(call),
                link,
                delay_s,
            )
            return {"callId": call.id, "webhooks": {"call.summary.completed": sent}}

    async def simulate_transcript(
        self, call_id: str, *, dialogue: list[dict[str, Any]] | None = None, delay_s: float = 0.0
    ) -> dict[str, Any]:
        """Give an existing call a (new) transcript and fire call.transcript.completed."""
        ws, call = self.find_call(call_id)
        with self.lock:
            external = [p for p in call.participants if p not in ws.own_numbers()]
            line = ws.phone_numbers[call.phone_number_id].number
            call.transcript = Transcript(
                dialogue=dialogue
                or [
                    {
                        "start": 0.4,
                        "end": 3.1,
                        "content": "Thanks for calling.",
                        "identifier": line,
                        "userId": call.user_id,
                    },
                    {
                        "start": 3.5,
                        "end": 8.0,
                        "content": "Hi, I need to move my date.",
                        "identifier": external[0] if external else line,
                        "userId": None,
                    },
                ],
                duration=float(call.duration),
                created_at=self.clock() + delay_s,
                ready_at=self.clock() + delay_s,
            )
            link = wh.deep_link(call.phone_number_id, call.conversation_id, call.id)
            obj = wh.transcript_object(call)
            sent = self._fire(
                ws, "call.transcript.completed", call.phone_number_id, obj, link, delay_s
            )
            return {"callId": call.id, "webhooks": {"call.transcript.completed": sent}}

    async def simulate_message(
        self,
        workspace: str,
        *,
        direction: str = "incoming",
        text: str = "Is Tuesday still OK for the install?",
        phone_number_id: str | None = None,
        participant: str = "+15550142231",
        user_id: str | None = None,
        failed: bool = False,
    ) -> dict[str, Any]:
        """Record a message; incoming fires message.received, outgoing message.delivered (or
        message.failed with `failed`, a dated-generation event)."""
        if direction not in ("incoming", "outgoing"):
            raise ValueError("direction must be incoming or outgoing")
        if failed and direction != "outgoing":
            raise ValueError("only outgoing messages can fail")
        ws = self.workspace(workspace)
        with self.lock:
            pn = (
                ws.phone_number(phone_number_id)
                if phone_number_id
                else next(iter(ws.phone_numbers.values()), None)
            )
            if pn is None:
                raise ValueError(f"unknown phone number {phone_number_id!r}")
            uid = user_id or (pn.user_ids[0] if pn.user_ids else ws.owner_id)
            now = self.clock()
            incoming = direction == "incoming"
            msg = Message(
                id=self.ids.new("AC", 20),
                phone_number_id=pn.id,
                user_id=uid,
                direction=direction,
                from_=participant if incoming else pn.number,
                to=[pn.number] if incoming else [participant],
                text=text,
                status="failed" if failed else "delivered",
                created_at=now,
                updated_at=now,
            )
            msg.conversation_id = self._conversation(ws, pn.id, [participant], now, msg.id)
            ws.messages[msg.id] = msg
            event = "message.received" if incoming else f"message.{msg.status}"
            obj = wh.message_object(ws, msg, now, "received" if incoming else msg.status)
            link = wh.deep_link(pn.id, msg.conversation_id, msg.id)
            sent = self._fire(ws, event, pn.id, obj, link, 0.0)
            return {"messageId": msg.id, "message": msg.to_api(), "webhooks": {event: sent}}

    def send_message(self, ws: Workspace, body: Any) -> Message:
        """POST /v1/messages: queued now, delivered (+ message.delivered) a moment later."""
        from switchboard.emulators.quo.validation import validate_body

        validate_body("sendMessage_v1", body)
        pn = ws.phone_number(body["from"])
        if pn is None or ("phoneNumberId" in body and body["phoneNumberId"] != pn.id):
            raise QuoError(400, "from must be one of the workspace's phone numbers")
        uid = body.get("userId") or (pn.user_ids[0] if pn.user_ids else ws.owner_id)
        if uid not in ws.users:
            raise QuoError(400, f"Unknown user id {uid!r}")
        now = self.clock()
        with self.lock:
            msg = Message(
                id=self.ids.new("AC", 20),
                phone_number_id=pn.id,
                user_id=uid,
                direction="outgoing",
                from_=pn.number,
                to=list(body["to"]),
                text=body["content"],
                status="queued",
                created_at=now,
                updated_at=now,
            )
            msg.conversation_id = self._conversation(ws, pn.id, list(body["to"]), now, msg.id)
            ws.messages[msg.id] = msg
        return msg

    async def deliver_sent_message(self, ws: Workspace, msg: Message) -> None:
        """After `message_delivery_delay_s` (scaled) mark delivered and fire message.delivered."""
        delay = self.settings.message_delivery_delay_s * self.settings.phase_delay_scale
        if delay > 0:
            await asyncio.sleep(delay)
        with self.lock:
            msg.status = "delivered"
            msg.updated_at = self.clock()
            obj = wh.message_object(ws, msg, self.clock(), "delivered")
            link = wh.deep_link(msg.phone_number_id, msg.conversation_id, msg.id)
            self._fire(ws, "message.delivered", msg.phone_number_id, obj, link, 0.0)

    def spawn(self, coro: Any) -> None:
        self._track(asyncio.get_running_loop().create_task(coro))

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait for pending message deliveries and webhook deliveries (with their delays)."""
        deadline = time.monotonic() + timeout
        while self._phase_tasks:
            await asyncio.wait(
                set(self._phase_tasks), timeout=max(deadline - time.monotonic(), 0.01)
            )
            if time.monotonic() > deadline:
                raise TimeoutError("simulation tasks still pending")
        await self.deliverer.drain(max(deadline - time.monotonic(), 0.01))


CONFLICT_BODY = {
    "message": "Failed to create contact",
    "code": "0800409",
    "status": 409,
    "docs": "https://openphone.com/docs",
    "title": "Conflict",
}


def load_seed(emu: QuoEmulator, text: str) -> list[Workspace]:
    """Seed file: {"workspaces": [{"apiKey"|"apiKeys", "name", "phoneNumbers", "users",
    "contacts", "customFields", "bulk"}]} (a bare list of workspaces works too)."""
    data = json.loads(text)
    items = data.get("workspaces", []) if isinstance(data, dict) else data
    return [emu.create_workspace(**workspace_kwargs(item)) for item in items]


def workspace_kwargs(item: dict[str, Any]) -> dict[str, Any]:
    """Control-surface / seed-file JSON (camelCase) → `create_workspace` keyword arguments."""
    names = {
        "apiKey": "api_key",
        "apiKeys": "api_keys",
        "name": "name",
        "phoneNumbers": "phone_numbers",
        "users": "users",
        "contacts": "contacts",
        "customFields": "custom_fields",
        "bulk": "bulk",
        "keyPropagationS": "key_propagation_s",
    }
    unknown = set(item) - set(names)
    if unknown:
        raise ValueError(f"unknown workspace fields: {sorted(unknown)}")
    return {names[k]: v for k, v in item.items()}
