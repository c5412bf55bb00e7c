"""CPU seconds spent by process groups and by PostgreSQL, read from /proc (Linux only).

    snap = CpuSnapshot.take({"quo": quo_pid, "serve": serve_pid})
    ...
    used = CpuSnapshot.take({...}).minus(snap)   # {"quo": 12.3, "serve": 4.5, "postgres": 9.8}

A benchmark on a small machine must know who burns the CPU: when the emulators or the bench's
own instruments take most of it, the run measures them, not Switchboard. Every server the
benches start runs in its own session (`start_new_session=True`), so its process group id is its
pid and the group covers any children. PostgreSQL's backends are counted together (`postgres`:
every process of that name, the server's other clients included — on a shared machine that is an
upper bound); so are a Redis server's (`redis`). The bench process itself is `bench` (its proxy
and call streamer threads).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid_dir: Path) -> tuple[str, list[str]] | None:
    try:
        raw = (pid_dir / "stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may hold spaces: split after the last ')'.
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    return comm, raw[raw.rindex(")") + 2 :].split()


@dataclass(frozen=True)
class CpuSnapshot:
    seconds: dict[str, float]

    @classmethod
    def take(cls, groups: dict[str, int]) -> CpuSnapshot:
        by_pgid = {pgid: name for name, pgid in groups.items()}
        out = dict.fromkeys([*groups, "postgres", "redis"], 0.0)
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            parsed = _stat_fields(pid_dir)
            if parsed is None:
                continue
            comm, f = parsed
            # after ')': state ppid pgrp session ... utime(11) stime(12) cutime(13) cstime(14)
            used = (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / _TICK
            name = by_pgid.get(int(f[2]))
            if name is not None:
                out[name] += used
            elif comm == "postgres":
                out["postgres"] += used
            elif comm == "redis-server":
                out["redis"] += used
        own = os.times()
        out["bench"] = own.user + own.system
        return cls(out)

    def minus(self, before: CpuSnapshot) -> dict[str, float]:
        return {k: round(v - before.seconds.get(k, 0.0), 1) for k, v in self.seconds.items()}
