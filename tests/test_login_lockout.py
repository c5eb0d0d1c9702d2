"""Login abuse: repeated failed sign-ins lock the account, and the address they come from, for a cool-off; the
login page says so plainly and even the right password is refused until the cool-off is over."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

LOGIN = reverse("accounts:login")


def _sign_in(client: Client, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=address)


def _signed_in(client: Client) -> bool:
    return client.get(reverse("home")).status_code == 200


@pytest.mark.django_db
def test_fifty_wrong_passwords_lock_the_account_until_the_cool_off_is_over(engineer):
    client = Client()
    statuses = [_sign_in(client, engineer.email, f"wrong-{n}").status_code for n in range(50)]

    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, "enter a correct email and password"
    assert set(statuses[limit:]) == {429}
    locked = _sign_in(client, engineer.email, "pw")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-ins for this account or from your address" in page
    assert f"paused for {settings.AXES_COOLOFF_TIME.seconds // 60} minutes, even with the right password" in page
    assert 'name="password"' in page  # the login page itself, not a bare error
    assert not _signed_in(client)

    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=5)):
        response = _sign_in(client, engineer.email, "pw")
        assert response.status_code == 302 and response.url == reverse("home")
        assert _signed_in(client)


@pytest.mark.django_db
def test_the_account_is_locked_whatever_address_the_guesses_come_from(engineer):
    for n in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(Client(), engineer.email, "wrong", address=f"10.0.{n}.1")

    assert _sign_in(Client(), engineer.email, "pw", address="10.9.9.9").status_code == 429


@pytest.mark.django_db
def test_one_address_guessing_many_accounts_is_locked_out_but_others_still_sign_in(engineer, manager):
    for n in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(Client(), f"nobody{n}@example.com", "wrong", address="10.1.1.1")

    assert _sign_in(Client(), engineer.email, "pw", address="10.1.1.1").status_code == 429
    other = Client()
    assert _sign_in(other, manager.email, "pw", address="10.2.2.2").status_code == 302
    assert _signed_in(other)


@pytest.mark.django_db
def test_a_forwarded_for_header_does_not_dodge_the_address_limit(engineer):
    # With no proxy configured (LOGIN_PROXY_COUNT), the address is the TCP peer, not what the client claims.
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            LOGIN, {"username": f"nobody{n}@example.com", "password": "x"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"
        )

    assert _sign_in(Client(), engineer.email, "pw").status_code == 429


@pytest.mark.django_db
def test_a_success_clears_earlier_failures(engineer):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, engineer.email, "wrong")
    assert _sign_in(client, engineer.email, "pw").status_code == 302
    client.post(reverse("accounts:logout"))

    assert _sign_in(client, engineer.email, "wrong").status_code == 200  # counting starts again
    assert _sign_in(client, engineer.email, "pw").status_code == 302
