"""The dashboard: server-rendered HTML under `/dashboard` (Jinja2, inline SVG, no build step).

Mounted by the app factory (`switchboard.web.app.create_app`) as `router`. Pages:

- `GET /` → redirect to `/dashboard`.
- `GET /dashboard`: connections with health at a glance (webhooks OK, last event received,
  last sync, errors in the last hour).
- `GET /dashboard/connections/{id}`: live sync progress, events/API-calls chart
  (`?window=1h|6h|24h|7d`), API request budget per provider, recent events (`?status=failed`,
  `?offset=`), webhooks, rejections, background work, history, actions.
- `GET /dashboard/connections/{id}/settings`: the settings form.
- `GET /dashboard/connections/{id}/progress.json`: latest sync run + event counts, polled by
  `static/dashboard.js` (every second while a run is active, every 5 s otherwise).
- `POST .../sync`: start (or join) the initial sync (`switchboard.sync.start_initial_sync`).
- `POST .../reconcile`: one reconcile pass now (`switchboard.sync.start_reconcile`).
- `POST .../setup`: retry setup (`switchboard.setup.start_setup`).
- `POST .../events/{event_id}/replay`: replay a failed event (`switchboard.dispatch.replay`).
- `POST .../settings`: change settings (`connections.update_settings`, then
  `setup.start_resubscribe` when lines or event kinds changed — the admin API's rule).

Auth is the admin API's rule (`switchboard.web.security.require_admin`): the admin token
(header) or the dashboard session cookie, which `/dashboard/login` sets after checking the token
(a random server-side session id, rotated at login and revoked at logout; HttpOnly,
SameSite=Strict; logins throttled per client). Cross-site form posts are refused (Origin /
Sec-Fetch-Site checks, `auth.same_origin`), and the app refuses Hosts outside its allow-list.
Responses carry a strict Content-Security-Policy (no inline script; CSS and JS are served from
`/dashboard/static/`).

Errors render as HTML pages: unknown connection or event → 404, bad query or form input → 400
(the settings form is shown again with the message), refused replay → 409, missing token → 401
(login form). Secrets are never read here: pages show `ConnectionInfo` (no secrets), webhook
metadata (never keys), event reasons and a few words drawn from the payload (the caller's
number, a text's first words: `activity.story`), never whole payloads.
"""

from __future__ import annotations

from switchboard.web.dashboard.auth import _safe_next, same_origin
from switchboard.web.dashboard.budget import PROVIDER_BUDGETS, budget
from switchboard.web.dashboard.charts import api_series, event_series, svg_chart
from switchboard.web.dashboard.forms import parse_settings_form
from switchboard.web.dashboard.health import health_for
from switchboard.web.dashboard.render import DashboardError, ago, duration, iso
from switchboard.web.dashboard.routes import router

__all__ = [
    "PROVIDER_BUDGETS",
    "DashboardError",
    "_safe_next",
    "ago",
    "api_series",
    "budget",
    "duration",
    "event_series",
    "health_for",
    "iso",
    "parse_settings_form",
    "router",
    "same_origin",
    "svg_chart",
]
