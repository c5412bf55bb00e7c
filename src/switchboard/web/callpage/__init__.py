"""The click-to-call page: `GET /call/<connection>/<person>?k=<link secret>`.

A user looking at a person in the CRM clicks "Call with Quo" (an app action, a link action or a
custom button, whatever the CRM offers; docs/click-to-call.md); the CRM opens this page. It shows
the person's name and numbers (read through the connector, cached briefly), one button per number
and the Quo line to call from (the user's last choice, remembered in a cookie; else the
connection's `click_to_call_default_line`; else the first line). A button opens `tel:` on desktop,
Quo's `openphone://dial` on phones, and records the click (`POST
/call/<connection>/<person>/click`, `switchboard.activity.intents`), so the outgoing call that
follows is logged on this person even when others share the number.

Proof: the connection's link secret (`link_secret`) in `k`, or a CRM-signed request where the
CRM registered a check (`proofs`). Anything else → 403 with a page that reveals nothing.
"""

from __future__ import annotations

from switchboard.web.callpage.routes import router

__all__ = ["router"]
