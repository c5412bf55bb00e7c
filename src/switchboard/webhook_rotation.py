"""Rotate the signing secret of a connection's Quo webhooks (2026-03-30 generation) without
rejecting a delivery.

    report = await rotate_quo_webhook_secrets(db, box, connection_id)

Per dated webhook: `POST /webhooks/{id}/rotate`, then the new key is stored and the old one kept
in a `<id>#previous` row (deliveries signed just before the rotation still verify; the scheduled
webhook check drops that row later). Between Quo's answer and the commit, a delivery may already
carry the new signature: while a rotation of the connection runs in this process, the receiver
(`web/webhooks.py`) that fails to verify waits for it to finish and verifies once more with the
fresh keys, instead of answering 401. Rotations therefore run in the serving process (admin API,
dashboard); with several web replicas, the others may answer 401 in that moment and Quo retries.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from switchboard import clients, connections
from switchboard.crypto import SecretBox
from switchboard.logs import get_logger
from switchboard.store.db import Database

log = get_logger(__name__)

DATED = "2026-03-30"

_lock = threading.Lock()
_running: Counter[str] = Counter()
_finished = threading.Condition(_lock)


def rotating(connection_id: str) -> bool:
    with _lock:
        return _running[connection_id] > 0


def wait_rotation(connection_id: str, timeout: float = 10.0) -> bool:
    """Block until no rotation of the connection runs in this process; False on timeout."""
    with _finished:
        return _finished.wait_for(lambda: _running[connection_id] == 0, timeout)


async def rotate_quo_webhook_secrets(
    db: Database, box: SecretBox, connection_id: str
) -> dict[str, Any]:
    info = connections.get_connection(db, connection_id)
    hooks = [
        w
        for w in info.webhooks
        if w.provider == "quo" and w.version == DATED and not w.is_previous_key
    ]
    if not hooks:
        raise ValueError("the connection has no 2026-03-30 Quo webhooks (migrate first)")
    quo = clients.quo_client_for(connection_id, webhooks_version=DATED)
    rotated: list[str] = []
    with _lock:
        _running[connection_id] += 1
    try:
        for w in hooks:
            hook = await quo.rotate_webhook_secret(w.remote_id)
            if hook.key is None:
                raise RuntimeError(f"Quo returned no key for webhook {w.remote_id}")
            connections.replace_subscription_key(
                db,
                box,
                "quo",
                w.remote_id,
                hook.key.get_secret_value(),
                keep_as=w.remote_id + connections.PREVIOUS_KEY_SUFFIX,
            )
            rotated.append(w.remote_id)
    finally:
        with _finished:
            _running[connection_id] -= 1
            _finished.notify_all()
        await quo.aclose()
    connections.audit(db, connection_id, "rotate_webhook_secret", {"webhooks": rotated})
    log.info("quo_webhook_secret_rotated", connection_id=connection_id, webhooks=len(rotated))
    return {"connection_id": connection_id, "rotated": rotated}
