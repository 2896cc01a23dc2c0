"""Who may call the actions that return plates or change what the engine keeps, and who the
engine's audit log names for them.

Plates are personal data and every search is audited under the real person: a Home Assistant
account must not inherit the engine token's role just by being logged in. Administrators may,
and so may the users an engine's options name as its operators. Automations and scripts run
without a user (their author, an administrator, chose what they do) and keep working; the audit
log names the automation or script.

One exception names a person from an automation: a button of an actionable notification. The
companion app fires `mobile_app_notification_action` in the context of the phone's Home
Assistant user (only the app's webhook, or an administrator, can fire events), but the
automation that acts on it runs with no user. Such an automation may pass that user's id
(`async_check_acting_for`): it is honoured only for a call with no user of its own, and only for
a user who may act on the engine; a logged-in user can never name somebody else.
"""

from __future__ import annotations

from homeassistant.auth.models import User
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
    return await _operator(hass, context.user_id, entry)


async def async_check_acting_for(
    hass: HomeAssistant, context: Context, entry: RufinaAlprConfigEntry, user_id: str | None
) -> str:
    """`async_check_operator`, or, for a call with no user (an automation, a script) that names
    one (`user_id`: the user who pressed a notification's button), that user, who must be
    allowed to act on this engine. A logged-in user may name only themselves."""
    if user_id is None or user_id == context.user_id:
        return await async_check_operator(hass, context, entry)
    if context.user_id is not None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="acting_for_refused",
            translation_placeholders={"user": await _user_name(hass, context.user_id)},
        )
    return await _operator(hass, user_id, entry)


async def _operator(hass: HomeAssistant, user_id: str, entry: RufinaAlprConfigEntry) -> str:
    """The audit log's name of an active administrator or operator of the engine; a
    translated error for any other user (or none)."""
    user = await hass.auth.async_get_user(user_id)
    if user is not None and _may_operate(user, entry):
        return f"{(user.name or '?')[:MAX_NAME]} (Home Assistant user {user.id})"
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_an_operator",
        translation_placeholders={
            "user": user.name or user.id if user is not None else user_id,
            "name": entry.title,
        },
    )


def _may_operate(user: User, entry: RufinaAlprConfigEntry) -> bool:
    operators = entry.options.get(CONF_OPERATORS, ())
    return user.is_active and (user.is_admin or user.id in operators)


async def _user_name(hass: HomeAssistant, user_id: str) -> str:
    user = await hass.auth.async_get_user(user_id)
    return (user.name or user.id) if user is not None else user_id


def _automation_or_script(hass: HomeAssistant, context: Context) -> str:
    """`automation:<entity id>` or `script:<entity id>`: the one whose run made this call (its
    state carries the run's context)."""
    for domain in ("automation", "script"):
        for state in hass.states.async_all(domain):
            if state.context.id in (context.id, context.parent_id):
                return f"{domain}:{state.entity_id}"
    return "Home Assistant (no user)"
