"""``IdentityRecipientDirectory``: users' addresses, asked of the identity context's service.

Notifications do not read identity's tables: they go through ``IdentityService`` (its
facade), so identity stays free to change how it stores users.
"""

from __future__ import annotations

from bazaar.contexts.identity import IdentityService, UserNotFoundError

__all__ = ["IdentityRecipientDirectory"]


class IdentityRecipientDirectory:
    """The ``RecipientDirectory`` port over ``IdentityService.get_user``."""

    def __init__(self, identity: IdentityService) -> None:
        self._identity = identity

    async def email_of(self, tenant_id: int, user_id: int) -> str | None:
        try:
            user = await self._identity.get_user(tenant_id, user_id)
        except UserNotFoundError:
            return None
        return user.email
