"""``lorapipe adapters``: list, show and download trained adapters (through the service API), evaluate
one against its base, and check one for serving with vLLM."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lorapipe.cli.client import ApiError, connect
from lorapipe.cli.train import fail, follow

if TYPE_CHECKING:
    from lorapipe.services.adapter_check import AdapterCheck

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


def _vllm_check(adapter: str, max_lora_rank: int | None) -> tuple[AdapterCheck, str]:
    """The vLLM check of a local adapter folder or of an adapter on the service, and its name."""
    from lorapipe.services.adapter_check import check_folder

    if Path(adapter).is_dir():
        return check_folder(Path(adapter), max_lora_rank=max_lora_rank), Path(adapter).resolve().name
    with connect() as client, tempfile.TemporaryDirectory() as tmp:
        row = client.adapter(adapter)
        folder = Path(tmp) / "".join(c if c.isalnum() or c in "._-" else "-" for c in row["name"])
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            client.download(f"/api/adapters/{adapter}/files/{name}", folder / name)
        # The command names the folder `lorapipe adapters download` writes, not this copy.
        report = check_folder(folder, name=row["name"], path=f"./{folder.name}", max_lora_rank=max_lora_rank)
        return report, str(row["name"])


@app.command("check")
def check(
    adapter: Annotated[str, typer.Argument(help="An adapter id on the service, or a local adapter folder.")],
    target: Annotated[str, typer.Option("--for", help="Serving engine to check for (vllm).")] = "vllm",
    max_lora_rank: Annotated[
        int | None,
        typer.Option(help="The --max-lora-rank the vLLM server runs with (default: what it needs)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Will this adapter load in vLLM? Each check with its reason, then the `vllm serve` command.
    Exit code 1 when it will not."""
    from lorapipe.errors import LorapipeError

    if target != "vllm":
        err.print(f"[red]error:[/] --for {escape(target)} is not supported; use --for vllm")
        raise typer.Exit(2)
    try:
        report, _ = _vllm_check(adapter, max_lora_rank)
    except ApiError as exc:
        raise fail(exc) from None
    except LorapipeError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        for finding in report.findings:
            mark = "[green]ok  [/]" if finding.ok else "[red]FAIL[/]"
            out.print(f"{mark} {finding.check}: {escape(finding.message)}")
        if report.command:
            out.print("\n" + escape(report.command), soft_wrap=True)
        else:
            out.print("\n[red]not loadable by vLLM as it is[/]")
    if not report.compatible:
        raise typer.Exit(1)


