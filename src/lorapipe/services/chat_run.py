"""One admitted chat request after its first event: the worker's remaining events are pumped into a
buffer by a thread of their own, so the worker's turn and the queue place are given back as soon as
the reply is generated, however slowly the client reads it (a stalled reader cannot hold the shared
worker). A client that goes away cancels the reply in the worker."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any

_END = object()


class ChatRun:
    """The reply's events (``delta``... then ``done``), read once with :meth:`all_events`."""

    def __init__(
        self,
        model: str,
        events: Generator[dict[str, Any], None, None],
        first: dict[str, Any],
        release: Callable[[], None],
    ) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model, self.created = model, int(time.time())
        self._events, self._release = events, release
        self._buffer: queue.Queue[Any] = queue.Queue()
        self._buffer.put(first)
        self._gone = threading.Event()
        if first.get("type") == "done":
            self._finish()
        else:
            threading.Thread(target=self._pump, name="chat-pump", daemon=True).start()

    def _pump(self) -> None:
        try:
            for event in self._events:
                self._buffer.put(event)
                if self._gone.is_set():
                    break  # closing the events below cancels the reply in the worker
        except Exception as exc:  # the worker's error (a LorapipeError), or a bug: the reader raises it
            self._buffer.put(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        self._events.close()
        self._release()
        self._buffer.put(_END)

    def all_events(self) -> Iterator[dict[str, Any]]:
        """Every event in order; an ``error`` from the worker is raised as its error."""
        try:
            while (item := self._buffer.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._gone.set()
