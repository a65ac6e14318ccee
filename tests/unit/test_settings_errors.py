"""Settings come from LORAPIPE_* variables and .env; errors carry stable codes and map to builtins."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorapipe import errors
from lorapipe.settings import Settings

pytestmark = pytest.mark.unit


def test_defaults_live_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LORAPIPE_DATA_DIR", str(tmp_path))
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.resolved_database_url == f"sqlite:///{tmp_path}/lorapipe.db"
    assert s.resolved_storage_url == (tmp_path / "objects").as_uri()
    assert s.resolved_model_cache_dir == tmp_path / "models"


def test_env_file_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("LORAPIPE_DATABASE_URL=postgresql+psycopg://u@h/db\nLORAPIPE_MAX_UPLOAD_BYTES=1024\n")
    monkeypatch.setenv("LORAPIPE_MAX_UPLOAD_BYTES", "2048")  # the environment wins over .env
    s = Settings(_env_file=env)  # type: ignore[call-arg]
    assert s.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert s.max_upload_bytes == 2048


def test_bad_setting_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAPIPE_MAX_UPLOAD_BYTES", "0")
    with pytest.raises(ValueError, match="max_upload_bytes"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_error_codes_are_unique_and_errors_are_builtins_too() -> None:
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.LorapipeError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), sorted(codes)
    e = errors.ModelNotFoundError("no such model", param="base_model", hint="check the path")
    assert isinstance(e, FileNotFoundError) and e.http_status == 404
    assert e.to_dict() == {
        "code": "model_not_found",
        "message": "no such model",
        "param": "base_model",
        "kind": "user",
        "hint": "check the path",
    }
    assert isinstance(errors.ConfigError("x"), ValueError)
    assert errors.CapacityError("x").kind == "capacity"
