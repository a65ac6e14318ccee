"""The one place configuration is read from: ``LORAPIPE_*`` environment variables and ``.env``.

Nothing else in the package reads ``os.environ``; everything takes a :class:`Settings` (or the
values it resolved) as an argument.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="Extra fsspec options for the object store (e.g. endpoint_url for S3-compatible servers).",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where hub models are cached (a RunPod network volume in production). "
        "Default: <data_dir>/models",
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
    max_report_problems: int = Field(
        default=200, ge=1, le=100_000, description="Problems stored in full in a validation report."
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
