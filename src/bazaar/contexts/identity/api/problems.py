"""Identity errors → problem+json: the one mapping the identity routes use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from bazaar.api.problems import FieldError, ProblemError
from bazaar.api.security import forbidden, unauthenticated
from bazaar.contexts.identity.domain import errors

__all__ = ["identity_errors", "identity_problem"]

# A login that fails says nothing more specific (capabilities §2.1).
INVALID_CREDENTIALS = "Invalid credentials."


def identity_problem(
    exc: errors.IdentityError, fields: Mapping[str, str] | None = None
) -> ProblemError:
    """The problem answering ``exc``; ``fields`` renames domain field names to body fields."""
    rename = fields or {}
    match exc:
        case errors.InvalidCredentialsError():
            return unauthenticated(INVALID_CREDENTIALS)
        case errors.RefreshTokenInvalidError():
            return unauthenticated("The refresh token is not valid, has expired or was used.")
        case errors.OperatorKeyInvalidError(missing=True):
            return unauthenticated("Creating a tenant needs the X-Operator-Key header.")
        case errors.OperatorKeyInvalidError():
            return unauthenticated("The operator key is not valid.")
        case errors.TokenInvalidError():
            return unauthenticated("Logout needs a bearer access token.", invalid_token=True)
        case errors.AuthenticationError():
            return unauthenticated("The credentials are not valid.")
        case errors.TenantCreationDisabledError():
            return forbidden("Tenant creation is disabled: no operator key is configured.")
        case errors.PermissionDeniedError(permission=permission):
            return forbidden(f"This needs the {permission!r} permission.")
        case errors.ScopeNotGrantedError(scope=scope):
            return forbidden(f"You cannot grant the scope {scope!r}: you do not hold it.")
        case errors.AuthorizationError():
            return forbidden("Not allowed.")
        case errors.InvalidInputError(field=field, message=message):
            name = rename.get(field, field)
            return _validation(FieldError(field=name, message=message, code=type(exc).__name__))
        case errors.TenantNotFoundError():
            field = rename.get("tenant_id", "tenant_id")
            return _validation(FieldError(field=field, message="No such tenant.", code="not_found"))
        case errors.EmailTakenError():
            return ProblemError(409, "conflict", "A user with this email already exists.")
        case errors.UserNotFoundError() | errors.ApiKeyNotFoundError():
            return ProblemError(404, "not-found", "No such resource.")
    return ProblemError(500, "internal", "The server could not complete the request.")


def _validation(error: FieldError) -> ProblemError:
    return ProblemError(422, "validation", "One or more fields are invalid.", errors=[error])


@contextmanager
def identity_errors(**fields: str) -> Iterator[None]:
    """Translate identity errors raised inside the block; ``fields`` as for identity_problem."""
    try:
        yield
    except errors.IdentityError as exc:
        raise identity_problem(exc, fields) from exc
