"""Filling a model cache ahead of time: ``lorapipe models pull`` of a hub snapshot, resumable.

The snapshot lands in ``<DIR>/hub`` in the Hugging Face cache layout, which is where the engine looks
for a hub model when ``DIR`` is its model cache (``LORAPIPE_MODEL_CACHE_DIR``, or the RunPod worker's
``LORAPIPE_WORKER_MODEL_CACHE_DIR`` on the network volume): a job then starts without a download.

The bytes are not left to ``snapshot_download`` alone, because the installed huggingface_hub throws a
failed file's partial bytes away: :mod:`lorapipe.models.hub_blobs` fetches each blob so that a second
pull continues it. Then ``snapshot_download`` finds every blob present and only writes the snapshot
links, the ref and the tree listing, exactly as the engine's cache lookup expects them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lorapipe.errors import ConfigError, LorapipeError, ModelDownloadError, ModelNotFoundError
from lorapipe.models.hub_blobs import WRITE_CHUNK_BYTES, fetch_blob
from lorapipe.models.hub_download import bound_hub_requests, downloaded_bytes, run_watched
from lorapipe.models.references import HUB_ID, hub_cache_dir
from lorapipe.models.sources import ENGINE_HUB_FILES
from lorapipe.settings import Settings


@dataclass(frozen=True, slots=True)
class PullResult:
    """What a pull left in the cache."""

    repo_id: str
    commit: str
    """The commit the snapshot was taken at."""
    snapshot: Path
    """``<DIR>/hub/models--owner--name/snapshots/<commit>``: the folder the engine loads."""
    files: int
    total_bytes: int
    """Size of the snapshot's files, in bytes."""
    received_bytes: int
    """Bytes that arrived during this pull (the rest were already in the cache), approximate."""


def pull_model(
    repo_id: str,
    dest: Path,
    settings: Settings,
    *,
    revision: str | None = None,
    include: Sequence[str] = (),
    token: str | None = None,
    token_env: str = "HF_TOKEN",
    progress: Callable[[int, int | None], None] | None = None,
) -> PullResult:
    """Download hub model ``repo_id`` (at ``revision``, default ``main``) into model cache ``dest``:
    the files the engine reads plus those matching ``include``. The hub is huggingface_hub's endpoint
    (``HF_ENDPOINT``); requests are bounded by ``settings.hub_timeout_s`` and the pull fails when no
    byte arrived for ``settings.hub_stall_s``. ``token`` is read from the environment variable
    ``token_env`` by the caller, which the errors name. ``progress(bytes in cache, total or None)`` is
    called about every second. Raises :class:`ConfigError` for bad input or too little disk space,
    :class:`ModelNotFoundError` for a model or revision the hub does not give, and
    :class:`ModelDownloadError` when the transfer fails (run it again: it continues).
    """
    from huggingface_hub import constants, snapshot_download

    _check_repo_id(repo_id)
    cache = _prepare_destination(dest, settings)
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(
            "HF_HUB_OFFLINE is set, so huggingface_hub will not reach the hub",
            param="HF_HUB_OFFLINE",
            hint="unset HF_HUB_OFFLINE (or set it to 0) on the machine that pulls",
        )
    endpoint = str(constants.ENDPOINT)
    bound_hub_requests(settings.hub_timeout_s, settings.hub_timeout_s)
    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, WRITE_CHUNK_BYTES)
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    patterns = [*ENGINE_HUB_FILES, *include]
    before = downloaded_bytes(storage)
    sized: dict[str, int] = {}

    def work() -> tuple[str, list[str]]:
        with _hub_errors(repo_id, revision, token_env, endpoint):
            commit, listed = _list_files(repo_id, revision, patterns, token)
            sizes = {name: size for name, (size, _) in listed.items()}
            sized["total"] = sum(sizes.values())
            _check_space(cache, storage, listed, dest)
            for name in sorted(sizes):
                fetch_blob(repo_id, name, commit, storage, token, settings.hub_timeout_s)
            folder = snapshot_download(
                repo_id,
                cache_dir=cache,
                revision=revision,
                allow_patterns=patterns,
                token=token or False,
                etag_timeout=settings.hub_timeout_s,
            )
            return folder, sorted(sizes)

    def report(received: int) -> None:
        if progress is not None:
            progress(received, sized.get("total"))

    try:
        folder, names = run_watched(
            work,
            folder=storage,
            what=f"pulling {repo_id} from the hub at {endpoint}",
            stall_s=settings.hub_stall_s,
            progress=report,
        )
    except ModelDownloadError as exc:
        raise ModelDownloadError(exc.message, param="HF_ID", hint=_AGAIN) from exc
    snapshot = Path(folder)
    return PullResult(
        repo_id=repo_id,
        commit=snapshot.name,
        snapshot=snapshot,
        files=len(names),
        total_bytes=sized["total"],
        received_bytes=max(downloaded_bytes(storage) - before, 0),
    )


