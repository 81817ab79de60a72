"""Demo identities: tenant, app registrations, users, roles and subscription keys.

Everything is derived from the seed, so the same seed gives the same tenant, client ids and
object ids on every run (secrets and keys too: they are the emulator's own demo values).

Example
-------
>>> directory = Directory.from_seed(42)
>>> directory.user_for_role("viewer").role
'viewer'
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "API_AUDIENCE",
    "API_SCOPE_DEFAULT",
    "API_SCOPE_USER_IMPERSONATION",
    "APP_ROLE",
    "ROLES",
    "ROLE_DESCRIPTIONS",
    "V1_ISSUER",
    "AppRegistration",
    "Directory",
    "Principal",
    "Role",
    "resource_scopes",
]

Role = Literal["admin", "contributor", "viewer"]

#: The roles of Customer Insights, most powerful first.
ROLES: tuple[Role, ...] = ("admin", "contributor", "viewer")

ROLE_DESCRIPTIONS: dict[str, str] = {
    "admin": "Manages everything in the instance, including permissions.",
    "contributor": "Manages data, segments, measures and exports, but not permissions.",
    "viewer": "Reads everything in the instance; changes nothing.",
}

#: Application ID URI of "Dynamics 365 AI for Customer Insights" (the token audience).
API_AUDIENCE = "https://api.ci.ai.microsoft.com"
API_SCOPE_USER_IMPERSONATION = f"{API_AUDIENCE}/user_impersonation"
API_SCOPE_DEFAULT = f"{API_AUDIENCE}/.default"
#: The application permission "Dynamics 365 AI for Customer Insights" offers (``roles`` claim).
APP_ROLE = "api.access"

#: ``iss`` of v1.0 access tokens (``{tenant_id}`` filled in). Azure AD issues v1.0 access
#: tokens to a resource that does not ask for v2.0 (``accessTokenAcceptedVersion`` unset),
#: as Microsoft's first-party APIs like this one do, whichever endpoint the client used; their
#: ``aud`` is the resource's App ID URI and their issuer the tenant's STS. Microsoft identity
#: platform, "Access token claims reference": ``iss`` ends in ``/v2.0`` only for v2.0 tokens,
#: ``appid`` is "only present in v1.0 tokens", ``azp`` "only present in v2.0 tokens".
V1_ISSUER = "https://sts.windows.net/{tenant_id}/"


def resource_scopes(resource: str) -> tuple[str, str]:
    """The delegated and the client credentials scope of a resource such as a Dataverse org.

    Example
    -------
    >>> resource_scopes("https://contoso.crm.dynamics.com")[0]
    'https://contoso.crm.dynamics.com/user_impersonation'
    """
    resource = resource.rstrip("/")
    return f"{resource}/user_impersonation", f"{resource}/.default"


#: role, display name and login of the demo users.
_DEMO_USERS: tuple[tuple[Role, str, str], ...] = (
    ("admin", "Avery Admin", "avery"),
    ("contributor", "Casey Contributor", "casey"),
    ("viewer", "Vic Viewer", "vic"),
)

_NAMESPACE = uuid.UUID("2f6b5a0c-8d1e-4e8a-b3c7-91d4f0a6e212")


def _uuid(seed: int, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{seed}:{name}"))


def _secret(seed: int, name: str, length: int) -> str:
    return hashlib.sha256(f"ci-emulator:{seed}:{name}".encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Principal:
    """A signed-in user or an application (client credentials) and its role.

    ``role`` is the principal's default role; inside a request it is the role the principal
    holds on the instance named in the path.
    """

    object_id: str
    name: str
    role: Role
    kind: Literal["user", "app"] = "user"
    upn: str = ""


@dataclass(frozen=True)
class AppRegistration:
    """An app registration of the demo tenant."""

    client_id: str
    name: str
    #: ``None`` for a public client (device code flow).
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Directory:
    """The demo tenant: its id, app registrations, users and API subscription keys."""

    tenant_id: str
    tenant_domain: str
    public_client: AppRegistration
    confidential_client: AppRegistration
    users: tuple[Principal, ...]
    app_principal: Principal
    subscription_keys: tuple[str, ...] = field(repr=False)

    @classmethod
    def from_seed(cls, seed: int) -> Directory:
        """Build the demo directory for ``seed``."""
        domain = "contoso-retail.onmicrosoft.com"
        users = tuple(
            Principal(
                object_id=_uuid(seed, f"user:{role}"),
                name=name,
                role=role,
                kind="user",
                upn=f"{login}@{domain}",
            )
            for role, name, login in _DEMO_USERS
        )
        confidential = AppRegistration(
            client_id=_uuid(seed, "app:confidential"),
            name="ci-toolkit service (demo)",
            secret=f"ci~{_secret(seed, 'client-secret', 32)}",
        )
        return cls(
            tenant_id=_uuid(seed, "tenant"),
            tenant_domain=domain,
            public_client=AppRegistration(
                client_id=_uuid(seed, "app:public"), name="ci-toolkit notebooks (demo)"
            ),
            confidential_client=confidential,
            users=users,
            app_principal=Principal(
                object_id=_uuid(seed, "sp:confidential"),
                name=confidential.name,
                role="admin",
                kind="app",
            ),
            subscription_keys=(
                _secret(seed, "subscription:primary", 32),
                _secret(seed, "subscription:secondary", 32),
            ),
        )

    def user_for_role(self, role: str) -> Principal:
        """The demo user holding ``role`` (``admin``, ``contributor`` or ``viewer``)."""
        for user in self.users:
            if user.role == role:
                return user
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")

    def principal(self, object_id: str) -> Principal | None:
        """The demo user or application with this object id, if any."""
        for candidate in (*self.users, self.app_principal):
            if candidate.object_id == object_id:
                return candidate
        return None

    def app(self, client_id: str) -> AppRegistration | None:
        """The app registration with this client id, if any."""
        for app in (self.public_client, self.confidential_client):
            if app.client_id == client_id:
                return app
        return None

    def tenant_matches(self, tenant: str) -> bool:
        """Whether an authority path segment names this tenant (id or domain)."""
        return tenant.lower() in {self.tenant_id, self.tenant_domain}
