"""The CRM provider registry: one record per CRM, and the only place the core learns about CRMs.

    from switchboard.crm import registry

    provider = registry.get(name)               # UnknownCrm (a ValueError) names the known ones
    registry.names()                            # every registered CRM, by package name
    connector = provider.connect(ConnectorConfig(token=..., base_url=...))
    provider.webhooks.verify(raw_body, headers, secret)
    person_id = await provider.signed_link_proof(query, LinkProofContext(...))  # when not None

A record says everything the rest of Switchboard needs to know about one CRM: its name and
display name, how it authenticates (token, OAuth endpoints and regions), its default API URL,
its rate budgets (a general shape: requests or token costs per window, daily budgets,
concurrency), the note format it renders, its webhook codec, the connector factory, and — as
dotted paths, so the product never imports an emulator — the emulator's CLI command and its
hosting handle (demo, contract kit), and — optionally — how it proves a click on its own
signed entry point (`signed_link_proof`, consulted by the call page) and how to link a person to
its page in the CRM's web app (`record_url`, from the account facts the connection keeps).

Adding a CRM: a package under `crm/` whose `provider` module exposes its `CrmProvider` record as
`PROVIDER` (found by scanning `crm/`'s subpackages, so nothing else changes), a package under
`emulators/`, and the contract kit. A CRM defined elsewhere (tests define one) registers with
`register` in-process, or by naming its provider module in `SWITCHBOARD_CRM_MODULES`
(comma-separated) so that child processes — `switchboard emulate`, `connect`, `demo` — find it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from switchboard.crm.base import ConnectorConfig, CrmChange, CrmConnector, NoteFormat

AuthKind = Literal["token", "oauth"]
BudgetUnit = Literal["requests", "tokens", "credits"]


@dataclass(frozen=True)
class RateBudget:
    """One named budget a CRM enforces per account.

    `limit` units per `window_s` seconds, where a unit is a request, a token (each operation
    costs `costs[operation]` tokens, default 1) or a credit. `daily` caps units per calendar day
    and `concurrency` requests in flight; either may be the only constraint (limit 0).
    """

    name: str
    limit: float = 0.0
    window_s: float = 1.0
    unit: BudgetUnit = "requests"
    costs: Mapping[str, int] = field(default_factory=dict)
    daily: int | None = None
    concurrency: int | None = None

    @property
    def per_second(self) -> float:
        """Sustained units per second this budget allows (0 when only daily/concurrency)."""
        return self.limit / self.window_s if self.limit and self.window_s > 0 else 0.0

    def describe(self) -> str:
        parts: list[str] = []
        if self.limit:
            window = "s" if self.window_s == 1 else f"{self.window_s:g} s"
            parts.append(f"{self.limit:g} {self.unit}/{window}")
        if self.daily:
            parts.append(f"{self.daily:,} {self.unit}/day")
        if self.concurrency:
            parts.append(f"{self.concurrency} concurrent")
        return f"{self.name}: " + ", ".join(parts or ["unlimited"])


@dataclass(frozen=True)
class UninstallSpec:
    """The CRM calls the OAuth app's uninstall URL when a user removes the app.

    Served at `<public URL>/webhooks/<crm>/uninstall` with `method`, authenticated by HTTP Basic
    with the app's own client id and secret; `account_of(raw_body)` names the CRM account
    (the id `check_credentials` reported as `workspace_id`), ValueError on a malformed body."""

    account_of: Callable[[bytes], str]
    method: str = "DELETE"


@dataclass(frozen=True)
class OAuthSpec:
    """A CRM's OAuth 2.0 authorization-code flow, as the core's `switchboard.oauth` runs it.

    `authorize_url` / `token_url` are the provider's public endpoints (a deployment may point
    them elsewhere, e.g. at an emulator, through `SWITCHBOARD_OAUTH_CLIENTS`). `pkce`: send an
    S256 code challenge. `client_auth`: client credentials in the form body or HTTP Basic.
    `expiring`: access tokens expire and come with a refresh token (refreshed before expiry);
    `rotating_refresh`: each refresh answers a new refresh token that replaces the old one.
    `base_url_field`: a token-response field naming the account's own API base URL (e.g. an
    `api_domain`), used as the connection's CRM base URL. `uninstall`: the CRM tells the app
    when a user removes it (its signed-in connections are then disconnected).
    """

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    pkce: bool = False
    client_auth: Literal["body", "basic"] = "body"
    expiring: bool = False
    rotating_refresh: bool = False
    base_url_field: str | None = None
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    uninstall: UninstallSpec | None = None


@dataclass(frozen=True)
class AuthSpec:
    """How a CRM account authenticates: pasted token and/or OAuth (`oauth` says how).
    `regions` maps a data-centre name to its API base URL where the CRM has several."""

    kinds: tuple[AuthKind, ...] = ("token",)
    oauth: OAuthSpec | None = None
    regions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookCodec:
    """A CRM's change-webhook format: static functions, given only the stored secret.

    `verify(raw_body, headers, secret)` raises `WebhookVerificationError` unless the raw body is
    signed with `secret`; `parse(raw_body, headers)` lists the changes a verified delivery
    announces (ValueError on a malformed body). `signs_body` False: the CRM authenticates
    the sender (e.g. HTTP Basic credentials set on the subscription) but not the body, so a
    tampered body still verifies; replays are stopped by the ledger's idempotency keys."""

    verify: Callable[[bytes, Mapping[str, str], str], None]
    parse: Callable[[bytes, Mapping[str, str]], list[CrmChange]]
    signs_body: bool = True


