"""Fixtures of the native API tests (the helpers live in native_app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from native_app import Native, build_native

from lorapipe.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def native(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Native]:
    """The app on SQLite and on PostgreSQL, two users (alice, bob) with API keys."""
    yield from build_native(request, tmp_path)


@pytest.fixture
def native_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Native]:
    """The app on SQLite only (for the slower stream and web tests)."""
    yield from build_native(request, tmp_path)


@pytest.fixture
def native_models(
    request: pytest.FixtureRequest, tmp_path: Path, model_settings: Settings
) -> Iterator[Native]:
    """The app on SQLite whose model cache is the session's (tiny models built once per session)."""
    yield from build_native(request, tmp_path, model_settings.resolved_model_cache_dir)
