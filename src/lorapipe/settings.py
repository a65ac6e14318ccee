"""The one place configuration is read from: ``LORAPIPE_*`` environment variables and ``.env``.

Nothing else in the package reads ``os.environ``; everything takes a :class:`Settings` (or the
values it resolved) as an argument.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_data_dir() -> Path:
    # XDG layout: data lives under $XDG_DATA_HOME (default ~/.local/share).
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lorapipe"


class Settings(BaseSettings):
    """Process-wide settings. Every field can be set as ``LORAPIPE_<FIELD>`` or in ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="LORAPIPE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Root for the SQLite database, the local object store and the model cache.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: sqlite:///<data_dir>/lorapipe.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    storage_url: str | None = Field(
        default=None,
        description="fsspec URL of the object store root. Default: file://<data_dir>/objects. "
        "Production: s3://bucket/prefix",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra fsspec options for the object store (e.g. endpoint_url for S3-compatible servers).",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where hub models are cached (a RunPod network volume in production). "
        "Default: <data_dir>/models",
    )
    model_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders under which a job may name a model folder (or .gguf file) on this server as "
        "its base model, as absolute paths separated by ':' (or a JSON list). Empty = no server path is "
        "accepted; catalogued and hub models always are.",
    )
    hub_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Connect and read timeout of each request to the Hugging Face hub, in seconds.",
    )
    hub_stall_s: float = Field(
        default=180.0,
        gt=0,
        description="A base-model download from the hub that receives no byte for this long, in seconds, "
        "fails its attempt (retried within the job's max_attempts).",
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1, description="Largest dataset upload accepted, in bytes."
    )
    max_json_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body of every route but the two uploads, in bytes (checked as it arrives).",
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private (RFC 1918, fc00::/7) and CGNAT addresses: for a "
        "self-hosted service whose receivers are on its own network. Link-local (cloud metadata), "
        "multicast and unspecified addresses stay refused.",
    )
    runpod_api_key: SecretStr | None = Field(
        default=None,
        description="RunPod API key: live GPU prices for estimates (and the RunPod backends). Unset = catalogue prices.",
    )
    # --- RunPod serverless backend (the service side) ---------------------------------------------
    runpod_endpoint_id: str | None = Field(
        default=None,
        description="RunPod serverless endpoint running the lorapipe worker image. Unset = the "
        "runpod-serverless backend is not configured and jobs naming it are refused at creation.",
    )
    runpod_api_url: str = Field(
        default="https://api.runpod.ai/v2", description="RunPod's serverless API base (no trailing slash)."
    )
    runpod_endpoint_gpu: str | None = Field(
        default=None,
        description="GPU type the endpoint's workers run (a name from `lorapipe estimate gpus`): prices "
        "the billed seconds; unset = the cost is recorded as unpriced.",
    )
    runpod_endpoint_tier: str = Field(
        default="serverless_flex", description="serverless_flex or serverless_active: which price applies."
    )
    runpod_max_concurrent: int = Field(default=4, ge=1, le=1000, description="Attempts in flight at once.")
    runpod_max_execution_s: int = Field(
        default=24 * 3600,
        ge=60,
        description="Longest execution the endpoint allows, in seconds: a job whose estimate (upper end, "
        "with the margin) needs more is refused at creation.",
    )
    runpod_timeout_margin: float = Field(
        default=2.0, ge=1.0, le=10.0, description="executionTimeout = estimated upper time x this."
    )
    runpod_queue_ttl_s: int = Field(
        default=3600, ge=60, description="How long a job may wait in RunPod's queue before it expires."
    )
    runpod_presign_s: int = Field(
        default=3600, ge=60, description="Lifetime of the dataset's presigned URL handed to a worker."
    )
    runpod_stop_wait_s: int = Field(
        default=300,
        ge=0,
        description="After RunPod stops a running job (cancel, execution timeout), how long to wait for the "
        "worker's event log (its engine saves a checkpoint first) before ending the attempt without it.",
    )
    # --- RunPod pods (the runpod-pod backend) and `lorapipe runpod deploy|doctor` ----------------------
    runpod_rest_url: str = Field(
        default="https://rest.runpod.io/v1",
        description="RunPod's management REST API base (pods, templates, endpoints, network volumes).",
    )
    runpod_service_id: str = Field(
        default="main",
        pattern=r"^[a-z0-9]{1,16}$",
        description="Names this service's pods (lorapipe-<id>.<job>.<attempt>): the orphan sweeper terminates only "
        "pods with this prefix. Give each deployment sharing a RunPod account its own id.",
    )
    runpod_pod_gpu: str | None = Field(
        default=None,
        description="GPU of the runpod-pod backend: a RunPod gpuTypeId ('NVIDIA H100 80GB HBM3') or a name from "
        "`lorapipe estimate gpus`. Unset = the runpod-pod backend is not configured.",
    )
    runpod_pod_cloud: Literal["SECURE", "COMMUNITY"] = Field(
        default="SECURE", description="RunPod cloud the pods are rented in: SECURE or COMMUNITY."
    )
    runpod_worker_image: str | None = Field(
        default=None,
        description="The lorapipe worker image with a pinned tag (e.g. ghcr.io/org/lorapipe-worker:0.4.0), "
        "run by pods and by the serverless endpoint `lorapipe runpod deploy` creates.",
    )
    runpod_network_volume_id: str | None = Field(
        default=None,
        description="RunPod network volume holding the base-model cache, mounted at /runpod-volume.",
    )
    runpod_storage_secret: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_]{1,64}$",
        description="Name of a RunPod secret holding the store's options JSON: pods and the template `lorapipe "
        "runpod deploy` creates reference it ({{ RUNPOD_SECRET_<name> }}) instead of carrying the credentials.",
    )
    runpod_pod_max_concurrent: int = Field(default=2, ge=1, le=100, description="Pods running at once.")
    runpod_pod_container_disk_gb: int = Field(
        default=50, ge=10, le=1000, description="Container disk of each pod, in GB (scratch and checkpoints)."
    )
    runpod_pod_env: dict[str, str] = Field(
        default_factory=dict,
        description='Extra environment for every pod as JSON (e.g. {"HF_TOKEN": "..."}); the store\'s '
        "settings are passed on already. Never put secrets in a job instead.",
    )
    # --- the RunPod worker (inside the worker image) -----------------------------------------------
    worker_dir: Path = Field(
        default=Path("/tmp/lorapipe-worker"), description="Scratch space of the worker for one attempt."
    )
    worker_model_cache_dir: Path = Field(
        default=Path("/runpod-volume/lorapipe/models"),
        description="Base-model cache on the endpoint's network volume (must be in the workers' datacenter).",
    )
    worker_require_volume: bool = Field(
        default=False,
        description="Refuse to start (fitness check) when the model cache volume is not mounted.",
    )
    worker_require_gpu: bool = Field(default=False, description="Refuse to start when no GPU is visible.")
    worker_min_free_gb: float = Field(default=10.0, ge=0, description="Free scratch disk needed to start.")
    worker_progress_interval_s: float = Field(
        default=2.0, gt=0, description="Least time between two progress updates sent to RunPod."
    )
    worker_pod_job: str | None = Field(
        default=None,
        description="Inside a runpod-pod pod: the attempt to run (JSON, set by the service when it creates "
        "the pod; no secrets: the dataset is a presigned URL).",
    )
    worker_engine_command: list[str] = Field(
        default_factory=list,
        description="The engine command line the worker starts, as a JSON list (e.g. an accelerate launcher); "
        "empty = this Python's `-m lorapipe.training`.",
    )
    worker_cancel_grace_s: float = Field(
        default=120.0, gt=0, description="How long a cancelled engine may take to checkpoint before SIGKILL."
    )
    engine_warm: bool = Field(
        default=True,
        description="The local backend forks each attempt from a warm engine process that imported torch and "
        "transformers once (first event in ~0.1 s instead of ~10 s); false = every attempt is a fresh "
        "`python -m lorapipe.training` process.",
    )
    api_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Worker threads (per service process) for the API's quick requests: the /v1 routes and "
        "the job reads; uploads, streams and the rest use their own pool, so they never hold these up.",
    )
    # --- what one user may hold at once (per service process) -----------------------------------------
    max_requests_per_user: int = Field(
        default=24, ge=2, description="Requests of one user in flight at once (streams and uploads included)."
    )
    max_uploads_per_user: int = Field(default=2, ge=1, description="Concurrent uploads of one user.")
    max_streams_per_user: int = Field(default=8, ge=1, description="Concurrent event streams of one user.")
    max_token_counts: int = Field(
        default=1, ge=1, description="Token-counting child processes at once, over all users (~300 MB each)."
    )
    token_count_wait_s: float = Field(
        default=20.0, ge=0, description="How long a token count may wait for a free slot before a 429."
    )
    max_active_jobs_per_user: int = Field(
        default=20, ge=1, description="Jobs of one user not yet ended (queued or running) at once."
    )
    max_report_problems: int = Field(
        default=200, ge=1, le=100_000, description="Problems stored in full in a validation report."
    )
    # --- chat (/v1/chat/completions): one inference worker child process per service process ------
    chat_queue_length: int = Field(
        default=4, ge=0, le=1000, description="Chat requests that may wait while one runs; more get 429."
    )
    chat_max_requests_per_user: int = Field(
        default=2, ge=1, description="Chat requests of one user running or waiting at once."
    )
    chat_max_tokens: int = Field(
        default=512,
        ge=1,
        le=32768,
        description="Largest max_tokens a chat request may ask for (and the default).",
    )
    chat_request_timeout_s: float = Field(
        default=120.0, gt=0, description="How long one reply may take to generate, in seconds."
    )
    chat_load_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="How long starting the worker or loading a model may take, in seconds.",
    )
    chat_max_adapters: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Adapters the inference worker keeps loaded (least recently used go).",
    )
    chat_device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Where the inference worker runs models: auto = cuda when available."
    )
    chat_engine: Literal["auto", "transformers", "vllm"] = Field(
        default="auto",
        description="What generates chat replies: vllm (multi-LoRA; needs a GPU and vLLM installed), "
        "transformers, or auto = vllm when both are present, else transformers.",
    )
    chat_max_lora_rank: int = Field(
        default=64,
        ge=1,
        le=512,
        description="With vLLM: the largest adapter rank it serves (its --max-lora-rank; memory grows with it).",
    )

    api_url: str | None = Field(
        default=None,
        description="A running lorapipe service the CLI talks to (e.g. http://127.0.0.1:8000). "
        "Unset = the CLI starts an embedded single-user service on a free loopback port.",
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key the CLI sends to api_url (lorapipe keys create)."
    )

    @field_validator("data_dir", "model_cache_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @field_validator("model_dirs", mode="before")
    @classmethod
    def _split_model_dirs(cls, v: Any) -> Any:
        if isinstance(v, str):
            return json.loads(v) if v.lstrip().startswith("[") else [p for p in v.split(os.pathsep) if p]
        return v

    @field_validator("model_dirs", mode="after")
    @classmethod
    def _absolute_model_dirs(cls, v: list[Path]) -> list[Path]:
        dirs = [p.expanduser() for p in v]
        relative = [str(p) for p in dirs if not p.is_absolute()]
        if relative:
            raise ValueError(f"model_dirs must be absolute paths; got {', '.join(relative)}")
        return dirs

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lorapipe.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "objects").as_uri()

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
