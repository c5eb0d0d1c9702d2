from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Membership, Project, Team, User
from allocator.models import Key, Policy, ProviderAccount, ProviderKind
from allocator.money import MoneyField
from allocator.providers import PROVIDERS, provider_class
from allocator.providers.base import OptionSpec


def minting_kinds() -> list[str]:
    """Provider kinds whose keys Allocator can create (the others' keys are imported)."""
    return [kind for kind in PROVIDERS if provider_class(kind).capabilities.mint]


class KeyRequestForm(forms.Form):
    account = forms.ModelChoiceField(queryset=ProviderAccount.objects.none(), label="Provider")
    owner = forms.ChoiceField(label="Who is the key for?", widget=forms.RadioSelect)
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, help_text="Needed when the key is for a project."
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), label="Charge to team")
    name = forms.SlugField(max_length=40, help_text="Short name, e.g. laptop or ci-runner.")
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    allowance_usd = MoneyField(label="Quarterly allowance (USD)", min_value=Decimal("1"))
    expires_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        teams = Team.objects.filter(memberships__user=user).distinct()
        if user.is_admin:
            teams = Team.objects.all()
        self.fields["team"].queryset = teams
        if teams.count() == 1:
            self.fields["team"].initial = teams.first()
        self.fields["project"].queryset = Project.objects.filter(team__in=teams, is_active=True).select_related("team")
        self.fields["project"].conditional = True  # required when "A project" is picked: no "(optional)"
        accounts = ProviderAccount.objects.filter(enabled=True, kind__in=minting_kinds())
        self.fields["account"].queryset = accounts
        if len(accounts) == 1:
            self.fields["account"].initial = accounts[0]
        self.fields["owner"].choices = [("me", "Me"), ("project", "A project")]
        self.fields["owner"].initial = "me"
        self.fields["allowance_usd"].initial = Policy.current().default_allowance_usd

    def clean_expires_on(self):
        value = self.cleaned_data.get("expires_on")
        if value and value <= timezone.localdate():
            raise ValidationError("Pick a date in the future.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("owner") == "project":
            project = data.get("project")
            if not project:
                self.add_error("project", "Choose the project this key is for.")
            elif data.get("team") and project.team_id != data["team"].pk:
                self.add_error("project", f"{project} belongs to {project.team}; charge it to that team.")
        else:
            data["project"] = None
        return data


class KeyActionForm(forms.Form):
    """The reason given for revoking, suspending or reinstating a key (stored in the key's 200-character column)."""

    reason = forms.CharField(
        required=False,
        max_length=Key._meta.get_field("status_reason").max_length,
        error_messages={"max_length": "Keep the reason to %(limit_value)d characters (it has %(show_value)d)."},
    )


class RejectForm(forms.Form):
    """Why a key request or a bump is rejected (sent to the requester, so bounded and required)."""

    reason = forms.CharField(
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "Reason"}),
        error_messages={
            "required": "Say why the request is rejected.",
            "max_length": "The reason is too long: keep it to %(limit_value)d characters (it has %(show_value)d).",
        },
    )

    def error_text(self) -> str:
        return " ".join(self.errors.get("reason", []))


def _option_field(spec: OptionSpec) -> forms.Field:
    """A real form field for one documented provider option."""
    common = {"label": spec.label, "help_text": spec.help, "required": spec.required}
    if spec.kind == "int":
        return forms.IntegerField(min_value=0, max_value=10**9, **common)
    if spec.kind == "bool":
        return forms.BooleanField(**{**common, "required": False})
    if spec.kind == "list":
        return forms.CharField(max_length=2000, **common)
    if spec.kind == "choice":
        return forms.ChoiceField(choices=spec.choices, **common)
    if spec.kind == "money":
        return MoneyField(**common)
    return forms.CharField(max_length=200, **common)


def split_list(text: str) -> list[str]:
    """ "a, b" or one per line → ["a", "b"] (blanks dropped, order kept, duplicates removed)."""
    items = [item.strip() for line in (text or "").splitlines() for item in line.split(",")]
    return list(dict.fromkeys(item for item in items if item))


