"""Fixtures of the engine's process-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_process import engine_env, write_dataset

from lorapipe.backends.warm_engine import WarmEngine
from lorapipe.settings import Settings


@pytest.fixture(scope="session")
def engine_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 short arithmetic chats in canonical JSONL."""
    return write_dataset(tmp_path_factory.mktemp("engine-data") / "arith.jsonl")


@pytest.fixture(scope="session")
def warm_engine(model_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmEngine]:
    """One zygote for the session (the local backend's warm engine), with the engine's environment."""
    engine = WarmEngine(tmp_path_factory.mktemp("warm") / "zygote.log", engine_env(model_settings))
    engine.start()
    yield engine
    engine.stop()


@pytest.fixture(params=["cold", "warm"])
def launch(request: pytest.FixtureRequest) -> WarmEngine | None:
    """How ``run_engine`` starts the engine: a fresh ``python -m lorapipe.training`` (None), or forked
    by the warm engine."""
    return request.getfixturevalue("warm_engine") if request.param == "warm" else None
