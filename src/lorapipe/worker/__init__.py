"""The RunPod serverless worker: a thin handler over the process boundary every backend uses,
``python -m lorapipe.training run SPEC --out DIR [--resume]``.

``python -m lorapipe.worker`` starts it under the runpod SDK (the worker image's entrypoint). The
handler validates the job input (:class:`lorapipe.contract.serverless.ServerlessInput`), points the
base-model cache at the network volume, runs the engine as a child, relays its events with
``progress_update``, and returns the result; a failed run is returned as an error so RunPod marks the
job FAILED. Artifacts and checkpoints go to the object store from the engine itself.
"""
