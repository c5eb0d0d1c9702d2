from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.forms import EmailAuthenticationForm
from accounts.models import CostCenter, Membership, Project, Team
from accounts.permissions import Access
from allocator.models import KeyRequest
from allocator.quarters import Quarter
from budgets.models import BudgetRequest


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        from django.conf import settings

        context = super().get_context_data(**kwargs)
        context["oidc_enabled"] = settings.OIDC_ENABLED
        return context


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Role-aware home: the budget and key panels come from their apps' template tags."""
    access = Access.for_request(request)
    keys_waiting = access.approvable(KeyRequest.objects.filter(state=KeyRequest.State.PENDING)).count()
    bumps_waiting = (
        access.approvable(BudgetRequest.objects.filter(state=BudgetRequest.State.PENDING))
        .filter(
            Q(budget__quarter=Quarter.current().name) | Q(key__isnull=False, created_at__gte=Quarter.current().start_at)
        )
        .count()
    )
    return render(request, "accounts/home.html", {"approvals_waiting": keys_waiting + bumps_waiting})


@login_required
def organisation(request: HttpRequest) -> HttpResponse:
    """Read-only tree for everyone: cost center → team → projects and people."""
    memberships = Membership.objects.select_related("user").order_by("-role", "user__full_name")
    teams = Team.objects.prefetch_related(
        Prefetch("memberships", queryset=memberships),
        Prefetch("projects", queryset=Project.objects.filter(is_active=True)),
    )
    cost_centers = CostCenter.objects.select_related("owner").prefetch_related(Prefetch("teams", queryset=teams))
    return render(request, "accounts/organisation.html", {"cost_centers": cost_centers})


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    items = request.user.notifications.all()
    page = Paginator(items, 30).get_page(request.GET.get("page"))
    return render(request, "accounts/notifications.html", {"page": page})


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    request.user.notifications.filter(read_at__isnull=True).update(read_at=timezone.now())
    return redirect("accounts:notifications")
