"""The authentication backend used when local passwords are off (LOCAL_PASSWORD_LOGIN=0)."""

from django.contrib.auth.backends import ModelBackend


class NoPasswordBackend(ModelBackend):
    """Django's model backend for permissions and sessions, refusing every password: people
    sign in through the identity provider only (the login page and the admin's alike)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        return None
