"""Rows the job tests need, built through the real ORM."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lorapipe.jobs.accounts import User
from lorapipe.jobs.ids import new_id
from lorapipe.jobs.records import FileObject, Job
from lorapipe.jobs.states import JobStatus


def make_user(session: Session, name: str | None = None) -> User:
    user = User(id=new_id("user"), name=name or new_id("user"))
    session.add(user)
    session.flush()
    return user


def make_job(session: Session, owner: User, status: JobStatus = JobStatus.QUEUED) -> Job:
    file = FileObject(
        id=new_id("file"),
        owner_id=owner.id,
        filename="d.jsonl",
        purpose="fine-tune",
        bytes=1,
        status="processed",
    )
    session.add(file)
    session.flush()
    # Inserting the initial status is the job's creation, not a transition.
    job = Job(
        id=new_id("job"),
        owner_id=owner.id,
        status=status.value,
        model="tiny",
        training_file=file.id,
        seed=1,
        backend="local",
    )
    session.add(job)
    session.flush()
    return job
