"""What every Allocator admin shares: JSON fields that refuse deep nesting, an audit event for every change made
in the admin, and read-only admins for history."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest

from accounts.models import AuditEvent
from allocator.money import MoneyField

# Provider options, model lists and usage profiles are a few levels deep; anything far deeper is a mistake that
# would later fail to load (json's recursion limit), so it is refused when typed.
MAX_JSON_DEPTH = 20
TOO_DEEP = f"This JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)."


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion (a scalar is 0, [] or {} is 1)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class BoundedJSONField(forms.JSONField):
    """Django's JSON form field, with a clear error instead of a crash (RecursionError) for deep nesting."""

    def to_python(self, value: Any) -> Any:
        try:
            converted = super().to_python(value)
        except RecursionError as error:
            raise ValidationError(TOO_DEEP, code="too_deep") from error
        if json_depth(converted) > MAX_JSON_DEPTH:
            raise ValidationError(TOO_DEEP, code="too_deep")
        return converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Re-rendering the form with its error parses the input again: show it as typed.
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)

    def prepare_value(self, value: Any) -> Any:
        try:
            return super().prepare_value(value)
        except (RecursionError, ValueError):
            return InvalidJSONInput(json.dumps(None))


class AllocatorAdmin(admin.ModelAdmin):
    """Safe JSON fields, bounded money fields, and an audit event naming the fields of every change made here."""

    formfield_overrides = {models.JSONField: {"form_class": BoundedJSONField}}

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.DecimalField) and db_field.decimal_places == 2:
            kwargs.setdefault("form_class", MoneyField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        action = "admin.changed" if change else "admin.added"
        AuditEvent.record(action, actor=request.user, target=obj, fields=sorted(form.changed_data))


class ReadOnlyAdmin(AllocatorAdmin):
    """History or rows written by the system: look and filter, never add, edit or delete by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The approval state machine's columns (allocator.models.ApprovalRequest), in the order the admin shows them.
APPROVAL_FIELDS = (
    "state",
    "awaiting_step",
    "needs_finance",
    "auto_approved",
    "manager_approved_by",
    "manager_approved_at",
    "finance_approved_by",
    "finance_approved_at",
    "decided_by",
    "decided_at",
    "decision_reason",
)
# Of those, the ones an admin may correct to unstick a request; who decided and when is history.
APPROVAL_REPAIRABLE = ("state", "awaiting_step", "needs_finance", "decision_reason")


class RepairAdmin(AllocatorAdmin):
    """Rows the application creates: an admin may correct stuck fields but not add or delete rows (their history
    and provider state hang on them). List the shown fields in `fields` and the correctable ones in `repairable`:
    the rest are read-only. (Without `repairable`, `readonly_fields` is used as Django does.)"""

    repairable: tuple[str, ...] | None = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if self.repairable is None:
            return super().get_readonly_fields(request, obj)
        return [name for name in self.fields if name not in self.repairable]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
