"""The tiny CRM's emulator: people (keyset-paged by a sequence number), companies, notes,
HMAC-signed change webhooks, a read and a write budget per account, and a request log."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import queue
import random
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import phonenumbers
import typer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchboard.emulators.common import LoggedRequest, RequestLog, SlidingWindowRateLimiter
from switchboard.emulators.hosting import Budget, EmulatedNote

SIGNATURE_HEADER = "x-tiny-signature"
READS_PER_SECOND = 20
WRITES_PER_SECOND = 10


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _valid_phone(rng: random.Random) -> str:
    while True:
        phone = f"+1{rng.choice((212, 415, 617))}{rng.randrange(2_000_000, 9_999_999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(phone)):
            return phone


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TinyPerson:
    id: str
    seq: int
    first_name: str | None
    last_name: str | None
    phones: list[str]
    emails: list[str]
    company_id: str | None
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phones": list(self.phones),
            "emails": list(self.emails),
            "company_id": self.company_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass
class TinyNote:
    id: str
    person_id: str
    title: str
    content: str
    format: str
    created_at: datetime
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person_id": self.person_id,
            "title": self.title,
            "content": self.content,
            "format": self.format,
            "created_at": self.created_at.isoformat(),
        }


@dataclass
class TinyState:
    token: str
    people: dict[str, TinyPerson] = field(default_factory=dict)
    companies: dict[str, str] = field(default_factory=dict)
    notes: dict[str, TinyNote] = field(default_factory=dict)
    hooks: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (url, secret)
    lock: threading.RLock = field(default_factory=threading.RLock)
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.seq):07d}"


class TinyEmulator:
    """State + webhook sender. Direct changes (`create_person`, ...) fire webhooks like API ones."""

    def __init__(self, token: str, seed: int = 0) -> None:
        self.state = TinyState(token)
        self.log = RequestLog()
        self.limits: dict[str, SlidingWindowRateLimiter] = {
            "read": SlidingWindowRateLimiter(READS_PER_SECOND, 1.0),
            "write": SlidingWindowRateLimiter(WRITES_PER_SECOND, 1.0),
        }
        self.random = random.Random(seed)
        # One sender thread keeps deliveries in order.
        self._outbox: queue.Queue[tuple[str, bytes, str] | None] = queue.Queue()
        self._sender = threading.Thread(target=self._send_loop, daemon=True)
        self._sender.start()

    # ------------------------------------------------------------------ data
    def create_person(
        self,
        phones: Sequence[str],
        first_name: str | None = None,
        last_name: str | None = None,
        company_id: str | None = None,
        emails: Sequence[str] = (),
    ) -> TinyPerson:
        with self.state.lock:
            seq = next(self.state.seq)
            now = _now()
            person = TinyPerson(
                f"tp{seq:07d}", seq, first_name, last_name, list(phones), list(emails),
                company_id, now, now,
            )  # fmt: skip
            self.state.people[person.id] = person
        self._fire("person.created", person.id)
        return person

    def update_phones(self, person_id: str, phones: Sequence[str]) -> None:
        with self.state.lock:
            person = self.state.people[person_id]
            person.phones = list(phones)
            person.updated_at = _now()
        self._fire("person.updated", person_id)

    def delete_person(self, person_id: str) -> None:
        with self.state.lock:
            gone = self.state.people.pop(person_id, None)
        if gone is not None:
            self._fire("person.deleted", person_id)

    def seed(self, count: int, seed: int = 0) -> list[str]:
        rng = random.Random(seed)
        firsts = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Donald"]
        lasts = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Knuth"]
        ids: list[str] = []
        with self.state.lock:
            companies = [self.state.next_id("tc") for _ in range(max(1, count // 10))]
            for n, cid in enumerate(companies):
                self.state.companies[cid] = f"Company {n} {rng.choice(lasts)}"
            for _ in range(count):
                seq = next(self.state.seq)
                phone = _valid_phone(rng)
                now = _now()
                person = TinyPerson(
                    f"tp{seq:07d}", seq, rng.choice(firsts), rng.choice(lasts),
                    [phone] if rng.random() < 0.9 else [], [],
                    rng.choice(companies) if rng.random() < 0.8 else None, now, now,
                )  # fmt: skip
                self.state.people[person.id] = person
                ids.append(person.id)
        return ids

    def reset(self) -> None:
        with self.state.lock:
            self.state.people.clear()
            self.state.companies.clear()
            self.state.notes.clear()
            self.state.hooks.clear()
        self.log.clear()
        for limiter in self.limits.values():
            limiter.reset()

    # ------------------------------------------------------------------ webhooks
    def _fire(self, event: str, person_id: str) -> None:
        with self.state.lock:
            hooks = list(self.state.hooks.values())
        for url, secret in hooks:
            body = json.dumps(
                {"delivery": secrets.token_hex(8), "event": event, "person_id": person_id}
            ).encode()
            self._outbox.put((url, body, secret))

    def _send_loop(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                item = self._outbox.get()
                if item is None:
                    return
                url, body, secret = item
                for attempt in range(5):
                    try:
                        headers = {
                            "content-type": "application/json",
                            SIGNATURE_HEADER: sign(body, secret),
                        }
                        if client.post(url, content=body, headers=headers).status_code < 300:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05 * 2**attempt)

    def close(self) -> None:
        self._outbox.put(None)


# ---------------------------------------------------------------------- HTTP API
def _err(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def create_app(emu: TinyEmulator) -> Starlette:
    st = emu.state

    async def guard(request: Request, operation: str) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {st.token}":
            return _err(401, "bad token")
        budget = "read" if request.method == "GET" else "write"
        entry = emu.log.add(
            LoggedRequest(
                ts=time.time(), method=request.method, path=request.url.path,
                query=request.url.query, operation=operation, key=f"tiny:{budget}",
            )
        )  # fmt: skip
        if emu.limits[budget].hit("tiny") is not None:
            entry.status = 429
            return _err(429, "slow down")
        entry.status = 200
        return None

    def person_json(person: TinyPerson) -> dict[str, Any]:
        return person.to_json()

    async def me(request: Request) -> Response:
        return await guard(request, "me") or JSONResponse({"account": "tiny-account"})

    async def people(request: Request) -> Response:
        if (refused := await guard(request, "people.list")) is not None:
            return refused
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", "100"))
        phone = request.query_params.get("phone")
        since = request.query_params.get("changed_since")
        with st.lock:
            found = sorted(st.people.values(), key=lambda p: p.seq)
        if phone:
            found = [p for p in found if phone in p.phones]
        if since:
            cutoff = datetime.fromisoformat(since)
            found = [p for p in found if p.updated_at >= cutoff]
        page = [p for p in found if p.seq > after][:limit]
        return JSONResponse({"data": [person_json(p) for p in page]})

    async def person(request: Request) -> Response:
        if (refused := await guard(request, "people.get")) is not None:
            return refused
        with st.lock:
            found = st.people.get(request.path_params["pid"])
        return JSONResponse({"data": person_json(found)}) if found else _err(404, "no person")

    async def create_person(request: Request) -> Response:
        if (refused := await guard(request, "people.create")) is not None:
            return refused
        body = await request.json()
        first, _, last = (body.get("name") or "").partition(" ")
        created = emu.create_person(body.get("phones") or [], first or None, last or None)
        return JSONResponse({"data": person_json(created)}, 201)

    async def companies(request: Request) -> Response:
        if (refused := await guard(request, "companies.list")) is not None:
            return refused
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        with st.lock:
            data = [{"id": i, "name": st.companies[i]} for i in ids if i in st.companies]
        return JSONResponse({"data": data})

    async def notes(request: Request) -> Response:
        if (refused := await guard(request, f"notes.{request.method.lower()}")) is not None:
            return refused
        if request.method == "GET":
            pid = request.query_params.get("person_id")
            with st.lock:
                found = sorted(
                    (n for n in st.notes.values() if n.person_id == pid), key=lambda n: n.seq
                )
            return JSONResponse({"data": [n.to_json() for n in found]})
        body = await request.json()
        with st.lock:
            if body.get("person_id") not in st.people:
                return _err(404, "no person")
            seq = next(st.seq)
            created = body.get("created_at")
            note = TinyNote(
                f"tn{seq:07d}", body["person_id"], body.get("title", ""), body.get("content", ""),
                body.get("format", "plain"),
                datetime.fromisoformat(created) if created else _now(), seq,
            )  # fmt: skip
            st.notes[note.id] = note
        return JSONResponse({"data": note.to_json()}, 201)

    async def note(request: Request) -> Response:
        if (refused := await guard(request, "notes.delete")) is not None:
            return refused
        with st.lock:
            gone = st.notes.pop(request.path_params["nid"], None)
        return Response(status_code=204) if gone else _err(404, "no note")

    async def hooks(request: Request) -> Response:
        if (refused := await guard(request, f"hooks.{request.method.lower()}")) is not None:
            return refused
        if request.method == "GET":
            with st.lock:
                data = [{"id": i, "url": u} for i, (u, _) in st.hooks.items()]
            return JSONResponse({"data": data})
        url = (await request.json())["url"]
        hook_id, secret = st.next_id("th"), secrets.token_hex(16)
        with st.lock:
            st.hooks[hook_id] = (url, secret)
        return JSONResponse({"data": {"id": hook_id, "url": url, "secret": secret}}, 201)

    async def hook(request: Request) -> Response:
        if (refused := await guard(request, "hooks.delete")) is not None:
            return refused
        with st.lock:
            gone = st.hooks.pop(request.path_params["hid"], None)
        return Response(status_code=204) if gone else _err(404, "no webhook")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/v1/me", me),
            Route("/v1/people", people, methods=["GET"]),
            Route("/v1/people", create_person, methods=["POST"]),
            Route("/v1/people/{pid}", person),
            Route("/v1/companies", companies),
            Route("/v1/notes", notes, methods=["GET", "POST"]),
            Route("/v1/notes/{nid}", note, methods=["DELETE"]),
            Route("/v1/webhooks", hooks, methods=["GET", "POST"]),
            Route("/v1/webhooks/{hid}", hook, methods=["DELETE"]),
            Route("/_emulator/health", health),
        ]
    )


# ---------------------------------------------------------------------- kit + demo handles
class TinyKitControl:
    def __init__(self, emu: TinyEmulator) -> None:
        self.emu = emu
        self.rate_limits: dict[Budget, int] = {
            "read": READS_PER_SECOND,
            "write": WRITES_PER_SECOND,
        }

    async def seed_people(self, count: int) -> list[str]:
        return self.emu.seed(count, seed=count)

    async def add_person(self, phones: Sequence[str], name: str | None = None) -> str:
        first, _, last = (name or "").partition(" ")
        return self.emu.create_person(phones, first or None, last or None).id

    async def delete_person(self, person_id: str) -> None:
        self.emu.delete_person(person_id)

    async def set_phones(self, person_id: str, phones: Sequence[str]) -> None:
        self.emu.update_phones(person_id, phones)

    async def person_ids(self) -> set[str]:
        with self.emu.state.lock:
            return set(self.emu.state.people)

    async def company_name_of(self, person_id: str) -> str | None:
        with self.emu.state.lock:
            cid = self.emu.state.people[person_id].company_id
            return self.emu.state.companies.get(cid) if cid else None

    async def note(self, note_id: str) -> EmulatedNote | None:
        with self.emu.state.lock:
            n = self.emu.state.notes.get(note_id)
        if n is None:
            return None
        return EmulatedNote(n.id, n.person_id, n.title, n.content, n.created_at)

    async def clear_request_log(self) -> None:
        self.emu.log.clear()

    async def company_lookups(self) -> int:
        return sum(1 for e in self.emu.log.entries() if e.path.startswith("/v1/companies"))

    async def rate_limited_responses(self) -> int:
        return sum(1 for e in self.emu.log.entries() if e.status == 429)

    async def max_requests_per_second(self, budget: Budget) -> int:
        return self.emu.log.max_per_second(key=f"tiny:{budget}")


class HostedTiny:
    def __init__(self, emu: TinyEmulator) -> None:
        self.emu = emu
        self.token = emu.state.token
        self._app = create_app(emu)

    @property
    def app(self) -> Any:
        return self._app

    def seed_people(self, count: int, seed: int = 0) -> None:
        self.emu.seed(count, seed)

    def people_with_phones(self, limit: int) -> list[tuple[str, str]]:
        with self.emu.state.lock:
            found = [(p.id, p.phones[0]) for p in self.emu.state.people.values() if p.phones]
        return found[:limit]

    def notes(self) -> list[EmulatedNote]:
        with self.emu.state.lock:
            found = sorted(self.emu.state.notes.values(), key=lambda n: n.seq)
        return [EmulatedNote(n.id, n.person_id, n.title, n.content, n.created_at) for n in found]

    def reset(self) -> None:
        self.emu.reset()

    def kit_control(self) -> TinyKitControl:
        return TinyKitControl(self.emu)

    def close(self) -> None:
        self.emu.close()


def host(
    *, token: str, seed: int = 0, allow_http_targets: bool = True, fast: bool = False
) -> HostedTiny:
    return HostedTiny(TinyEmulator(token, seed))


def command(
    bind: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8030),
    token: str = typer.Option("tiny-token"),
    people: int = typer.Option(0),
) -> None:
    """Serve the tiny CRM emulator (`switchboard emulate tiny`)."""
    from switchboard.emulators.common import serve

    emu = TinyEmulator(token)
    if people:
        emu.seed(people)
    typer.echo(f"tiny CRM emulator on http://{bind}:{port}; token {token}")
    serve(create_app(emu), host=bind, port=port, log_level="warning")
