"""Who may call the actions that return plates or change what the engine keeps.

Plates are personal data and every search is audited under the real person: a Home Assistant
account must not inherit the engine token's role just by being logged in. Administrators may,
and so may the users an engine's options name as its operators. Automations and scripts run
without a user (their author, an administrator, chose what they do) and keep working.
"""

from __future__ import annotations

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .const import CONF_OPERATORS, DOMAIN
from .hub import RufinaAlprConfigEntry


async def async_check_operator(
    hass: HomeAssistant, context: Context, entry: RufinaAlprConfigEntry
) -> None:
    """Raise a translated error unless the call's user may act on this engine."""
    if context.user_id is None:
        return
    user = await hass.auth.async_get_user(context.user_id)
    operators = entry.options.get(CONF_OPERATORS, ())
    if user is not None and user.is_active and (user.is_admin or user.id in operators):
        return
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_an_operator",
        translation_placeholders={
            "user": user.name or user.id if user is not None else context.user_id,
            "name": entry.title,
        },
    )
