"""The inference worker: chat replies from a base model and its LoRA adapters, in a child process.

Started only as ``python -m lorapipe.inference CONFIG_JSON`` (torch, transformers and peft live here,
never in the web process). It reads requests as JSON lines on stdin and answers with JSON lines on
stdout; :mod:`lorapipe.services.chat_worker` is the other end. See :mod:`lorapipe.contract.inference`.
"""
