"""``lorapipe runpod``: create the serverless endpoint for the worker image (``deploy``) and check a live
RunPod configuration (``doctor``), through RunPod's REST API with ``LORAPIPE_RUNPOD_API_KEY``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lorapipe.errors import LorapipeError

if TYPE_CHECKING:
    from lorapipe.backends.runpod_rest import RunpodRest

app = typer.Typer(help="Deploy and check the RunPod side of this service.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(exc: LorapipeError) -> typer.Exit:
    hint = f" ({exc.hint})" if getattr(exc, "hint", None) else ""
    err.print(f"[bold red]error[/] {escape(f'[{exc.code}] {exc.message}{hint}')}")
    return typer.Exit(1)


def _api() -> RunpodRest:
    from lorapipe.backends.runpod_rest import RunpodRest
    from lorapipe.errors import ConfigError
    from lorapipe.settings import get_settings

    settings = get_settings()
    if settings.runpod_api_key is None:
        raise ConfigError("LORAPIPE_RUNPOD_API_KEY is not set", param="runpod_api_key")
    return RunpodRest(settings.runpod_api_key.get_secret_value(), settings.runpod_rest_url)


#: The RunPod REST client of the configured key, for other command groups (``adapters deploy``).
runpod_api = _api


@app.command("deploy")
def deploy_endpoint(
    image: Annotated[
        str | None,
        typer.Option(help="Worker image with a pinned tag (default: LORAPIPE_RUNPOD_WORKER_IMAGE)."),
    ] = None,
    gpu: Annotated[
        list[str] | None,
        typer.Option(
            help="GPU type (catalogue name or RunPod gpuTypeId); repeat for fallbacks. Default: LORAPIPE_RUNPOD_ENDPOINT_GPU."
        ),
    ] = None,
    datacenter: Annotated[
        list[str] | None,
        typer.Option(help="RunPod datacenter of the workers; repeat. Default: the volume's."),
    ] = None,
    volume: Annotated[
        str | None, typer.Option(help="Network volume id (default: LORAPIPE_RUNPOD_NETWORK_VOLUME_ID).")
    ] = None,
    name: Annotated[str, typer.Option(help="Endpoint name.")] = "lorapipe-worker",
    execution_timeout_s: Annotated[
        int | None, typer.Option(help="Longest job, seconds (default: LORAPIPE_RUNPOD_MAX_EXECUTION_S).")
    ] = None,
    idle_timeout_s: Annotated[
        int, typer.Option(min=1, max=3600, help="Seconds a worker waits for the next job.")
    ] = 5,
    workers_max: Annotated[
        int | None,
        typer.Option(min=0, help="Most workers at once (default: LORAPIPE_RUNPOD_MAX_CONCURRENT)."),
    ] = None,
    container_disk_gb: Annotated[int, typer.Option(min=10, help="Container disk per worker, GB.")] = 50,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the requests; create nothing.")] = False,
) -> None:
    """Create the worker template and the serverless endpoint, then print the settings the service needs."""
    from lorapipe.services.runpod_setup import DeployOptions, deploy, plan_deploy, service_settings
    from lorapipe.settings import get_settings

    settings = get_settings()
    options = DeployOptions(
        image=image or settings.runpod_worker_image or "",
        gpus=list(gpu or ([settings.runpod_endpoint_gpu] if settings.runpod_endpoint_gpu else [])),
        datacenters=list(datacenter or []),
        volume_id=volume or settings.runpod_network_volume_id,
        name=name,
        execution_timeout_s=execution_timeout_s or settings.runpod_max_execution_s,
        idle_timeout_s=idle_timeout_s,
        workers_max=settings.runpod_max_concurrent if workers_max is None else workers_max,
        container_disk_gb=container_disk_gb,
    )
    try:
        api = _api()
        plan = plan_deploy(settings, api, options)
        if dry_run:
            out.print("POST /templates")
            out.print_json(json.dumps(plan.template))
            out.print("POST /endpoints  (templateId: the new template's id)")
            out.print_json(json.dumps(plan.endpoint))
            return
        endpoint = deploy(api, plan)
    except LorapipeError as exc:
        raise _fail(exc) from exc
    out.print(f"endpoint {escape(str(endpoint['id']))} created; set on the service:")
    for key, value in service_settings(endpoint, options).items():
        out.print(f"{key}={escape(value)}", highlight=False)


@app.command("doctor")
def doctor_command() -> None:
    """Check the live RunPod configuration: each check ok or FAIL with the fix. Exit 1 when one fails."""
    from lorapipe.services.runpod_setup import doctor
    from lorapipe.settings import get_settings

    try:
        api = _api()
        checks = doctor(get_settings(), api)
    except LorapipeError as exc:
        raise _fail(exc) from exc
    for check in checks:
        mark = "[green]ok  [/]" if check.ok else "[bold red]FAIL[/]"
        fix = f" -> fix: {check.fix}" if check.fix and not check.ok else ""
        out.print(f"{mark} {escape(check.name)}: {escape(check.detail)}{escape(fix)}", highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
