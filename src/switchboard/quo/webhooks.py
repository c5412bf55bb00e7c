"""Quo webhook subscriptions: ≤ 10 phone numbers per webhook, replace = create new, delete old.

Quo has no webhook update, and webhooks with more than 10 `resourceIds` broke creation in
production, so a subscription ("these events, for these lines, to this URL") becomes one webhook
per (endpoint kind, group of ≤ 10 phone-number ids):

    hooks = await subscribe(quo, url, ["call.completed", "message.received"], phone_ids)
    hooks = await replace_subscriptions(quo, old_hooks, url, events, new_phone_ids)

Each returned `Webhook` carries its signing `key` (store it encrypted).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from switchboard.http import ApiError
from switchboard.quo.client import QuoClient, WebhooksVersion, chunked
from switchboard.quo.models import WEBHOOK_KINDS, Webhook, webhook_kind

MAX_RESOURCE_IDS_PER_WEBHOOK = 10
ALL_LINES = ("*",)
WORKSPACE_WIDE_PREFIXES = ("contact.",)


@dataclass(frozen=True)
class WebhookPlan:
    """One webhook to create."""

    kind: str
    events: tuple[str, ...]
    resource_ids: tuple[str, ...]


def plan_subscriptions(
    events: Sequence[str],
    phone_number_ids: Sequence[str] | None,
    *,
    max_per_webhook: int = MAX_RESOURCE_IDS_PER_WEBHOOK,
) -> list[WebhookPlan]:
    """The webhooks that cover `events` for `phone_number_ids` (None = every line, `["*"]`).

    Events are grouped by create endpoint (kind); phone ids are de-duplicated, sorted and split
    into groups of at most `max_per_webhook`. An empty phone list plans nothing.
    """
    by_kind: dict[str, list[str]] = {}
    for event in dict.fromkeys(events):
        by_kind.setdefault(webhook_kind(event), []).append(event)
    if phone_number_ids is None:
        groups = [list(ALL_LINES)]
    else:
        groups = chunked(sorted(set(phone_number_ids)), max_per_webhook)
    return [
        WebhookPlan(kind, tuple(kind_events), tuple(group))
        for kind in WEBHOOK_KINDS
        if (kind_events := by_kind.get(kind))
        for group in groups
    ]


def plan_dated_subscriptions(
    events: Sequence[str],
    phone_number_ids: Sequence[str] | None,
    *,
    max_per_webhook: int = MAX_RESOURCE_IDS_PER_WEBHOOK,
) -> list[WebhookPlan]:
    """The dated generation's webhooks: one resource takes every family, so one webhook per
    group of lines (kind "dated"); the ≤ 10 ids per webhook guard is kept. Workspace-wide
    events (`contact.*`, not filtered by line) go to the first webhook only, so each is
    delivered once."""
    if phone_number_ids is None:
        groups = [list(ALL_LINES)]
    else:
        groups = chunked(sorted(set(phone_number_ids)), max_per_webhook)
    evs = tuple(dict.fromkeys(events))
    per_line = tuple(e for e in evs if not e.startswith(WORKSPACE_WIDE_PREFIXES))
    return [
        WebhookPlan("dated", evs if i == 0 else per_line, tuple(group))
        for i, group in enumerate(groups)
        if i == 0 or per_line
    ]


async def subscribe(
    quo: QuoClient,
    url: str,
    events: Sequence[str],
    phone_number_ids: Sequence[str] | None,
    *,
    label: str | None = None,
    version: WebhooksVersion | None = None,
) -> list[Webhook]:
    """Create every planned webhook. All or nothing: if one create fails, the ones already made
    are deleted and the error is raised."""
    created: list[Webhook] = []
    try:
        for plan in plan_subscriptions(events, phone_number_ids):
            created.append(
                await quo.create_webhook(
                    plan.kind,
                    url,
                    plan.events,
                    resource_ids=plan.resource_ids,
                    label=label,
                    version=version,
                )
            )
    except BaseException:
        for hook in created:
            with contextlib.suppress(ApiError):
                await quo.delete_webhook(hook.id, version=version)
        raise
    return created


async def replace_subscriptions(
    quo: QuoClient,
    old: Sequence[Webhook | str],
    url: str,
    events: Sequence[str],
    phone_number_ids: Sequence[str] | None,
    *,
    label: str | None = None,
    version: WebhooksVersion | None = None,
) -> list[Webhook]:
    """Create the new webhooks first, then delete the old ones (already-gone ones are fine),
    so no event is missed in between. Returns the new webhooks."""
    new = await subscribe(quo, url, events, phone_number_ids, label=label, version=version)
    for hook in old:
        await quo.delete_webhook(hook if isinstance(hook, str) else hook.id, version=version)
    return new


__all__ = [
    "MAX_RESOURCE_IDS_PER_WEBHOOK",
    "WebhookPlan",
    "plan_dated_subscriptions",
    "plan_subscriptions",
    "replace_subscriptions",
    "subscribe",
]
