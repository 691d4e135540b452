"""The cabinet link token: made by the bot, checked by the web app."""

from __future__ import annotations

import pytest

from common import cabinet_token
from common.errors import Reason

SECRET = "a-webapp-secret-0123456789"
USER = 7_123_456_789


def test_a_token_names_its_user_until_it_expires():
    token = cabinet_token.sign(SECRET, USER, ttl_seconds=600, now=1_000_000)
    assert cabinet_token.verify(SECRET, token, now=1_000_599) == USER
    with pytest.raises(cabinet_token.InvalidToken, match="expired") as expired:
        cabinet_token.verify(SECRET, token, now=1_000_601)
    assert expired.value.reason == Reason.UNAUTHENTICATED


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(str(USER), str(USER + 1), 1),  # another user
        lambda t: t.replace(".2000000.", ".9000000."),  # a later expiry
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
        lambda t: t + ".x",
        lambda t: "",
        lambda t: "x" * 500,
    ],
)
def test_an_altered_token_is_refused(change):
    token = cabinet_token.sign(SECRET, USER, ttl_seconds=1_000_000, now=1_000_000)
    assert ".2000000." in token
    with pytest.raises(cabinet_token.InvalidToken):
        cabinet_token.verify(SECRET, change(token), now=1_000_001)


def test_a_token_signed_with_another_secret_is_refused():
    token = cabinet_token.sign("another-secret-0123456789", USER, now=1_000_000)
    with pytest.raises(cabinet_token.InvalidToken):
        cabinet_token.verify(SECRET, token, now=1_000_001)
