"""Which base-model references a service accepts, and the public name of a model.

One rule for every route that takes a model (job creation, token counts, estimates):

- a catalogued id or alias (the tiny test models and the packaged SmolLM2 are catalogued);
- a hub id ``owner/name[@revision]`` that is in this service's model cache or, when the hub can be
  reached (``HF_HUB_OFFLINE`` unset), known to the hub;
- an absolute path under a folder the operator allows (``LORAPIPE_MODEL_DIRS``), after symlinks are
  resolved; never a path with ``..``, never a relative one.

A refused path gets the same answer whether it exists or not. Nothing here imports torch or
transformers (the web process calls it); huggingface_hub is imported only to look a hub id up.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path, PurePath

from lorapipe.errors import UnknownModelError
from lorapipe.models.catalog import find_model_spec, list_models
from lorapipe.settings import Settings

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
"""``owner/name`` with an optional ``@revision``."""

HUB_KNOWN_TTL_S = 600.0
"""How long a hub id the hub confirmed is accepted without asking again, in seconds."""

_hub_known: dict[str, float] = {}
_hub_known_lock = threading.Lock()


def looks_like_path(ref: str) -> bool:
    """True for references that can only be paths: absolute, ``./``, ``~``, two or more ``/``, ``.gguf``."""
    return (
        ref.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or "\\" in ref
        or ref.count("/") >= 2
        or ref.endswith(("/", ".gguf"))
        or ".." in PurePath(ref).parts
    )


def hub_cache_dir(settings: Settings) -> Path:
    """Where hub snapshots are cached (``<model cache>/hub``, a network volume in production)."""
    return settings.resolved_model_cache_dir / "hub"


def check_model_reference(ref: str, settings: Settings, *, param: str = "model") -> str:
    """The canonical form of base-model reference ``ref`` if this service accepts it: the catalogue id,
    the hub id as given, or the resolved absolute path of an allowed model folder.

    Raises :class:`UnknownModelError` (400) naming what is accepted; a refused path never says whether
    it exists (only one under an allowed folder is looked at).
    """
    ref = ref.strip()
    spec = find_model_spec(ref) if ref else None
    if spec is not None:
        return spec.id
    if ref and (looks_like_path(ref) or PurePath(ref).is_absolute()):
        return _allowed_path(ref, settings, param)
    if HUB_ID.match(ref) and _is_valid_repo_id(ref.partition("@")[0]):
        why = _hub_model_refusal(ref, settings)
        if why is None:
            return ref
        raise UnknownModelError(f"unknown model {ref!r}: {why}", param=param, hint=_accepted())
    raise UnknownModelError(f"unknown model {ref!r}", param=param, hint=_accepted())


def public_model_id(ref: str) -> str:
    """The name of model ``ref`` that may leave the server (adapter config, manifest, model card):
    the hub id of a catalogued model (its catalogue id for tiny ones), a hub id without its revision,
    or a local model's folder or file name, never its path."""
    ref = ref.strip()
    spec = find_model_spec(ref)
    if spec is not None:
        return spec.hub_id or spec.id
    if HUB_ID.match(ref) and not looks_like_path(ref) and not PurePath(ref).is_absolute():
        return ref.partition("@")[0]
    name = PurePath(ref.rstrip("/\\"))
    return name.stem if name.suffix == ".gguf" else name.name


def hub_revision(ref: str) -> str | None:
    """The ``@revision`` of a hub reference, or None."""
    if HUB_ID.match(ref.strip()) and not looks_like_path(ref):
        return ref.strip().partition("@")[2] or None
    return None


def cached_hub_folder(ref: str, settings: Settings) -> Path | None:
    """The cached snapshot folder (with ``config.json``) of hub id ``ref``, or None when not cached."""
    from huggingface_hub import try_to_load_from_cache

    repo_id, _, revision = ref.partition("@")
    found = try_to_load_from_cache(
        repo_id, "config.json", cache_dir=hub_cache_dir(settings), revision=revision or None
    )
    return Path(found).parent if isinstance(found, str) else None


# --- helpers --------------------------------------------------------------------------------------


def _accepted() -> str:
    ids = ", ".join(m.id for m in list_models())
    return (
        f"use a catalogued model ({ids}), a Hugging Face hub id owner/name that this service has cached "
        "or can find on the hub, or a model folder under the service's model folders (LORAPIPE_MODEL_DIRS)"
    )


def _allowed_path(ref: str, settings: Settings, param: str) -> str:
    refused = UnknownModelError(
        f"model {ref!r} is not allowed: a model on this server must be given as an absolute path under "
        "one of the service's model folders",
        param=param,
        hint="the operator lists those folders in LORAPIPE_MODEL_DIRS; or use a catalogued or hub model",
    )
    path = Path(ref)
    if not path.is_absolute() or ".." in path.parts or not settings.model_dirs:
        raise refused
    real = path.resolve()  # symlinks followed: a link inside an allowed folder may not lead out of it
    if not any(real.is_relative_to(root.resolve()) for root in settings.model_dirs):
        raise refused
    # Inside an allowed folder the caller may learn what is there.
    if real.is_file() and real.suffix == ".gguf":
        return str(real)
    if real.is_dir() and ((real / "config.json").is_file() or len(list(real.glob("*.gguf"))) == 1):
        return str(real)
    raise UnknownModelError(
        f"model {ref!r} is not a model folder (config.json, or one .gguf file) or a .gguf file",
        param=param,
        hint="save the model there with save_pretrained, or point at one .gguf file",
    )


def _is_valid_repo_id(repo_id: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return False
    return True


def _hub_model_refusal(ref: str, settings: Settings) -> str | None:
    """None when hub id ``ref`` is cached or the hub knows it; else why it is refused."""
    from huggingface_hub import HfApi, is_offline_mode
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if cached_hub_folder(ref, settings) is not None:
        return None
    now = time.monotonic()
    with _hub_known_lock:
        if now - _hub_known.get(ref, -HUB_KNOWN_TTL_S) < HUB_KNOWN_TTL_S:
            return None
    if is_offline_mode():
        return "it is not in this service's model cache and the hub is not reachable from here (offline)"
    repo_id, _, revision = ref.partition("@")
    api = HfApi()
    try:
        api.model_info(repo_id, revision=revision or None, timeout=settings.hub_timeout_s)
    except RevisionNotFoundError:
        return f"the hub has no revision {revision!r} of {repo_id}"
    except GatedRepoError:
        pass  # it exists; the download needs a token with access (the engine says so)
    except RepositoryNotFoundError:
        return "the hub has no such model (or it is private)"
    except Exception as exc:  # connection refused, timeout, hub error
        return f"it is not in this service's model cache and the hub at {api.endpoint} did not answer ({type(exc).__name__})"
    with _hub_known_lock:
        _hub_known[ref] = now
    return None
