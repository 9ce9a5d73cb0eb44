"""The model backends: Django's, with permissions and roles read through the authentication
cache (governance.identity.authcache), and the one used when local passwords are off
(LOCAL_PASSWORD_LOGIN=0)."""

from django.contrib.auth.backends import ModelBackend
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from governance.identity import authcache


class CachedModelBackend(ModelBackend):
    """Django's model backend; a person's own and group permissions come from the cache,
    read from the database at most once per version (README "Authentication cache")."""

    def _get_permissions(self, user_obj, obj, from_name):
        if (
            user_obj.is_active
            and not user_obj.is_anonymous
            and obj is None
            and not hasattr(user_obj, f"_{from_name}_perm_cache")
        ):
            authcache.load(user_obj)
        return super()._get_permissions(user_obj, obj, from_name)


class NoPasswordBackend(CachedModelBackend):
    """The model backend for permissions and sessions, refusing every password: people
    sign in through the identity provider only (the login page and the admin's alike)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        return None


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, the token's person read from the cache. A token deleted,
    or a person changed, is read from the database again on the very next request; an
    inactive person is refused either way."""

    def authenticate_credentials(self, key):
        token = authcache.cached_token(key)
        if token is None:
            token = self._from_database(key)
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)

    def _from_database(self, key: str) -> Token:
        # The person's version is read before the row that is cached under it, so a change
        # committed in between leaves the entry stale rather than wrong.
        user_id = Token.objects.filter(key=key).values_list("user_id", flat=True).first()
        if user_id is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        current = authcache.versions(user_id)
        user, token = super().authenticate_credentials(key)
        if current is not None and token.user_id == user_id:
            authcache.cache_token(token, current[0])
        user._authcache_versions = current
        return token
