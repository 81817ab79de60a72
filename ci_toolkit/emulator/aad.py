"""Emulated Azure AD (Microsoft identity platform v2.0) for the demo tenant.

Routes, relative to ``https://127.0.0.1:<port>``:

- ``/<tenant>/v2.0/.well-known/openid-configuration`` (and the v1 path) and the JWKS,
- ``/<tenant>/oauth2/v2.0/devicecode``: starts a device code flow,
- ``/<tenant>/oauth2/v2.0/token``: device code, refresh token and client credentials grants,
- ``/devicelogin``: the page where a person enters the user code, picks a demo user and
  approves or declines.

Errors have AAD's shape (``error``, ``error_description`` starting with ``AADSTSnnnn:``,
``error_codes``, ``trace_id``, ``correlation_id``, ``timestamp``), so MSAL and the toolkit can
tell a bad scope (AADSTS70011) from an unknown client (AADSTS700016), a wrong secret
(AADSTS7000215) or an unknown tenant (AADSTS90002).
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import secrets
import string
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ci_toolkit.emulator.identity import (
    API_AUDIENCE,
    API_SCOPE_DEFAULT,
    API_SCOPE_USER_IMPERSONATION,
    ROLES,
    V1_ISSUER,
    AppRegistration,
    Principal,
    resource_scopes,
)
from ci_toolkit.emulator.state import EmulatorState

__all__ = ["AzureAD", "DeviceFlow"]

logger = logging.getLogger(__name__)

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Scopes MSAL adds to delegated requests; AAD accepts them beside the resource scope.
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
DEVICE_CODE_LIFETIME = 900
REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600
USER_CODE_ALPHABET = string.ascii_uppercase + string.digits

FlowStatus = Literal["pending", "approved", "declined", "redeemed"]


@dataclass
class DeviceFlow:
    """One device code sign-in in progress."""

    device_code: str = field(repr=False)
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    status: FlowStatus = "pending"
    principal: Principal | None = None


@dataclass
class _RefreshToken:
    principal: Principal
    client_id: str
    expires_at: float


class _AadError(Exception):
    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        trace_id = str(uuid.uuid4())
        correlation_id = str(uuid.uuid4())
        timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        description = (
            f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        )
        body = {
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }
        return JSONResponse(body, status_code=self.status, headers={"Cache-Control": "no-store"})


class AzureAD:
    """The emulated identity platform of one run.

    Parameters
    ----------
    state
        The emulator state (directory, token service, config).
    """

    #: Seconds a client waits between polls of a pending device code (AAD says 5).
    poll_interval = 5

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        state.directory.user_for_role(state.config.auto_approve_role)  # ValueError if unknown
        self.auto_approve = state.config.auto_approve
        self.auto_approve_role = state.config.auto_approve_role
        self.token_lifetime = state.config.token_lifetime
        #: Access tokens the token endpoint has issued (every grant), for tests of refresh.
        self.tokens_issued = 0
        self._flows: dict[str, DeviceFlow] = {}
        self._by_user_code: dict[str, DeviceFlow] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}

    # -- helpers -----------------------------------------------------------------------------

    def base_url(self, request: Request) -> str:
        """``https://127.0.0.1:<port>`` (the server's public URL, else the request's)."""
        return self.state.public_url or str(request.base_url).rstrip("/")

    def issuer(self, request: Request) -> str:
        """The v2.0 issuer of the demo tenant (ID tokens, the v2.0 discovery document)."""
        return f"{self.base_url(request)}/{self.state.directory.tenant_id}/v2.0"

    def access_token_issuer(self) -> str:
        """The issuer of access tokens for the API: the tenant's v1.0 STS (see ``tokens``)."""
        return V1_ISSUER.format(tenant_id=self.state.directory.tenant_id)

    def _check_tenant(self, tenant: str) -> None:
        if not self.state.directory.tenant_matches(tenant):
            raise _AadError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions for "
                "the tenant.",
            )

    def _app(self, client_id: str | None) -> AppRegistration:
        if not client_id:
            raise _AadError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        app = self.state.directory.app(client_id)
        if app is None:
            raise _AadError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.state.directory.tenant_domain}'. This can happen if the application "
                "has not been installed by the administrator of the tenant or consented to by "
                "any user in the tenant. You may have sent your authentication request to the "
                "wrong tenant.",
            )
        return app

    @staticmethod
    def _delegated_scopes(raw: str | None, extra: Iterable[str] = ()) -> tuple[str, ...]:
        scopes = tuple((raw or "").split())
        resource = [s for s in scopes if s.lower() not in OIDC_SCOPES]
        allowed = {API_SCOPE_USER_IMPERSONATION.lower(), API_SCOPE_DEFAULT.lower()}
        allowed |= {s.lower() for s in extra}
        bad = [s for s in resource if s.lower() not in allowed]
        if bad or not resource:
            shown = " ".join(bad) if bad else " ".join(scopes) or "(none)"
            raise _AadError(
                400,
                "invalid_scope",
                70011,
                "The provided request must include a 'scope' input parameter. The provided "
                f"value for the input parameter 'scope' is not valid. The scope {shown} is not "
                f"valid. This API accepts {API_SCOPE_USER_IMPERSONATION}.",
            )
        return scopes

    def dataverse_resource(self, request: Request, scopes: Iterable[str]) -> tuple[str, str] | None:
        """``(audience, granted scope)`` when ``scopes`` name the Dataverse org, else ``None``.

        The emulator's origin is its Dataverse org URL: ``<origin>/user_impersonation`` and
        ``<origin>/.default`` give tokens whose audience is the origin. Scopes of the org and
        of the Customer Insights API together are refused, as AAD refuses two resources
        (AADSTS28000).
        """
        org = self.base_url(request)
        dataverse = {s.lower() for s in resource_scopes(org)}
        named = [s for s in scopes if s.lower() not in OIDC_SCOPES]
        if not named or not any(s.lower() in dataverse for s in named):
            return None
        if not all(s.lower() in dataverse for s in named):
            raise _AadError(
                400,
                "invalid_scope",
                28000,
                "Provided value for the input parameter scope is not valid because it contains "
                f"more than one resource. Scope {' '.join(scopes)} is not valid.",
            )
        return org, " ".join(named)

    def _delegated_tokens(
        self,
        request: Request,
        principal: Principal,
        client_id: str,
        scopes: Iterable[str] = (),
    ) -> dict[str, object]:
        issuer = self.issuer(request)
        audience, granted = self.dataverse_resource(request, scopes) or (
            None,
            API_SCOPE_USER_IMPERSONATION,
        )
        tokens = self.state.tokens
        self.tokens_issued += 1
        refresh = secrets.token_urlsafe(48)
        self._refresh_tokens[refresh] = _RefreshToken(
            principal=principal,
            client_id=client_id,
            expires_at=time.time() + REFRESH_TOKEN_LIFETIME,
        )
        return {
            "token_type": "Bearer",
            "scope": granted,
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": tokens.mint_access_token(
                principal,
                issuer=self.access_token_issuer(),
                lifetime=self.token_lifetime,
                client_id=client_id,
                audience=audience,
            ),
            "refresh_token": refresh,
            "id_token": tokens.mint_id_token(principal, issuer=issuer, client_id=client_id),
            "client_info": tokens.client_info(principal),
        }

    # -- device flow bookkeeping (used by /devicelogin and tests) ----------------------------

    def start_device_flow(self, client_id: str, scopes: tuple[str, ...]) -> DeviceFlow:
        """Register a new device code flow (approved at once when auto-approve is on)."""
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(9))
        flow = DeviceFlow(
            device_code=secrets.token_urlsafe(48),
            user_code=user_code,
            client_id=client_id,
            scopes=scopes,
            expires_at=time.time() + DEVICE_CODE_LIFETIME,
        )
        if self.auto_approve:
            flow.status = "approved"
            flow.principal = self.state.directory.user_for_role(self.auto_approve_role)
        self._flows[flow.device_code] = flow
        self._by_user_code[user_code] = flow
        return flow

    def decide(self, user_code: str, role: str, *, approve: bool) -> DeviceFlow:
        """Approve (as the demo user of ``role``) or decline the flow with ``user_code``.

        Raises
        ------
        LookupError
            Unknown, expired or already decided code, with a message for the page.
        """
        flow = self._by_user_code.get(user_code.strip().upper().replace("-", ""))
        if flow is None:
            raise LookupError("That code wasn't recognised. Check the code and try again.")
        if time.time() > flow.expires_at:
            raise LookupError("That code has expired. Start the sign-in again on your device.")
        if flow.status != "pending":
            raise LookupError("That code has already been used.")
        if approve:
            flow.principal = self.state.directory.user_for_role(role)
            flow.status = "approved"
        else:
            flow.status = "declined"
        return flow

    # -- endpoints ---------------------------------------------------------------------------

    async def openid_configuration(self, request: Request) -> Response:
        """OIDC discovery document of the tenant: v2.0 (``/v2.0/...``, what MSAL reads) or v1.0.

        The v2.0 document names the v2.0 issuer of ID tokens. The v1.0 document (``/<tenant>/
        .well-known/openid-configuration``) names the issuer of the API's v1.0 access tokens,
        ``https://sts.windows.net/<tenant id>/``, and the v1.0 key set, as Azure AD's own does:
        it is the one a resource validating those tokens reads. Its endpoints are the
        emulator's v2.0 ones (the v1.0 ``/oauth2/token`` of ADAL is not imitated).
        """
        tenant = request.path_params["tenant"]
        if not self.state.directory.tenant_matches(tenant):
            return _AadError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            ).response()
        base = self.base_url(request)
        tid = self.state.directory.tenant_id
        v1 = not request.url.path.rstrip("/").endswith("/v2.0/.well-known/openid-configuration")
        doc = {
            "issuer": self.access_token_issuer() if v1 else self.issuer(request),
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/{tid}/discovery/keys"
            if v1
            else f"{base}/{tid}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": [DEVICE_CODE_GRANT, "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "name", "oid", "tid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "127.0.0.1",
        }
        if v1:
            doc["claims_supported"] = [*doc["claims_supported"], "appid", "upn", "unique_name"]
        return JSONResponse(doc)

    async def jwks(self, request: Request) -> Response:
        """The signing keys."""
        try:
            self._check_tenant(request.path_params["tenant"])
        except _AadError as exc:
            return exc.response()
        return JSONResponse(self.state.tokens.jwks())

    async def devicecode(self, request: Request) -> Response:
        """Start a device code flow (RFC 8628 device authorization endpoint)."""
        form = await request.form()
        try:
            self._check_tenant(request.path_params["tenant"])
            app = self._app(_field(form.get("client_id")))
            scopes = self._delegated_scopes(
                _field(form.get("scope")), resource_scopes(self.base_url(request))
            )
            self.dataverse_resource(request, scopes)  # one resource at a time
        except _AadError as exc:
            return exc.response()
        flow = self.start_device_flow(app.client_id, scopes)
        uri = f"{self.base_url(request)}/devicelogin"
        logger.info("Device code flow started for %s (user code %s)", app.name, flow.user_code)
        return JSONResponse(
            {
                "user_code": flow.user_code,
                "device_code": flow.device_code,
                "verification_uri": uri,
                "expires_in": DEVICE_CODE_LIFETIME,
                "interval": self.poll_interval,
                "message": (
                    f"To sign in, use a web browser to open the page {uri} and enter the code "
                    f"{flow.user_code} to authenticate."
                ),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def token(self, request: Request) -> Response:
        """The token endpoint: device code, refresh token and client credentials grants."""
        form = await request.form()
        try:
            self._check_tenant(request.path_params["tenant"])
            grant = _field(form.get("grant_type"))
            client_id = _field(form.get("client_id"))
            if client_id is None and request.headers.get("authorization", "").startswith("Basic"):
                client_id, secret = _basic_credentials(request.headers["authorization"])
            else:
                secret = _field(form.get("client_secret"))
            app = self._app(client_id)
            if grant == DEVICE_CODE_GRANT:
                body = self._device_code_grant(request, app, _field(form.get("device_code")))
            elif grant == "refresh_token":
                body = self._refresh_grant(
                    request, app, _field(form.get("refresh_token")), _field(form.get("scope"))
                )
            elif grant == "client_credentials":
                body = self._client_credentials_grant(
                    app,
                    secret,
                    _field(form.get("scope")),
                    extra=resource_scopes(self.base_url(request))[1:],
                )
                dataverse = self.dataverse_resource(request, [str(body["scope"])])
                self.tokens_issued += 1
                body["access_token"] = self.state.tokens.mint_access_token(
                    self.state.directory.app_principal,
                    issuer=self.access_token_issuer(),
                    lifetime=self.token_lifetime,
                    client_id=app.client_id,
                    audience=dataverse[0] if dataverse else None,
                )
            else:
                raise _AadError(
                    400,
                    "unsupported_grant_type",
                    70003,
                    f"The app requested an unsupported grant type '{grant}'.",
                )
        except _AadError as exc:
            if exc.error != "authorization_pending":
                logger.info("Token request refused: %s AADSTS%s", exc.error, exc.code)
            return exc.response()
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _device_code_grant(
        self, request: Request, app: AppRegistration, device_code: str | None
    ) -> dict[str, object]:
        flow = self._flows.get(device_code or "")
        if flow is None or flow.client_id != app.client_id:
            raise _AadError(
                400,
                "bad_verification_code",
                70000,
                "The device code sent to the token endpoint wasn't recognized.",
            )
        if flow.status == "redeemed":
            raise _AadError(
                400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."
            )
        if time.time() > flow.expires_at:
            raise _AadError(400, "expired_token", 70019, "Verification code expired.")
        if flow.status == "declined":
            raise _AadError(
                400,
                "authorization_declined",
                70000,
                "The end user denied the authorization request.",
            )
        if flow.status == "pending" or flow.principal is None:
            raise _AadError(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        flow.status = "redeemed"
        return self._delegated_tokens(request, flow.principal, app.client_id, flow.scopes)

    def _refresh_grant(
        self,
        request: Request,
        app: AppRegistration,
        refresh_token: str | None,
        scope: str | None,
    ) -> dict[str, object]:
        if scope:
            self._delegated_scopes(scope, resource_scopes(self.base_url(request)))
        record = self._refresh_tokens.get(refresh_token or "")
        if record is None:
            raise _AadError(
                400,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            )
        if record.client_id != app.client_id:
            raise _AadError(
                400,
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the refresh token was issued to "
                "another client.",
            )
        if time.time() > record.expires_at:
            raise _AadError(
                400, "invalid_grant", 700082, "The refresh token has expired due to inactivity."
            )
        return self._delegated_tokens(
            request, record.principal, app.client_id, (scope or "").split()
        )

    def _client_credentials_grant(
        self,
        app: AppRegistration,
        secret: str | None,
        scope: str | None,
        *,
        extra: Iterable[str] = (),
    ) -> dict[str, object]:
        if app.secret is None or not secret:
            raise _AadError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        if not secrets.compare_digest(secret, app.secret):
            raise _AadError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                f"is the client secret value, not the client secret ID, for a secret added to "
                f"app '{app.client_id}'.",
            )
        scopes = (scope or "").split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise _AadError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope or '(none)'} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        accepted = {API_SCOPE_DEFAULT.lower(), *(s.lower() for s in extra)}
        if scopes[0].lower() not in accepted:
            raise _AadError(
                400,
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid. The scope "
                f"{scopes[0]} is not valid. This API accepts {API_SCOPE_DEFAULT}.",
            )
        return {
            "token_type": "Bearer",
            "scope": API_SCOPE_DEFAULT
            if scopes[0].lower() == API_SCOPE_DEFAULT.lower()
            else scopes[0],
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
        }

    async def authorize(self, request: Request) -> Response:
        """The interactive authorization endpoint is not emulated: say so."""
        return HTMLResponse(
            _page(
                "Not available",
                "<p>The emulator signs people in with the device code flow only. "
                "Use <code>/devicelogin</code>.</p>",
            ),
            status_code=400,
        )

    async def devicelogin_page(self, request: Request) -> Response:
        """The form where a person enters the user code and approves or declines."""
        code = request.query_params.get("otc", "")
        return HTMLResponse(self._render_form(code, ""))

    async def devicelogin_submit(self, request: Request) -> Response:
        """Approve or decline a user code (a form post from the page, or from a test)."""
        form = await request.form()
        code = _field(form.get("user_code")) or ""
        role = _field(form.get("user")) or "admin"
        action = _field(form.get("action")) or "approve"
        if role not in ROLES or action not in {"approve", "decline"}:
            return HTMLResponse(self._render_form(code, "Pick a demo user."), status_code=400)
        try:
            flow = self.decide(code, role, approve=action == "approve")
        except LookupError as exc:
            return HTMLResponse(self._render_form(code, str(exc)), status_code=400)
        app = self.state.directory.app(flow.client_id)
        app_name = html.escape(app.name if app else flow.client_id)
        if flow.status == "approved" and flow.principal is not None:
            who = html.escape(f"{flow.principal.name} ({flow.principal.upn})")
            body = (
                f"<p id='result' data-status='approved'>You have signed in to <b>{app_name}</b> "
                f"as <b>{who}</b>.</p><p>You can close this window and return to your "
                "notebook.</p>"
            )
            return HTMLResponse(_page("Signed in", body))
        body = (
            f"<p id='result' data-status='declined'>You declined the sign-in to "
            f"<b>{app_name}</b>.</p>"
        )
        return HTMLResponse(_page("Sign-in declined", body))

    def _render_form(self, code: str, error: str) -> str:
        options = "\n".join(
            f'<option value="{user.role}">{html.escape(user.name)} — {user.role} '
            f"({html.escape(user.upn)})</option>"
            for user in self.state.directory.users
        )
        template = resources.files(__package__).joinpath("devicelogin.html")
        text = template.read_text(encoding="utf-8")
        return string.Template(text).substitute(
            user_code=html.escape(code, quote=True),
            options=options,
            error=f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else "",
            audience=html.escape(API_AUDIENCE),
        )

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes of the emulated identity platform."""
        return [
            Route("/devicelogin", self.devicelogin_page, methods=["GET"]),
            Route("/devicelogin", self.devicelogin_submit, methods=["POST"]),
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration),
            Route("/{tenant}/.well-known/openid-configuration", self.openid_configuration),
            Route("/{tenant}/discovery/v2.0/keys", self.jwks),
            Route("/{tenant}/discovery/keys", self.jwks),
            Route("/{tenant}/oauth2/v2.0/devicecode", self.devicecode, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self.authorize),
        ]


def _field(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    try:
        raw = base64.b64decode(header.split(" ", 1)[1]).decode()
    except (IndexError, ValueError, binascii.Error):
        return None, None
    client_id, _, secret = raw.partition(":")
    return client_id or None, secret or None


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} — Customer Insights emulator</title></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
