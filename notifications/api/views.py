"""The app's push registration: register, refresh and remove a phone's push token.

Through ``notifications.services`` (register_device, deactivate_device) like the rest of the
product; a device is reached only among the signed-in user's own (another's is a 404).
"""

from __future__ import annotations

import uuid

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from hiprecorder.api import TenantAPIView, errors
from hiprecorder.http import CustomerApiRequest
from notifications import services
from notifications.models import Device

TAG = "Push notifications"


class DeviceSerializer(serializers.ModelSerializer):
    platform = serializers.ChoiceField(choices=Device.Platform.choices, read_only=True)

    class Meta:
        model = Device
        fields = ["id", "platform", "app_version", "active", "created_at", "last_seen_at"]
        read_only_fields = fields


class DeviceInputSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=5000,
        trim_whitespace=False,
        help_text="The FCM registration token (or FID) of this install.",
    )
    platform = serializers.ChoiceField(choices=[Device.Platform.ANDROID, Device.Platform.IOS])
    app_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


_DEVICE = {
    "id": "2b1a0f9e-8d7c-4b6a-9e5d-4c3b2a1f0e9d",
    "platform": "ios",
    "app_version": "1.4.0",
    "active": True,
    "created_at": "2026-11-29T09:00:00+01:00",
    "last_seen_at": "2026-11-29T16:00:00+01:00",
}


def _device_of(request: CustomerApiRequest, device_id: uuid.UUID) -> Device:
    return get_object_or_404(Device, pk=device_id, user=request.user)


class DeviceListView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="devices_list",
        summary="The user's phones that get push prompts",
        description="Active and deactivated (FCM reported the token dead, or removed) ones.",
        responses={
            200: OpenApiResponse(
                DeviceSerializer(many=True), examples=[OpenApiExample("Devices", value=[_DEVICE])]
            ),
            **errors(401, 403),
        },
    )
    def get(self, request: CustomerApiRequest) -> Response:
        return Response(DeviceSerializer(Device.objects.filter(user=request.user), many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="devices_register",
        summary="Register or refresh this phone's push token",
        description=(
            "Call after sign-in and whenever FCM hands the app a new token. Registering a token again "
            "refreshes it (and re-activates it); a token registered by another user before (someone else "
            "signed in on this phone) moves to this user. The keep-or-delete prompts arrive with the "
            "notification category `KEEP_OR_DELETE` and the recording's id in the data."
        ),
        request=DeviceInputSerializer,
        examples=[
            OpenApiExample(
                "iPhone",
                request_only=True,
                value={"token": "fcm-token-…", "platform": "ios", "app_version": "1.4.0"},
            )
        ],
        responses={
            201: OpenApiResponse(DeviceSerializer, examples=[OpenApiExample("Device", value=_DEVICE)]),
            **errors(400, 401, 403),
        },
    )
    def post(self, request: CustomerApiRequest) -> Response:
        data = DeviceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device = services.register_device(user=request.user, acting_user=request.user, **data.validated_data)
        return Response(DeviceSerializer(device).data, status=status.HTTP_201_CREATED)


class DeviceDetailView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="devices_remove",
        summary="Stop push prompts to a phone",
        description="Call on sign-out. The device stays listed as inactive until registered again.",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request: CustomerApiRequest, device_id: uuid.UUID) -> Response:
        services.deactivate_device(
            device=_device_of(request, device_id), reason="removed", acting_user=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
