"""Activity logging, Quo → CRM: every call and text lands on the right CRM person, once, complete.

One module per concept:

- `facts` / `render` — what is known about a call or message (merged across webhook phases) and
  the exact note it becomes (owned by the rendering work, see docs/activity.md).
- `events` — which Quo webhook events are handled, and how they map to a call or message id.
- `settings` — the per-connection switches (lines, kinds, auto-create, voicemail timing).
- `directory` — the workspace's own numbers and user names, cached per connection.
- `participants` — the external numbers of a call or message.
- `people` — phone → CRM person (mapping first, exact CRM search second, preference rules).
- `notes` — exactly one note per (call or message, person), crash-safe.
- `processor` — one ledger event end to end, as plain async steps.
- `workflows` — the DBOS workflows (per event, voicemail follow-up) on the `activity` queue.
"""

# Registers the Quo webhook routes and the DBOS workflows (imported by the runtime at start).
from switchboard.activity import workflows as workflows
