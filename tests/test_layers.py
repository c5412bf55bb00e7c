"""Every top-level module of the product has its place in the layers contract (pyproject.toml),
so a new module cannot slip past import-linter by being left out of it."""

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