_AGAIN = (
    "the bytes received so far stay in the cache: run the same command again to continue "
    "(LORAPIPE_HUB_TIMEOUT_S and LORAPIPE_HUB_STALL_S set how long a silent hub is waited for)"
)


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        valid = bool(HUB_ID.match(repo_id)) and "@" not in repo_id
        validate_repo_id(repo_id)
    except HFValidationError:
        valid = False
    if not valid:
        raise ConfigError(
            f"HF_ID {repo_id!r} is not a hub model id",
            param="HF_ID",
            hint="give it as owner/name (letters, digits, '-', '_', '.'), e.g. Qwen/Qwen3-8B; "
            "a revision goes in --revision",
        )


def _prepare_destination(dest: Path, settings: Settings) -> Path:
    """The hub cache folder of model cache ``dest``, created; refuses a ``dest`` that is a file."""
    if dest.exists() and not dest.is_dir():
        raise ConfigError(
            f"--to {str(dest)!r} is a file; it must be a folder (the model cache)",
            param="--to",
            hint="give the model cache folder, e.g. /runpod-volume/lorapipe/models (it is created)",
        )
    cache = hub_cache_dir(settings.model_copy(update={"model_cache_dir": dest}))
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--to {str(dest)!r}: cannot create {cache} ({exc.strerror})",
            param="--to",
            hint="choose a folder this user may write to",
        ) from exc
    return cache


def _list_files(
    repo_id: str, revision: str | None, patterns: list[str], token: str | None
) -> tuple[str, dict[str, tuple[int, str]]]:
    """The commit ``revision`` names, and the size and blob name (its etag: the LFS sha256, else the
    git blob id) of each of its files that ``patterns`` select."""
    from huggingface_hub import HfApi, RepoFile
    from huggingface_hub.utils import filter_repo_objects

    api = HfApi(token=token or False)
    commit = api.model_info(repo_id, revision=revision).sha
    if commit is None:
        raise ModelDownloadError(f"the hub gave no commit for {repo_id}", param="HF_ID")
    tree = {
        f.path: f
        for f in api.list_repo_tree(repo_id, recursive=True, revision=commit)
        if isinstance(f, RepoFile)
    }
    names = list(filter_repo_objects(list(tree), allow_patterns=patterns))
    if "config.json" not in names:
        raise ModelNotFoundError(
            f"{repo_id} at {revision or 'main'} has no config.json: not a transformers model the engine loads",
            param="HF_ID",
            hint="pull a model saved with save_pretrained (a GGUF-only repo is not one)",
        )
    listed: dict[str, tuple[int, str]] = {}
    for name in names:
        entry = tree[name]
        if entry.lfs is not None:
            listed[name] = (int(entry.lfs.size), entry.lfs.sha256)
        else:
            listed[name] = (int(entry.size), entry.blob_id)
    return commit, listed


def _check_space(cache: Path, storage: Path, listed: dict[str, tuple[int, str]], dest: Path) -> None:
    """Refuse to start when the bytes still missing (each file's size less what of it is already
    cached, whole or in part) do not fit on the disk of ``cache``."""
    missing = 0
    for size, blob in listed.values():
        if (storage / "blobs" / blob).exists():
            continue
        part = storage / "blobs" / f"{blob}.incomplete"
        missing += max(size - (part.stat().st_size if part.exists() else 0), 0)
    free = shutil.disk_usage(cache).free
    if missing > free:
        raise ConfigError(
            f"--to {str(dest)!r} has {free / 1e9:.2f} GB free; the model needs {missing / 1e9:.2f} GB more",
            param="--to",
            hint="free some space there or choose a folder on a larger disk (a bigger network volume)",
        )


@contextmanager
def _hub_errors(repo_id: str, revision: str | None, token_env: str, endpoint: str) -> Iterator[None]:
    """huggingface_hub's errors as lorapipe errors that say what to do."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    token_hint = (
        f"set the environment variable {token_env} to a hub token that can read {repo_id} "
        "(accept the model's licence on the hub first for a gated model); a token is never a flag"
    )
    try:
        yield
    except LorapipeError:
        raise
    except GatedRepoError as exc:
        raise ModelNotFoundError(
            f"{repo_id} is gated on the hub and the request had no token with access",
            param=token_env,
            hint=token_hint,
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelNotFoundError(
            f"{repo_id} has no revision {revision!r} on the hub",
            param="--revision",
            hint="give a branch, tag or commit of the model",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelNotFoundError(
            f"no model {repo_id} on the hub at {endpoint} (or it is private)",
            param="HF_ID",
            hint=f"check the id; for a private model, {token_hint}",
        ) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise ModelNotFoundError(
                f"the hub refused {repo_id} ({status})", param=token_env, hint=token_hint
            ) from exc
        raise ModelDownloadError(
            f"the hub at {endpoint} answered {status} while pulling {repo_id}", param="HF_ID", hint=_AGAIN
        ) from exc
    except (httpx2.HTTPError, OSError) as exc:  # timeouts, cut connections, a short file
        raise ModelDownloadError(
            f"pulling {repo_id} from the hub at {endpoint} failed: {type(exc).__name__}",
            param="HF_ID",
            hint=_AGAIN,
        ) from exc
