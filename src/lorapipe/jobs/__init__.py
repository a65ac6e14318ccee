"""The job domain: allowed status transitions, the one function that changes a job's status, the store
(queries and writes of jobs, attempts, events), event ingestion and artifact verification.

The rows themselves are in :mod:`lorapipe.db.jobs`; the status vocabulary in
:mod:`lorapipe.contract.job_states`.
"""
