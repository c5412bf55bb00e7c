"""CRM-signed proofs for the call page, for CRMs that sign their own requests.

A CRM whose entry point signs the request it opens (a link action carrying a signed token, a
nonce checked through the CRM's API) provides a check on its registry record
(`CrmProvider.signed_link_proof`); the call page then also answers
`GET /call/<connection>?<the CRM's parameters>` and takes the person from the verified request
instead of the URL path. CRMs without one use the link secret only.

`register(crm, check)` installs a check in-process that takes precedence over the record's (tests
use it); `check_for(crm)` returns the check to use, as `(query parameters, connection) → person
id`, with the record's check given the connection's settings, account id and connector.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from switchboard.connections import ConnectionInfo
from switchboard.crm import registry
from switchboard.crm.registry import LinkProofContext, LinkProofRefused

#: The request does not carry a valid proof (the message is logged, never shown).
ProofRefused = LinkProofRefused

#: (query parameters, connection) → the clicked person's CRM id, or ProofRefused.
SignedProofCheck = Callable[[Mapping[str, str], ConnectionInfo], Awaitable[str]]

_checks: dict[str, SignedProofCheck] = {}


def register(crm: str, check: SignedProofCheck) -> None:
    _checks[crm] = check


def unregister(crm: str) -> None:
    _checks.pop(crm, None)


def check_for(crm: str) -> SignedProofCheck | None:
    found = _checks.get(crm)
    if found is not None:
        return found
    provider = registry.find(crm)
    proof = provider.signed_link_proof if provider is not None else None
    if proof is None:
        return None

    async def check(query: Mapping[str, str], info: ConnectionInfo) -> str:
        from switchboard.web.callpage import clients

        page_clients = await clients.clients_for(info.id)
        context = LinkProofContext(
            settings=info.settings, workspace_id=info.crm_workspace_id, connector=page_clients.crm
        )
        return await proof(query, context)

    return check