@dataclass(frozen=True)
class EmulatorRef:
    """Where the CRM's emulator lives, as `module:attribute` paths resolved on demand.

    `command`: the typer command for `switchboard emulate <crm>` (its own options).
    `hosting`: a callable `(token, seed, allow_http_targets) -> EmulatedCrm`
    (`switchboard.emulators.hosting`), used by the demo and the contract kit.
    """

    command: str
    hosting: str

    def load_command(self) -> Callable[..., None]:
        return _resolve(self.command)  # type: ignore[no-any-return]

    def load_hosting(self) -> Callable[..., Any]:
        return _resolve(self.hosting)  # type: ignore[no-any-return]


class LinkProofRefused(ValueError):
    """A CRM-signed call-page request is not valid (the message is logged, never shown)."""


@dataclass(frozen=True)
class LinkProofContext:
    """What a CRM's `signed_link_proof` may use: the connection's effective settings (the common
    ones and the CRM's own, where a CRM keeps e.g. its entry point's signing secret), the CRM
    account id recorded at connect time, and the connection's connector (to resolve, say, a
    selected deal to its person)."""

    settings: Mapping[str, Any]
    workspace_id: str | None
    connector: CrmConnector


#: (query parameters, context) → the clicked person's CRM id, or LinkProofRefused.
SignedLinkProof = Callable[[Mapping[str, str], LinkProofContext], Awaitable[str]]

#: (person record id, the CRM account's facts as `check_credentials` returned them and the
#: connection keeps them) → the person's page in the CRM's web app, or None when the facts
#: lack what the URL needs.
RecordUrl = Callable[[str, Mapping[str, str]], str | None]