class ProviderAccountForm(forms.ModelForm):
    """Connect or edit a provider account. What the credential is, and the options, come from the provider class."""

    kind = forms.ChoiceField(label="Provider", choices=ProviderKind.choices)
    base_url = forms.URLField(
        label="API base URL",
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text="Leave blank for the provider's public API; set it for a proxy or a test server.",
    )
    credential = forms.CharField(required=False, max_length=2000, widget=forms.PasswordInput(render_value=False))
    allowed_models = forms.CharField(
        label="Allowed models",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "gpt-4o-mini, gpt-4o"}),
        help_text="Model names keys may use, separated by commas or one per line. Leave blank to allow all.",
    )
    auto_approve_limit_usd = MoneyField(
        required=False, label="Auto-approve up to (USD a quarter)", help_text="Leave blank to use the policy's."
    )
    finance_approval_above_usd = MoneyField(
        required=False,
        label="Finance also approves above (USD a quarter)",
        help_text="Leave blank to use the policy's.",
    )

    class Meta:
        model = ProviderAccount
        fields = [
            "kind",
            "name",
            "base_url",
            "credential",
            "allowed_models",
            "enabled",
            "auto_approve_limit_usd",
            "finance_approval_above_usd",
        ]
        labels = {"name": "Name", "enabled": "Enabled (keys can be requested and usage is synced)"}

    def __init__(self, *args: Any, kind: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_credential = self.instance.credential if self.instance.pk else ""
        chosen = (self.data.get("kind") if self.is_bound else "") or kind or self.instance.kind
        self.provider_kind = chosen if chosen in ProviderKind.values else ProviderKind.values[0]
        self.provider = provider_class(self.provider_kind)
        self.initial.setdefault("kind", self.provider_kind)
        self.initial["allowed_models"] = ", ".join(self.instance.allowed_models or [])
        credential = self.fields["credential"]
        credential.label = self.provider.credential_label
        credential.conditional = self.provider_kind != ProviderKind.SIMULATED  # required unless one is stored
        keep = " Leave blank to keep the stored one." if self._stored_credential else ""
        credential.help_text = f"{self.provider.credential_help}{keep} Stored encrypted.".strip()
        stored = self.instance.options or {}
        for spec in self.provider.option_specs:
            name = f"option_{spec.name}"
            self.fields[name] = _option_field(spec)
            value = stored.get(spec.name)
            self.initial[name] = ", ".join(value) if spec.kind == "list" and isinstance(value, list) else value

    @property
    def option_names(self) -> list[str]:
        return [f"option_{spec.name}" for spec in self.provider.option_specs]

    def clean_credential(self) -> str:
        value = self.cleaned_data.get("credential") or self._stored_credential
        if not value and self.provider_kind != ProviderKind.SIMULATED:
            raise ValidationError(f"The {self.provider.credential_label} is required for this provider.")
        return value

    def clean_allowed_models(self) -> list[str]:
        return split_list(self.cleaned_data.get("allowed_models", ""))

    def save(self, commit: bool = True) -> ProviderAccount:
        account = super().save(commit=False)
        options = dict(self.instance.options or {})  # options no field shows (set in the admin) are kept
        for spec in self.provider.option_specs:
            value = self.cleaned_data.get(f"option_{spec.name}")
            if spec.kind == "list":
                value = split_list(value or "")
            elif spec.kind == "money" and value is not None:
                value = str(value)  # options are JSON; read back with Decimal(str(...))
            if value in (None, "", []):
                options.pop(spec.name, None)
            else:
                options[spec.name] = value
        account.options = options
        if commit:
            account.save()
        return account


class ImportKeyForm(forms.Form):
    provider_key_id = forms.CharField(widget=forms.HiddenInput, max_length=128)
    owner_user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True), required=False, label="Person")
    owner_project = forms.ModelChoiceField(
        queryset=Project.objects.filter(is_active=True), required=False, label="Project"
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all())
    limit_usd = MoneyField(required=False, label="Quarterly allowance")

    def clean(self):
        data = super().clean()
        if bool(data.get("owner_user")) == bool(data.get("owner_project")):
            raise ValidationError("Choose exactly one owner: a person or a project.")
        user, team = data.get("owner_user"), data.get("team")
        if user and team and not Membership.objects.filter(user=user, team=team).exists():
            self.add_error("team", f"{user} is not a member of {team}.")
        return data


class PolicyForm(forms.ModelForm):
    """Approvals, secrets and usage data. The alert and enforcement settings on the same page are
    budgets.forms.BudgetPolicyForm."""

    SECTIONS = [
        ("Approvals", ["default_allowance_usd", "auto_approve_limit_usd", "finance_approval_above_usd"]),
        ("Secrets and usage data", ["secret_reveal_hours", "sync_overlap_hours", "usage_retention_months"]),
    ]

    default_allowance_usd = MoneyField(label="Default quarterly allowance (USD)", min_value=Decimal("1"))
    auto_approve_limit_usd = MoneyField(label="Auto-approve up to (USD a quarter)")
    finance_approval_above_usd = MoneyField(label="Finance also approves above (USD a quarter)")

    class Meta:
        model = Policy
        fields = [
            "default_allowance_usd",
            "auto_approve_limit_usd",
            "finance_approval_above_usd",
            "secret_reveal_hours",
            "sync_overlap_hours",
            "usage_retention_months",
        ]
        labels = {
            "secret_reveal_hours": "Hours a new key's secret waits to be revealed",
            "sync_overlap_hours": "Usage re-pull overlap (hours, for late data)",
            "usage_retention_months": "Keep raw usage buckets for (months)",
        }
        help_texts = {
            "secret_reveal_hours": "After this the secret is destroyed and the key must be rotated.",
        }

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def clean(self):
        data = super().clean()
        auto, finance = data.get("auto_approve_limit_usd"), data.get("finance_approval_above_usd")
        if auto is not None and finance is not None and finance < auto:
            self.add_error("finance_approval_above_usd", "Must be at least the auto-approve limit.")
        return data


class CodingIdentityMapForm(forms.Form):
    """Map a coding tool's identity to a person, named by id or by email (the page's picker; any case), or to
    nobody (both empty: unmap it)."""

    person = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("full_name", "email"),
        required=False,
        label="Person",
        empty_label="— nobody (unattributed) —",
    )
    email = forms.EmailField(required=False, max_length=254, label="Person's email")

    def clean(self):
        data = super().clean()
        email = data.get("email")
        if email:
            person = User.objects.filter(email__iexact=email, is_active=True).order_by("pk").first()
            if person is None:
                self.add_error("email", f"Nobody here has the email {email}.")
            data["person"] = person
        return data
