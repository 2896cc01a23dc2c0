"""Who may call the actions that return plates or change what the engine keeps, and who the
engine's audit log names for them.

Plates are personal data and every search is audited under the real person: a Home Assistant
account must not inherit the engine token's role just by being logged in. Administrators may,
and so may the users an engine's options name as its operators. Automations and scripts run
without a user (their author, an administrator, chose what they do) and keep working; the audit
log names the automation or script.
"""

from __future__ import annotations

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .const import CONF_OPERATORS, DOMAIN
from .hub import RufinaAlprConfigEntry

# The engine takes up to 120 characters for the person; a user's id takes 32 of them.
MAX_NAME = 60


async def async_check_operator(
    hass: HomeAssistant, context: Context, entry: RufinaAlprConfigEntry
) -> str:
    """Who the call acts for, as the engine's audit log will name them; a translated error
    unless that user may act on this engine."""
    if context.user_id is None:
        return _automation_or_script(hass, context)
    user = await hass.auth.async_get_user(context.user_id)
    operators = entry.options.get(CONF_OPERATORS, ())
    if user is not None and user.is_active and (user.is_admin or user.id in operators):
        return f"{(user.name or '?')[:MAX_NAME]} (Home Assistant user {user.id})"
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_an_operator",
        translation_placeholders={
            "user": user.name or user.id if user is not None else context.user_id,
            "name": entry.title,
        },
    )


def _automation_or_script(hass: HomeAssistant, context: Context) -> str:
    """`automation:<entity id>` or `script:<entity id>`: the one whose run made this call (its
    state carries the run's context)."""
    for domain in ("automation", "script"):
        for state in hass.states.async_all(domain):
            if state.context.id in (context.id, context.parent_id):
                return f"{domain}:{state.entity_id}"
    return "Home Assistant (no user)"