@dataclass(frozen=True)
class CrmProvider:
    """Everything Switchboard needs to know about one CRM."""

    name: str
    display_name: str
    api_url: str
    connector: Callable[[ConnectorConfig], CrmConnector]
    webhooks: WebhookCodec
    budgets: tuple[RateBudget, ...]
    note_format: NoteFormat = "markdown"
    auth: AuthSpec = field(default_factory=AuthSpec)
    emulator: EmulatorRef | None = None
    settings: type[BaseModel] | None = None
    """The CRM's own per-connection settings (every field with a default), validated and merged
    with the common ones by `switchboard.connection_settings`."""
    signed_link_proof: SignedLinkProof | None = None
    """For a CRM whose call-page entry point signs the request it opens: checks the request's
    query parameters and returns the clicked person's id (raising LinkProofRefused); the call
    page then answers `GET /call/<connection>?<the CRM's parameters>`. None: link secret only."""

    record_url: RecordUrl | None = None
    """How to link a person to its page in the CRM (dashboard event rows). None: no links."""

    credential: str = "token"
    """What the secret a connection stores for this CRM is called in sentences ("token")."""
    token_rejected: str = ""
    """The operator's sentence when the CRM refuses that secret (HTTP 401/403) — the failures
    group's title, the health line adds "— reconnect". Default: "<display name> rejects the
    <credential>"."""

    def connect(self, config: ConnectorConfig) -> CrmConnector:
        return self.connector(config)

    @property
    def rejected_sentence(self) -> str:
        """`token_rejected`, or the default built from the display name and the credential."""
        return self.token_rejected or f"{self.display_name} rejects the {self.credential}"

    def person_url(self, record_id: str, account: Mapping[str, str]) -> str | None:
        """The person's page in the CRM's web app (None when this CRM cannot say, or the
        account's facts are not known); only http(s) URLs."""
        if self.record_url is None or not record_id:
            return None
        url = self.record_url(record_id, account)
        return url if url and url.startswith(("https://", "http://")) else None

    @property
    def token_env(self) -> str:
        """The environment variable `switchboard connect <crm>` reads the token from."""
        return f"{self.name.upper()}_TOKEN"

    @property
    def quo_source(self) -> str:
        """The `source` of the Quo contacts Switchboard creates for this CRM's people."""
        return f"switchboard-{self.name}"

    def budget_summary(self) -> tuple[float, str]:
        """(sustained requests per second, human description) for the dashboard."""
        per_s = sum(b.per_second for b in self.budgets if b.unit == "requests")
        return per_s, "; ".join(b.describe() for b in self.budgets)


class UnknownCrm(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported CRM {name!r}; supported: {', '.join(names())}")
        self.name = name


# Reentrant: a provider module imported while loading may call `register`.
_lock = threading.RLock()
_providers: dict[str, CrmProvider] = {}
_loaded = False


def _load_built_in() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        _loaded = True  # set first: a nested call during loading must not load again
        try:
            for module in _provider_modules():
                provider: CrmProvider = importlib.import_module(module).PROVIDER
                _providers.setdefault(provider.name, provider)
        except BaseException:
            _loaded = False
            raise


def _provider_modules() -> list[str]:
    """`switchboard.crm.<package>.provider` for every package that has one, then the modules
    named in SWITCHBOARD_CRM_MODULES."""
    import switchboard.crm as crm_package

    found = [
        f"switchboard.crm.{info.name}.provider"
        for info in sorted(pkgutil.iter_modules(crm_package.__path__), key=lambda m: m.name)
        if info.ispkg and importlib.util.find_spec(f"switchboard.crm.{info.name}.provider")
    ]
    extra = os.environ.get("SWITCHBOARD_CRM_MODULES", "")
    return found + [m.strip() for m in extra.split(",") if m.strip()]


def register(provider: CrmProvider) -> CrmProvider:
    """Add (or replace) a CRM; returns it. Tests register CRMs defined in the tests."""
    _load_built_in()
    with _lock:
        _providers[provider.name] = provider
    return provider


def unregister(name: str) -> None:
    with _lock:
        _providers.pop(name, None)


def get(name: str) -> CrmProvider:
    _load_built_in()
    try:
        return _providers[name]
    except KeyError:
        raise UnknownCrm(name) from None


def find(name: str) -> CrmProvider | None:
    _load_built_in()
    return _providers.get(name)


def names() -> tuple[str, ...]:
    _load_built_in()
    return tuple(_providers)


def all_providers() -> tuple[CrmProvider, ...]:
    _load_built_in()
    return tuple(_providers.values())


def _resolve(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
