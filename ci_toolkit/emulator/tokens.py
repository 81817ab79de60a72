"""RS256 access and ID tokens of the emulated Azure AD: minting, JWKS and validation.

The signing key is generated for each run; its public half is published as the JWKS of the
emulated tenant, and the gateway validates API tokens against it.

Access tokens are in Azure AD's v1.0 format, as Azure AD issues them for this API (a
Microsoft first-party resource whose ``aud`` is its App ID URI ``https://api.ci.ai.microsoft.com``):
``ver`` ``1.0``, ``iss`` ``https://sts.windows.net/<tenant id>/``, the client in ``appid`` and
``appidacr`` (never ``azp``), the user in ``upn`` and ``unique_name``. ID tokens come from the
v2.0 endpoint MSAL uses and are v2.0 (``iss`` ``<authority>/v2.0``). The sources: the
Microsoft identity platform's "Access token claims reference" (``aud``: "In v2.0 tokens,
this value is always the client ID of the API"; ``appid``/``appidacr``/``unique_name``
only in v1.0, ``azp``/``azpacr``/``preferred_username`` only in v2.0) and "ID token claims
reference" (the ID token's version follows the endpoint).

Example
-------
>>> from ci_toolkit.emulator.identity import V1_ISSUER, Directory
>>> directory = Directory.from_seed(1)
>>> tokens = TokenService(directory)
>>> issuer = V1_ISSUER.format(tenant_id=directory.tenant_id)
>>> token = tokens.mint_access_token(directory.users[0], issuer=issuer, lifetime=60)
>>> tokens.validate_access_token(token, issuer=issuer).role
'admin'
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from ci_toolkit.emulator.identity import (
    API_AUDIENCE,
    APP_ROLE,
    Directory,
    Principal,
)

__all__ = ["TokenError", "TokenService"]

logger = logging.getLogger(__name__)

#: Clock skew the validator tolerates, in seconds (kept small so expiry tests stay quick).
LEEWAY_SECONDS = 0

#: How many validated tokens :meth:`TokenService.validate_access_token` remembers (the
#: least recently used is forgotten first); a client sends the same token until it expires.
VALIDATED_CACHE_SIZE = 256


class TokenError(Exception):
    """A bearer token the gateway rejects; ``description`` goes to ``WWW-Authenticate``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenService:
    """Signs and checks the emulator's JWTs.

    Parameters
    ----------
    directory
        The demo tenant whose users and apps the tokens name.
    key
        The RSA private key to sign with; a fresh 2048-bit key when ``None``.
    """

    def __init__(self, directory: Directory, *, key: rsa.RSAPrivateKey | None = None) -> None:
        self.directory = directory
        self._key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._key.public_key().public_numbers()
        self.kid = hashlib.sha256(_b64url_uint(numbers.n).encode()).hexdigest()[:27]
        self._jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }
        self._public_key = self._key.public_key()
        self._validated: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._validated_lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set publishing the signing key."""
        return {"keys": [dict(self._jwk)]}

    def _sign(self, claims: dict[str, Any], *, x5t: bool = False) -> str:
        headers = {"typ": "JWT", "kid": self.kid}
        if x5t:  # v1.0 tokens carry the legacy x5t beside kid, with the same value
            headers["x5t"] = self.kid
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    def mint_access_token(
        self,
        principal: Principal,
        *,
        issuer: str,
        lifetime: int,
        client_id: str | None = None,
        audience: str | None = None,
        scopes: Iterable[str] | None = None,
    ) -> str:
        """A v1.0 access token for the Customer Insights API.

        Parameters
        ----------
        principal
            A demo user (delegated token with ``scp``) or the app (``roles``).
        issuer
            ``https://sts.windows.net/<tenant id>/`` (``identity.V1_ISSUER``).
        lifetime
            Seconds until ``exp`` (negative values give an already expired token).
        client_id
            The app the token was issued to (``appid``); the public client when ``None``.
        audience
            ``aud``; the API's App ID URI when ``None``.
        scopes
            Delegated scopes (``scp``, space separated); ``user_impersonation`` when ``None``.

        Returns
        -------
        str
            The compact JWT.
        """
        now = int(time.time())
        directory = self.directory
        if client_id is None:
            client_id = (
                directory.confidential_client.client_id
                if principal.kind == "app"
                else directory.public_client.client_id
            )
        claims: dict[str, Any] = {
            "aud": audience or API_AUDIENCE,
            "iss": issuer,
            "iat": now,
            "nbf": min(now, now + lifetime),
            "exp": now + lifetime,
            "appid": client_id,
            # "1": client id and secret (the confidential app); "0": a public client.
            "appidacr": "1" if principal.kind == "app" else "0",
            "oid": principal.object_id,
            "sub": principal.object_id,
            "tid": directory.tenant_id,
            "uti": uuid.uuid4().hex,
            "ver": "1.0",
        }
        if principal.kind == "app":
            claims["roles"] = [APP_ROLE]
            claims["idp"] = issuer  # app-only v1.0 tokens name their identity provider
        else:
            claims["scp"] = " ".join(scopes) if scopes is not None else "user_impersonation"
            claims["acr"] = "1"
            claims["amr"] = ["pwd"]
            claims["name"] = principal.name
            claims["upn"] = principal.upn
            claims["unique_name"] = principal.upn
        return self._sign(claims, x5t=True)

    def mint_id_token(self, principal: Principal, *, issuer: str, client_id: str) -> str:
        """An OpenID Connect ID token for a signed-in user (MSAL builds its account from it)."""
        now = int(time.time())
        claims = {
            "aud": client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": principal.object_id,
            "sub": principal.object_id,
            "tid": self.directory.tenant_id,
            "name": principal.name,
            "preferred_username": principal.upn,
            "ver": "2.0",
        }
        return self._sign(claims)

    def client_info(self, principal: Principal) -> str:
        """The ``client_info`` value AAD returns (``uid``/``utid``, base64url JSON)."""
        raw = json.dumps({"uid": principal.object_id, "utid": self.directory.tenant_id})
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")

    def validate_access_token(
        self, token: str, *, issuer: str, audiences: Sequence[str] | None = None
    ) -> Principal:
        """Check signature, audience, issuer, lifetime and scope; return the principal.

        A token that passed the signature, audience and issuer checks is remembered (keyed
        by the token string and the issuer, at most :data:`VALIDATED_CACHE_SIZE` of them),
        so the next request with it skips the RS256 verification; its lifetime (``iat``,
        ``nbf``, ``exp``) is checked again on every request exactly as PyJWT checks it, so
        an expired token is rejected whether it was remembered or not, as are the tenant,
        principal and scope. Rejected tokens are never remembered.

        ``audiences`` are the accepted ``aud`` values: the Customer Insights API's when
        ``None``, the org URL for the Dataverse Web API.

        Raises
        ------
        TokenError
            With a description like the one ASP.NET's JWT bearer handler gives.
        """
        cache_key = (token, issuer if not audiences else "\x1f".join((issuer, *audiences)))
        with self._validated_lock:
            claims = self._validated.get(cache_key)
            if claims is not None:
                self._validated.move_to_end(cache_key)
        if claims is None:
            claims = self._decode(token, issuer=issuer, audiences=audiences)
            with self._validated_lock:
                self._validated[cache_key] = claims
                while len(self._validated) > VALIDATED_CACHE_SIZE:
                    self._validated.popitem(last=False)
        else:
            try:
                _check_lifetime(claims, time.time())
            except TokenError:
                with self._validated_lock:
                    self._validated.pop(cache_key, None)
                raise
        return self._principal(claims)

    def _decode(
        self, token: str, *, issuer: str, audiences: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """The claims of a token whose header, signature, audience, issuer and times hold."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("The token is malformed.") from None
        if header.get("alg") != "RS256":
            raise TokenError(f"The token's algorithm {header.get('alg')!r} is not accepted.")
        if header.get("kid") != self.kid:
            raise TokenError("The signature key was not found.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                audience=list(audiences or (API_AUDIENCE, f"{API_AUDIENCE}/")),
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "oid", "tid", "ver"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("The token is expired.") from None
        except jwt.InvalidAudienceError:
            raise TokenError("The audience is invalid.") from None
        except jwt.InvalidIssuerError:
            raise TokenError("The issuer is invalid.") from None
        except jwt.InvalidSignatureError:
            raise TokenError("The signature is invalid.") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("The token is not yet valid.") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"The token is invalid: {exc}.") from None
        return claims

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        """The principal valid claims name, after the version, tenant and scope checks."""
        if claims.get("ver") != "1.0":
            raise TokenError(
                f"The token version {claims.get('ver')!r} is not accepted; this API takes "
                "v1.0 access tokens."
            )
        if claims["tid"] != self.directory.tenant_id:
            raise TokenError("The token was issued for another tenant.")
        principal = self.directory.principal(str(claims["oid"]))
        if principal is None:
            raise TokenError("The token names an unknown principal.")
        if principal.kind == "app":
            if APP_ROLE not in claims.get("roles", []):
                raise TokenError("The token carries no application permission for this API.")
        elif "user_impersonation" not in str(claims.get("scp", "")).split():
            raise TokenError("The token lacks the user_impersonation scope.")
        return principal


def _check_lifetime(claims: Mapping[str, Any], now: float) -> None:
    """Check ``iat``, ``nbf`` and ``exp`` as ``jwt.decode`` does (same comparisons, leeway).

    Raises
    ------
    TokenError
        ``The token is not yet valid.`` (``iat`` or ``nbf`` in the future) or ``The token
        is expired.`` (``exp`` reached).
    """
    if int(claims["iat"]) > now + LEEWAY_SECONDS:
        raise TokenError("The token is not yet valid.")
    if "nbf" in claims and int(claims["nbf"]) > now + LEEWAY_SECONDS:
        raise TokenError("The token is not yet valid.")
    if int(claims["exp"]) <= now - LEEWAY_SECONDS:
        raise TokenError("The token is expired.")
