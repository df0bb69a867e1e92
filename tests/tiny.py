"""Tiny deterministic worlds written in code: jitter 0, no check-in delay, explicit absences.

Used by the model-rule tests, whose expected outcomes are worked out by hand in each test's docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.scenario.document import Scenario, build_scenario


def tiny_world(
    tmp: Path,
    clients: list[tuple[str, str, str]],
    absences: list[tuple[str, float, float | str]] | None = None,
    *,
    managers: tuple[str, ...] = ("sepm1",),
    tiers: list[list[str]] | None = None,
    protocol: str = "https",
    groups: list[dict[str, Any]] | None = None,
    runbook: dict[str, Any] | None = None,
    heartbeat_minutes: float = 60.0,
    horizon_days: float = 30.0,
    use_last_server: bool = True,
    extra: dict[str, Any] | None = None,
) -> Scenario:
    """A one-site world; clients are (id, group, version); absences (id, from_hours, until_hours or "")."""
    (tmp / "clients.csv").write_text("client_id,group,version\n" + "".join(f"{c},{g},{v}\n" for c, g, v in clients))
    files: dict[str, Any] = {"clients": "clients.csv"}
    if absences:
        (tmp / "absences.csv").write_text(
            "client_id,offline_from,offline_until\n" + "".join(f"{c},{a},{b}\n" for c, a, b in absences)
        )
        files["absences"] = "absences.csv"
    data: dict[str, Any] = {
        "name": "tiny",
        "horizon_days": horizon_days,
        "sites": [{"name": "hq", "managers": [{"name": m, "restart_minutes": 0} for m in managers]}],
        "msls": [
            {
                "name": "list",
                "protocol": protocol,
                "port": 443 if protocol == "https" else 8014,
                "tiers": tiers or [list(managers)],
            }
        ],
        "groups": groups
        or [
            {"name": "root", "msl": "list", "secure_comms": True, "heartbeat_minutes": heartbeat_minutes},
            {"name": "g", "parent": "root"},
        ],
        "fleet": {
            "files": files,
            "jitter": 0.0,
            "use_last_server": use_last_server,
            "failback_hours": None,
            "presence": {"online_checkin_delay_seconds": 0},
        },
        "runbook": runbook or {"template": "naive"},
    }
    for k, v in (extra or {}).items():
        data[k] = v
    return build_scenario(data, source=str(tmp / "tiny.yaml"), base_dir=tmp)
