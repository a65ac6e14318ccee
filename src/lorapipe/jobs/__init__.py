"""Jobs: states and allowed transitions, ORM rows, the event log and the store.

Importing this package registers every job-service table on :data:`lorapipe.db.Base.metadata`.
"""

import lorapipe.db.datasets  # noqa: F401  (files.dataset_id references datasets.id)
from lorapipe.jobs import accounts, outbox, records
from lorapipe.jobs.states import TERMINAL, JobStatus

__all__ = ["TERMINAL", "JobStatus", "accounts", "outbox", "records"]
