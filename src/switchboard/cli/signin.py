"""`switchboard connect <crm> --oauth`: a sign-in bound to this terminal (see docs/onboarding.md,
"Signing in from a terminal")."""

from __future__ import annotations

from typing import Any

import typer

from switchboard.cli import output as out
from switchboard.crm.registry import CrmProvider


def runtime(*, dbos: bool) -> Any:
    from switchboard.config import get_settings
    from switchboard.logs import configure_logging
    from switchboard.runtime import Runtime

    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    return Runtime(settings, workers=False, kind="cli", launch_dbos=dbos).start()


def terminal_sign_in(provider: CrmProvider, timeout: float, *, as_json: bool) -> Any:
    """Start a terminal-bound sign-in, print the CRM's authorize URL, wait until the running
    service's `/oauth/callback` has exchanged the code, and claim the tokens (only this process
    holds the binding secret)."""
    import secrets
    import time
    from urllib.parse import parse_qs, urlsplit

    from switchboard.oauth import SignInRefused, signin

    rt = runtime(dbos=False)
    binding = secrets.token_urlsafe(32)
    try:
        try:
            url = signin.begin(
                rt.db, rt.box, rt.settings, crm=provider.name, session_id=binding, terminal=True
            )
        except SignInRefused as exc:
            out.fail(str(exc))
        state = parse_qs(urlsplit(url).query)["state"][0]
        typer.echo(
            f"Open this URL in a browser and sign in to {provider.display_name}:\n{url}",
            err=True,
        )
        if not as_json:
            typer.echo("waiting for the sign-in (the service must be running)...", err=True)
        deadline = time.monotonic() + min(timeout, signin.STATE_TTL_S)
        while True:
            done = signin.peek(rt.db, state, session_id=binding)
            if done is not None and done.status == "authorized":
                return signin.claim(rt.db, rt.box, state, session_id=binding, crm=provider.name)
            if done is None or done.status == "failed":
                out.fail(
                    done.message if done and done.message else "the sign-in failed; start again"
                )
            if time.monotonic() > deadline:
                out.fail("the sign-in did not complete in time; start again")
            time.sleep(1.0)
    finally:
        rt.stop()
