"""The shape of the code, checked: every top-level module has its place in the layers contract
(pyproject.toml), so none slips past import-linter; a CRM is named only by its own packages;
modules stay small enough to read unless they say why not."""

from __future__ import annotations

import tomllib
from pathlib import Path

import switchboard

#: Not layered on purpose: the package's own entry points and the emulators (kept out of the
#: product by their own "forbidden" contracts).
UNLAYERED = {"__init__", "__main__", "emulators"}


def _layered() -> set[str]:
    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return {m.strip().removeprefix("switchboard.") for layer in layers for m in layer.split("|")}


def test_every_top_level_module_is_in_a_layer() -> None:
    package = Path(switchboard.__file__).parent
    modules = {
        p.stem if p.is_file() else p.name
        for p in package.iterdir()
        if (p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").exists())
    }
    missing = modules - _layered() - UNLAYERED
    assert not missing, f"add these to the layers contract in pyproject.toml: {sorted(missing)}"
    stale = _layered() - modules
    assert not stale, f"the layers contract names modules that do not exist: {sorted(stale)}"


SRC = Path(switchboard.__file__).parent
#: A module longer than this says why in a line starting "Long because:" (emulator state may
#: be long without saying so: it mirrors a provider's whole resource model).
MAX_LINES = 620


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_a_crm_is_named_only_by_its_own_packages() -> None:
    from switchboard.crm import registry

    crms = [p.name for p in registry.all_providers()]
    assert {"attio", "pipedrive"} <= set(crms)
    offenders = [
        f"{path.relative_to(SRC)} names {crm}"
        for path in _modules()
        for crm in crms
        if crm in path.read_text().lower()
        and not path.is_relative_to(SRC / "crm" / crm)
        and not path.is_relative_to(SRC / "emulators" / crm)
    ]
    assert not offenders, offenders


def test_modules_are_small_or_say_why() -> None:
    long = [
        f"{path.relative_to(SRC)}: {n} lines"
        for path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
        and not path.is_relative_to(SRC / "emulators")
        and "Long because:" not in path.read_text()
    ]
    assert not long, f"split these or say why (a line starting 'Long because:'): {long}"
