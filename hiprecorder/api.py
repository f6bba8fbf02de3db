"""The mobile app's API, written once: token authentication, the tenant scope, one error shape,
keyset pagination and the schema helpers every endpoint under ``/api/v1/`` uses.

Authentication (``tenants.api.authentication``): ``Authorization: Bearer <token>`` with a token
from ``POST /api/v1/auth/login`` (:class:`tenants.models.ApiToken`, one per device, revocable).
Every view derives from :class:`TenantAPIView`, which refuses anyone but a customer's user and
runs the handler inside that user's tenant scope, so tenant-owned tables stay closed to everything
else (fail-closed).

Errors, everywhere: ``{"error": {"code": "<snake_case>", "message": "<human text>",
"fields": {"<field>": ["<message>", …]}}}`` — the telephony interface's shape, with ``fields``
present only for validation errors.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from tenants.api.authentication import ApiTokenAuthentication, IsCustomerUser
from tenants.scoping import tenant_scope

# --- authentication: the classes are in tenants.api.authentication (settings import them) --


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api.authentication.ApiTokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A device token from `POST /api/v1/auth/login`, sent as `Authorization: Bearer <token>`. "
                "Tokens do not expire by time; they end when revoked (`DELETE /api/v1/auth/tokens/{id}` or "
                "`POST /api/v1/auth/logout`), when the user is deactivated or when the customer's "
                "service ends."
            ),
        }


# --- the base view: tenant scope, fail-closed ------------------------------------------------


class TenantAPIView(APIView):
    """Base of every API view: authenticated customer user, handler run in the user's tenant scope.

    DRF authenticates inside the view, after the middleware, so the scope is entered here: in
    ``initial()`` once authentication and permissions have passed, and left when ``dispatch``
    returns (also on errors). A view that forgets to narrow a queryset still cannot see another
    tenant's rows; one that is reached without a tenant gets no scope and fails.
    """

    authentication_classes = [ApiTokenAuthentication]
    permission_classes: list[type[BasePermission]] = [IsCustomerUser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        tenant = getattr(request.user, "tenant", None)  # IsCustomerUser let only customers' users in
        if tenant is None:  # pragma: no cover - IsCustomerUser refuses them first
            raise exceptions.PermissionDenied(IsCustomerUser.message)
        if must_set_up_mfa(request.user):
            raise mfa_setup_required()
        self._scope.enter_context(tenant_scope(tenant))
        request.tenant = tenant  # type: ignore[attr-defined]  # read back typed as CustomerApiRequest.tenant

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self._scope = ExitStack()
        with self._scope:
            return super().dispatch(request, *args, **kwargs)


def must_set_up_mfa(user: Any) -> bool:
    """The portal's rule (tenants.middleware.AdminMfaMiddleware): a customer admin of a tenant
    that requires it uses an authenticator app before anything else."""
    from tenants.middleware import _has_totp

    tenant = user.tenant
    return bool(
        tenant is not None
        and tenant.require_mfa_for_admins
        and user.is_customer_admin
        and not _has_totp(user)
    )


# --- errors ----------------------------------------------------------------------------------


class ApiError(exceptions.APIException):
    """An error with its own code, e.g. ``ApiError(409, "already_decided", "…")``."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        self.status_code = status_code
        self.error_code = code
        super().__init__(detail=message, code=code)


def mfa_setup_required() -> ApiError:
    return ApiError(
        403,
        "mfa_setup_required",
        "Customer admins protect their account with an authenticator app: set it up in the portal first.",
    )


