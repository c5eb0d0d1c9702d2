from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from accounts.models import CostCenter, Membership, Project, Team, User
from allocator.models import ProviderAccount
from tests.conftest import login


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--no-usage", stdout=out)
    return out.getvalue()


def test_seed_demo_builds_the_organisation_once_and_prints_logins(db):
    output = _seed()
    counts = (User.objects.count(), Team.objects.count(), Project.objects.count(), CostCenter.objects.count())
    assert counts[1:] == (6, 15, 3) and counts[0] >= 35
    assert {"engineer@example.com", "manager@example.com", "finance@example.com", "admin@example.com"} <= set(
        User.objects.values_list("email", flat=True)
    )
    assert "engineer@example.com" in output and "allocator-demo" in output
    assert Project.objects.filter(kind="build").exists() and Project.objects.filter(kind="run").exists()
    assert Membership.objects.filter(role="manager").count() >= 6
    assert ProviderAccount.objects.filter(kind="simulated").count() == 1

    _seed()  # idempotent
    assert (User.objects.count(), Team.objects.count(), Project.objects.count(), CostCenter.objects.count()) == counts


def test_each_demo_person_signs_in_and_sees_a_fitting_home(client, db):
    _seed()
    expected_nav = {
        "engineer@example.com": ({"My keys"}, {"Approvals", "Audit log", "Provider accounts"}),
        "manager@example.com": ({"Approvals", "Budgets"}, {"Audit log", "Provider accounts"}),
        "finance@example.com": ({"Approvals", "Audit log", "Sync status"}, {"Provider accounts"}),
        "admin@example.com": ({"Provider accounts", "Policy", "Audit log"}, set()),
    }
    for email, (present, absent) in expected_nav.items():
        response = client.post(
            reverse("accounts:login"), {"username": email, "password": "allocator-demo"}, follow=True
        )
        assert response.status_code == 200 and response.request["PATH_INFO"] == "/"
        labels = {item["label"] for item in response.context["nav_items"] + response.context["nav_admin_items"]}
        assert present <= labels and not (absent & labels), email
        client.post(reverse("accounts:logout"))


def test_wrong_password_rerenders_with_a_message(client, db):
    _seed()
    response = client.post(reverse("accounts:login"), {"username": "engineer@example.com", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct email and password" in response.content


def test_organisation_page_shows_the_tree(db):
    _seed()
    page = login(User.objects.get(email="engineer@example.com")).get(reverse("accounts:organisation"))
    assert b"Research &amp; Development" in page.content and b"Ranking" in page.content
    assert b"Maya Manager \xc2\xb7 manager" in page.content
