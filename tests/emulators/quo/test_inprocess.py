"""The Python-level API: QuoEmulator + create_app in-process, with a fake clock; CLI seeding."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchboard.emulators.quo import QuoEmulator, create_app
from tests.servers import quo_emulator


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_770_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_fake_clock_drives_bulk_visibility_and_phases() -> None:
    clock = FakeClock()
    emu = QuoEmulator(bulk_delay_s=2.5, phase_delay_scale=1.0, rate_limit=0, clock=clock)
    ws = emu.create_workspace(api_key="k1")
    app = create_app(emu)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://quo.test",
        headers={"Authorization": "k1"},
    ) as http:
        body = {"contacts": [{"defaultFields": {"firstName": "A"}, "externalId": "a"}]}
        assert (await http.post("/v1/contacts/bulk", json=body)).status_code == 202
        assert (await http.get("/v1/contacts?externalIds=a")).json()["data"] == []
        clock.now += 2.5
        assert len((await http.get("/v1/contacts?externalIds=a")).json()["data"]) == 1

        # Artefact states follow the emulator clock (no webhooks subscribed here).
        sim = await emu.simulate_call(ws.id, outcome="voicemail", summary=True)
        cid = sim["callId"]
        vm = (await http.get(f"/v1/call-voicemails/{cid}")).json()["data"]
        summary = (await http.get(f"/v1/call-summaries/{cid}")).json()["data"]
        assert vm["status"] == "in-progress" and summary["status"] == "in-progress"
        clock.now += 20
        vm = (await http.get(f"/v1/call-voicemails/{cid}")).json()["data"]
        summary = (await http.get(f"/v1/call-summaries/{cid}")).json()["data"]
        assert vm["status"] == "completed" and summary["status"] == "completed"
    assert emu.log.per_operation()["listContacts_v1"] == 2


async def test_in_process_webhook_delivery() -> None:
    received: list[dict[str, object]] = []

    async def hook(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    emu = QuoEmulator(phase_delay_scale=0, rate_limit=0)
    emu.deliverer.transport = httpx.ASGITransport(app=receiver)
    ws = emu.create_workspace(api_key="k1")
    emu.create_webhook(
        ws, "calls", {"url": "http://receiver/hook", "events": ["call.completed"]}, version=1
    )
    await emu.simulate_message(ws.id)  # no message webhook: nothing delivered
    await emu.simulate_call(ws.id, recording=True)
    await emu.drain(5)
    assert [e["type"] for e in received] == ["call.completed"]


def test_command_line_seed_file_api_keys_and_profile(tmp_path: Path) -> None:
    seed = {
        "workspaces": [
            {
                "apiKey": "seeded",
                "name": "Acme",
                "phoneNumbers": [
                    {
                        "number": "+15550100100",
                        "name": "Front Desk",
                        "symbol": "📞",
                        "id": "PNfront",
                    },
                    {"number": "+15550100200", "name": "Sales", "symbol": "💼"},
                ],
                "users": [
                    {
                        "email": "sam@example.test",
                        "firstName": "Sam",
                        "lastName": "Ortiz",
                        "id": "USsam",
                    }
                ],
                "contacts": [{"defaultFields": {"firstName": "Dana"}, "externalId": "crm-1"}],
            }
        ]
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    args = ("--seed-file", str(path), "--api-key", "plain", "--profile", "dev-2025-11")
    with quo_emulator(*args) as srv:
        v2 = httpx.get(srv.url + "/v2/webhooks", headers={"Authorization": "plain"})
        assert v2.status_code == 500 and v2.json()["code"] == "0301500"
        v1 = httpx.get(srv.url + "/v1/webhooks", headers={"Authorization": "plain"})
        assert v1.status_code == 200
        numbers = httpx.get(
            srv.url + "/v1/phone-numbers", headers={"Authorization": "seeded"}
        ).json()
        first = numbers["data"][0]
        assert (first["id"], first["name"]) == ("PNfront", "Front Desk")
        contacts = httpx.get(srv.url + "/v1/contacts", headers={"Authorization": "seeded"}).json()
        assert contacts["data"][0]["externalId"] == "crm-1"
        assert contacts["data"][0]["createdByUserId"] == "USsam"
        plain = httpx.get(srv.url + "/v1/phone-numbers", headers={"Authorization": "plain"}).json()
        assert plain["data"][0]["symbol"] == "📞"
        workspaces = httpx.get(srv.url + "/_emulator/workspaces").json()["data"]
        assert sorted(w["apiKeys"][0] for w in workspaces) == ["plain", "seeded"]
