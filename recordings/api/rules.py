"""A Playback user's contact rules (blacklist and whitelist), through ``recordings.rules``."""

from __future__ import annotations

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from hiprecorder.api import TenantAPIView, errors
from hiprecorder.http import CustomerApiRequest
from recordings import rules
from recordings.models import ContactRule

TAG = "Contact rules"


class PlaybackUsersOnly(BasePermission):
    message = "Contact rules belong to the Playback subscription."

    def has_permission(self, request: Request, view: Any) -> bool:
        return hasattr(request.user, "playback_subscription")


class RuleSerializer(serializers.ModelSerializer):
    list_type = serializers.ChoiceField(choices=ContactRule.List.choices, read_only=True)

    class Meta:
        model = ContactRule
        fields = ["id", "list_type", "number", "name", "note", "created_at", "updated_at"]
        read_only_fields = fields


class RuleInputSerializer(serializers.Serializer):
    list_type = serializers.ChoiceField(choices=ContactRule.List.choices)
    number = serializers.CharField(
        max_length=40,
        trim_whitespace=False,  # tenants.numbers judges it as sent: a newline is refused, not dropped
        help_text="E.164 (+31612345678) or national (06 12345678, read with the customer's country).",
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RuleUpdateSerializer(RuleInputSerializer):
    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
            field.default = serializers.empty
        return fields


class RuleQuerySerializer(serializers.Serializer):
    list_type = serializers.ChoiceField(choices=ContactRule.List.choices, required=False)


_RULE = {
    "id": "6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2f1e",
    "list_type": "whitelist",
    "number": "+31612345678",
    "name": "Jan (accountant)",
    "note": "",
    "created_at": "2026-11-29T09:00:00+01:00",
    "updated_at": "2026-11-29T09:00:00+01:00",
}
_DESCRIPTION = (
    "Blacklisted numbers are not recorded (and get no prompt); whitelisted ones are kept at once "
    "without a prompt. A number is on at most one of the two lists. Anonymous callers match no rule. "
    "For users with a Playback subscription (others: 403)."
)


def _rule_of(request: CustomerApiRequest, rule_id: uuid.UUID) -> ContactRule:
    return get_object_or_404(
        ContactRule.objects.select_related("user__tenant"), pk=rule_id, user=request.user
    )


class RuleListView(TenantAPIView):
    permission_classes = [*TenantAPIView.permission_classes, PlaybackUsersOnly]

    @extend_schema(
        tags=[TAG],
        operation_id="rules_list",
        summary="The user's blacklist and whitelist",
        description=_DESCRIPTION,
        parameters=[RuleQuerySerializer],
        responses={
            200: OpenApiResponse(
                RuleSerializer(many=True), examples=[OpenApiExample("Rules", value=[_RULE])]
            ),
            **errors(400, 401, 403),
        },
    )
    def get(self, request: CustomerApiRequest) -> Response:
        query = RuleQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = ContactRule.objects.filter(user=request.user)
        if query.validated_data.get("list_type"):
            found = found.filter(list_type=query.validated_data["list_type"])
        return Response(RuleSerializer(found, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="rules_add",
        summary="Put a number on the blacklist or whitelist",
        description=_DESCRIPTION + " A number already on a list is refused (400) naming that list.",
        request=RuleInputSerializer,
        examples=[
            OpenApiExample(
                "Whitelist",
                request_only=True,
                value={"list_type": "whitelist", "number": "06 12345678", "name": "Jan"},
            )
        ],
        responses={
            201: OpenApiResponse(RuleSerializer, examples=[OpenApiExample("Rule", value=_RULE)]),
            **errors(400, 401, 403),
        },
    )
    def post(self, request: CustomerApiRequest) -> Response:
        data = RuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = rules.add_rule(user=request.user, acting_user=request.user, **data.validated_data)
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(TenantAPIView):
    permission_classes = [*TenantAPIView.permission_classes, PlaybackUsersOnly]

    @extend_schema(
        tags=[TAG],
        operation_id="rules_detail",
        summary="One rule",
        description=_DESCRIPTION,
        responses={
            200: OpenApiResponse(RuleSerializer, examples=[OpenApiExample("Rule", value=_RULE)]),
            **errors(401, 403, 404),
        },
    )
    def get(self, request: CustomerApiRequest, rule_id: uuid.UUID) -> Response:
        return Response(RuleSerializer(_rule_of(request, rule_id)).data)

    @extend_schema(
        tags=[TAG],
        operation_id="rules_update",
        summary="Change a rule: move it to the other list, change number, name or note",
        description="Only the fields sent change.",
        request=RuleUpdateSerializer,
        examples=[OpenApiExample("Move to blacklist", request_only=True, value={"list_type": "blacklist"})],
        responses={
            200: OpenApiResponse(
                RuleSerializer, examples=[OpenApiExample("Rule", value={**_RULE, "list_type": "blacklist"})]
            ),
            **errors(400, 401, 403, 404),
        },
    )
    def patch(self, request: CustomerApiRequest, rule_id: uuid.UUID) -> Response:
        rule = _rule_of(request, rule_id)
        data = RuleUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = rules.update_rule(rule=rule, acting_user=request.user, **data.validated_data)
        return Response(RuleSerializer(rule).data)

    @extend_schema(
        tags=[TAG],
        operation_id="rules_delete",
        summary="Take a number off its list",
        description="Recordings already made are not affected.",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request: CustomerApiRequest, rule_id: uuid.UUID) -> Response:
        rules.remove_rule(rule=_rule_of(request, rule_id), acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
