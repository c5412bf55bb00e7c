"""The FastAPI app: webhooks, admin API, health and metrics.

    from switchboard.web import create_app
    app = create_app(runtime, bind_host="127.0.0.1")

Routes: `POST /webhooks/quo/{connection_id}`, `POST /webhooks/{crm}/{connection_id}`
(`switchboard.web.webhook_receiver`), `/api/...` (`switchboard.web.admin`), `GET /healthz` (process
alive), `GET /readyz` (database reachable and DBOS launched; 503 otherwise), `GET /metrics`
(Prometheus, `switchboard.metrics`).
"""

from switchboard.web.app import create_app

__all__ = ["create_app"]
