"""One small driver per CRM for the end-to-end harnesses (`tests/sync/stack.py`,
`tests/activity/harness.py`): how to seed and edit people as a user of the CRM would, read
ground truth back, and read what Switchboard logged. Adding a CRM to the e2e suites adds a
driver here and its name to the suites' `CRMS`; the test bodies stay as they are.

    driver = driver_for("zoho", url, token)
    pid = driver.create_person("Ada", "+14155550101")
    driver.notes_for(pid)        # [{"id": {"note_id"}, "title", "content", "record"?}]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time
from datetime import datetime
from typing import Any, ClassVar

import httpx
import phonenumbers

#: A stored note: {"id": {"note_id": ...}, "title", "content", and for a native call record
#: "record" (as stored) — `call_record_mismatches` checks it against the call.
Note = dict[str, Any]


def e164(raw: str) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class CrmDriver:
    """What the harnesses need from a CRM emulator (see the module docstring)."""

    name: ClassVar[str]
    note_format: ClassVar[str]
    #: Needs Quo's media URLs served (the CRM stores or uploads the audio of calls).
    fetches_media: ClassVar[bool] = False
    #: Phone lookups cost several requests: tests sync people first (lookups by mapping).
    sync_before_activity: ClassVar[bool] = True
    #: Stores a number it cannot validate as typed (else the caller is linked by the mapping).
    stores_any_number: ClassVar[bool] = True

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = httpx.Client(base_url=self.url, headers=self.headers(), timeout=30)

    def close(self) -> None:
        self.http.close()

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def control(self, method: str, path: str, **kw: Any) -> Any:
        return self.api(method, "/_emulator" + path, **kw)

    # ------------------------------------------------------------------ people
    def create_person(self, name: str, *phones: str) -> str:
        raise NotImplementedError

    def rename(self, person_id: str, first: str, last: str) -> None:
        raise NotImplementedError

    def set_phones(self, person_id: str, phones: list[str]) -> None:
        raise NotImplementedError

    def delete_person(self, person_id: str) -> None:
        raise NotImplementedError

    def merge(self, primary: str, secondary: str) -> None:
        """`secondary` disappears into `primary`."""
        raise NotImplementedError

    def silent_change(self, person_id: str) -> str:
        """A change whose webhook never arrives; returns the person it concerns."""
        raise NotImplementedError

    def people(self) -> list[dict[str, Any]]:
        """Every person as the CRM's API returns it (raw)."""
        raise NotImplementedError

    def expected(self, person: dict[str, Any]) -> tuple[str, list[str], str] | None:
        """(external id, E.164 numbers, first name) of a raw person, None without numbers —
        computed from the CRM's own record, not from Switchboard's code."""
        raise NotImplementedError

    def needs_edge_cases(self) -> bool:
        """The seed lacks people without a number, sharing one, or with several."""
        return True

    # ------------------------------------------------------------------ webhooks
    def webhook_faults(self, **faults: float) -> None:
        self.control("PATCH", "/faults", json=faults)

    def drain_webhooks(self) -> None:
        self.control("POST", "/webhooks/drain", json={"timeout": 10})

    def forged_delivery(self) -> tuple[bytes, bytes, dict[str, str]]:
        """(a change webhook body without its proof, one with a wrong proof, the headers that
        go with the wrong one): both must be refused with 401."""
        raise NotImplementedError

    # ------------------------------------------------------------------ activity
    def notes_for(self, person_id: str) -> list[Note]:
        raise NotImplementedError

    def stored_title(self, title: str) -> str:
        """A rendered title as the CRM stores it."""
        return title

    def call_record_mismatches(self, sim: dict[str, Any], note: Note, media: str) -> list[Any]:
        """A native call record holds the call's exact start, end, duration and its audio."""
        return []


