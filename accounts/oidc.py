"""Optional OIDC single sign-on: the IdP's email maps to a user, created as an engineer on first login."""

from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.models import AuditEvent, User


class EmailOIDCBackend(OIDCAuthenticationBackend):
    def filter_users_by_claims(self, claims):
        email = (claims.get("email") or "").lower()
        if not email:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(email__iexact=email)

    def create_user(self, claims):
        user = User.objects.create_user(
            email=claims["email"].lower(),
            full_name=claims.get("name", ""),
            role=User.Role.ENGINEER,
        )
        AuditEvent.record("user.created_by_sso", actor=user, target=user)
        return user

    def update_user(self, user, claims):
        if claims.get("name") and not user.full_name:
            user.full_name = claims["name"]
            user.save(update_fields=["full_name"])
        return user
