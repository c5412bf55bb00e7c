"""Alerts: tell people when a connection becomes unhealthy or recovers, and once a day how it
went — through an outgoing webhook (Slack-compatible JSON, signed) and e-mail (SMTP).

* `incidents.evaluate` compares each live connection's problems (`switchboard.failures`) with
  the last alert it sent (kept as audit rows `alert.unhealthy` / `alert.recovered`): one
  "unhealthy" message when an incident starts, one "recovered" when it ends — not one per
  failed event — and a daily summary.
* `channels` delivers a message to every configured channel; webhook bodies are signed with a
  per-installation secret derived from the master key (`channels.signing_secret`).
* `schedule` runs `evaluate` every minute as a DBOS scheduled workflow (one run per minute in
  the whole deployment, in worker processes).

Configured with `SWITCHBOARD_ALERT_*` settings (`settings.AlertSettings`).
"""

from switchboard.alerts.channels import deliver, sign, signing_secret, verify
from switchboard.alerts.incidents import Message, evaluate
from switchboard.alerts.settings import AlertSettings

__all__ = ["AlertSettings", "Message", "deliver", "evaluate", "sign", "signing_secret", "verify"]
