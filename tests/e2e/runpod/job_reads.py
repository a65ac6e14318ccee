"""What the RunPod e2e services (serverless and pod) read back from the database: one job, its attempts,
its events, detached from their session so a test can look at them after the next reconciler tick."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db.jobs import Attempt, Job, JobEvent


class JobReads:
    sessions: sessionmaker[Session]

    def job(self, job_id: str) -> Job:
        with self.sessions() as s:
            job = s.get(Job, job_id)
            assert job is not None
            s.expunge(job)
            return job

    def attempts(self, job_id: str) -> list[Attempt]:
        with self.sessions() as s:
            rows = list(s.scalars(select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number)))
            s.expunge_all()
            return rows

    def events(self, job_id: str) -> list[JobEvent]:
        with self.sessions() as s:
            rows = list(s.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.seq)))
            s.expunge_all()
            return rows
