"""The step that turns finished work into what owners see: cost lines (and budget notifications),
notifications for ended jobs and validated datasets, and webhook deliveries; and the step that removes
a deleted dataset's objects once the last job that needed them has ended.

Call :meth:`OutboxWorker.tick` from the reconciler loop, or run :meth:`OutboxWorker.run` in its own
thread (webhook receivers can be slow: a separate thread keeps them from delaying job supervision).
Every part is idempotent and safe with several workers on one database.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db.engine import session_scope
from lorapipe.estimate.catalogue import GpuCatalogue, load_catalogue
from lorapipe.services.costs import record_pending_costs
from lorapipe.services.datasets import purge_deleted_datasets
from lorapipe.services.notifications import notify_dataset_outcomes, notify_finished_jobs
from lorapipe.services.webhook_delivery import DeliveryPolicy, deliver_due
from lorapipe.services.webhook_targets import webhook_client
from lorapipe.storage import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickCounts:
    cost_lines: int
    notifications: int
    webhook_tries: int


class OutboxWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        delivery: DeliveryPolicy | None = None,
        catalogue: GpuCatalogue | None = None,
        client: httpx.Client | None = None,
        interval_s: float = 1.0,
        objects: ObjectStore | None = None,
    ) -> None:
        self.sessions = sessions
        #: Where deleted datasets' objects are removed once their last unfinished job has ended.
        self.objects = objects
        self.delivery = delivery or DeliveryPolicy()
        self.catalogue = catalogue or load_catalogue()
        # No redirects and no proxies: a delivery goes to the address its check approved, or fails.
        self.client = client or webhook_client()
        self.interval_s = interval_s

    def tick(self) -> TickCounts:
        """One pass: costs, then notifications, then the webhook deliveries they queued, then the
        objects of deleted datasets that no unfinished job needs any more (jobs end between ticks)."""
        with session_scope(self.sessions) as s:
            lines = record_pending_costs(s, catalogue=self.catalogue)
        with session_scope(self.sessions) as s:
            made = notify_finished_jobs(s)
        with session_scope(self.sessions) as s:
            made += notify_dataset_outcomes(s)
        tries = deliver_due(self.sessions, self.client, self.delivery)
        if self.objects is not None:
            with session_scope(self.sessions) as s:
                purge_deleted_datasets(s, self.objects)
        return TickCounts(lines, made, tries)

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, then close the HTTP client; a failed tick is logged and
        retried on the next one."""
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # the loop must outlive a bad row or a flaky database
                    log.exception("outbox tick failed")
                stop.wait(self.interval_s)
        finally:
            self.close()

    def close(self) -> None:
        self.client.close()
