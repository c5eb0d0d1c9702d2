from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Membership, Project, Team, User
from allocator.models import Key, Policy, ProviderAccount, ProviderKind
from allocator.money import MoneyField


class KeyRequestForm(forms.Form):
    account = forms.ModelChoiceField(queryset=ProviderAccount.objects.none(), label="Provider")
    owner = forms.ChoiceField(label="Who is the key for?", widget=forms.RadioSelect)
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False)
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
        accounts = ProviderAccount.objects.filter(enabled=True).exclude(kind=ProviderKind.ANTHROPIC)
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


class ProviderAccountForm(forms.ModelForm):
    auto_approve_limit_usd = MoneyField(
        required=False, label="Auto-approve up to (USD a quarter)", help_text="Leave blank to use the policy's."
    )
    finance_approval_above_usd = MoneyField(
        required=False, label="Finance approves too above (USD a quarter)", help_text="Leave blank to use the policy's."
    )
    credential = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Admin / management key. Leave blank to keep the stored one. Stored encrypted.",
    )

    class Meta:
        model = ProviderAccount
        fields = [
            "kind",
            "name",
            "base_url",
            "credential",
            "options",
            "allowed_models",
            "enabled",
            "auto_approve_limit_usd",
            "finance_approval_above_usd",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored_credential = self.instance.credential if self.instance.pk else ""

    def clean_credential(self):
        value = self.cleaned_data.get("credential") or self._stored_credential
        kind = self.cleaned_data.get("kind") or self.instance.kind
        if not value and kind != ProviderKind.SIMULATED:
            raise ValidationError("An admin credential is required for this provider.")
        return value

    def clean_options(self):
        value = self.cleaned_data.get("options") or {}
        if not isinstance(value, dict):
            raise ValidationError('Options must be a JSON object, e.g. {"project_id": "proj_123"}.')
        return value

    def clean_allowed_models(self):
        value = self.cleaned_data.get("allowed_models") or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('Give a JSON list of model names, e.g. ["gpt-4o-mini"].')
        return value


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
    SECTIONS = [
        ("Approvals", ["default_allowance_usd", "auto_approve_limit_usd", "finance_approval_above_usd"]),
        (
            "Alerts and enforcement",
            ["alert_thresholds", "runaway_multiplier", "runaway_min_usd", "suspend_on_runaway", "forecast_alert_days"],
        ),
        ("Secrets and usage data", ["secret_reveal_hours", "sync_overlap_hours", "usage_retention_months"]),
    ]

    default_allowance_usd = MoneyField(label="Default quarterly allowance (USD)", min_value=Decimal("1"))
    auto_approve_limit_usd = MoneyField(label="Auto-approve up to (USD a quarter)")
    finance_approval_above_usd = MoneyField(label="Finance approves too above (USD a quarter)")
    runaway_min_usd = MoneyField(label="Runaway: ignore hours under (USD)")

    class Meta:
        model = Policy
        fields = [
            "default_allowance_usd",
            "auto_approve_limit_usd",
            "finance_approval_above_usd",
            "alert_thresholds",
            "runaway_multiplier",
            "runaway_min_usd",
            "suspend_on_runaway",
            "forecast_alert_days",
            "secret_reveal_hours",
            "sync_overlap_hours",
            "usage_retention_months",
        ]
        labels = {
            "alert_thresholds": "Alert thresholds (% of budget)",
            "runaway_multiplier": "Runaway: last hour vs usual hourly spend (×)",
            "suspend_on_runaway": "Suspend a runaway key at once",
            "forecast_alert_days": "Warn when a budget is forecast to run out within (days)",
            "secret_reveal_hours": "Hours a new key's secret waits to be revealed",
            "sync_overlap_hours": "Usage re-pull overlap (hours, for late data)",
            "usage_retention_months": "Keep raw usage buckets for (months)",
        }
        widgets = {"alert_thresholds": forms.TextInput()}
        help_texts = {
            "alert_thresholds": "A JSON list, e.g. [50, 80, 100]. Each crossing alerts once per scope and quarter.",
            "runaway_multiplier": "A key spending this many times its trailing hourly baseline raises an alert.",
            "secret_reveal_hours": "After this the secret is destroyed and the key must be rotated.",
        }

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def clean_alert_thresholds(self):
        value = self.cleaned_data.get("alert_thresholds")
        if not isinstance(value, list) or not value or not all(isinstance(v, int) and 0 < v <= 200 for v in value):
            raise ValidationError("Give a JSON list of percentages between 1 and 200, e.g. [50, 80, 100].")
        return sorted(set(value))

    def clean(self):
        data = super().clean()
        auto, finance = data.get("auto_approve_limit_usd"), data.get("finance_approval_above_usd")
        if auto is not None and finance is not None and finance < auto:
            self.add_error("finance_approval_above_usd", "Must be at least the auto-approve limit.")
        return data
