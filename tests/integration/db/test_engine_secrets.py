"""No SQL parameters in errors or logs: a failed insert of a webhook must not print its ``whsec_``
signing secret (nor a key hash, a URL with a token, ...) into the service log."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from lorapipe.db import create_engine_for, make_sessionmaker
from lorapipe.db.webhooks import Webhook

pytestmark = pytest.mark.integration

SECRET = "whsec_dGhpcyBpcyBub3QgZm9yIHRoZSBsb2c="


def test_a_failed_insert_shows_no_parameters(migrated_url: str, caplog: pytest.LogCaptureFixture) -> None:
    sessions = make_sessionmaker(create_engine_for(migrated_url))
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    with sessions() as session, pytest.raises(IntegrityError) as raised:
        # No such owner: the foreign key refuses the row.
        session.add(Webhook(id="wh-1", owner_id="user-missing", url="https://x.example", secret=SECRET))
        session.commit()
    assert "webhooks" in str(raised.value)  # the error still says what failed
    assert SECRET not in str(raised.value)
    assert SECRET not in caplog.text
