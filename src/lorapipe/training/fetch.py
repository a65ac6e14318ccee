"""Getting the run's inputs onto this machine: dataset files (path or fsspec URL) and the base model.

Errors name the dataset by its role and file name and the model by its public id: the paths, store
keys and presigned URLs they came from stay on the machine (the messages reach users as job errors).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from lorapipe.contract.spec import DataRef, TrainingJobSpec
from lorapipe.errors import DatasetError, ObjectNotFoundError, StorageError
from lorapipe.settings import Settings
from lorapipe.training.artifacts import sha256_file
from lorapipe.training.events import EventWriter
from lorapipe.training.failures import CancelFlag, Cancelled

DOWNLOAD_EVENT_EVERY_S = 15.0
"""Least time between two progress events while the base model downloads, in seconds."""


def dataset_name(ref: DataRef) -> str:
    """The file name of a dataset reference (no folder, no query string such as a URL signature)."""
    return Path(urlsplit(ref.uri).path if "://" in ref.uri else ref.uri).name or "dataset"


def fetch_data(ref: DataRef, work_dir: Path, role: str = "training") -> Path:
    """A local path to the file ``ref`` names (downloaded into ``work_dir`` when remote), hash-checked.
    ``role`` (training, validation) names the dataset in errors."""
    what = f"the {role} dataset ({dataset_name(ref)})"
    param = "dataset" if role == "training" else role
    scheme = urlsplit(ref.uri).scheme if "://" in ref.uri else ""
    if scheme in ("", "file"):
        path = Path(urlsplit(ref.uri).path if scheme else ref.uri).expanduser()
        if not path.is_file():
            raise ObjectNotFoundError(f"{what} does not exist", param=f"{param}.uri")
    else:
        import fsspec

        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / dataset_name(ref)
        try:
            with fsspec.open(ref.uri, "rb") as src, path.open("wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(chunk)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{what} does not exist", param=f"{param}.uri") from None
        except OSError as exc:  # its text may carry the URL (a presigned one is a credential)
            raise StorageError(
                f"could not download {what}: {type(exc).__name__}", param=f"{param}.uri"
            ) from exc
    if ref.sha256 and sha256_file(path) != ref.sha256:
        raise DatasetError(
            f"{what} has sha256 {sha256_file(path)}, the spec expects {ref.sha256}",
            param=f"{param}.sha256",
            hint="the file changed after the job was submitted; resubmit it",
        )
    return path


def model_settings(spec: TrainingJobSpec, settings: Settings) -> Settings:
    """The settings with the spec's model cache folder, when it names one (a network volume)."""
    if spec.model_cache_dir:
        return settings.model_copy(update={"model_cache_dir": Path(spec.model_cache_dir)})
    return settings


def model_ref(spec: TrainingJobSpec) -> str:
    """The reference ``lorapipe.models.sources`` resolves (hub revision as ``owner/name@revision``)."""
    return f"{spec.model}@{spec.model_revision}" if spec.model_revision else spec.model


def public_model(spec: TrainingJobSpec) -> str:
    """The base model's public id: what the adapter, the manifest and the model card name."""
    from lorapipe.models.references import public_model_id

    return public_model_id(spec.model)


def resolve_base_model(
    spec: TrainingJobSpec, settings: Settings, progress: Callable[[int], None] | None = None
) -> tuple[Path, str | None]:
    """The local folder of the base model (built, converted or downloaded on first use) and its
    licence when the catalogue knows it. ``progress(bytes so far)`` runs while a hub download does."""
    from lorapipe.models.sources import resolve_model

    resolved = resolve_model(model_ref(spec), model_settings(spec, settings), progress=progress)
    return resolved.path, (resolved.spec.license if resolved.spec else None)


def download_progress(
    events: EventWriter, cancel: CancelFlag, name: str, every_s: float = DOWNLOAD_EVENT_EVERY_S
) -> Callable[[int], None]:
    """A ``progress`` callback for :func:`resolve_base_model`: a ``downloading`` stage event with the bytes
    received at most every ``every_s`` (and only when more arrived), and cancellation while it waits."""
    last = {"at": time.monotonic(), "bytes": 0}

    def report(received: int) -> None:
        if cancel.requested:
            raise Cancelled(checkpoint=None)
        now = time.monotonic()
        if received > last["bytes"] and now - last["at"] >= every_s:
            last.update(at=now, bytes=received)
            events.stage("downloading", message=f"{name}: {received / 1e9:.2f} GB received")

    return report
