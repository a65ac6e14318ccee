"""The allowed-transition table: every listed edge passes, every other edge is rejected."""

from __future__ import annotations

import itertools

import pytest

from lorapipe.contract.job_states import ACTIVE, TERMINAL, JobStatus
from lorapipe.errors import InvalidTransitionError
from lorapipe.jobs.states import ALLOWED, check_transition

pytestmark = pytest.mark.unit

ALL_PAIRS = list(itertools.product(JobStatus, JobStatus))
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in ALLOWED[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED[a]]


def test_table_covers_every_state_and_terminal_states_are_dead_ends() -> None:
    assert set(ALLOWED) == set(JobStatus)
    assert TERMINAL == {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
    assert all(not ALLOWED[s] for s in TERMINAL)
    assert ACTIVE | TERMINAL == set(JobStatus)


@pytest.mark.parametrize(("src", "dst"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_transition_accepted(src: JobStatus, dst: JobStatus) -> None:
    assert check_transition(src.value, dst.value) == (src, dst)


@pytest.mark.parametrize(("src", "dst"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_rejected(src: JobStatus, dst: JobStatus) -> None:
    with pytest.raises(InvalidTransitionError) as info:
        check_transition(src, dst)
    assert info.value.http_status == 409
    assert src.value in info.value.message and dst.value in info.value.message


def test_no_self_loops_and_success_only_after_running() -> None:
    assert all(s not in ALLOWED[s] for s in JobStatus)
    # Success can only be reported for a job whose process actually ran.
    assert {s for s in JobStatus if JobStatus.SUCCEEDED in ALLOWED[s]} == {
        JobStatus.RUNNING,
        JobStatus.CANCELLING,
    }


def test_unknown_status_rejected() -> None:
    with pytest.raises(InvalidTransitionError):
        check_transition("completed", "failed")
