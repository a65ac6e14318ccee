"""``lorapipe demo`` end to end (slow: several minutes on 2 CPU cores): SmolLM2-135M-Instruct on the
EQ-12 subset through the embedded service; validation loss falls, and both replies are shown."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from cli_env import base_env
from live_service import LORAPIPE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_trains_an_adapter_that_lowers_validation_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = base_env(tmp_path / "data")
    started = time.monotonic()
    done = subprocess.run([*LORAPIPE, "demo"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    text = done.stdout
    loss = re.search(r"validation loss: before ([\d.]+) -> after ([\d.]+).*", text)
    assert loss is not None, text[-4000:]
    with capsys.disabled():  # CI's log shows what the demo achieved, not only that it passed
        print(f"\nlorapipe demo ({time.monotonic() - started:.0f} s): {loss.group(0).strip()}")
    assert float(loss.group(2)) < float(loss.group(1))
    assert "base model" in text and "with the adapter" in text
    folder = Path(re.search(r"files: (\S+)", text).group(1))  # type: ignore[union-attr]
    assert (folder / "adapter_model.safetensors").stat().st_size > 0
    assert folder.is_relative_to(tmp_path / "data")  # the demo writes under the configured data dir
