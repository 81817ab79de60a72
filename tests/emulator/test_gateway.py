"""The gateway in front of /v1: subscription keys, bearer tokens, roles, throttling, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ci_toolkit.emulator import Emulator
from ci_toolkit.emulator.identity import V1_ISSUER
from tests.emulator.contract import assert_matches_contract


@pytest.fixture
def bare(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client with no credentials at all."""
    with httpx.Client(
        base_url=emulator.settings.base_url, verify=emulator.settings.ssl_context(), timeout=30
    ) as client:
        yield client


@pytest.fixture
def faults(emulator: Emulator) -> Iterator[Emulator]:
    """The emulator, with its fault settings restored after the test."""
    before = emulator.faults
    yield emulator
    emulator.set_faults(
        latency_ms=before.latency_ms,
        rate_limit=before.rate_limit,
        fault_rate=before.fault_rate,
        kinds=before.kinds,
        slow_seconds=before.slow_seconds,
        retry_after=before.retry_after,
        seed=before.seed,
    )


def creds(emulator: Emulator, token: str, key: str | None = None) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Ocp-Apim-Subscription-Key": key or emulator.settings.subscription_key,
    }


def test_missing_subscription_key(emulator: Emulator, bare: httpx.Client) -> None:
    response = bare.get("/instances", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": "Access denied due to missing subscription key. Make sure to include "
        "subscription key when making requests to an API.",
    }


def test_invalid_subscription_key(emulator: Emulator, bare: httpx.Client) -> None:
    response = bare.get("/instances", headers=creds(emulator, emulator.mint_token(), "wrong"))
    assert response.status_code == 401
    assert response.json()["message"] == (
        "Access denied due to invalid subscription key. Make sure to provide a valid key "
        "for an active subscription."
    )


def test_secondary_key_and_query_parameter_are_accepted(
    emulator: Emulator, bare: httpx.Client
) -> None:
    token = emulator.mint_token()
    secondary = emulator.state.directory.subscription_keys[1]
    assert bare.get("/instances", headers=creds(emulator, token, secondary)).status_code == 200
    response = bare.get(
        "/instances",
        params={"subscription-key": emulator.settings.subscription_key},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200


def test_missing_token(emulator: Emulator, bare: httpx.Client) -> None:
    headers = {"Ocp-Apim-Subscription-Key": emulator.settings.subscription_key}
    response = bare.get("/instances", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["statusCode"] == 401


def forged_token(emulator: Emulator) -> str:
    """A token with genuine-looking claims and kid, signed with someone else's key."""
    genuine = emulator.mint_token()
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine)["kid"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other, algorithm="RS256", headers={"kid": kid})


def unsigned_token(emulator: Emulator) -> str:
    claims = jwt.decode(emulator.mint_token(), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


def _claims(emulator: Emulator, **changes: object) -> dict[str, object]:
    claims = jwt.decode(emulator.mint_token(), options={"verify_signature": False})
    claims.update(changes)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def other_key_token(emulator: Emulator) -> str:
    """Genuine claims signed by another key, under that key's own id (another issuer's key)."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(emulator), other, algorithm="RS256", headers={"kid": "other-key"})


def hmac_with_public_key_token(emulator: Emulator) -> str:
    """Algorithm confusion: HS256 keyed with the emulator's published public key."""
    public = emulator.state.tokens._key.public_key()
    secret = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": emulator.state.tokens.kid}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(emulator)).encode())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered_token(emulator: Emulator) -> str:
    """A viewer's genuine token whose payload now names the admin (signature unchanged)."""
    header, _, signature = emulator.mint_token("viewer").split(".")
    admin = emulator.state.directory.user_for_role("admin").object_id
    claims = _claims(emulator, oid=admin, sub=admin)
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def signed_token(emulator: Emulator, **changes: object) -> str:
    """Properly signed by the emulator's key, with changed claims."""
    return emulator.state.tokens._sign(_claims(emulator, **changes))


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (forged_token, "signature"),
        (unsigned_token, "algorithm"),
        (lambda emu: emu.mint_token(lifetime=-30), "expired"),
        (lambda emu: emu.mint_token(audience="https://graph.microsoft.com"), "audience"),
        (
            lambda emu: emu.state.tokens.mint_access_token(
                emu.state.directory.users[0],
                issuer="https://login.microsoftonline.com/common/v2.0",
                lifetime=60,
            ),
            "issuer",
        ),
        (lambda emu: emu.mint_token(scopes=["Files.Read"]), "user_impersonation"),
        (lambda emu: "not.a.jwt", "malformed"),
        (other_key_token, "key was not found"),
        (hmac_with_public_key_token, "algorithm 'HS256'"),
        (tampered_token, "signature"),
        (lambda emu: signed_token(emu, nbf=int(time.time()) + 600), "not yet valid"),
        (lambda emu: signed_token(emu, tid=str(uuid.uuid4())), "another tenant"),
        (lambda emu: signed_token(emu, oid=str(uuid.uuid4())), "unknown principal"),
        # The API takes Azure AD's v1.0 access tokens only (issue 16; "Access token claims
        # reference": a v2.0 token's iss ends in /v2.0 and its ver is 2.0).
        (
            lambda emu: emu.state.tokens.mint_access_token(
                emu.state.directory.users[0],
                issuer=f"{emu.state.public_url}/{emu.state.directory.tenant_id}/v2.0",
                lifetime=60,
            ),
            "issuer",
        ),
        (lambda emu: signed_token(emu, ver="2.0"), "version"),
        (
            lambda emu: emu.state.tokens.mint_id_token(
                emu.state.directory.users[0],
                issuer=f"{emu.state.public_url}/{emu.state.directory.tenant_id}/v2.0",
                client_id=emu.settings.client_id,
            ),
            "issuer",  # a v2.0 ID token: the v2.0 issuer (and the client's audience)
        ),
    ],
    ids=[
        "forged",
        "alg-none",
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "no-scope",
        "junk",
        "other-key",
        "hs256-with-public-key",
        "tampered-payload",
        "not-yet-valid",
        "other-tenant",
        "unknown-principal",
        "v2-issuer",
        "v2-version",
        "id-token",
    ],
)
def test_rejected_tokens(
    emulator: Emulator, bare: httpx.Client, make_token: Callable[[Emulator], str], reason: str
) -> None:
    response = bare.get("/instances", headers=creds(emulator, make_token(emulator)))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert reason in challenge
    assert response.json() == {
        "statusCode": 401,
        "message": "Unauthorized. Access token is missing or invalid.",
    }
    assert response.headers["x-ms-request-id"]


