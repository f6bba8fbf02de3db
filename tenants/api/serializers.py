"""Serializers of sign-in, devices' tokens and the signed-in user."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenants.models import ApiToken, Role, Tenant, User


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=True)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    totp_code = serializers.RegexField(
        r"^[0-9]{6}\Z",
        required=False,
        allow_blank=True,
        help_text="The 6-digit code of the user's authenticator app; required when the user has TOTP on.",
        error_messages={"invalid": "Enter the 6 digits your authenticator app shows."},
    )
    device_name = serializers.CharField(
        max_length=100, help_text="Shown in the user's list of signed-in devices, e.g. 'Anna's iPhone'."
    )


class ApiTokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(help_text="True for the token of this very request.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created_at", "last_used_at", "current"]
        read_only_fields = fields

    def get_current(self, token: ApiToken) -> bool:
        request = self.context.get("request")
        return bool(request is not None and request.auth is not None and request.auth.pk == token.pk)


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`. Shown only this once.")
    device = ApiTokenSerializer()


class TenantSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "language", "country"]
        read_only_fields = fields


class ProductSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["licence", "playback", "none"])
    mode = serializers.CharField(allow_null=True, help_text="Call Recording licence: the recording mode.")
    tier = serializers.CharField(allow_null=True, help_text="Playback subscription: the retention tier.")


class QuotaSerializer(serializers.Serializer):
    used_minutes = serializers.FloatField()
    limit_minutes = serializers.IntegerField()
    warning = serializers.BooleanField(help_text="True from 90 % of the limit.")


class MeSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()
    effective_language = serializers.SerializerMethodField(
        help_text="The language to show the app in: the user's own, else the customer's."
    )
    tenant = TenantSummarySerializer(read_only=True)
    product = serializers.SerializerMethodField()
    quota = serializers.SerializerMethodField(help_text="Playback `minutes_100k` tier only; else null.")
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    language = serializers.CharField(read_only=True, help_text="The user's own choice: nl, en, or empty.")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "display_name",
            "role",
            "language",
            "effective_language",
            "tenant",
            "product",
            "quota",
        ]
        read_only_fields = fields

    def get_display_name(self, user: User) -> str:
        return str(user)

    def get_effective_language(self, user: User) -> str:
        return user.language or (user.tenant.language if user.tenant else "nl")

    def _product(self, user: User) -> dict[str, Any]:
        licence = user.licence if hasattr(user, "licence") else None
        subscription = user.playback_subscription if hasattr(user, "playback_subscription") else None
        if licence is not None:
            return {"type": "licence", "mode": licence.mode, "tier": None}
        if subscription is not None:
            return {"type": "playback", "mode": None, "tier": subscription.tier}
        return {"type": "none", "mode": None, "tier": None}

    @extend_schema_field(ProductSerializer)
    def get_product(self, user: User) -> dict[str, Any]:
        return ProductSerializer(self._product(user)).data

    @extend_schema_field(QuotaSerializer(allow_null=True))
    def get_quota(self, user: User) -> dict[str, Any] | None:
        quota = self.context.get("quota")
        return QuotaSerializer(quota).data if quota is not None else None


class MeUpdateSerializer(serializers.Serializer):
    language = serializers.CharField(
        max_length=5,
        allow_blank=True,
        trim_whitespace=False,
        help_text='`nl` or `en`; empty (`""`) to follow the customer\'s language again.',
    )
