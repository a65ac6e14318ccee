"""Fixtures of the engine's integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_fixtures import write_arithmetic_dataset


@pytest.fixture(scope="session")
def arithmetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 short arithmetic chats in canonical JSONL (40 conversations)."""
    return write_arithmetic_dataset(tmp_path_factory.mktemp("data") / "arith.jsonl")
