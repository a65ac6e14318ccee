"""The allowed-transition table: every listed edge passes, every other edge is rejected.

The expected lifecycle is written out here, in plain strings, not read from ``ALLOWED``: an edge added
to or dropped from the code's table must fail a test.
"""

from __future__ import annotations

import itertools

import pytest

from lorapipe.contract.job_states import ACTIVE, TERMINAL, JobStatus
from lorapipe.errors import InvalidTransitionError
from lorapipe.jobs.states import check_transition

pytestmark = pytest.mark.unit

STATES = [
    "validating_files",
    "queued",
    "provisioning",
    "running",
    "cancelling",
    "succeeded",
    "failed",
    "cancelled",
]
EDGES = {
    "validating_files": {"queued", "failed", "cancelled"},
    "queued": {"provisioning", "failed", "cancelled"},
    # Back to queued: a capacity or system failure retried from the last checkpoint.
    "provisioning": {"running", "queued", "cancelling", "failed", "cancelled"},
    "running": {"queued", "cancelling", "succeeded", "failed"},
    # The run may finish (or crash) before it sees the signal: that outcome is recorded.
    "cancelling": {"cancelled", "succeeded", "failed"},
    "succeeded": set(),
    "failed": set(),
    "cancelled": set(),
}
ALL_PAIRS = list(itertools.product(STATES, STATES))
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in EDGES[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in EDGES[a]]


def test_the_status_vocabulary_is_the_documented_one() -> None:
    assert [s.value for s in JobStatus] == STATES
    assert {s.value for s in TERMINAL} == {"succeeded", "failed", "cancelled"}
    assert {s.value for s in ACTIVE} == set(STATES) - {"succeeded", "failed", "cancelled"}


@pytest.mark.parametrize(("src", "dst"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_transition_accepted(src: str, dst: str) -> None:
    assert check_transition(src, dst) == (JobStatus(src), JobStatus(dst))


@pytest.mark.parametrize(("src", "dst"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_rejected(src: str, dst: str) -> None:
    with pytest.raises(InvalidTransitionError) as info:
        check_transition(JobStatus(src), JobStatus(dst))
    assert info.value.http_status == 409
    assert src in info.value.message and dst in info.value.message


def test_unknown_status_rejected() -> None:
    with pytest.raises(InvalidTransitionError):
        check_transition("completed", "failed")
