"""``python -m lorapipe.worker``: the worker image's entrypoint. Logs the start-up check, registers it as
a RunPod fitness check, and starts the handler under the runpod SDK (which reads RunPod's ``RUNPOD_*``
variables, or ``--rp_serve_api`` for its local test server)."""

from __future__ import annotations

import logging
import sys

from lorapipe.settings import get_settings
from lorapipe.worker import fitness
from lorapipe.worker.handler import handle

log = logging.getLogger("lorapipe.worker")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    found = fitness.check(settings)
    log.info(found.line(settings))
    problems = found.problems(settings)
    for problem in problems:
        log.error("not fit to train: %s", problem)

    import runpod

    @runpod.serverless.register_fitness_check
    def lorapipe_fitness() -> None:
        if problems:
            raise RuntimeError("; ".join(problems))

    # refresh_worker: a fresh process (and GPU memory) for every job.
    runpod.serverless.start({"handler": handle, "refresh_worker": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
