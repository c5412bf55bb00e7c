"""Contact sync CRM → Quo: initial (checkpointed), incremental (CRM events), reconcile.

Public API:
- `start_initial_sync(db, connection_id) -> (run_id, joined)` — enqueue (or join) the initial
  sync workflow of a connection (`switchboard.sync.initial`).
- `start_reconcile(db, connection_id, deep=False) -> (run_id, joined)` — one delta pass now
  (`switchboard.sync.reconcile`); `install_schedule()` registers the periodic passes.
- `sync_progress(db, connection_id, kind=None, run_id=None)` — live progress as a dict
  (done/total/skipped/failed, rate, ETA) for the CLI, the admin API and the dashboard.
- `run_issues(db, run_id)` — skipped/failed people with reasons.
- Incremental sync registers itself with the webhook handler registry on import
  (`switchboard.sync.incremental`: `record.*` events of every CRM), and so do two-way
  contacts (`switchboard.sync.quo_edits`: Quo's `contact.updated` / `contact.deleted`).

See docs/sync.md.
"""

from switchboard.sync.incremental import process_crm_change, route_change
from switchboard.sync.initial import initial_sync, start_initial_sync
from switchboard.sync.progress import run_issues, sync_progress
from switchboard.sync.quo_edits import process_quo_contact, route_quo_contact
from switchboard.sync.reconcile import install_schedule, reconcile, start_reconcile

__all__ = [
    "initial_sync",
    "install_schedule",
    "process_crm_change",
    "process_quo_contact",
    "reconcile",
    "route_change",
    "route_quo_contact",
    "run_issues",
    "start_initial_sync",
    "start_reconcile",
    "sync_progress",
]
