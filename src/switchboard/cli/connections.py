"""`switchboard connect <crm>`, `switchboard connections list|show|settings`,
`switchboard disconnect ID`. Secrets are never printed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from switchboard.cli import output as out
from switchboard.cli.signin import terminal_sign_in
from switchboard.config import get_settings, insecure_http_reason
from switchboard.crm import registry
from switchboard.crm.registry import CrmProvider

connect_app = typer.Typer(help="Create a connection (Quo + CRM).", no_args_is_help=True)
connections_app = typer.Typer(help="List, show and configure connections (bare: list).")


def _runtime(*, dbos: bool, queues: list[str] | None = None) -> Any:
    from switchboard.logs import configure_logging
    from switchboard.runtime import Runtime

    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    workers = queues is not None
    return Runtime(settings, workers=workers, kind="cli", launch_dbos=dbos, queues=queues).start()


def _fail(message: str, code: int = out.EXIT_FAILED) -> None:
    out.fail(message, code)


def _live(db: Any, connection_id: str) -> Any:
    """The connection, or exit 3 (unknown) / 1 (disconnected)."""
    from switchboard import connections

    info = connections.find_connection(db, connection_id)
    if info is None:
        out.not_found("connection", connection_id)
    if info.disconnected_at is not None or info.status == "disconnected":
        out.fail(f"connection {connection_id} is disconnected")
    return info


def _loopback_public_url(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _emit(data: Any, as_json: bool) -> None:
    typer.echo(json.dumps(data, indent=2, default=str) if as_json else str(data))


async def _check_credentials(
    provider: CrmProvider,
    quo_key: str,
    quo_base_url: str,
    crm_token: str,
    crm_base_url: str,
    quo_key_grace: float,
    bearer: bool = False,
) -> dict[str, Any]:
    """Both must answer. Quo rejects a key created a moment ago with 401 for ~30 s: a 401 is
    retried for `quo_key_grace` seconds (0 by default: a wrong key fails at once)."""
    from switchboard.clients import build_crm_connector, build_quo_client
    from switchboard.http import ApiError, RetryPolicy

    facts: dict[str, Any] = {}
    crm = build_crm_connector(provider.name, crm_token, crm_base_url, bearer=bearer)
    try:
        facts[provider.name] = dict(await crm.check_credentials())
    finally:
        await crm.aclose()
    attempts = 3 if quo_key_grace <= 0 else max(3, int(quo_key_grace))
    quo = build_quo_client(
        quo_key,
        quo_base_url,
        retry=RetryPolicy(
            max_attempts=attempts, max_delay=2.0, unauthorized_grace=max(0.0, quo_key_grace)
        ),
    )
    try:
        numbers = await quo.list_phone_numbers()
        facts["quo"] = {"phone_numbers": len(numbers)}
    except ApiError as exc:
        if exc.status == 401:
            raise RuntimeError(
                "Quo rejected the API key (401). A key created in the last minute may not be "
                "active yet: retry shortly, or pass --quo-key-grace 45"
            ) from exc
        raise
    finally:
        await quo.aclose()
    return facts


def _connect_command(provider: CrmProvider) -> Any:
    """`switchboard connect <crm>` for one registered CRM (its own token option and env var)."""
    name, display = provider.name, provider.display_name

    def connect(
        quo_api_key: str = typer.Option(
            ..., envvar="QUO_API_KEY", help="Quo API key (or env QUO_API_KEY).", show_default=False
        ),
        crm_token: str | None = typer.Option(
            None,
            f"--{name}-token",
            "--token",
            envvar=provider.token_env,
            help=f"{display} access token (or env {provider.token_env}).",
            show_default=False,
        ),
        oauth: bool = typer.Option(
            False,
            "--oauth",
            help=f"Sign in with {display} instead of a token: prints the URL to open, waits "
            "for the sign-in on the running service (`switchboard serve`)."
            if "oauth" in provider.auth.kinds
            else "Not offered by this CRM.",
        ),
        sign_in_timeout: float = typer.Option(600.0, help="Seconds to wait for the sign-in."),
        quo_base_url: str = typer.Option("https://api.openphone.com", help="Quo API base URL."),
        crm_base_url: str = typer.Option(
            provider.api_url, f"--{name}-base-url", "--base-url", help=f"{display} API base URL."
        ),
        label: str = typer.Option("", "--name", help="A label for the connection."),
        skip_check: bool = typer.Option(False, help="Do not check the credentials first."),
        quo_key_grace: float = typer.Option(
            0.0, help="Seconds to keep retrying a Quo 401 (a key created moments ago)."
        ),
        allow_insecure_http: bool = typer.Option(
            False,
            "--allow-insecure-http",
            help="Allow plain-http base URLs to hosts other than this machine (keys in clear).",
        ),
        setup: bool = typer.Option(True, help="Register webhooks and start the initial sync."),
        wait: bool = typer.Option(True, help="Wait for the setup workflow to finish."),
        timeout: float = typer.Option(180.0, help="Seconds to wait for setup."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        tokens = None
        if oauth:
            tokens = terminal_sign_in(provider, sign_in_timeout, as_json=as_json)
            crm_token = tokens.access_token
            crm_base_url = tokens.base_url or crm_base_url
        elif not crm_token:
            _fail(f"pass --{name}-token (or env {provider.token_env}), or --oauth")
        assert crm_token is not None
        _connect(
            provider,
            tokens=tokens,
            quo_api_key=quo_api_key,
            crm_token=crm_token,
            quo_base_url=quo_base_url,
            crm_base_url=crm_base_url,
            name=label,
            skip_check=skip_check,
            quo_key_grace=quo_key_grace,
            allow_insecure_http=allow_insecure_http,
            setup=setup,
            wait=wait,
            timeout=timeout,
            as_json=as_json,
        )

    connect.__doc__ = (
        f"Connect a Quo workspace to a {display} account: check, store encrypted, set up."
    )
    return connect


def _connect(
    provider: CrmProvider,
    *,
    tokens: Any = None,
    quo_api_key: str,
    crm_token: str,
    quo_base_url: str,
    crm_base_url: str,
    name: str,
    skip_check: bool,
    quo_key_grace: float,
    allow_insecure_http: bool,
    setup: bool,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    from switchboard import connections
    from switchboard.logs import register_secret

    register_secret(quo_api_key)
    register_secret(crm_token)
    if not (allow_insecure_http or get_settings().allow_insecure_http):
        for url in (quo_base_url, crm_base_url):
            if (why := insecure_http_reason(url)) is not None:
                _fail(why)
    facts: dict[str, Any] = {}
    if not skip_check:
        try:
            facts = asyncio.run(
                _check_credentials(
                    provider,
                    quo_api_key,
                    quo_base_url,
                    crm_token,
                    crm_base_url,
                    quo_key_grace,
                    bearer=tokens is not None,
                )
            )
        except Exception as exc:
            from switchboard.logs import mask_text

            _fail(f"credential check failed: {mask_text(str(exc))[:300]}")
    if not name:
        workspace = (facts.get(provider.name) or {}).get("workspace_name")
        name = f"Quo ↔ {workspace}" if workspace else ""
    public_url = get_settings().public_url
    if setup and _loopback_public_url(public_url):
        typer.echo(
            f"warning: SWITCHBOARD_PUBLIC_URL is {public_url}, a loopback address the providers "
            "cannot reach: webhooks will not arrive unless they run on this machine (emulators)",
            err=True,
        )
    rt = _runtime(dbos=setup, queues=["setup"] if setup and wait else None)
    try:
        info = connections.create_connection(
            rt.db,
            rt.box,
            crm=provider.name,
            quo_api_key=quo_api_key,
            crm_token=crm_token,
            quo_base_url=quo_base_url,
            crm_base_url=crm_base_url,
            name=name,
            crm_workspace_id=(facts.get(provider.name) or {}).get("workspace_id"),
        )
        connections.save_crm_account(rt.db, info.id, facts.get(provider.name) or {})
        if tokens is not None:
            from switchboard.oauth import save_tokens

            save_tokens(rt.db, rt.box, info.id, tokens)
        result: dict[str, Any] = {"connection_id": info.id, "checks": facts}
        if setup:
            from switchboard import setup as setup_mod

            wid = setup_mod.start_setup(info.id)
            result["setup_workflow_id"] = wid
            if wait:
                if not as_json:
                    typer.echo(f"connection {info.id}: setting up webhooks...", err=True)
                from dbos import DBOS

                handle: Any = DBOS.retrieve_workflow(wid)
                try:
                    report = _wait(handle, timeout)
                    result["setup"] = report
                except TimeoutError:
                    result["setup"] = {"pending": True}
        final = connections.get_connection(rt.db, info.id)
        result["status"] = final.status
        result["status_message"] = final.status_message
        public = rt.settings.public_url.rstrip("/")
        result["webhook_urls"] = {
            "quo": f"{public}/webhooks/quo/{info.id}",
            provider.name: f"{public}/webhooks/{provider.name}/{info.id}",
        }
    finally:
        rt.stop()
    if as_json:
        _emit(result, True)
    else:
        typer.echo(info.id)
        typer.echo(f"status: {result['status']} {result['status_message']}".rstrip(), err=True)
        if "sync_run_id" in (result.get("setup") or {}):
            typer.echo(
                "initial sync queued; `switchboard serve` or `switchboard worker` runs it",
                err=True,
            )


for _provider in registry.all_providers():
    connect_app.command(_provider.name)(_connect_command(_provider))


def _wait(handle: Any, timeout: float) -> Any:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(handle.get_result)
        try:
            return fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError as exc:
            raise TimeoutError from exc


@connections_app.callback(invoke_without_command=True)
def connections_default(ctx: typer.Context) -> None:
    """`switchboard connections` alone lists them."""
    if ctx.invoked_subcommand is None:
        list_cmd(as_json=False)


@connections_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """All connections (no secrets), ids printed whole."""
    from switchboard import connections

    rt = _runtime(dbos=False)
    try:
        infos = connections.list_connections(rt.db)
        rows = [c.to_dict() for c in infos]
    finally:
        rt.stop()
    if as_json:
        out.emit_json(rows)
        return
    if not rows:
        typer.echo(out.NO_CONNECTIONS)
        return
    out.records(
        [
            (
                [r["id"], r["crm"], r["status"]],
                [
                    ("name", r["name"]),
                    ("message", r["status_message"]),
                    ("created", r["created_at"]),
                ],
            )
            for r in rows
        ]
    )


@connections_app.command("show")
def show_cmd(connection_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One connection: settings, webhooks, event counts, API usage."""
    from switchboard import connections, failures, ledger, usage

    rt = _runtime(dbos=False)
    try:
        try:
            info = connections.get_connection(rt.db, connection_id)
        except connections.ConnectionNotFound:
            out.not_found("connection", connection_id)
        shown = info.to_dict()
        shown["event_counts"] = ledger.count_by_status(rt.db, connection_id)
        shown["api_usage"] = usage.api_usage(rt.db, connection_id)
        shown["problems"] = [
            p.to_dict() for p in failures.diagnose(rt.db, [info]).get(connection_id, [])
        ]
    finally:
        rt.stop()
    if as_json:
        _emit(shown, True)
        return
    for key in ("id", "crm", "name", "status", "status_message", "quo_base_url", "crm_base_url"):
        typer.echo(f"{key:15} {shown[key]}")
    for p in shown["problems"]:
        fix = f" (run: {p['action']['command']})" if p["action"] else ""
        typer.echo(f"{p['severity']:15} {p['sentence']}{fix}")
    typer.echo(f"{'settings':15} {json.dumps(shown['settings'])}")
    typer.echo(f"{'events':15} {json.dumps(shown['event_counts'])}")
    for w in shown["webhooks"]:
        typer.echo(
            f"{'webhook':15} {w['provider']} {w['kind']} {w['remote_id']} {w['resource_ids']}"
        )
    for u in shown["api_usage"]:
        typer.echo(
            f"{'api usage':15} {u['provider']}: {u['requests']} requests, {u['http_429']} 429s"
        )


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@connections_app.command("settings")
def settings_cmd(
    connection_id: str,
    assignments: list[str] = typer.Argument(
        None, help="KEY=VALUE (JSON values: enabled_lines='[\"PN1\"]' auto_create_people=true)"
    ),
    wait: bool = typer.Option(True, help="Wait for re-subscription when lines/kinds change."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show or change a connection's settings; line / event-kind changes re-subscribe."""
    from switchboard import connection_settings, connections

    changes: dict[str, Any] = {}
    for item in assignments or []:
        if "=" not in item:
            _fail(f"expected KEY=VALUE, got {item!r}", 2)
        key, _, raw = item.partition("=")
        changes[key.strip()] = _parse_value(raw)
    needs_dbos = bool({"enabled_lines", "event_kinds"} & set(changes))
    rt = _runtime(dbos=needs_dbos, queues=["setup"] if needs_dbos and wait else None)
    result: dict[str, Any] = {}
    try:
        try:
            before = connections.get_connection(rt.db, connection_id)
            info = connections.update_settings(rt.db, connection_id, changes) if changes else before
        except connections.ConnectionNotFound:
            out.not_found("connection", connection_id)
        except connection_settings.InvalidSettings as exc:
            _fail(str(exc), 2)
            return
        result["settings"] = info.settings
        if any(
            before.settings.get(k) != info.settings.get(k) for k in ("enabled_lines", "event_kinds")
        ):
            from switchboard import setup

            wid = setup.start_resubscribe(connection_id)
            result["resubscribe_workflow_id"] = wid
            if wait:
                from dbos import DBOS

                result["resubscribe"] = _wait(DBOS.retrieve_workflow(wid), 180.0)
    finally:
        rt.stop()
    _emit(result, True)


def disconnect_cmd(
    connection_id: str,
    delete_quo_contacts: bool = typer.Option(
        False, "--delete-quo-contacts", help="Also delete the Quo contacts Switchboard created."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete every remote webhook we created (optionally our Quo contacts); keep an audit row.
    Asks first (or pass --yes); with --json, --yes is required."""
    from switchboard import connections, setup

    rt = _runtime(dbos=False)
    try:
        info = connections.find_connection(rt.db, connection_id)
        if info is None:
            out.not_found("connection", connection_id)
        if info.disconnected_at is not None or info.status == "disconnected":
            out.fail(f"connection {connection_id} is already disconnected")
        if not yes:
            what = f"disconnect {info.name or connection_id} (webhooks at both providers"
            what += (
                ", and DELETE the Quo contacts Switchboard created)"
                if (delete_quo_contacts)
                else ")"
            )
            if as_json or not typer.confirm(what + "?", default=False):
                out.fail("not confirmed; nothing changed (pass --yes)")
        try:
            report = asyncio.run(
                setup.disconnect(
                    rt.db,
                    rt.box,
                    rt.settings,
                    connection_id,
                    delete_quo_contacts=delete_quo_contacts,
                )
            )
        except connections.ConnectionNotFound:
            out.not_found("connection", connection_id)
    finally:
        rt.stop()
    if as_json:
        _emit(report, True)
    else:
        typer.echo(
            f"disconnected {connection_id}: {report['quo_webhooks_deleted']} Quo webhooks, "
            f"{report['crm_webhooks_deleted']} CRM webhooks, "
            f"{report['quo_contacts_deleted']} Quo contacts deleted"
        )
        for err in report["errors"]:
            typer.echo(f"warning: {err}", err=True)


@connections_app.command("reconnect")
def reconnect_cmd(
    connection_id: str,
    crm_token: str | None = typer.Option(
        None, "--crm-token", envvar="CRM_TOKEN", help="The CRM's new token (or env CRM_TOKEN)."
    ),
    quo_api_key: str | None = typer.Option(
        None, "--quo-api-key", help="Quo's new API key.", show_default=False
    ),
    skip_check: bool = typer.Option(False, help="Store without checking with the provider."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Replace a rejected CRM token or Quo key (checked first), then replay what it failed."""
    from switchboard.reconnect import CredentialsRejected, reconnect_connection

    if not crm_token and not quo_api_key:
        out.fail("give --crm-token and/or --quo-api-key", out.EXIT_USAGE)
    rt = _runtime(dbos=True)
    try:
        info = _live(rt.db, connection_id)
        try:
            replayed = asyncio.run(
                reconnect_connection(
                    rt.db,
                    rt.box,
                    info,
                    crm_token=crm_token,
                    quo_api_key=quo_api_key,
                    check=not skip_check,
                )
            )
        except CredentialsRejected as exc:
            out.fail(str(exc))
    finally:
        rt.stop()
    if as_json:
        _emit({"connection_id": connection_id, "replayed": replayed}, True)
    else:
        typer.echo(f"reconnected {connection_id}; replaying {replayed} events it had failed")


@connections_app.command("setup")
def setup_cmd(
    connection_id: str,
    wait: bool = typer.Option(True, help="Wait for the setup workflow to finish."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register the webhooks again at both providers (after a channel expired or went missing)."""
    from switchboard import connections, setup

    rt = _runtime(dbos=True, queues=["setup"] if wait else None)
    try:
        _live(rt.db, connection_id)
        wid = setup.start_setup(connection_id, True)
        result: dict[str, Any] = {"setup_workflow_id": wid}
        if wait:
            from dbos import DBOS

            try:
                result["setup"] = _wait(DBOS.retrieve_workflow(wid), 180.0)
            except TimeoutError:
                result["setup"] = {"pending": True}
        final = connections.get_connection(rt.db, connection_id)
        result["status"], result["status_message"] = final.status, final.status_message
    finally:
        rt.stop()
    if as_json:
        _emit(result, True)
    else:
        typer.echo(f"{connection_id}: {result['status']} {result['status_message']}".rstrip())
        if result["status"] == "degraded":
            raise typer.Exit(out.EXIT_FAILED)


@connections_app.command("migrate-webhooks")
def migrate_webhooks_cmd(
    connection_id: str,
    test_timeout: float = typer.Option(60.0, help="Seconds to wait for the test delivery."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Move the connection's Quo webhooks from v1 to the 2026-03-30 generation (Quo's guide:
    replacement created disabled, test delivery waited for, v1 deleted, replacement enabled).
    A failed test delivery aborts and leaves v1 working (exit code 1)."""
    from switchboard import connections
    from switchboard.webhook_migration import MigrationAborted, migrate_quo_webhooks

    rt = _runtime(dbos=False)
    try:
        try:
            report = asyncio.run(
                migrate_quo_webhooks(
                    rt.db, rt.box, rt.settings, connection_id, test_timeout=test_timeout
                )
            )
        except connections.ConnectionNotFound:
            out.not_found("connection", connection_id)
        except MigrationAborted as exc:
            _fail(f"migration aborted: {exc}")
            return
    finally:
        rt.stop()
    if as_json:
        _emit(report, True)
        return
    typer.echo(
        f"{report['status']}: Quo webhooks on {report['generation']}"
        + (
            f" (created {len(report['created'])}, deleted {len(report['deleted'])} v1)"
            if report["status"] == "migrated"
            else ""
        )
    )
