"""Dashboard totals, computed by the database over ALL of the caller's rows (never one page)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lorapipe.contract.job_states import ACTIVE, JobStatus
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.db.jobs import Adapter, Job


class DatasetTotals(BaseModel):
    total: int
    by_status: dict[DatasetStatus, int] = Field(description="Every status, 0 included.")
    examples: int = Field(description="Examples in ready datasets.")
    bytes: int = Field(description="Bytes of ready datasets.")


class JobTotals(BaseModel):
    total: int
    active: int = Field(description="Jobs not yet in a terminal status.")
    by_status: dict[JobStatus, int] = Field(description="Every status, 0 included.")
    trained_tokens: int


class AdapterTotals(BaseModel):
    total: int
    bytes: int


class DashboardStats(BaseModel):
    object: Literal["dashboard.stats"] = "dashboard.stats"
    datasets: DatasetTotals
    jobs: JobTotals
    adapters: AdapterTotals


def dashboard_stats(session: Session, owner_id: str) -> DashboardStats:
    """Counts by status, examples in ready datasets, bytes stored, trained tokens, adapters."""
    live = (Dataset.owner_id == owner_id, Dataset.deleted_at.is_(None))
    by_status = dict(
        session.execute(select(Dataset.status, func.count()).where(*live).group_by(Dataset.status)).all()
    )
    examples, stored = session.execute(
        select(
            func.coalesce(func.sum(Dataset.statistics["examples"].as_integer()), 0),
            func.coalesce(func.sum(Dataset.size_bytes), 0),
        ).where(*live, Dataset.status == DatasetStatus.READY.value)
    ).one()
    jobs = dict(
        session.execute(
            select(Job.status, func.count()).where(Job.owner_id == owner_id).group_by(Job.status)
        ).all()
    )
    trained = session.scalar(
        select(func.coalesce(func.sum(Job.trained_tokens), 0)).where(Job.owner_id == owner_id)
    )
    adapters, adapter_bytes = session.execute(
        select(func.count(), func.coalesce(func.sum(Adapter.size_bytes), 0)).where(
            Adapter.owner_id == owner_id, Adapter.deleted_at.is_(None)
        )
    ).one()
    return DashboardStats(
        datasets=DatasetTotals(
            total=sum(by_status.values()),
            by_status={s: int(by_status.get(s.value, 0)) for s in DatasetStatus},
            examples=int(examples),
            bytes=int(stored),
        ),
        jobs=JobTotals(
            total=sum(jobs.values()),
            active=sum(int(jobs.get(s.value, 0)) for s in ACTIVE),
            by_status={s: int(jobs.get(s.value, 0)) for s in JobStatus},
            trained_tokens=int(trained or 0),
        ),
        adapters=AdapterTotals(total=int(adapters), bytes=int(adapter_bytes)),
    )
