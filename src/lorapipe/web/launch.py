"""The new-job page: pick a dataset, a base model, a preset (and change any field), a backend; watch the
estimate; launch after acknowledging its cost. The page reads its choices through
:mod:`lorapipe.services.launch_options`; the estimate and the launch are ``fetch`` calls to the API
(``POST /api/datasets/{id}/estimate``, ``POST /v1/fine_tuning/jobs``), as every write of the dashboard."""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lorapipe.services.launch_options import LaunchChoice, launch_options, retry_choice
from lorapipe.web.deps import DB, PageUser, State
from lorapipe.web.pages import render

router = APIRouter(include_in_schema=False)

Ident = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/ui/jobs/new", response_class=HTMLResponse)
def new_job(
    request: Request, state: State, db: DB, user: PageUser, dataset: Ident = None, retry: Ident = None
) -> HTMLResponse:
    """``?dataset=ds_…`` chooses a dataset; ``?retry=ftjob-…`` starts from that job's choices."""
    choice = retry_choice(db, user.id, retry) if retry else LaunchChoice(dataset=dataset)
    options = launch_options(db, state.settings, user.id)
    if choice.dataset is None and options.datasets:
        choice.dataset = options.datasets[0].id
    if choice.model is None:
        counted = next((d.tokenizer for d in options.datasets if d.id == choice.dataset), None)
        choice.model = counted or "Qwen/Qwen3-8B"
    if not any(b.name == choice.backend and b.ready for b in options.backends):
        choice.backend = next((b.name for b in options.backends if b.ready), "local")
    return render(
        request,
        "job_new.html",
        user,
        options=options,
        choice=choice,
        groups=[
            (group, list(fields)) for group, fields in itertools.groupby(options.fields, lambda f: f.group)
        ],
        data={"options": options.model_dump(mode="json"), "choice": choice.model_dump(mode="json")},
    )
