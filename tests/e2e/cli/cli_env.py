"""The environment a CLI test runs ``lorapipe`` in."""

from __future__ import annotations

import os
from pathlib import Path


def base_env(data_dir: Path) -> dict[str, str]:
    """The test process's environment on a fresh data dir, with no service configured."""
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    for name in ("LORAPIPE_DATABASE_URL", "LORAPIPE_API_URL", "LORAPIPE_API_KEY", "LORAPIPE_STORAGE_URL"):
        env.pop(name, None)
    return env