_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _messages(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _messages(value)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, list[str]]:
    """DRF's nested validation detail, flattened to ``{"field" | "field.sub": [messages]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "non_field_errors" if key == api_settings.NON_FIELD_ERRORS_KEY else str(key)
            if isinstance(value, dict):
                for sub, messages in _fields(value).items():
                    out[f"{name}.{sub}"] = messages
            else:
                out[name] = _messages(value)
    else:
        out["non_field_errors"] = _messages(detail)
    return out


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error of the API in one shape (see the module docstring)."""
    if isinstance(exc, DjangoValidationError):
        # A service refused: its messages are meant for people.
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.messages})
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        # ObjectDoesNotExist: a service found its object gone (deleted by a concurrent request).
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You may not do this.")
    if not isinstance(exc, exceptions.APIException):
        return None  # a server error: Django's 500 handling and logging

    headers: dict[str, str] = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait is not None:
        headers["Retry-After"] = str(int(wait))

    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        first = next(iter(fields.values()))[0] if fields else "Invalid input."
        body = error_body("invalid", first, fields)
        return Response(body, status=status.HTTP_400_BAD_REQUEST, headers=headers)

    if isinstance(exc, ApiError):
        code = exc.error_code
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), str(exc.default_code))
    message = " ".join(_messages(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        message = "Too many requests; try again later."
    return Response(error_body(code, message), status=exc.status_code, headers=headers)


# --- schema helpers --------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, snake_case: what to branch on in the app.")
    message = serializers.CharField(help_text="Human text (English) to show or log.")
    fields = serializers.DictField(  # type: ignore[assignment]  # the error shape's key; DRF moves declared fields off the class
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: messages per request field (`non_field_errors` for the whole).",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_EXAMPLES: dict[int, tuple[str, str, dict[str, list[str]] | None]] = {
    400: ("invalid", "This field is required.", {"name": ["This field is required."]}),
    401: ("not_authenticated", "Sign in: send 'Authorization: Bearer <token>'.", None),
    403: ("permission_denied", "Your role does not allow this.", None),
    404: ("not_found", "Not found.", None),
    409: ("conflict", "The request conflicts with the current state.", None),
    429: ("throttled", "Too many requests; try again later.", None),
}


def error_response(status_code: int, description: str = "", *, examples: list[Any] | None = None) -> Any:
    code, message, fields = _ERROR_EXAMPLES.get(status_code, ("error", "Something went wrong.", None))
    return OpenApiResponse(
        ErrorSerializer,
        description=description
        or {400: "Invalid input", 401: "Not signed in", 403: "Forbidden"}.get(status_code, ""),
        examples=examples or [OpenApiExample(code, value=error_body(code, message, fields))],
    )


def errors(*status_codes: int) -> dict[int, Any]:
    """The documented error responses of an endpoint (always 401 and 429 for signed-in ones)."""
    return {code: error_response(code) for code in status_codes}


def page_serializer(name: str, item: type[serializers.Serializer]) -> Any:
    return inline_serializer(
        name=name,
        fields={
            "results": item(many=True),
            "next_cursor": serializers.CharField(
                allow_null=True, help_text="Pass as `cursor` for the next page; null on the last page."
            ),
        },
    )


# --- OpenAPI links: which answer gives the ids for which next request -------------------------

_LISTED = {"recording_id": "$response.body#/results/0/id"}
_SAME_RECORDING = {"recording_id": "$request.path.recording_id"}

# (operation, status) -> {link name: (target operation, parameters)}. Shown in /api/docs/ for the
# app's developers, and followed by schemathesis' stateful run (tests/api/test_schemathesis.py),
# which is how it checks that a deleted object is unreachable afterwards (use_after_free).
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("recordings_list", "200"): {
        "detail": ("recordings_detail", _LISTED),
        "delete": ("recordings_delete", _LISTED),
        "keep": ("recordings_keep", _LISTED),
        "stream": ("recordings_stream", _LISTED),
        "labels": ("labels_list", _LISTED),
        "addLabel": ("labels_add", _LISTED),
        "comments": ("comments_list", _LISTED),
        "addComment": ("comments_add", _LISTED),
        "shares": ("shares_list", _LISTED),
        "share": ("shares_create", _LISTED),
    },
    ("recordings_detail", "200"): {
        "delete": ("recordings_delete", {"recording_id": "$response.body#/id"}),
        "comments": ("comments_list", {"recording_id": "$response.body#/id"}),
    },
    ("labels_add", "201"): {
        "remove": ("labels_remove", {**_SAME_RECORDING, "label_id": "$response.body#/id"}),
    },
    ("comments_add", "201"): {
        "edit": ("comments_edit", {**_SAME_RECORDING, "comment_id": "$response.body#/id"}),
        "delete": ("comments_delete", {**_SAME_RECORDING, "comment_id": "$response.body#/id"}),
    },
    ("shares_create", "201"): {
        "revoke": ("shares_revoke", {**_SAME_RECORDING, "share_id": "$response.body#/share/id"}),
        "opens": ("shares_opens", {**_SAME_RECORDING, "share_id": "$response.body#/share/id"}),
    },
    ("rules_add", "201"): {
        "detail": ("rules_detail", {"rule_id": "$response.body#/id"}),
        "update": ("rules_update", {"rule_id": "$response.body#/id"}),
        "delete": ("rules_delete", {"rule_id": "$response.body#/id"}),
    },
    ("devices_register", "201"): {
        "remove": ("devices_remove", {"device_id": "$response.body#/id"}),
    },
}


def add_links(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: put :data:`LINKS` into the schema's responses."""
    operations = {
        operation["operationId"]: operation
        for item in result.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (source, status_code), links in LINKS.items():
        response = operations[source]["responses"][status_code]
        response["links"] = {
            name: {"operationId": target, "parameters": dict(parameters)}
            for name, (target, parameters) in links.items()
            if target in operations
        }
    return result


# --- the docs page ---------------------------------------------------------------------------


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar (no CDN), its set-up script served as a file.

    The Content-Security-Policy forbids inline scripts and styles, so the split view (which loads
    the initialising script from ``?script``) with a template without the inline ``<style>``.
    """

    template_name = "api/swagger_ui.html"
