"""What every use case needs from the running service: its settings, a session factory and the object
store. The API and the dashboard each hold one (``app.state.lorapipe``) and hand it to services."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    objects: ObjectStore
    #: Single-user mode (loopback only): requests without a key act as this user.
    single_user_id: str | None = None