def test_viewer_reads_but_cannot_change(
    emulator: Emulator, bare: httpx.Client, instance_id: str
) -> None:
    viewer = creds(emulator, emulator.mint_token("viewer"))
    assert bare.get(f"/instances/{instance_id}", headers=viewer).status_code == 200
    segment = bare.post(
        f"/instances/{instance_id}/manage/segments", headers=viewer, json={"name": "x"}
    )
    assert segment.status_code == 403
    assert "'contributor'" in segment.json()["message"]
    assert "viewer" in segment.json()["message"]
    some_user = emulator.state.directory.user_for_role("contributor").object_id
    rbac = bare.put(
        f"/instances/{instance_id}/rbac/principals/{some_user}/assignment",
        headers=viewer,
        json={"roles": ["admin"]},
    )
    assert rbac.status_code == 403
    assert "'admin'" in rbac.json()["message"]
    assert emulator.state.instances[instance_id].role_assignments[some_user] == "contributor"


def test_contributor_cannot_change_permissions(
    emulator: Emulator, bare: httpx.Client, instance_id: str
) -> None:
    contributor = creds(emulator, emulator.mint_token("contributor"))
    viewer_id = emulator.state.directory.user_for_role("viewer").object_id
    path = f"/instances/{instance_id}/rbac/principals/{viewer_id}/assignment"
    assert bare.put(path, headers=contributor, json={"roles": ["admin"]}).status_code == 403
    assert bare.delete(path, headers=contributor).status_code == 403
    assert bare.get(f"/instances/{instance_id}/rbac/assignments", headers=contributor).is_success


def test_throttling_per_subscription_key(faults: Emulator, bare: httpx.Client) -> None:
    faults.set_faults(rate_limit=2.0)
    headers = creds(faults, faults.mint_token())
    statuses = [bare.get("/instances", headers=headers) for _ in range(6)]
    throttled = [r for r in statuses if r.status_code == 429]
    assert throttled, [r.status_code for r in statuses]
    assert statuses[0].status_code == 200
    first = throttled[0]
    seconds = int(first.headers["Retry-After"])
    assert seconds >= 1
    assert first.json() == {
        "statusCode": 429,
        "message": f"Rate limit is exceeded. Try again in {seconds} seconds.",
    }
    other_key = faults.state.directory.subscription_keys[1]
    other = bare.get("/instances", headers=creds(faults, faults.mint_token(), other_key))
    assert other.status_code == 200
    time.sleep(0.6)  # the bucket refills at 2 per second
    assert bare.get("/instances", headers=headers).status_code == 200


def test_injected_429_and_503(faults: Emulator, api: httpx.Client) -> None:
    faults.set_faults(fault_rate=1.0, kinds=("throttle",), retry_after=3)
    throttled = api.get("/instances")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    faults.set_faults(kinds=("unavailable",))
    unavailable = api.get("/instances")
    assert unavailable.status_code == 503
    assert unavailable.json()["exceptionCulprit"] == "system"
    assert unavailable.headers["x-ms-request-id"]
    assert_matches_contract(unavailable, "Get-all-instances")  # 503 declares no body schema
    data = api.get(f"/instances/{faults.settings.instance_id}/data/Customer")
    assert data.status_code == 503
    assert "httpStatusCode" not in data.json()
    assert_matches_contract(data, "Get-entities-with-OData-path")  # ODataError for data