@app.command("deploy")
def deploy(
    adapter: Annotated[str, typer.Argument(help="An adapter id on the service, or a local adapter folder.")],
    gpu: Annotated[
        list[str] | None,
        typer.Option(
            help="GPU type (catalogue name or RunPod gpuTypeId); repeat for fallbacks. Default: L40S."
        ),
    ] = None,
    volume: Annotated[
        str | None,
        typer.Option(help="Network volume with the base model (default: LORAPIPE_RUNPOD_NETWORK_VOLUME_ID)."),
    ] = None,
    datacenter: Annotated[
        list[str] | None, typer.Option(help="Datacenter of the workers; repeat. Default: the volume's.")
    ] = None,
    image: Annotated[str | None, typer.Option(help="vLLM worker image, pinned (default: RunPod's).")] = None,
    idle_timeout_s: Annotated[int, typer.Option(min=1, max=3600, help="Seconds a worker waits.")] = 5,
    workers_max: Annotated[int, typer.Option(min=1, help="Most workers at once.")] = 1,
    max_model_len: Annotated[int | None, typer.Option(min=1, help="vLLM's context length.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the requests; create nothing.")] = False,
) -> None:
    """Serve an adapter on RunPod Serverless with RunPod's vLLM worker: checks it for vLLM, creates the
    template and the endpoint, then prints the OpenAI base URL, the model name, and the step that puts
    the adapter on the network volume."""
    from lorapipe.cli.runpod import runpod_api
    from lorapipe.errors import LorapipeError
    from lorapipe.services import adapter_deploy as plan
    from lorapipe.services.runpod_setup import deploy as create
    from lorapipe.settings import get_settings

    settings = get_settings()
    try:
        report, name = _vllm_check(adapter, None)
        options = plan.AdapterDeployOptions(
            name=name,
            gpus=list(gpu or ["L40S"]),
            volume_id=volume or settings.runpod_network_volume_id,
            datacenters=tuple(datacenter or ()),
            image=image or plan.VLLM_WORKER_IMAGE,
            idle_timeout_s=idle_timeout_s,
            workers_max=workers_max,
            max_model_len=max_model_len,
        )
        refused = plan.refusal(report)
        if refused is not None:
            raise refused
        requests = plan.plan_adapter_deploy(runpod_api(), report, options)
        if dry_run:
            out.print("POST /templates")
            out.print_json(json.dumps(requests.template))
            out.print("POST /endpoints  (templateId: the new template's id)")
            out.print_json(json.dumps(requests.endpoint))
        else:
            endpoint = create(runpod_api(), requests)
            served = plan.serving(endpoint, options)
            out.print(f"endpoint {escape(str(endpoint['id']))} created", highlight=False)
            out.print(f"OpenAI base URL: {served.base_url}", highlight=False, soft_wrap=True)
            out.print(f"model: {escape(served.model)}", highlight=False, soft_wrap=True)
    except ApiError as exc:
        raise fail(exc) from None
    except LorapipeError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        err.print(f"[red]error:[/] {escape(exc.message + hint)}", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print("before the first request:", highlight=False)
    for step in plan.operator_steps(
        adapter, name, str(report.base_model), str(options.volume_id), local_folder=Path(adapter).is_dir()
    ):
        out.print(f"  - {escape(step)}", highlight=False, soft_wrap=True)


@app.command("export")
def export(
    adapter: Annotated[str, typer.Argument(help="An adapter id on the service, or a finished run's folder.")],
    dest: Annotated[Path, typer.Option("--to", help="Folder for the merged model (created when missing).")],
    dtype: Annotated[
        str, typer.Option(help="auto (the base's), float32, bfloat16 or float16; never 4-bit.")
    ] = "auto",
    base: Annotated[
        str | None, typer.Option(help="Base model to merge into (default: the manifest's).")
    ] = None,
) -> None:
    """Merge an adapter into a full-precision copy of its base model (a plain `from_pretrained` folder).
    The merge runs in the engine's own process (`python -m lorapipe.training export-merged`), so this
    command never loads torch itself; a QLoRA adapter is merged into the unquantised base."""
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(adapter)
        if not folder.is_dir():
            try:
                with connect() as client:
                    row = client.adapter(adapter)
                    folder = Path(tmp) / "adapter"
                    for entry in row["files"]:
                        path = str(entry["path"])
                        if Path(path).is_absolute() or ".." in Path(path).parts:
                            raise ApiError(
                                0, "unsafe_path", f"the service listed a file outside the adapter: {path}"
                            )
                        client.download(f"/api/adapters/{adapter}/files/{path}", folder / path)
            except ApiError as exc:
                raise fail(exc) from None
        command = [
            sys.executable,
            "-m",
            "lorapipe.training",
            "export-merged",
            str(folder),
            "--out",
            str(dest),
        ]
        command += ["--dtype", dtype] + (["--base", base] if base else [])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        try:
            problem = json.loads(reason)
            reason = f"{problem.get('message')}" + (f" ({problem['hint']})" if problem.get("hint") else "")
        except (ValueError, AttributeError):
            pass
        err.print(f"[red]error:[/] the merge failed: {escape(reason)}", soft_wrap=True)
        raise typer.Exit(1)
    out.print(
        escape(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else str(dest)), highlight=False
    )


@app.command("eval")
def evaluate(
    adapter_id: Annotated[str, typer.Argument(help="An adapter id on the service.")],
    dataset: Annotated[
        Path | None,
        typer.Option(
            help="A dataset file to evaluate on, whole (uploaded first); default: the adapter's held-out split."
        ),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="Where to run it (default: where it trained).")] = None,
    generate: Annotated[int, typer.Option(min=0, max=200, help="Prompts for the end-of-turn check.")] = 8,
    max_new_tokens: Annotated[int, typer.Option(min=1, max=4096, help="A reply must end within this.")] = 128,
    watch: Annotated[
        bool | None,
        typer.Option(help="Follow the evaluation job (default: on when the service is embedded)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as one JSON object.")] = False,
) -> None:
    """Evaluate an adapter against its base: held-out loss and perplexity, per category, and the share
    of replies that end within MAX_NEW_TOKENS. It runs as a job on a backend, like training."""
    body: dict[str, object] = {"generate": generate, "max_new_tokens": max_new_tokens}
    if backend:
        body["backend"] = backend
    try:
        with connect() as client:
            if dataset is not None:
                file = client.upload_file(dataset)
                err.print(f"uploaded {escape(dataset.name)} as {file['id']} ({file['status']})")
                body["file"] = file["id"]
            created = client.call("POST", f"/api/adapters/{adapter_id}/evaluations", json=body)
            err.print(f"created evaluation {created['id']} (job {created['job_id']}, {created['status']})")
            if watch is False or (watch is None and not client.embedded):
                out.print(created["id"])
                return
            follow(client, created["job_id"])
            found = client.call("GET", f"/api/adapters/{adapter_id}/evaluations")["data"]
    except ApiError as exc:
        raise fail(exc) from None
    evaluation = next(e for e in found if e["id"] == created["id"])
    if as_json:
        print(json.dumps(evaluation, indent=2))
    else:
        _print_evaluation(evaluation)
    raise typer.Exit(0 if evaluation["status"] == "succeeded" else 1)


def _print_evaluation(evaluation: dict[str, Any]) -> None:
    summary = evaluation.get("summary")
    if not summary:
        error = evaluation.get("error") or {}
        err.print(
            f"[bold red]evaluation {escape(evaluation['status'])}[/] {escape(str(error.get('message', '')))}"
        )
        return
    table = Table("", "loss", "perplexity", "replies ended")
    for who in ("base", "adapter"):
        row = summary[who]
        ended = row.get("ended_share")
        table.add_row(
            who,
            _figure(row.get("loss")),
            _figure(row.get("perplexity")),
            "–" if ended is None else f"{ended:.0%}",
        )
    out.print(f"{summary['examples']} held-out example(s), {summary['tokens']} trained token(s)")
    out.print(table)
    for key, rows in (evaluation.get("categories") or {}).items():
        by = Table(escape(key), "examples", "base loss", "adapter loss", "change")
        for row in rows:
            by.add_row(
                escape(str(row["value"])),
                str(row["examples"]),
                _figure(row["base"]["loss"]),
                _figure(row["adapter"]["loss"]),
                _figure(row.get("loss_change")),
            )
        out.print(by)


def _figure(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "–"
