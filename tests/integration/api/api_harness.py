"""What the API tests share: the app under test with two users, and the EQ-12 sample."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from lorapipe.settings import Settings

EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


@dataclass
class Api:
    client: TestClient
    settings: Settings
    alice: dict[str, str]
    bob: dict[str, str]
