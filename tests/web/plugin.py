"""Test plugin: dummy processors registered with the handler registry (imported by the test
process and, via SWITCHBOARD_EXTRA_WORKFLOW_MODULES, by worker subprocesses).

Events of type `test.*` on provider `quo`:
- `test.dummy`: counts calls in COUNTS (in-process) and returns processed.
- `test.fail_once`: fails the first time (per event), processed on replay.
- `test.steps`: 5 DBOS steps, each appends a JSON line to $SB_TEST_STEP_LOG (pid, event, step,
  phase start/done); step 3 sleeps $SB_TEST_STEP_SLEEP seconds (the kill window).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

from dbos import DBOS

from switchboard import dispatch, workflows

COUNTS: Counter[str] = Counter()
FAILED_ONCE: set[str] = set()


def _log(event_id: str, step: int, phase: str) -> None:
    path = os.environ.get("SB_TEST_STEP_LOG")
    if not path:
        return
    with open(path, "a") as f:
        f.write(
            json.dumps({"pid": os.getpid(), "event": event_id, "step": step, "phase": phase}) + "\n"
        )
        f.flush()


@DBOS.step(name="test.plugin.step")
async def _step(event_id: str, step: int) -> int:
    import asyncio

    _log(event_id, step, "start")
    if step == 3:
        await asyncio.sleep(float(os.environ.get("SB_TEST_STEP_SLEEP", "0")))
    _log(event_id, step, "done")
    return step


async def dummy(event_id: str) -> Any:
    COUNTS[event_id] += 1
    return workflows.Outcome("processed", None, {"handled_by": "dummy"})


async def fail_once(event_id: str) -> Any:
    if event_id not in FAILED_ONCE:
        FAILED_ONCE.add(event_id)
        raise RuntimeError("transient trouble with secret-looking text")
    return None


async def steps(event_id: str) -> Any:
    for i in range(1, 6):
        await _step(event_id, i)
    return workflows.Outcome("processed", None, {"steps": 5, "finished_by": os.getpid()})


def route(ev: dispatch.InboundEvent) -> dispatch.Dispatch | dispatch.Ignore:
    if ev.event_type == "test.ignore_me":
        return dispatch.Ignore("tests ignore this", {"why": "test"})
    name = {
        "test.dummy": "test.dummy",
        "test.fail_once": "test.fail_once",
        "test.steps": "test.steps",
    }
    return dispatch.Dispatch(name[ev.event_type], "activity", ev.resource_id or ev.id)


def install() -> None:
    workflows.register_processor("test.dummy", dummy)
    workflows.register_processor("test.fail_once", fail_once)
    workflows.register_processor("test.steps", steps)
    for t in ("test.dummy", "test.fail_once", "test.steps", "test.ignore_me"):
        dispatch.register_handler("quo", t, route)


install()
_ = time
