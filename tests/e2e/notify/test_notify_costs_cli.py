"""``lorapipe costs show|budget`` as a user runs them: a real process on a real SQLite database."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.costs import CostRecord
from lorapipe.db.ids import new_id
from lorapipe.services.accounts import find_user

pytestmark = pytest.mark.e2e


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lorapipe.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_costs_show_csv_and_budget(tmp_path: Path) -> None:
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(tmp_path / "data")}
    env.pop("LORAPIPE_DATABASE_URL", None)
    assert _cli(env, "users", "create", "erin").returncode == 0
    engine = create_engine_for(f"sqlite:///{tmp_path / 'data' / 'lorapipe.db'}")
    with session_scope(make_sessionmaker(engine)) as s:
        owner = find_user(s, "erin").id
        for day, usd in ((3, "1.5"), (5, "2.25"), (6, "9.0")):
            at = dt.datetime(2026, 10, day, 23, 30, tzinfo=dt.UTC)
            s.add(
                CostRecord(
                    id=new_id("cost"),
                    owner_id=owner,
                    kind="compute",
                    seconds=60,
                    usd=Decimal(usd),
                    created_at=at,
                )
            )
    engine.dispose()

    shown = _cli(env, "costs", "show", "-u", "erin", "--start", "2026-10-01", "--end", "2026-10-05")
    assert shown.returncode == 0, shown.stderr
    assert "3.7500" in shown.stdout and "2026-10-05" in shown.stdout and "2026-10-06" not in shown.stdout
    csv = _cli(env, "costs", "show", "-u", "erin", "--start", "2026-10-05", "--end", "2026-10-06", "--csv")
    assert [line.split(",")[2] for line in csv.stdout.splitlines()[1:]] == ["2026-10-05", "2026-10-06"]

    budget = _cli(env, "costs", "budget", "-u", "erin", "--set", "20")
    assert budget.returncode == 0 and "of $20.00" in budget.stdout
    bad = _cli(env, "costs", "show", "-u", "erin", "--start", "2026-10-09", "--end", "2026-10-01")
    assert bad.returncode == 1 and "after" in bad.stderr
