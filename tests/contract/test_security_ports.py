"""Security port contracts: ``SecretBox``, ``PasswordHasher`` and ``TokenIssuer`` behave
the same on the memory twins (``adapters.memory.security``, standard library, tests
only) and on the real adapters (AES-GCM, argon2id, JWT). No service is needed.

Known difference, by design: a twin's output never passes for the real adapter's (a
memory-sealed secret does not open in the AES-GCM box, a memory hash does not verify
under argon2), checked at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.crypto.secretbox import AesGcmSecretBox
from adapters.memory.security import MemoryPasswordHasher, MemorySecretBox, MemoryTokenIssuer
from adapters.security.passwords import Argon2PasswordHasher
from adapters.security.tokens import JwtTokenIssuer
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import InvalidInput, Unauthenticated
from whatsapp_core.policies.access import Role
from whatsapp_core.ports import PasswordHasher, SecretBox, TokenIssuer

pytestmark = pytest.mark.contract
K1, K2 = b"1" * 32, b"2" * 32
BoxMaker = Callable[[Mapping[str, bytes], str], SecretBox]
EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# -- SecretBox ---------------------------------------------------------------------------


@pytest.fixture(params=["aes_gcm", "memory"])
def make_box(request: pytest.FixtureRequest) -> BoxMaker:
    return AesGcmSecretBox if request.param == "aes_gcm" else MemorySecretBox  # type: ignore[return-value]


@EXAMPLES
@given(plaintext=st.text(max_size=300), context=st.text(min_size=1, max_size=40))
def test_a_sealed_secret_opens_in_its_context_only(
    make_box: BoxMaker, plaintext: str, context: str
) -> None:
    box = make_box({"k1": K1}, "k1")
    token = box.seal(plaintext, context=context)
    assert box.open(token, context=context) == plaintext
    assert not box.needs_rotation(token)
    with pytest.raises(InvalidInput):
        box.open(token, context=context + "/other")


def test_sealing_is_randomised_and_hides_the_plaintext(make_box: BoxMaker) -> None:
    box = make_box({"k1": K1}, "k1")
    secret = "EAAGm0PX4ZCpsBAKZC-a-meta-access-token"
    first, second = (box.seal(secret, context="tenant:1/access_token") for _ in range(2))
    assert first != second
    assert secret not in first
    assert box.open(second, context="tenant:1/access_token") == secret


def test_a_tampered_or_malformed_token_does_not_open(make_box: BoxMaker) -> None:
    box = make_box({"k1": K1}, "k1")
    token = box.seal("secret", context="c")
    version, key_id, body = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (
        f"{version}.{key_id}.{flipped}",
        f"{version}.{key_id}.{body[:10]}",
        f"{version}.k9.{body}",  # a key that is not configured
        "",
        "not a token",
        "v0.k1.abc",
        f"{version}.{key_id}.!!!",
    ):
        with pytest.raises(InvalidInput):
            box.open(bad, context="c")


def test_rotation_opens_old_tokens_and_says_which_to_reseal(make_box: BoxMaker) -> None:
    old = make_box({"k1": K1}, "k1").seal("secret", context="c")
    rotated = make_box({"k2": K2, "k1": K1}, "k2")
    assert rotated.active_key_id == "k2"
    assert rotated.open(old, context="c") == "secret"
    assert rotated.needs_rotation(old)
    fresh = rotated.seal("secret", context="c")
    assert not rotated.needs_rotation(fresh)
    retired = make_box({"k2": K2}, "k2")
    assert retired.open(fresh, context="c") == "secret"
    with pytest.raises(InvalidInput, match="not configured"):
        retired.open(old, context="c")


def test_the_active_key_must_be_one_of_the_keys(make_box: BoxMaker) -> None:
    with pytest.raises(InvalidInput):
        make_box({"k1": K1}, "k2")
    with pytest.raises(InvalidInput):
        make_box({"bad id!": K1}, "bad id!")


# -- PasswordHasher -----------------------------------------------------------------------


@pytest.fixture(params=["argon2", "memory"])
def hasher(request: pytest.FixtureRequest) -> PasswordHasher:
    if request.param == "argon2":
        return Argon2PasswordHasher(time_cost=1, memory_cost=1024)  # light, for speed
    return MemoryPasswordHasher()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(password=st.text(min_size=1, max_size=64), other=st.text(max_size=64))
def test_a_hash_verifies_its_password_and_no_other(
    hasher: PasswordHasher, password: str, other: str
) -> None:
    hashed = hasher.hash(password)
    assert hasher.verify(hashed, password)
    assert hasher.verify(hashed, other) == (other == password)


def test_hashes_are_salted_and_hide_the_password(hasher: PasswordHasher) -> None:
    password = "correct horse battery staple"
    first, second = hasher.hash(password), hasher.hash(password)
    assert first != second
    assert password not in first
    assert hasher.verify(first, password)
    assert hasher.verify(second, password)


@pytest.mark.parametrize("unreadable", ["", "unusable", "$argon2id$", "memory-sha256$$"])
def test_an_unreadable_hash_verifies_nothing_and_raises_nothing(
    hasher: PasswordHasher, unreadable: str
) -> None:
    assert hasher.verify(unreadable, "") is False
    assert hasher.verify(unreadable, "anything") is False


# -- TokenIssuer ------------------------------------------------------------------------------

IssuerMaker = Callable[[timedelta], TokenIssuer]


@pytest.fixture(params=["jwt", "memory"])
def make_issuer(request: pytest.FixtureRequest) -> IssuerMaker:
    if request.param == "jwt":
        return lambda ttl: JwtTokenIssuer("contract-secret-" + "x" * 32, ttl=ttl)
    return lambda ttl: MemoryTokenIssuer(ttl=ttl)  # the system clock, like the JWT's


def user(role: Role = Role.MANAGER) -> Principal:
    return Principal(tenant_id=uuid.uuid4(), role=role, user_id=uuid.uuid4())


@pytest.mark.parametrize("role", list(Role))
def test_a_token_carries_the_user_tenant_and_role(make_issuer: IssuerMaker, role: Role) -> None:
    issuer = make_issuer(timedelta(minutes=15))
    assert issuer.ttl == timedelta(minutes=15)
    who = user(role)
    assert issuer.principal(issuer.issue(who, datetime.now(UTC))) == who


def test_a_token_carries_no_api_key_scopes(make_issuer: IssuerMaker) -> None:
    issuer = make_issuer(timedelta(minutes=15))
    who = Principal(
        tenant_id=uuid.uuid4(), role=Role.AGENT, user_id=uuid.uuid4(), scopes=("template.read",)
    )
    back = issuer.principal(issuer.issue(who, datetime.now(UTC)))
    assert (back.user_id, back.scopes, back.api_key_id) == (who.user_id, (), None)


def test_an_expired_token_is_refused_saying_so(make_issuer: IssuerMaker) -> None:
    issuer = make_issuer(timedelta(minutes=15))
    long_ago = datetime.now(UTC) - timedelta(minutes=16)
    with pytest.raises(Unauthenticated, match="expired"):
        issuer.principal(issuer.issue(user(), long_ago))


def test_a_forged_or_foreign_token_is_refused(make_issuer: IssuerMaker) -> None:
    issuer, other = make_issuer(timedelta(minutes=15)), make_issuer(timedelta(minutes=15))
    token = issuer.issue(user(), datetime.now(UTC))
    if isinstance(other, JwtTokenIssuer):
        other = JwtTokenIssuer("another-secret-" + "y" * 32)
    for bad in ("", "not-a-token", token + "x", token[:-4]):
        with pytest.raises(Unauthenticated):
            issuer.principal(bad)
    with pytest.raises(Unauthenticated):
        other.principal(token)


# -- the twins are never mistaken for the real thing ---------------------------------------


def test_a_twins_secret_or_hash_never_passes_for_the_real_ones() -> None:
    real, twin = AesGcmSecretBox({"k1": K1}, "k1"), MemorySecretBox({"k1": K1}, "k1")
    with pytest.raises(InvalidInput):
        real.open(twin.seal("s", context="c"), context="c")
    with pytest.raises(InvalidInput):
        twin.open(real.seal("s", context="c"), context="c")
    argon, fast = Argon2PasswordHasher(time_cost=1, memory_cost=1024), MemoryPasswordHasher()
    assert not argon.verify(fast.hash("pw"), "pw")
    assert not fast.verify(argon.hash("pw"), "pw")
