"""Time series of events and API requests, and the inline SVG bar chart that draws them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Integer, cast, extract, func, select

from switchboard.store.db import Database
from switchboard.store.models import (
    ApiCallCount,
    Event,
)
from switchboard.web.dashboard.render import (
    _now,
    duration,
)

#: Chart windows: name → (bucket seconds, bucket count).
WINDOWS: dict[str, tuple[int, int]] = {
    "1h": (60, 60),
    "6h": (300, 72),
    "24h": (900, 96),
    "7d": (7200, 84),
}
DEFAULT_WINDOW = "6h"

#: Event statuses grouped for the chart (stack order bottom → top).
EVENT_GROUPS: dict[str, tuple[str, ...]] = {
    "processed": ("processed",),
    "ignored": ("ignored", "skipped"),
    "pending": ("accepted", "processing"),
    "failed": ("failed",),
}


def _bucket_expr(column: Any, size: int) -> Any:
    """Epoch bucket number of a timestamp column (integer division; SQLite and PostgreSQL)."""
    return cast(extract("epoch", column), Integer) // size


def _buckets(window: str) -> tuple[int, int, int]:
    size, count = WINDOWS[window]
    now_epoch = int(_now().timestamp())
    last = now_epoch // size
    return size, count, last - count + 1


def event_series(db: Database, connection_id: str, window: str) -> dict[str, Any]:
    """Events per bucket and status group over the window."""
    size, count, first = _buckets(window)
    since = datetime.fromtimestamp(first * size, UTC)
    b = _bucket_expr(Event.received_at, size)
    stmt = (
        select(b, Event.status, func.count())
        .where(Event.connection_id == connection_id, Event.received_at >= since)
        .group_by(b, Event.status)
    )
    series = {g: [0] * count for g in EVENT_GROUPS}
    group_of = {st: g for g, sts in EVENT_GROUPS.items() for st in sts}
    with db.session() as s:
        for bucket, status, n in s.execute(stmt):
            i = int(bucket) - first
            if 0 <= i < count:
                series[group_of.get(str(status), "pending")][i] += int(n)
    return {"size": size, "first": first, "count": count, "series": series}


def api_series(db: Database, connection_id: str, window: str) -> dict[str, Any]:
    """API requests per bucket and provider (and 429s) over the window."""
    size, count, first = _buckets(window)
    since = datetime.fromtimestamp(first * size, UTC)
    b = _bucket_expr(ApiCallCount.minute, size)
    stmt = (
        select(
            b,
            ApiCallCount.provider,
            func.sum(ApiCallCount.requests),
            func.sum(ApiCallCount.http_429),
        )
        .where(ApiCallCount.connection_id == connection_id, ApiCallCount.minute >= since)
        .group_by(b, ApiCallCount.provider)
    )
    series: dict[str, list[int]] = {}
    r429 = [0] * count
    with db.session() as s:
        for bucket, provider, req, n429 in s.execute(stmt):
            i = int(bucket) - first
            if 0 <= i < count:
                series.setdefault(str(provider), [0] * count)[i] += int(req or 0)
                r429[i] += int(n429 or 0)
    return {"size": size, "first": first, "count": count, "series": series, "http_429": r429}


# -------------------------------------------------------------------------------------- chart
CHART_W, CHART_H = 760, 170
PAD_L, PAD_R, PAD_T, PAD_B = 44, 8, 10, 22


def _nice_max(v: int) -> int:
    if v <= 4:
        return 4
    mag = 10 ** (len(str(v)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * mag)
        if top >= v:
            return top
    return v


def _label(epoch: int, size: int) -> str:
    t = datetime.fromtimestamp(epoch, UTC)
    return t.strftime("%b %d %H:%M") if size >= 3600 else t.strftime("%H:%M")


def svg_chart(
    data: Mapping[str, Any],
    stacks: Sequence[tuple[str, list[int]]],
    *,
    title: str,
    unit: str,
    markers: list[int] | None = None,
    marker_label: str = "",
) -> Markup:
    """A stacked bar chart as inline SVG (colours from CSS classes `s-<name>`)."""
    size, count, first = int(data["size"]), int(data["count"]), int(data["first"])
    totals = [sum(vals[i] for _, vals in stacks) for i in range(count)]
    top = _nice_max(max(totals, default=0))
    plot_w = CHART_W - PAD_L - PAD_R
    plot_h = CHART_H - PAD_T - PAD_B
    bw = plot_w / max(count, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {CHART_W} {CHART_H}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):
        y = PAD_T + plot_h * (1 - frac)
        parts.append(
            f'<line class="grid" x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{int(top * frac)}</text>"
        )
    for i in range(count):
        x = PAD_L + i * bw
        y = PAD_T + plot_h
        start = (first + i) * size
        tip = [f"{_label(start, size)} (+{duration(size)})"]
        for name, vals in stacks:
            v = vals[i]
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            parts.append(
                f'<rect class="s-{escape(name)}" x="{x + 0.5:.1f}" y="{y:.1f}" '
                f'width="{max(bw - 1, 0.8):.1f}" height="{h:.1f}"/>'
            )
            tip.append(f"{name}: {v}")
        if markers and markers[i]:
            parts.append(f'<circle class="marker" cx="{x + bw / 2:.1f}" cy="{PAD_T + 4}" r="3"/>')
            tip.append(f"{marker_label}: {markers[i]}")
        if totals[i] or (markers and markers[i]):
            parts.append(
                f'<rect class="hit" x="{x:.1f}" y="{PAD_T}" width="{bw:.1f}" '
                f'height="{plot_h}"><title>{escape(" · ".join(tip))} {escape(unit)}</title></rect>'
            )
    ticks = 6
    for k in range(ticks + 1):
        i = min(int(k * count / ticks), count - 1) if k < ticks else count
        x = PAD_L + i * bw
        anchor = "start" if k == 0 else ("end" if k == ticks else "middle")
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{CHART_H - 6}" text-anchor="{anchor}">'
            f"{escape(_label((first + i) * size, size))}</text>"
        )
    if not any(totals):
        parts.append(
            f'<text class="empty" x="{PAD_L + plot_w / 2:.1f}" y="{PAD_T + plot_h / 2:.1f}" '
            f'text-anchor="middle">no {escape(unit)} in this window</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
