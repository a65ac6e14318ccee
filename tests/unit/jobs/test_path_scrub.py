"""Job errors and reasons say what failed without server paths, store URLs or object keys."""

from __future__ import annotations

import pytest

from lorapipe.jobs.path_scrub import scrub_paths


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "FileNotFoundError: [Errno 2] No such file or directory: '/srv/lorapipe/objects/datasets/ds-1/x.jsonl'",
            "FileNotFoundError: [Errno 2] No such file or directory: 'x.jsonl'",
        ),
        (
            "could not start the engine: /usr/bin/python3.11 -m x",
            "could not start the engine: python3.11 -m x",
        ),
        ("no object in file:///home/ann/.lorapipe/objects", "no object in objects"),
        ("cannot read s3://bucket/runs/ftjob-1/attempt-2/adapter/manifest.json", "cannot read manifest.json"),
        ("missing datasets/ds-abc/canonical.jsonl", "missing canonical.jsonl"),
        ("checkpoint runs/ftjob-1/checkpoints/step-8 is gone", "checkpoint step-8 is gone"),
    ],
)
def test_paths_become_their_last_name(raw: str, shown: str) -> None:
    assert scrub_paths(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "CUDA out of memory: tried to allocate 2.00 GiB",
        "the engine exited with code 1",
        "loss went to nan at step 3/8 (and/or the learning rate is too high)",
        "see https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
        "model Qwen/Qwen3-8B is not cached",
    ],
)
def test_other_text_is_left_alone(text: str) -> None:
    assert scrub_paths(text) == text
