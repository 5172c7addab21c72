"""Session handlers: login, refresh-token rotation, logout (capabilities §2.2).

A session is a refresh-token family: login starts one, each refresh rotates it, logout or a
detected reuse revokes it. Access tokens are stateless; logout revokes the caller's by ``jti``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bazaar.contexts.identity.application.handlers import IdentityDependencies
from bazaar.contexts.identity.application.unit_of_work import IdentityUnitOfWork
from bazaar.contexts.identity.domain import commands as cmds
from bazaar.contexts.identity.domain import events
from bazaar.contexts.identity.domain.credentials import (
    hash_secret,
    is_refresh_token,
    new_refresh_token,
    normalize_email,
)
from bazaar.contexts.identity.domain.errors import (
    InvalidCredentialsError,
    InvalidEmailError,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
    TokenInvalidError,
)
from bazaar.contexts.identity.domain.model import RefreshToken, TokenPair

__all__ = ["login", "logout", "rotate_refresh_token"]


async def login(cmd: cmds.Login, uow: IdentityUnitOfWork, deps: IdentityDependencies) -> TokenPair:
    """Every failure is the same ``InvalidCredentialsError`` after the same amount of work.

    The user is looked up on the read side and the password verified before any write
    transaction opens, so a slow hash never holds a write lock.
    """
    try:
        email: str | None = normalize_email(cmd.email)
    except InvalidEmailError:
        email = None
    candidate = None
    if email is not None:
        candidate = await deps.reads.login_candidate(cmd.tenant_id, email)
    if candidate is None:
        # Unknown user: verify against a dummy hash so the answer takes as long as a wrong
        # password would, leaving no timing oracle for which emails exist.
        await deps.passwords.verify_dummy(cmd.password)
        raise InvalidCredentialsError()
    if not await deps.passwords.verify(candidate.password_hash, cmd.password):
        raise InvalidCredentialsError()
    rehashed = None
    if deps.passwords.needs_rehash(candidate.password_hash):
        rehashed = await deps.passwords.hash(cmd.password)
    now = deps.now()
    secret = new_refresh_token()
    family_id = deps.ids.next_id()
    token = RefreshToken(
        id=deps.ids.next_id(),
        tenant_id=candidate.tenant_id,
        user_id=candidate.user_id,
        family_id=family_id,
        token_hash=hash_secret(secret),
        issued_at=now,
        expires_at=now + timedelta(seconds=deps.refresh_token_ttl_s),
    )
    async with uow:
        if rehashed is not None:
            await uow.users.set_password_hash(candidate.tenant_id, candidate.user_id, rehashed)
        await uow.refresh_tokens.add(token)
        uow.events.append(
            events.UserLoggedIn(
                id=deps.ids.next_id(),
                occurred_at=now,
                tenant_id=candidate.tenant_id,
                user_id=candidate.user_id,
                family_id=family_id,
            )
        )
        await uow.commit()
    access = deps.tokens.issue(
        user_id=candidate.user_id, tenant_id=candidate.tenant_id, role=candidate.role
    )
    return TokenPair(access_token=access.token, refresh_token=secret, expires_in=access.expires_in)


async def rotate_refresh_token(
    cmd: cmds.RotateRefreshToken, uow: IdentityUnitOfWork, deps: IdentityDependencies
) -> TokenPair:
    """Exchange a refresh token for a new pair; a reused token revokes its whole family.

    Raises:
        RefreshTokenInvalidError: malformed, unknown or expired.
        RefreshTokenReusedError: already used or revoked, or lost a concurrent rotation;
            the family's revocation is committed before this is raised.
    """
    if not is_refresh_token(cmd.refresh_token):
        raise RefreshTokenInvalidError("malformed")
    now = deps.now()
    async with uow:
        record = await uow.refresh_tokens.get_by_hash(hash_secret(cmd.refresh_token))
        if record is None:
            raise RefreshTokenInvalidError("unknown")
        try:
            record.check_rotatable(now)
        except RefreshTokenReusedError:
            await _revoke_family(uow, deps, record, now)
            raise
        # The read above may be stale under concurrency; this conditional write decides.
        if not await uow.refresh_tokens.mark_used(record.tenant_id, record.id, now):
            await _revoke_family(uow, deps, record, now)
            raise RefreshTokenReusedError(record.family_id)
        user = await uow.users.get(record.tenant_id, record.user_id)
        if user is None:
            raise RefreshTokenInvalidError("unknown_subject")
        secret = new_refresh_token()
        await uow.refresh_tokens.add(
            record.successor(
                token_id=deps.ids.next_id(),
                token_hash=hash_secret(secret),
                now=now,
                ttl_s=deps.refresh_token_ttl_s,
            )
        )
        await uow.commit()
    access = deps.tokens.issue(user_id=user.id, tenant_id=user.tenant_id, role=user.role)
    return TokenPair(access_token=access.token, refresh_token=secret, expires_in=access.expires_in)


async def _revoke_family(
    uow: IdentityUnitOfWork, deps: IdentityDependencies, record: RefreshToken, now: datetime
) -> None:
    await uow.refresh_tokens.revoke_family(record.tenant_id, record.family_id, now)
    uow.events.append(
        events.RefreshTokenReuseDetected(
            id=deps.ids.next_id(),
            occurred_at=now,
            tenant_id=record.tenant_id,
            user_id=record.user_id,
            family_id=record.family_id,
        )
    )
    # Committed before the error propagates: the revocation is the point of detecting reuse.
    await uow.commit()


async def logout(cmd: cmds.Logout, uow: IdentityUnitOfWork, deps: IdentityDependencies) -> None:
    """Revoke the caller's access token and, if it is the caller's, the refresh token family.

    A refresh token that is unknown or someone else's is left alone without saying so.
    """
    principal = cmd.principal
    if principal.token_id is None or principal.token_expires_at is None:
        raise TokenInvalidError("bearer_required")
    now = deps.now()
    async with uow:
        family_id = None
        if is_refresh_token(cmd.refresh_token):
            record = await uow.refresh_tokens.get_by_hash(hash_secret(cmd.refresh_token))
            if (
                record is not None
                and record.tenant_id == principal.tenant_id
                and record.user_id == principal.user_id
            ):
                family_id = record.family_id
                await uow.refresh_tokens.revoke_family(record.tenant_id, family_id, now)
        expires_at = datetime.fromtimestamp(principal.token_expires_at, tz=UTC)
        await uow.revoked_tokens.add(
            principal.tenant_id, principal.token_id, principal.user_id, expires_at, now
        )
        # Revocations outlive their tokens only until expiry; tidy them up on the way.
        await uow.revoked_tokens.purge_expired(now)
        uow.events.append(
            events.UserLoggedOut(
                id=deps.ids.next_id(),
                occurred_at=now,
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                family_id=family_id,
            )
        )
        await uow.commit()
