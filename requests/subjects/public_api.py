"""The public's subject-request endpoints (no sign-in, throttled): ask, then confirm with the
e-mailed code or link. Thin: the services check everything."""

from __future__ import annotations

import logging

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from governance.client_address import client_address
from governance.errors import StateConflict
from requests.models.subjects import (
    Channel,
    SubjectRequestStatus,
)
from requests.subjects import (
    intake,
    rights,
    selectors,
    verification,
)
from requests.subjects.serializers import IntakeSerializer

logger = logging.getLogger(__name__)


class IntakeThrottle(SimpleRateThrottle):
    """The public endpoints and pages are open to anyone: a few requests an hour per client
    address (signed in or not), named by the one PROXY_COUNT rule, so a made-up
    X-Forwarded-For is a new address only where a trusted proxy wrote it."""

    scope = "subject_intake"

    def get_rate(self):
        return settings.SUBJECT_INTAKE_RATE

    def get_ident(self, request):
        return client_address(request)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PublicIntakeView(APIView):
    """Anyone may ask; nothing happens until they confirm the code sent to their e-mail."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [IntakeThrottle]

    @extend_schema(request=IntakeSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        body = IntakeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = intake.subject_request_create(
            actor=None, channel=Channel.API, **body.validated_data
        )
        return Response(
            {
                "reference": created.reference,
                "token": created.verify_token,
                "status": created.status,
                "deadline": created.deadline,
                "right": created.right_basis,
                "next": "POST subject-intake/verify with this token and the code we e-mailed"
                if created.status == SubjectRequestStatus.AWAITING_VERIFICATION
                else "nothing: the subject's law forbids asking for proof of identity here",
            },
            status=status.HTTP_201_CREATED,
        )


class RightSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The law's right, as the catalog codes it")
    # A field named "label": the stubs type the Field attribute of that name (its own label).
    label = serializers.CharField(help_text="As the law names it")  # type: ignore[assignment]
    citation = serializers.CharField()


class OfferedSerializer(RightSerializer):
    type = serializers.CharField(help_text="The request type to send to subject-intake")


class RegimeRightsSerializer(serializers.Serializer):
    jurisdiction = serializers.CharField()
    regime = serializers.CharField()
    encoded = serializers.BooleanField(
        help_text="False where the law encodes no general rights: the types are house policy"
    )
    verified = serializers.BooleanField(help_text="Checked against the law's own text")
    offered = OfferedSerializer(many=True, help_text="The requests subject-intake takes")
    not_handled = RightSerializer(many=True, help_text="Rights Locus does not take requests for")


class PublicRightsView(APIView):
    """The requests a subject of a jurisdiction may make, with the law's label and article for
    each, and the rights Locus does not handle."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "jurisdiction",
                {"type": "string", "minLength": 1},
                required=True,
                description="A jurisdiction code, e.g. us-ca",
            )
        ],
        responses=RegimeRightsSerializer,
    )
    def get(self, request):
        jurisdiction = rights.jurisdiction_named(request.query_params.get("jurisdiction"))
        return Response(RegimeRightsSerializer(rights.rights_of(jurisdiction)).data)


class VerifySerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=64, help_text="The request's verify token (from the intake answer or e-mail)"
    )
    code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    link = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="Or the e-mailed link's secret"
    )
    resend = serializers.BooleanField(default=False)


def _wait_response(wait: verification.VerificationWait) -> Response:
    return Response(
        {"code": wait.messages},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(wait.retry_after)},
    )


class PublicVerifyView(APIView):
    """Confirm a request with the e-mailed code or link, or ask for a new code. An unknown
    token and a request not waiting for verification answer the same 404."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [IntakeThrottle]

    @extend_schema(
        request=VerifySerializer,
        responses={
            200: OpenApiTypes.OBJECT,
            404: OpenApiResponse(description="No request waits for this token's verification"),
        },
    )
    def post(self, request):
        body = VerifySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        target = selectors.awaiting_verification(data["token"])
        if target is None:
            raise NotFound()
        client = client_address(request)
        try:
            if data["resend"]:
                verification.verification_resend(subject_request=target, client=client)
                return Response({"reference": target.reference, "sent": True})
            verified = verification.verification_check(
                subject_request=target,
                code=data.get("code", ""),
                token=data.get("link", ""),
                client=client,
            )
        except verification.VerificationWait as wait:
            logger.warning("subject verification: %s waits %ss", client, wait.retry_after)
            return _wait_response(wait)
        except StateConflict:  # it stopped waiting meanwhile: as unknown
            raise NotFound() from None
        return Response({"reference": verified.reference, "status": verified.status})
