"""The one-line messages /v1 job events carry for each engine event type."""

from __future__ import annotations

from lorapipe.contract.events import parse_event
from lorapipe.jobs.ingest import _message


def test_a_distributed_event_says_how_many_processes_which_mode_and_why() -> None:
    event = {
        "seq": 3,
        "type": "distributed",
        "time": "2026-12-02T12:00:00Z",
        "mode": "fsdp",
        "world_size": 2,
        "gpus_requested": 2,
        "reason": "weights need 61 GiB, one GPU has 80 GiB: split across 2",
    }
    parse_event(event)  # the engine's contract accepts it
    assert _message(event) == (
        "message",
        "Training on 2 process(es), fsdp: weights need 61 GiB, one GPU has 80 GiB: split across 2",
    )
