"""Click-to-call end to end: Quo emulator, Attio emulator and Switchboard as processes.

Two CRM people share a number. Opening the call page for one of them (with the connection's
link secret) and clicking the number records the intent; the outgoing call Quo then places
from the chosen line is logged on the clicked person only. Without a click the usual
deterministic lookup applies (the most recently updated person), and a click older than the
window pins nothing.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.activity.harness import ActivityStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TOKEN = re.compile(r'data-token="([^"]+)"')


def _link_secret(sb: ActivityStack) -> str:
    from switchboard.config import Settings
    from switchboard.crypto import secret_box
    from switchboard.store.db import Database
    from switchboard.web.callpage import link_secret

    db = Database(sb.db_url)
    try:
        settings = Settings(
            data_dir=sb.tmp, database_url=sb.db_url, secret_key=sb.env["SWITCHBOARD_SECRET_KEY"]
        )
        return link_secret.current(db, secret_box(settings), sb.connection_id)
    finally:
        db.dispose()


def _age_clicks(sb: ActivityStack, minutes: float) -> None:
    from switchboard.store.db import Database
    from switchboard.store.models import CallClick

    db = Database(sb.db_url)
    try:
        with db.session() as s:
            s.execute(
                update(CallClick).values(clicked_at=datetime.now(UTC) - timedelta(minutes=minutes))
            )
    finally:
        db.dispose()


def _click(sb: ActivityStack, secret: str, person: str, phone: str, line: str) -> None:
    http = sb._http
    page = http.get(f"{sb.sb.url}/call/{sb.connection_id}/{person}", params={"k": secret})
    assert page.status_code == 200, page.text
    assert phone in page.text
    token = TOKEN.search(page.text)
    assert token is not None
    r = http.post(
        f"{sb.sb.url}/call/{sb.connection_id}/{person}/click",
        json={"token": token[1], "phone": phone, "line": line},
    )
    assert r.status_code == 204, r.text


def test_click_pins_the_outgoing_call_to_the_clicked_person(tmp_path: Path) -> None:
    with ExitStack() as stack:
        sb = ActivityStack.start(stack, tmp_path)
        line = sb.quo_api("/v1/phone-numbers")[0]["id"]
        secret = _link_secret(sb)

        # Without a click the lookup picks the most recently updated: the second created.
        shared, plain, stale = "+16502550001", "+16502550002", "+16502550003"
        b = sb.create_person("Bea Shared", shared)
        a = sb.create_person("Al Shared", shared)
        c = sb.create_person("Cy Plain", plain)
        d = sb.create_person("Di Plain", plain)
        e = sb.create_person("Ed Stale", stale)
        f = sb.create_person("Flo Stale", stale)

        # A stale click (older than the 10-minute window) first, then the fresh one on B.
        _click(sb, secret, e, stale, line)
        _age_clicks(sb, minutes=11)
        _click(sb, secret, b, shared, line)

        def outgoing(phone: str) -> str:
            sim = sb.simulate_call(
                direction="outgoing",
                outcome="answered",
                # the emulator's call starts duration + 5 s before it completes: keep that
                # within the clock skew a pin allows before the click
                duration=3,
                participants=[phone],
                phoneNumberId=line,
                ringing=False,
            )
            return str(sim["callId"])

        pinned_call = outgoing(shared)
        outgoing(plain)
        outgoing(stale)
        sb.wait_settled(timeout=120)

        # clicked → on B only
        assert len(sb.notes_for(b)) == 1
        assert sb.notes_for(a) == []
        # no click → the usual deterministic choice
        assert len(sb.notes_for(d)) == 1 and sb.notes_for(c) == []
        # a click older than the window pins nothing
        assert len(sb.notes_for(f)) == 1 and sb.notes_for(e) == []

        # the lookup reasons say why
        done = [
            ev
            for ev in sb.events()
            if ev.event_type == "call.completed" and ev.status == "processed"
        ]
        by_phone = {lk["phone"]: lk for ev in done for lk in ev.detail.get("lookups", [])}
        assert by_phone[shared]["source"] == "click"
        assert by_phone[shared]["person_id"] == b
        assert "click-to-call" in by_phone[shared]["reason"]
        assert by_phone[plain]["source"] == "crm_search"
        assert by_phone[stale]["source"] == "crm_search"

        from switchboard.activity import intents
        from switchboard.store.db import Database

        db = Database(sb.db_url)
        try:
            clicks = intents.recent_clicks(db, sb.connection_id)
        finally:
            db.dispose()
        assert [(k.person_id, k.call_id) for k in clicks] == [(b, pinned_call), (e, None)]
