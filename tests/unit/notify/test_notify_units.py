"""Pure parts of notifications, webhooks and costs: the Standard Webhooks signature (the spec's
published vector), secrets, the retry schedule, date ranges with the end day included, the CSV, and
which estimate an actual cost is compared with."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from lorapipe.errors import UserError
from lorapipe.services.budgets import estimated_usd
from lorapipe.services.cost_reports import DateRange
from lorapipe.services.webhook_delivery import DeliveryPolicy
from lorapipe.services.webhooks import new_secret, sign, signing_key

pytestmark = pytest.mark.unit


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    got = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_covers_id_timestamp_and_body() -> None:
    secret = new_secret()
    base = sign(secret, "m1", 100, b"{}")
    assert {
        sign(secret, "m2", 100, b"{}"),
        sign(secret, "m1", 101, b"{}"),
        sign(secret, "m1", 100, b"{ }"),
    }.isdisjoint({base})
    assert sign(new_secret(), "m1", 100, b"{}") != base


def test_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(signing_key(a)) == 24
    assert base64.b64encode(signing_key(a)).decode() == a.removeprefix("whsec_")


def test_retry_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = DeliveryPolicy(first_delay_s=5, factor=5, max_delay_s=3600)
    assert [policy.delay_s(n) for n in range(1, 7)] == [5, 25, 125, 625, 3125, 3600]
    default = DeliveryPolicy()
    total = sum(default.delay_s(n) for n in range(1, default.max_attempts))
    assert default.max_attempts == 8 and 10 * 3600 < total < 13 * 3600


def test_date_range_includes_the_whole_end_day() -> None:
    days = DateRange.resolve(dt.date(2026, 2, 27), dt.date(2026, 3, 1))
    lo, hi = days.bounds
    assert lo == dt.datetime(2026, 2, 27, tzinfo=dt.UTC)
    assert hi == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)  # up to the end of March 1st


def test_date_range_defaults_and_limits() -> None:
    today = dt.date(2026, 11, 28)
    assert DateRange.resolve(None, None, today) == DateRange(dt.date(2026, 11, 1), today)
    with pytest.raises(UserError, match="after"):
        DateRange.resolve(dt.date(2026, 2, 2), dt.date(2026, 2, 1), today)
    with pytest.raises(UserError, match="at most"):
        DateRange.resolve(dt.date(2024, 1, 1), dt.date(2026, 1, 1), today)


def test_actual_is_compared_with_the_option_that_ran_else_the_recommended_one() -> None:
    estimate = {
        "options": [
            {"gpu": "L4", "tier": "serverless_flex", "usd": {"low": 1, "mid": 2, "high": 3}},
            {"gpu": "L4", "tier": "pod_secure", "usd": {"low": 4, "mid": 5, "high": 6}},
            {"gpu": "H200", "tier": "pod_secure", "usd": {"low": 7, "mid": 8, "high": 9}},
        ],
        "recommendation": {"gpu": "H200", "tier": "pod_secure"},
    }
    assert estimated_usd(estimate, "L4", "pod_secure") == (4, 5, 6)
    assert estimated_usd(estimate, "B200", None) == (7, 8, 9)
    assert estimated_usd(None, "L4", None) is None
    assert estimated_usd({"options": []}, "L4", None) is None
