"""A RunPod job that its worker's death made RunPod run again is one attempt with two worker runs: each
run's events keep their own numbers apart in the attempt's (runpod_answers.renumbered)."""

from __future__ import annotations

from typing import Any

import pytest

from lorapipe.backends.runpod_answers import renumbered

pytestmark = pytest.mark.unit


def run_events(run: str | None, seqs: range) -> list[dict[str, Any]]:
    tag = {"run": run} if run is not None else {}
    return [{"type": "metrics", "step": s, "seq": s, **tag} for s in seqs]


def test_a_rerun_on_a_fresh_disk_is_numbered_after_what_was_seen() -> None:
    runs, first = renumbered({}, 0, run_events("a", range(1, 8)))
    assert runs == {"a": 0} and [e["seq"] for e in first] == list(range(1, 8))
    assert all("run" not in e for e in first)  # the tag is the worker's, not an event field
    # The replacement's engine numbers from 1 again: after the 7 already seen, not on top of them.
    runs, second = renumbered(runs, 7, run_events("b", range(1, 4)))
    assert runs == {"a": 0, "b": 7}
    assert [e["seq"] for e in second] == [8, 9, 10] and [e["step"] for e in second] == [1, 2, 3]
    # Read again (the stored log of both runs at the end): the same numbers, so nothing is new twice.
    runs, again = renumbered(runs, 10, [*run_events("a", range(1, 8)), *run_events("b", range(1, 4))])
    assert runs == {"a": 0, "b": 7} and [e["seq"] for e in again] == list(range(1, 11))


def test_a_run_first_met_in_a_list_comes_after_the_events_before_it() -> None:
    events = [*run_events("a", range(1, 6)), *run_events("b", range(1, 3))]
    runs, out = renumbered({}, 0, events)
    assert runs == {"a": 0, "b": 5} and [e["seq"] for e in out] == [1, 2, 3, 4, 5, 6, 7]


def test_untagged_events_of_an_older_worker_keep_their_numbers() -> None:
    runs, out = renumbered({}, 3, [*run_events(None, range(4, 6)), {"type": "stage"}])
    assert runs == {} and [e["seq"] for e in out] == [4, 5]  # an event without a seq is dropped
