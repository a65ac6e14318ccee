"""``lorapipe adapters``: list, show and download trained adapters, through the service API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lorapipe.cli.client import ApiError, connect
from lorapipe.cli.train import fail

app = typer.Typer(help="Trained adapters (the fine-tuned models).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@app.command("list")
def list_adapters(limit: Annotated[int, typer.Option(min=1, max=100)] = 20) -> None:
    """Your newest adapters (a table on a terminal, tab-separated lines otherwise)."""
    try:
        with connect() as client:
            rows = client.adapters(limit)
    except ApiError as exc:
        raise fail(exc) from None
    lines = [
        (a["id"], a["name"], a["base_model"], a["job_id"], str(a["bytes"]), _loss(a.get("summary") or {}))
        for a in rows
    ]
    if not out.is_terminal:
        for line in lines:
            print("\t".join(line))
        return
    table = Table("id", "name", "base model", "job", "bytes", "eval loss before -> after")
    for line in lines:
        table.add_row(*(escape(c) for c in line))
    out.print(table)


def _loss(summary: dict[str, object]) -> str:
    before, after = summary.get("eval_loss_before"), summary.get("eval_loss_after")
    if isinstance(before, int | float) and isinstance(after, int | float):
        return f"{before:.4f} -> {after:.4f}"
    return ""


@app.command("show")
def show(adapter_id: str) -> None:
    """One adapter as JSON: files, base model, training summary and manifest."""
    try:
        with connect() as client:
            print(json.dumps(client.adapter(adapter_id), indent=2))
    except ApiError as exc:
        raise fail(exc) from None


@app.command("download")
def download(
    adapter_id: str,
    dest: Annotated[Path, typer.Option("--to", help="Folder to write into (created when missing).")] = Path(
        "."
    ),
    file: Annotated[str | None, typer.Option(help="Only this file (e.g. adapter_model.safetensors).")] = None,
    zip_: Annotated[bool, typer.Option("--zip", help="One zip of all files instead of a folder.")] = False,
) -> None:
    """Download an adapter: its files into DEST/<name>/ (default), one file, or a zip."""
    try:
        with connect() as client:
            row = client.adapter(adapter_id)
            safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in row["name"])
            if zip_:
                target = dest / f"{safe}.zip"
                size = client.download(f"/api/adapters/{adapter_id}/download", target)
                out.print(f"{escape(str(target))} ({size} bytes)")
                return
            paths = [file] if file else [f["path"] for f in row["files"]]
            folder = dest / safe
            for path in paths:
                if Path(path).is_absolute() or ".." in Path(path).parts:
                    raise ApiError(0, "unsafe_path", f"the service listed a file outside the adapter: {path}")
                size = client.download(f"/api/adapters/{adapter_id}/files/{path}", folder / path)
                err.print(f"  {escape(path)} ({size} bytes)")
            out.print(str(folder))
    except ApiError as exc:
        raise fail(exc) from None
