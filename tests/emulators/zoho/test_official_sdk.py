"""Zoho's official Python SDK for the v8 API (`zohocrmsdk8-0`, not a project dependency: the
test is skipped where it is not installed) talks to the emulator: it reads the current user, the
org and the field metadata first, then creates, lists and searches records — and refuses a
picklist value the metadata does not list before sending anything."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("zohocrmsdk")

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore
from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.dc import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.exception import SDKException
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.record import (
    ActionWrapper,
    BodyWrapper,
    GetRecordsParam,
    Record,
    RecordOperations,
    SearchRecordsParam,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.util import Choice

from switchboard.emulators.common import ServerThread, run_in_thread
from switchboard.emulators.zoho import ZohoEmulator, create_app

TOKEN = "1000.official-sdk"


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[ZohoEmulator, ServerThread]]:
    emu = ZohoEmulator(token=TOKEN, seed=2)
    with run_in_thread(create_app(emu)) as srv, tempfile.TemporaryDirectory() as tmp:
        Initializer.initialize(
            environment=DataCenter.Environment(srv.url, srv.url + "/oauth/v2/token", srv.url),
            token=OAuthToken(access_token=TOKEN),
            store=FileStore(tmp + "/tokens.txt"),
            sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=True),
            resource_path=tmp,
        )
        yield emu, srv


def _create(module: str, **values: Any) -> str:
    record = Record()
    for key, value in values.items():
        record.add_key_value(key, value)
    body = BodyWrapper()
    body.set_data([record])
    resp = RecordOperations(module).create_records(body, HeaderMap())
    assert resp.get_status_code() == 201
    wrapper = resp.get_object()
    assert isinstance(wrapper, ActionWrapper)
    item = wrapper.get_data()[0]
    assert isinstance(item, SuccessResponse), vars(item)
    return str(item.get_details()["id"])


def test_sdk_reads_metadata_then_writes_and_searches(
    emulator: tuple[ZohoEmulator, ServerThread],
) -> None:
    emu, _ = emulator
    cid = _create("Contacts", Last_Name="Lovelace", First_Name="Ada", Mobile="+14155550134")
    params = ParameterMap()
    params.add(GetRecordsParam.fields, "Last_Name,Mobile")
    listed = RecordOperations("Contacts").get_records(params, HeaderMap()).get_object()
    assert [(str(r.get_id()), r.get_key_value("Mobile")) for r in listed.get_data()] == [
        (cid, "+14155550134")
    ]
    search = ParameterMap()
    search.add(SearchRecordsParam.phone, "14155550134")
    found = RecordOperations("Contacts").search_records(search, HeaderMap()).get_object()
    assert [str(r.get_id()) for r in found.get_data()] == [cid]

    call_id = _create(
        "Calls",
        Subject="Inbound call with Ada",
        Call_Type=Choice("Inbound"),
        Call_Start_Time=datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
        Call_Duration="03:25",
    )
    assert emu.default_org.records["Calls"][call_id].values["Call_Type"] == "Inbound"
    first_paths = [e.path for e in emu.log.entries()][:3]
    assert first_paths[:2] == ["/crm/v8/users", "/crm/v8/org"]
    assert "/crm/v8/settings/fields" in [e.path for e in emu.log.entries()]

    sent = len(emu.log.entries())
    with pytest.raises(SDKException):
        _create(
            "Calls",
            Subject="x",
            Call_Type=Choice("Voicemail"),
            Call_Start_Time=datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
        )
    assert len(emu.log.entries()) == sent  # refused client-side, from the field metadata
