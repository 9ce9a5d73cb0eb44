"""Your notifications: the in-app copy of what Locus told you, filtered and paged; marking them
read; your preferences (what reaches you at once, in a digest, or not at all). Thin: reads,
and one service per write."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from catalog.actors import SignedInRequest
from catalog.fields import ID_MAX
from catalog.filtering import StrictBooleanField
from catalog.form_views import form_page
from governance.models import Delivery, Notification, NotificationSeverity, NotificationTopic
from governance.notifications.forms import NotificationFilterForm, PreferencesForm
from governance.notifications.preferences import (
    CHOSEN_TOPICS,
    SEVERITIES,
    Preferences,
    preferences_of,
    preferences_set,
)
from governance.notifications.selectors import Counts, notifications_of
from governance.notifications.services import notifications_mark_read

PAGE_SIZE = 50


class CountedPaginator(Paginator):
    """A paginator told its count (the page's grouped count has it), so it asks no COUNT."""

    def __init__(self, object_list: Any, per_page: int, *, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


@require_safe
@login_required
def notification_list(request: SignedInRequest) -> HttpResponse:
    """Your notifications, newest first, by kind, severity and read or unread, with counts."""
    form = NotificationFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "governance/notifications.html", {"form": form}, status=400)
    chosen = form.chosen()
    counts = Counts.of(request.user)
    rows = notifications_of(request.user, **chosen)
    paginator = CountedPaginator(rows, PAGE_SIZE, count=counts.matching(**chosen))
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "form": form,
        "chosen": chosen,
        "page": page,
        "notifications": page.object_list,
        "counts": counts,
        "matching": paginator.count,
        "matching_unread": counts.matching(
            topic=chosen["topic"], severity=chosen["severity"], status="unread"
        ),
        "matching_all_topics": counts.matching(
            severity=chosen["severity"], status=chosen["status"]
        ),
        "topics": counts.per_topic(severity=chosen["severity"], status=chosen["status"]),
        "severities": counts.per_severity(topic=chosen["topic"], status=chosen["status"]),
        # The header's badge, from the same count (a view's context overrides the processor's).
        "unread_notifications": counts.unread,
    }
    return render(request, "governance/notifications.html", context)


@require_POST
@login_required
def notifications_read(request: SignedInRequest) -> HttpResponse:
    """Mark read every unread notification the current filter shows (all, without one)."""
    form = NotificationFilterForm(request.POST)
    if not form.is_valid():
        return render(request, "governance/notifications.html", {"form": form}, status=400)
    chosen = form.chosen()
    notifications_mark_read(user=request.user, topic=chosen["topic"], severity=chosen["severity"])
    query = urlencode({k: v for k, v in chosen.items() if v and v != "all"})
    url = reverse("governance:notification-list")
    return redirect(f"{url}?{query}" if query else url)


@require_http_methods(["GET", "POST"])
@login_required
def notification_preferences(request: SignedInRequest) -> HttpResponse:
    """Your delivery per kind and severity, and your daily digest's hour."""
    user = request.user
    current = preferences_of(user)
    return form_page(
        request,
        form_class=PreferencesForm,
        template="governance/notifications/preferences.html",
        act=lambda form: preferences_set(
            user=user, deliveries=form.deliveries(), daily_digest_hour=form.digest_hour()
        ),
        done=lambda _: (
            "Your notification preferences are saved.",
            reverse("governance:notification-preferences"),
        ),
        context={"preferences": current, "deliveries": Delivery.choices},
        form_kwargs={"preferences": current},
    )


# --- The API -----------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "topic",
            "severity",
            "title",
            "body",
            "url",
            "created_at",
            "read_at",
        ]
        read_only_fields = fields


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        max_length=1000,
        help_text="Which of yours to mark read; leave out to mark them all",
    )


class PreferenceCellSerializer(serializers.Serializer):
    topic = serializers.ChoiceField(choices=CHOSEN_TOPICS, help_text="What it is about")
    severity = serializers.ChoiceField(choices=NotificationSeverity.choices)
    delivery = serializers.ChoiceField(choices=Delivery.choices)
    default = serializers.ChoiceField(
        choices=Delivery.choices, read_only=True, help_text="Your role's default for this cell"
    )


