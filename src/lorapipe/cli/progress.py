"""The live progress line a job shows in the terminal (status, step bar, loss, eval loss, ETA), fed with
the engine's metrics events: one implementation for `lorapipe train --watch` (over HTTP) and
`lorapipe jobs watch` (over HTTP or, for an operator, on the database)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class JobProgress:
    """A rich progress display plus the latest step, total, losses and ETA seen in metrics events."""

    def __init__(self, console: Console, status: str = "…") -> None:
        self.shown: dict[str, object] = {}
        self.display = Progress(
            TextColumn("[bold]{task.fields[status]}"),
            BarColumn(),
            TextColumn("step {task.fields[steps]}"),
            TextColumn("loss {task.fields[loss]}  eval {task.fields[eval_loss]}  eta {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task: TaskID = self.display.add_task(
            "job", total=None, status=status, steps="-", loss="-", eval_loss="-", eta="-"
        )

    def apply(self, data: dict[str, object]) -> None:
        """Keep what a metrics event (``data`` of a stored event, or the engine event itself) says."""
        if isinstance(data.get("total_steps"), int):
            self.shown["total"] = data["total_steps"]
        if isinstance(data.get("step"), int):
            self.shown["step"] = data["step"]
        for key in ("loss", "eval_loss"):
            value = data.get(key)
            if isinstance(value, int | float):
                self.shown[key] = f"{value:.4f}"
        eta = data.get("eta_s")
        if isinstance(eta, int | float):
            self.shown["eta"] = f"{int(eta) // 60}:{int(eta) % 60:02d}"

    def show(self, status: str) -> None:
        shown = self.shown
        self.display.update(
            self.task,
            status=status,
            total=_number(shown.get("total")),
            completed=_number(shown.get("step")) or 0,
            steps=f"{shown.get('step', 0)}/{shown.get('total', '?')}",
            loss=shown.get("loss", "-"),
            eval_loss=shown.get("eval_loss", "-"),
            eta=shown.get("eta", "-"),
        )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
