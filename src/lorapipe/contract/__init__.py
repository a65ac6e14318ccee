"""What crosses package and process boundaries, importing no torch: the canonical conversation schema
(:mod:`.conversation`), :class:`~.spec.TrainingJobSpec`, :class:`~.config.TrainingConfig` and its
presets (:mod:`.config`), the engine's event/result schema and exit codes (:mod:`.events`), and the job
status vocabulary (:mod:`.job_states`).

The engine, the services, the API and the RunPod worker import it; it imports nothing of theirs
(only :mod:`lorapipe.errors`).
"""
