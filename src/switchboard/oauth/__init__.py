"""OAuth for every CRM, in the core: the authorization-code flow (`flow`), sign-ins bound to the
admin's session (`signin`), and tokens that stay fresh (`tokens`).

A CRM states its OAuth endpoints and quirks once, in its registry record (`OAuthSpec`); the
deployment's app per CRM comes from `SWITCHBOARD_OAUTH_CLIENTS`; the redirect URI is
`<SWITCHBOARD_PUBLIC_URL>/oauth/callback`. Connectors never see OAuth: `switchboard.clients`
wraps their transport in `http.bearer.FreshBearerTransport` fed by the process's `TokenKeeper`.
"""

from switchboard.oauth.flow import CALLBACK_PATH, Endpoints, GrantRefused, TokenSet
from switchboard.oauth.signin import OAuthNotConfigured, SignIn, SignInRefused
from switchboard.oauth.tokens import (
    NEEDS_REAUTH,
    NeedsReauthorization,
    TokenKeeper,
    TokenStatus,
    forget_tokens,
    save_tokens,
    token_status,
)

__all__ = [
    "CALLBACK_PATH",
    "NEEDS_REAUTH",
    "Endpoints",
    "GrantRefused",
    "NeedsReauthorization",
    "OAuthNotConfigured",
    "SignIn",
    "SignInRefused",
    "TokenKeeper",
    "TokenSet",
    "TokenStatus",
    "forget_tokens",
    "save_tokens",
    "token_status",
]
