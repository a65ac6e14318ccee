"""Getting the run's inputs onto this machine: dataset files (path or fsspec URL) and the base model."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from lorapipe.contract.spec import DataRef, TrainingJobSpec
from lorapipe.errors import DatasetError, ObjectNotFoundError
from lorapipe.settings import Settings
from lorapipe.training.artifacts import sha256_file


def fetch_data(ref: DataRef, work_dir: Path) -> Path:
    """A local path to the file ``ref`` names (downloaded into ``work_dir`` when remote), hash-checked."""
    scheme = urlsplit(ref.uri).scheme if "://" in ref.uri else ""
    if scheme in ("", "file"):
        path = Path(urlsplit(ref.uri).path if scheme else ref.uri).expanduser()
        if not path.is_file():
            raise ObjectNotFoundError(f"dataset file {path} does not exist", param="dataset.uri")
    else:
        import fsspec

        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / (Path(urlsplit(ref.uri).path).name or "dataset")
        try:
            with fsspec.open(ref.uri, "rb") as src, path.open("wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(chunk)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"dataset {ref.uri} does not exist", param="dataset.uri") from None
    if ref.sha256 and sha256_file(path) != ref.sha256:
        raise DatasetError(
            f"dataset {ref.uri} has sha256 {sha256_file(path)}, the spec expects {ref.sha256}",
            param="dataset.sha256",
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


def resolve_base_model(spec: TrainingJobSpec, settings: Settings) -> tuple[Path, str | None]:
    """The local folder of the base model (built, converted or downloaded on first use) and its
    licence when the catalogue knows it."""
    from lorapipe.models.sources import resolve_model

    resolved = resolve_model(model_ref(spec), model_settings(spec, settings))
    return resolved.path, (resolved.spec.license if resolved.spec else None)
