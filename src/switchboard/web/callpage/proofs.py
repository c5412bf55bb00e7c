"""CRM-signed proofs for the call page, for CRMs that sign their own requests.

A CRM whose entry point signs the request it opens (a link action carrying a signed token, a
nonce checked through the CRM's API) registers a check here under its CRM name; the call page
then also answers `GET /call/<connection>?<the CRM's parameters>` and takes the person from the
verified request instead of the URL path. CRMs without one use the link secret only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from switchboard.connections import ConnectionInfo


class ProofRefused(Exception):
    """The request does not carry a valid proof (the message is logged, never shown)."""


#: (query parameters, connection) → the clicked person's CRM id, or ProofRefused.
SignedProofCheck = Callable[[Mapping[str, str], ConnectionInfo], Awaitable[str]]

_checks: dict[str, SignedProofCheck] = {}


def register(crm: str, check: SignedProofCheck) -> None:
    _checks[crm] = check


def unregister(crm: str) -> None:
    _checks.pop(crm, None)


def check_for(crm: str) -> SignedProofCheck | None:
    return _checks.get(crm)
