"""``lorapipe users disable``, ``lorapipe keys list`` and ``lorapipe train --help`` as an operator runs
them (in-process on a real SQLite data dir)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lorapipe.backends.registry import BACKENDS
from lorapipe.cli.jobs import open_database
from lorapipe.cli.main import app
from lorapipe.db import session_scope
from lorapipe.db.accounts import ApiKey
from lorapipe.errors import AuthError
from lorapipe.services import accounts
from lorapipe.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LORAPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LORAPIPE_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_keys_list_shows_everything_but_the_secret(cli: CliRunner) -> None:
    assert cli.invoke(app, ["users", "create", "ann"]).exit_code == 0
    assert cli.invoke(app, ["users", "create", "bob"]).exit_code == 0
    made = cli.invoke(app, ["keys", "create", "--user", "ann", "--name", "laptop"])
    secret = made.stdout.strip().splitlines()[-1]
    with session_scope(open_database()) as s:
        ann_key = s.scalars(select(ApiKey)).one()
        accounts.create_api_key(s, accounts.find_user(s, "bob"), "ci")
    assert cli.invoke(app, ["keys", "revoke", ann_key.id]).exit_code == 0

    listed = cli.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert ann_key.id in listed.output and secret[:10] in listed.output and "laptop" in listed.output
    lines = {line.split()[1]: line for line in listed.output.splitlines() if "key-" in line}
    assert len(re.findall(r"\d{4}-\d\d-\d\dT", lines[ann_key.id])) == 2  # created and revoked
    assert "ci" in listed.output
    assert secret not in listed.output
    only_bob = cli.invoke(app, ["keys", "list", "--user", "bob"])
    assert only_bob.exit_code == 0 and ann_key.id not in only_bob.output and "ci" in only_bob.output
    nobody = cli.invoke(app, ["keys", "list", "--user", "carol"])
    assert nobody.exit_code == 2 and "not_found" in nobody.output


def test_users_disable_refuses_the_users_keys(cli: CliRunner) -> None:
    assert cli.invoke(app, ["users", "create", "ann"]).exit_code == 0
    secret = cli.invoke(app, ["keys", "create", "--user", "ann"]).stdout.strip().splitlines()[-1]
    with session_scope(open_database()) as s:
        assert accounts.authenticate(s, f"Bearer {secret}").name == "ann"
    disabled = cli.invoke(app, ["users", "disable", "ann"])
    assert disabled.exit_code == 0, disabled.output
    with session_scope(open_database()) as s, pytest.raises(AuthError):
        accounts.authenticate(s, f"Bearer {secret}")
    row = next(line for line in cli.invoke(app, ["users", "list"]).output.splitlines() if " ann " in line)
    assert len(re.findall(r"\d{4}-\d\d-\d\dT", row)) == 2  # created and disabled
    assert cli.invoke(app, ["users", "disable", "carol"]).exit_code == 2


def test_train_help_lists_only_real_backends(cli: CliRunner) -> None:
    shown = cli.invoke(app, ["train", "--help"])
    assert shown.exit_code == 0
    text = " ".join(shown.output.split())
    for name in BACKENDS:
        assert name in text
    assert "--gpus" in text
    assert cli.invoke(app, ["train", "x.jsonl", "--gpus", "9"]).exit_code == 2  # 1..8, as the spec allows
