"""`{{ event.action|action_label }}`: the readable name of an audit action, from accounts.timeline."""

from django import template

from accounts.timeline import action_label as _action_label

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    return _action_label(action or "")