class AttioDriver(CrmDriver):
    name = "attio"
    note_format = "markdown"
    sync_before_activity = False
    stores_any_number = False

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _records(self) -> str:
        return "/_emulator/workspaces/default/objects/people/records"

    def needs_edge_cases(self) -> bool:
        return False

    def create_person(self, name: str, *phones: str) -> str:
        first, _, last = name.partition(" ")
        values = {
            "name": [{"first_name": first, "last_name": last or "E2e", "full_name": name}],
            "phone_numbers": [{"original_phone_number": p} for p in phones],
        }
        body = self.api("POST", self._records(), json={"values": values})
        return str(body.get("data", body)["id"]["record_id"])

    def _update(self, person_id: str, values: dict[str, Any]) -> None:
        self.api("PATCH", f"{self._records()}/{person_id}", json={"values": values})

    def rename(self, person_id: str, first: str, last: str) -> None:
        self._update(person_id, {"name": [{"first_name": first, "last_name": last}]})

    def set_phones(self, person_id: str, phones: list[str]) -> None:
        self._update(person_id, {"phone_numbers": phones})

    def delete_person(self, person_id: str) -> None:
        self.api("DELETE", f"{self._records()}/{person_id}")

    def merge(self, primary: str, secondary: str) -> None:
        body = {"primary_record_id": primary, "secondary_record_id": secondary}
        self.api("POST", f"{self._records()}/merge", json=body)

    def forged_delivery(self) -> tuple[bytes, bytes, dict[str, str]]:
        event = {
            "event_type": "record.updated",
            "id": {"workspace_id": "w", "object_id": "o", "record_id": "r"},
        }
        body = json.dumps({"webhook_id": "x", "events": [event]}).encode()
        wrong = hmac.new(b"wrong-secret", body, hashlib.sha256).hexdigest()
        return body, body, {"Attio-Signature": wrong}

    def silent_change(self, person_id: str) -> str:
        self.control("PATCH", "/faults", json={"webhook_drop_count": 1})
        self.set_phones(person_id, ["+14155550199"])
        return person_id

    def people(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            body = {
                "limit": 500,
                "offset": len(out),
                "sorts": [{"attribute": "created_at", "direction": "asc"}],
            }
            page = self.api("POST", "/v2/objects/people/records/query", json=body)["data"]
            out.extend(page)
            if len(page) < 500:
                return out

    def expected(self, person: dict[str, Any]) -> tuple[str, list[str], str] | None:
        def current(slug: str) -> list[dict[str, Any]]:
            values = person["values"].get(slug) or []
            return [v for v in values if v.get("active_until") is None]

        phones = list(
            dict.fromkeys(
                v["phone_number"] for v in current("phone_numbers") if v.get("phone_number")
            )
        )
        if not phones:
            return None
        names = current("name")
        first = (names[0].get("first_name") or "").strip() if names else ""
        return person["id"]["record_id"], phones, first

    def notes_for(self, person_id: str) -> list[Note]:
        notes: list[Note] = []
        while True:
            params = {
                "parent_object": "people",
                "parent_record_id": person_id,
                "limit": 50,
                "offset": len(notes),
            }
            page = self.api("GET", "/v2/notes", params=params)["data"]
            notes.extend({**n, "content": n["content_markdown"]} for n in page)
            if len(page) < 50:
                return notes


class PipedriveDriver(CrmDriver):
    name = "pipedrive"
    note_format = "html"
    fetches_media = True
    _TITLE = re.compile(r"^<p><strong>(?P<title>.*?)</strong></p>(?P<body>.*)$", re.DOTALL)
    _BASE = "/_emulator/companies/default"

    def headers(self) -> dict[str, str]:
        return {"x-api-token": self.token}

    def create_person(self, name: str, *phones: str) -> str:
        body = {"name": name if " " in name else f"{name} E2e", "phones": list(phones)}
        return str(self.api("POST", f"{self._BASE}/persons", json=body)["data"]["id"])

    def _edit(self, person_id: str, body: dict[str, Any]) -> None:
        self.api("PATCH", f"{self._BASE}/persons/{person_id}", json=body)

    def rename(self, person_id: str, first: str, last: str) -> None:
        self._edit(person_id, {"name": f"{first} {last}"})

    def set_phones(self, person_id: str, phones: list[str]) -> None:
        self._edit(person_id, {"phones": phones})

    def delete_person(self, person_id: str) -> None:
        self.api("DELETE", f"{self._BASE}/persons/{person_id}")

    def merge(self, primary: str, secondary: str) -> None:
        body = {"id": int(secondary), "merge_with_id": int(primary)}
        self.api("POST", f"{self._BASE}/persons/merge", json=body)

    def forged_delivery(self) -> tuple[bytes, bytes, dict[str, str]]:
        meta = {"action": "change", "entity": "person", "entity_id": "1", "id": "x"}
        body = json.dumps({"meta": meta}).encode()
        forged = base64.b64encode(b"sb-forged:not-the-password").decode()
        return body, body, {"Authorization": f"Basic {forged}"}

    def silent_change(self, person_id: str) -> str:
        # No drop knob, but data the emulator seeds fires no webhook: a seeded person.
        self.api("POST", f"{self._BASE}/seed", json={"persons": 1, "seed": 99})
        return str(max(int(p["id"]) for p in self.people()))

    def people(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            r = self.http.get("/api/v2/persons", params=params)
            if r.status_code == 429:
                time.sleep(float(r.headers.get("retry-after", "1")))
                continue
            r.raise_for_status()
            out.extend(r.json()["data"])
            cursor = r.json()["additional_data"]["next_cursor"]
            if not cursor:
                return out

    def expected(self, person: dict[str, Any]) -> tuple[str, list[str], str] | None:
        numbers = [e164(p["value"]) for p in person.get("phones") or []]
        found = list(dict.fromkeys(n for n in numbers if n))
        if not found:
            return None
        return str(person["id"]), found, person.get("first_name") or ""

    def notes_for(self, person_id: str) -> list[Note]:
        out: list[Note] = []
        for log in self.api("GET", f"{self._BASE}/call-logs")["data"]:
            if str(log["person_id"]) == person_id:
                out.append(
                    {
                        "id": {"note_id": f"calllog:{log['id']}"},
                        "title": log["subject"],
                        "content": log["note"],
                        "record": log,
                    }
                )
        for note in self.api("GET", f"{self._BASE}/notes")["data"]:
            if str(note["person_id"]) == person_id:
                found = self._TITLE.match(note["content"])
                out.append(
                    {
                        "id": {"note_id": f"note:{note['id']}"},
                        "title": html.unescape(found["title"]) if found else "",
                        "content": found["body"] if found else note["content"],
                    }
                )
        return out

    def call_record_mismatches(self, sim: dict[str, Any], note: Note, media: str) -> list[Any]:
        log, call, cid = note["record"], sim["call"], sim["callId"]
        out: list[Any] = []
        if abs((_when(log["start_time"]) - _when(call["createdAt"])).total_seconds()) >= 1:
            out.append(("start_time", cid, call["createdAt"], log["start_time"]))
        ended = call.get("completedAt")
        if ended and abs((_when(log["end_time"]) - _when(ended)).total_seconds()) >= 1:
            out.append(("end_time", cid, ended, log["end_time"]))
        if call.get("duration") is not None and log["duration"] != str(round(call["duration"])):
            out.append(("duration", cid, call["duration"], log["duration"]))
        # A recording or voicemail the note links to is uploaded to the call log.
        if (media in note["content"]) != (log["recording"] is not None):
            out.append(("recording", cid, log["recording"]))
        return out


class ZohoDriver(CrmDriver):
    name = "zoho"
    note_format = "plain"
    _PHONES = ("Phone", "Mobile", "Home_Phone", "Other_Phone", "Assistant_Phone")
    _FIELDS = "First_Name,Last_Name," + ",".join(_PHONES)
    _ORG = "/_emulator/orgs/default"
    _EMOJI = re.compile(r"[\U00010000-\U0010FFFF\u2600-\u27BF\uFE0F\u200D]")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.token}"}

    def create_person(self, name: str, *phones: str) -> str:
        first, _, last = name.rpartition(" ")
        values: dict[str, Any] = {"First_Name": first or name, "Last_Name": last or "E2e"}
        values.update(zip(self._PHONES, phones, strict=False))
        body = {"values": values}
        return str(self.api("POST", f"{self._ORG}/records/Contacts", json=body)["data"]["id"])

    def _update(self, person_id: str, values: dict[str, Any]) -> None:
        self.api("PUT", f"{self._ORG}/records/Contacts/{person_id}", json={"values": values})

    def rename(self, person_id: str, first: str, last: str) -> None:
        self._update(person_id, {"First_Name": first, "Last_Name": last})

    def set_phones(self, person_id: str, phones: list[str]) -> None:
        values: dict[str, Any] = dict.fromkeys(self._PHONES)
        values.update(zip(self._PHONES, phones, strict=False))
        self._update(person_id, values)

    def delete_person(self, person_id: str) -> None:
        self.api("DELETE", f"{self._ORG}/records/Contacts/{person_id}")

    def merge(self, primary: str, secondary: str) -> None:
        # What Zoho notifies for a merge: the survivor's update and the absorbed one's delete.
        self._update(primary, {"Last_Name": "Merged"})
        self.delete_person(secondary)

    def forged_delivery(self) -> tuple[bytes, bytes, dict[str, str]]:
        notification = {"module": "Contacts", "operation": "update", "ids": ["1"], "channel_id": 1}
        forged = {**notification, "token": "not-the-channel-token"}
        return json.dumps(notification).encode(), json.dumps(forged).encode(), {}

    def silent_change(self, person_id: str) -> str:
        # Data the emulator seeds notifies nobody: a seeded contact is the change.
        seeded = self.api("POST", f"{self._ORG}/seed", json={"contacts": 1, "seed": 99})
        return str(seeded["contact_ids"][0])

    def people(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"fields": self._FIELDS, "per_page": 200}
            if token:
                params["page_token"] = token
            body = self.api("GET", "/crm/v8/Contacts", params=params) or {"data": [], "info": {}}
            out.extend(body["data"])
            token = body["info"].get("next_page_token")
            if not token:
                return out

    def expected(self, person: dict[str, Any]) -> tuple[str, list[str], str] | None:
        numbers = [e164(str(person[f])) for f in self._PHONES if person.get(f)]
        found = list(dict.fromkeys(n for n in numbers if n))
        if not found:
            return None
        return str(person["id"]), found, person.get("First_Name") or ""

    def _related(self, person_id: str, related: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": page, "per_page": 200}
            body = self.api("GET", f"/crm/v8/Contacts/{person_id}/{related}", params=params)
            if body is None:
                return out
            out.extend(body["data"])
            if not body["info"]["more_records"]:
                return out
            page += 1

    def notes_for(self, person_id: str) -> list[Note]:
        out: list[Note] = [
            {
                "id": {"note_id": f"call:{c['id']}"},
                "title": c["Subject"],
                "content": c["Description"] or "",
                "record": c,
            }
            for c in self._related(person_id, "Calls")
        ]
        out += [
            {
                "id": {"note_id": f"note:{n['id']}"},
                "title": n["Note_Title"],
                "content": n["Note_Content"],
            }
            for n in self._related(person_id, "Notes")
        ]
        return out

    def stored_title(self, title: str) -> str:
        return " ".join(self._EMOJI.sub("", title).split())

    def call_record_mismatches(self, sim: dict[str, Any], note: Note, media: str) -> list[Any]:
        record, call, cid = note["record"], sim["call"], sim["callId"]
        out: list[Any] = []
        start = record["Call_Start_Time"]
        if abs((_when(start) - _when(call["createdAt"])).total_seconds()) >= 1:
            out.append(("Call_Start_Time", cid, call["createdAt"], start))
        if call.get("duration") is not None:
            seconds = round(call["duration"])
            if record["Call_Duration"] != f"{seconds // 60:02d}:{seconds % 60:02d}":
                out.append(("Call_Duration", cid, call["duration"], record["Call_Duration"]))
        direction = call.get("direction")
        if direction == "outgoing" and record["Call_Type"] != "Outbound":
            out.append(("Call_Type", cid, direction, record["Call_Type"]))
        if (media in note["content"]) != (record["Voice_Recording__s"] is not None):
            out.append(("Voice_Recording__s", cid, record["Voice_Recording__s"]))
        if record.get("Who_Id") is None:
            out.append(("Who_Id", cid))
        return out


DRIVERS: dict[str, type[CrmDriver]] = {
    d.name: d for d in (AttioDriver, PipedriveDriver, ZohoDriver)
}


def driver_for(crm: str, url: str, token: str) -> CrmDriver:
    return DRIVERS[crm](url, token)
