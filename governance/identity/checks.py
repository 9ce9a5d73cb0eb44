"""System checks of the single sign-on settings: a mapping naming no Locus role is a mistake
that would otherwise show only as a person without their role."""

from django.conf import settings
from django.core.checks import Error, register

from governance.roles import Role


@register()
def check_group_roles(app_configs, **kwargs) -> list[Error]:
    """Every role OIDC_GROUP_ROLES names is a Locus role."""
    return [
        Error(
            f"OIDC_GROUP_ROLES maps {group!r} to {role!r}, which is not a Locus role",
            hint=f"Use one of: {', '.join(Role.values)}",
            id="locus.E101",
        )
        for group, role in settings.OIDC_GROUP_ROLES.items()
        if role not in Role.values
    ]
