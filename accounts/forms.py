from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import AuditEvent, User, action_label


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    actor = forms.ModelChoiceField(queryset=User.objects.all(), required=False, empty_label="Anyone")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, label="Target contains")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
        self.fields["action"].choices = [("", "All actions")] + [(a, action_label(a)) for a in actions]
