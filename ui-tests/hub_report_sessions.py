"""Session lines for the report page's UI test: 90 days of a small teaching hub.

Written in the import format (`python -m jupyter_usage.hub import`): one session per line,
as a single-user server POSTs it, plus `user`. Seeded, so every run draws the same hub;
times end now, so the page's default window is full. Three servers are still running.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

GIB = 2**30
DAY = 86400.0
GROUPS = {
    "physics": ("ada", "alice", "bob", "carol", "dan", "erin", "frank", "grace"),
    "biology": ("heidi", "ivan", "judy", "mallory", "niaj", "olivia"),
    "chemistry": ("peggy", "rupert", "sybil", "trent", "victor"),
    "staff": ("ada", "walter"),
}
PROFILES = {
    "small": {"cpu_limit_cores": 1.0, "memory_limit_bytes": 2 * GIB, "server_hour": 0.02},
    "medium": {"cpu_limit_cores": 2.0, "memory_limit_bytes": 4 * GIB, "server_hour": 0.05},
    "large": {"cpu_limit_cores": 4.0, "memory_limit_bytes": 16 * GIB, "server_hour": 0.18},
}
RUNNING = ("alice", "heidi", "peggy")


def users() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for group, members in GROUPS.items():
        for member in members:
            found.setdefault(member, []).append(group)
    return found


def session(
    rng: random.Random,
    user: str,
    groups: list[str],
    started: float,
    length: float,
    *,
    running: bool = False,
) -> dict[str, Any]:
    profile = (
        rng.choice(("small", "small", "medium", "large"))
        if "physics" in groups
        else (rng.choice(("small", "medium")))
    )
    spec = PROFILES[profile]
    busy = rng.uniform(0.15, 0.8)
    cores = spec["cpu_limit_cores"]
    memory = spec["memory_limit_bytes"]
    peak_memory = int(memory * min(1.0, rng.uniform(0.2, 1.05)))
    cost = length / 3600 * spec["server_hour"] * (1 + busy)
    body: dict[str, Any] = {
        "user": user,
        "id": f"{user}-{int(started)}",
        "started": started,
        "ended": None if running else started + length,
        "ended_by": None if running else rng.choice(("stop", "culler", "stop")),
        "last_checkpoint": started + length,
        "duration_seconds": length,
        "totals": {
            "duration_seconds": length,
            "idle_seconds": length * (1 - busy),
            "cpu_core_seconds": length * cores * busy * 0.4,
            "memory_byte_seconds": length * peak_memory * 0.6,
            "gpu_seconds": length if profile == "large" and rng.random() < 0.3 else 0.0,
            "peak_cpu_cores": round(cores * rng.uniform(0.3, 1.0), 2),
            "peak_memory_bytes": peak_memory,
            "oom_kills": 1 if peak_memory >= memory and rng.random() < 0.5 else 0,
        },
        "cost": {"currency": "EUR", "total": round(cost, 4), "basis": "max"},
        "meta": {
            "groups": groups,
            "profile": profile,
            "limits": {"cpu_limit_cores": cores, "memory_limit_bytes": memory},
        },
    }
    return body


def generate(now: float, days: int = 90, seed: int = 13) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    lines = []
    today = now - now % DAY
    for user, groups in users().items():
        keen = rng.uniform(0.2, 0.9)
        for day in range(days, 0, -1):
            start_of_day = today - day * DAY
            weekday = int((start_of_day // DAY + 3) % 7)  # 0 = Monday
            chance = keen * (0.25 if weekday >= 5 else 1.0)
            if rng.random() > chance:
                continue
            # Classes in the morning, homework in the evening (UTC).
            hour = rng.choice((8, 9, 9, 10, 13, 14, 19, 20))
            started = start_of_day + hour * 3600 + rng.uniform(0, 3000)
            length = rng.uniform(0.3, 4.0) * 3600
            if started + length < now - 600:
                lines.append(session(rng, user, groups, started, length))
        if user in RUNNING:
            started = now - rng.uniform(1, 3) * 3600
            lines.append(session(rng, user, groups, started, now - 120 - started, running=True))
    return lines


def main() -> None:
    path = Path(sys.argv[1])
    lines = generate(time.time())
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    print(f"{len(lines)} sessions written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
