"""Fixtures of the engine's process-level tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_process import write_dataset


@pytest.fixture(scope="session")
def engine_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 short arithmetic chats in canonical JSONL."""
    return write_dataset(tmp_path_factory.mktemp("engine-data") / "arith.jsonl")
