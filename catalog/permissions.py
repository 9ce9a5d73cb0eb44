"""The API's gate for writes: a person who may not act is refused before the body is read.

Without it a write reaches the serializer first, and someone without the right to act gets the
body's validation errors (400) instead of a refusal (403), which also tells them what the
operation expects. The services still check, with the object in hand (ownership, the officer's
jurisdictions); this gate checks only what can be known before: the person's role.

A view lists, per action (a viewset's action name, else the HTTP method in lower case), the
permissions any one of which lets a person try:

    action_permissions = {"create": "catalog.add_dataset", "revoke": ("a.x", "a.y")}

and, for actions on one object, a check of the person and the object, run when the view looks
the object up (before the body is read, too):

    object_checks = {"update": services.can_change_dataset}

A refusal says `action_denials[action]` when the view gives one, else DENIED.
"""

from __future__ import annotations

import logging

from rest_framework import permissions

DENIED = "Your role may not do this."

log = logging.getLogger(__name__)


def _action(request, view) -> str:
    action = getattr(view, "action", None) or request.method.lower()
    return "update" if action == "partial_update" else action


class ActsWithPermission(permissions.BasePermission):
    message = DENIED

    def has_permission(self, request, view) -> bool:
        required = getattr(view, "action_permissions", {}).get(_action(request, view))
        if required is None:
            return True
        if isinstance(required, str):
            required = (required,)
        return any(request.user.has_perm(name) for name in required) or self._refuse(request, view)

    def has_object_permission(self, request, view, obj) -> bool:
        check = getattr(view, "object_checks", {}).get(_action(request, view))
        return check is None or bool(check(request.user, obj)) or self._refuse(request, view)

    def _refuse(self, request, view) -> bool:
        # DRF makes one instance per request, so the message can be set on it.
        action = _action(request, view)
        self.message = getattr(view, "action_denials", {}).get(action, DENIED)
        fields = {"view": type(view).__name__, "action": action, "user_id": request.user.pk}
        log.info("Refused %s.%s to user %s: %s", *fields.values(), self.message, extra=fields)
        return False