class PreferencesSerializer(serializers.Serializer):
    preferences = PreferenceCellSerializer(  # type: ignore[call-arg]  # DRF 3.15's list bound
        many=True,
        max_length=len(CHOSEN_TOPICS) * len(SEVERITIES),
        help_text="PUT: the cells you choose; every cell left out returns to its default",
    )
    daily_digest_hour = serializers.IntegerField(
        min_value=0, max_value=23, required=False, help_text="UTC; left out, it stays as it is"
    )

    def validate_preferences(self, cells: list[dict]) -> list[dict]:
        seen: set[tuple[str, str]] = set()
        for cell in cells:
            key = (cell["topic"], cell["severity"])
            if key in seen:
                raise serializers.ValidationError(f"{key[0]}/{key[1]} is given twice")
            seen.add(key)
        return cells


def _preferences_data(preferences: Preferences) -> dict:
    return {
        "preferences": [
            {
                "topic": c.topic,
                "severity": c.severity,
                "delivery": c.delivery,
                "default": c.default,
            }
            for c in preferences.cells
        ],
        "daily_digest_hour": preferences.daily_digest_hour,
    }


_FILTERS = [
    OpenApiParameter("unread", bool, description="Only the unread ones"),
    OpenApiParameter("topic", str, enum=NotificationTopic.values, description="Their kind"),
    OpenApiParameter("severity", str, enum=NotificationSeverity.values),
]


def _unread(params) -> bool:
    """`unread` as every boolean filter of the API reads it: a 400 naming it unless a boolean."""
    try:
        return bool(StrictBooleanField(required=False).clean(params.get("unread", "")))
    except DjangoValidationError as exc:
        raise ValidationError({"unread": exc.messages}) from exc


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your own notifications, newest first; `?unread=1` for the unread ones, `?topic=` and
    `?severity=` to filter; your delivery preferences."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()  # for the schema; get_queryset is per person
    ordering_fields = ["id", "created_at", "severity"]

    def get_serializer_class(self):
        # By route, not self.action: an OPTIONS request's action is "metadata".
        route = set(getattr(self, "action_map", {}).values())
        if "preferences" in route:
            return PreferencesSerializer
        return MarkReadSerializer if "read" in route else NotificationSerializer

    def get_object(self):
        """Your preferences: the one object here (DRF's OPTIONS asks for it to describe PUT)."""
        return preferences_of(self.request.user)

    def get_queryset(self):
        params = self.request.query_params
        form = NotificationFilterForm(
            {"topic": params.get("topic", ""), "severity": params.get("severity", "")}
        )
        if not form.is_valid():
            raise ValidationError(form.errors)
        unread = _unread(params)
        return notifications_of(
            self.request.user, **{**form.chosen(), "status": "unread" if unread else "all"}
        )

    @extend_schema(parameters=_FILTERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=MarkReadSerializer,
        responses={
            200: inline_serializer("MarkedRead", {"marked_read": serializers.IntegerField()})
        },
    )
    @action(detail=False, methods=["post"])
    def read(self, request):
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        marked = notifications_mark_read(user=request.user, ids=body.validated_data.get("ids"))
        return Response({"marked_read": marked})

    @extend_schema(methods=["GET"], responses=PreferencesSerializer)
    @extend_schema(methods=["PUT"], request=PreferencesSerializer, responses=PreferencesSerializer)
    @action(detail=False, methods=["get", "put"], pagination_class=None)
    def preferences(self, request):
        """Your delivery per topic and severity (immediate, hourly, daily, off), and the hour
        (UTC) of your daily digest."""
        if request.method == "GET":
            return Response(_preferences_data(preferences_of(request.user)))
        body = PreferencesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        saved = preferences_set(
            user=request.user,
            deliveries={
                (c["topic"], c["severity"]): c["delivery"]
                for c in body.validated_data["preferences"]
            },
            daily_digest_hour=body.validated_data.get("daily_digest_hour"),
        )
        return Response(_preferences_data(saved))
