"""Your notifications: the in-app copy of what Locus e-mailed you. Thin: reads and one write."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.actors import SignedInRequest
from governance.models import Notification
from governance.notifications.services import notifications_mark_read

PAGE_SIZE = 100


@require_safe
@login_required
def notification_list(request: SignedInRequest) -> HttpResponse:
    rows = Notification.objects.filter(recipient=request.user).order_by("-created_at", "-id")
    return render(request, "governance/notifications.html", {"notifications": rows[:PAGE_SIZE]})


@require_POST
@login_required
def notifications_read(request: SignedInRequest) -> HttpResponse:
    notifications_mark_read(user=request.user)
    return redirect("governance:notification-list")


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read_at"]
        read_only_fields = fields


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=1000,
        help_text="Which of yours to mark read; leave out to mark them all",
    )


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your own notifications, newest first; `?unread=1` for the unread ones."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()  # for the schema; get_queryset is per person

    def get_queryset(self):
        rows = Notification.objects.filter(recipient=self.request.user)
        if self.request.query_params.get("unread") in {"1", "true"}:
            rows = rows.filter(read_at__isnull=True)
        return rows.order_by("-created_at", "-id")

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