def test_injected_dropped_connection(faults: Emulator, api: httpx.Client) -> None:
    faults.set_faults(fault_rate=1.0, kinds=("drop",))
    with pytest.raises(httpx.TransportError):
        api.get("/instances")
    faults.set_faults(fault_rate=0.0)
    assert api.get("/instances").status_code == 200  # the server survived


def test_injected_slow_response(faults: Emulator, api: httpx.Client) -> None:
    faults.set_faults(fault_rate=1.0, kinds=("slow",), slow_seconds=0.4)
    started = time.perf_counter()
    response = api.get("/instances")
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.4


def test_faults_are_deterministic_for_a_seed(faults: Emulator, api: httpx.Client) -> None:
    def run() -> list[int]:
        faults.set_faults(fault_rate=0.5, kinds=("unavailable",), seed=11)
        return [api.get("/instances").status_code for _ in range(16)]

    first = run()
    assert set(first) == {200, 503}
    assert run() == first


def test_latency_is_added_without_serializing_requests(faults: Emulator) -> None:
    faults.set_faults(latency_ms=400)
    settings = faults.settings
    headers = creds(faults, faults.mint_token())

    def call(_: int) -> float:
        with httpx.Client(verify=settings.ssl_context(), headers=headers) as client:
            started = time.perf_counter()
            assert client.get(settings.base_url + "/instances").status_code == 200
            return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=6) as pool:
        durations = list(pool.map(call, range(6)))
    total = time.perf_counter() - started
    assert min(durations) >= 0.4
    assert total < 6 * 0.4 / 2  # six requests slept concurrently, not one after another


def test_fault_settings_are_validated(faults: Emulator) -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        faults.set_faults(fault_rate=2)
    with pytest.raises(ValueError, match="kinds"):
        faults.set_faults(kinds=("meteor",))
    assert faults.faults.fault_rate == 0.0


def test_faults_and_credentials_apply_to_the_api_only(faults: Emulator, bare: httpx.Client) -> None:
    faults.set_faults(fault_rate=1.0, kinds=("unavailable",), latency_ms=0)
    discovery = bare.get(f"{faults.settings.authority}/v2.0/.well-known/openid-configuration")
    assert discovery.status_code == 200  # Azure AD is not behind the API gateway
    assert bare.get("/instances").status_code == 503


def _issuer(emulator: Emulator) -> str:
    return V1_ISSUER.format(tenant_id=emulator.state.directory.tenant_id)


def test_a_remembered_token_is_rejected_once_it_expires(
    emulator: Emulator, bare: httpx.Client
) -> None:
    # Accepted (and so remembered by the gateway's cache of validated tokens) while valid,
    # then rejected as expired over HTTPS once its exp has passed.
    token = emulator.mint_token(lifetime=2)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert bare.get("/instances", headers=creds(emulator, token)).status_code == 200
    assert bare.get("/instances", headers=creds(emulator, token)).status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    response = bare.get("/instances", headers=creds(emulator, token))
    assert response.status_code == 401
    assert "expired" in response.headers["WWW-Authenticate"]


def test_validated_tokens_skip_the_signature_check_but_not_the_clock(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci_toolkit.emulator import tokens as tokens_module
    from ci_toolkit.emulator.tokens import TokenError

    service = emulator.state.tokens
    token = emulator.mint_token(lifetime=60)
    decoded: list[str] = []
    real_decode = tokens_module.jwt.decode

    def counting_decode(jwt_text: str, *args: object, **kwargs: object) -> object:
        decoded.append(jwt_text)
        return real_decode(jwt_text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens_module.jwt, "decode", counting_decode)
    first = service.validate_access_token(token, issuer=_issuer(emulator))
    second = service.validate_access_token(token, issuer=_issuer(emulator))
    assert first == second
    assert decoded == [token]  # verified once
    # Another issuer is another key in the cache: verified (and rejected) in full.
    with pytest.raises(TokenError, match="issuer"):
        service.validate_access_token(token, issuer="https://elsewhere/v2.0")
    assert decoded == [token, token]
    # The remembered token's exp is checked on every use: a minute later it is expired.
    later = time.time() + 61
    monkeypatch.setattr(tokens_module.time, "time", lambda: later)
    with pytest.raises(TokenError, match="expired"):
        service.validate_access_token(token, issuer=_issuer(emulator))
    assert decoded == [token, token]  # rejected from the cache, without a new decode


def test_the_cache_of_validated_tokens_is_bounded(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci_toolkit.emulator import tokens as tokens_module

    monkeypatch.setattr(tokens_module, "VALIDATED_CACHE_SIZE", 3)
    service = emulator.state.tokens
    minted = [emulator.mint_token(lifetime=60 + i) for i in range(5)]
    for token in minted:
        service.validate_access_token(token, issuer=_issuer(emulator))
    remembered = [token for token, _ in service._validated]
    assert remembered == minted[-3:]
