"""Single sign-on maps the identity provider's email to a user, creating engineers on first login."""

import pytest

from accounts.models import AuditEvent, User
from tests.factories import UserFactory


@pytest.fixture
def backend(settings):
    settings.OIDC_RP_CLIENT_ID = "allocator"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.invalid/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.invalid/userinfo"
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    from accounts.oidc import EmailOIDCBackend

    return EmailOIDCBackend()


def test_existing_user_is_found_by_email_case_insensitively(backend, db):
    user = UserFactory(email="dana@example.com")
    assert list(backend.filter_users_by_claims({"email": "Dana@Example.com"})) == [user]
    assert not backend.filter_users_by_claims({}).exists()


def test_first_login_creates_an_engineer(backend, db):
    user = backend.create_user({"email": "New.Person@example.com", "name": "New Person"})
    assert user.email == "new.person@example.com" and user.role == User.Role.ENGINEER
    assert user.full_name == "New Person" and not user.is_staff
    assert AuditEvent.objects.filter(action="user.created_by_sso", actor=user).exists()
