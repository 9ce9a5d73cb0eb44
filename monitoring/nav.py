"""The risk pages' navigation items (see governance.context_processors)."""

from governance.notifications.services import jurisdictions_of
from governance.roles import Role, has_role


def _reads_all_risk(user) -> bool:
    """Executives, auditors, and privacy officers who answer for every jurisdiction (the
    others have their queue)."""
    if has_role(user, Role.EXECUTIVE, Role.AUDITOR):
        return True
    return has_role(user, Role.PRIVACY_OFFICER) and jurisdictions_of(user) is None


def _handles_incidents(user) -> bool:
    return user.has_perm("monitoring.change_incident")


def _owns_data(user) -> bool:
    return has_role(user, Role.DATA_OWNER)


def _reads_drills(user) -> bool:
    return user.has_perm("monitoring.view_drill")


NAV: tuple = (
    ("Risk", "monitoring:executive", _reads_all_risk, (), "monitoring"),
    ("Incident queue", "monitoring:officer", _handles_incidents, (), "monitoring"),
    ("My datasets' risk", "monitoring:owner", _owns_data, (), "monitoring"),
    ("Breach drills", "monitoring:drill-list", _reads_drills, ("monitoring:drill-",), "monitoring"),
)
