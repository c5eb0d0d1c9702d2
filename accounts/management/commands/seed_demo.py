"""Demo organisation: 3 cost centers, 6 teams, 15 projects, 40 people with every role. Idempotent."""

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import CostCenter, Membership, Project, Team, User

DEMO_PASSWORD = "allocator-demo"

DEMO_LOGINS = [
    ("engineer@example.com", "Erin Engineer", "engineer on Search"),
    ("manager@example.com", "Maya Manager", "manages Search"),
    ("finance@example.com", "Felix Finance", "finance"),
    ("admin@example.com", "Ada Admin", "admin"),
]

ORG = [
    (
        "RND",
        "Research & Development",
        [
            (
                "search",
                "Search",
                [
                    ("search-ranking", "Ranking", "run"),
                    ("query-rewrite", "Query rewrite", "run"),
                    ("search-evals", "Search evals", "build"),
                ],
            ),
            (
                "platform",
                "Platform",
                [("dev-copilot", "Dev copilot", "build"), ("ci-review-bot", "CI review bot", "build")],
            ),
            (
                "ml-research",
                "ML Research",
                [("eval-harness", "Eval harness", "build"), ("distillation", "Distillation", "build")],
            ),
        ],
    ),
    (
        "PROD",
        "Product",
        [
            (
                "support-ai",
                "Support AI",
                [
                    ("support-assistant", "Support assistant", "run"),
                    ("ticket-triage", "Ticket triage", "run"),
                    ("kb-writer", "KB writer", "build"),
                ],
            ),
            ("growth", "Growth", [("onboarding-emails", "Onboarding emails", "run"), ("ad-copy", "Ad copy", "run")]),
        ],
    ),
    (
        "GNA",
        "General & Administrative",
        [
            (
                "business-ops",
                "Business Ops",
                [
                    ("contract-review", "Contract review", "build"),
                    ("finance-insights", "Finance insights", "build"),
                    ("sales-notes", "Sales notes", "run"),
                ],
            ),
        ],
    ),
]

FIRST = [
    "Alice",
    "Bilal",
    "Chen",
    "Dana",
    "Emeka",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zara",
    "Arjun",
    "Beatriz",
    "Carlos",
    "Dmitri",
    "Elif",
    "Femi",
    "Greta",
    "Hiro",
]
LAST = [
    "Nakamura",
    "Okafor",
    "Silva",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Mensah",
    "Rossi",
    "Petrov",
    "Garcia",
    "Chen",
    "Osei",
    "Novak",
    "Ibrahim",
    "Schmidt",
    "Tanaka",
    "Moreau",
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo organisation and print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--no-usage", action="store_true", help="Only the organisation: no demo keys or usage.")

    @transaction.atomic
    def _seed_org(self) -> None:
        # One hash for every demo login: the password hasher's deliberate slowness, paid per person, took most of
        # the seeding time.
        demo_hash = make_password(DEMO_PASSWORD)

        def person(email: str, name: str, role: str = User.Role.ENGINEER) -> User:
            user, created = User.objects.get_or_create(email=email, defaults={"full_name": name, "role": role})
            if created:
                user.password = demo_hash
                if role == User.Role.ADMIN:
                    user.is_staff = user.is_superuser = True
                user.save()
            return user

        admin = person("admin@example.com", "Ada Admin", User.Role.ADMIN)
        finance = person("finance@example.com", "Felix Finance", User.Role.FINANCE)
        person("fatima.finance@example.com", "Fatima Bello", User.Role.FINANCE)
        manager = person("manager@example.com", "Maya Manager")
        engineer = person("engineer@example.com", "Erin Engineer")

        names = iter(f"{f} {LAST[i % len(LAST)]}" for i, f in enumerate(FIRST))
        teams: list[Team] = []
        for cc_code, cc_name, team_specs in ORG:
            cc, _ = CostCenter.objects.get_or_create(code=cc_code, defaults={"name": cc_name, "owner": finance})
            for slug, name, projects in team_specs:
                team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name, "cost_center": cc})
                teams.append(team)
                for p_slug, p_name, kind in projects:
                    Project.objects.get_or_create(slug=p_slug, defaults={"name": p_name, "team": team, "kind": kind})

        search = teams[0]
        Membership.objects.get_or_create(user=manager, team=search, defaults={"role": Membership.Role.MANAGER})
        Membership.objects.get_or_create(user=engineer, team=search)
        Membership.objects.get_or_create(user=admin, team=teams[1])
        for index, team in enumerate(teams):
            if team != search:
                full = next(names)
                lead = person(f"{full.split()[0].lower()}@example.com", full)
                Membership.objects.get_or_create(user=lead, team=team, defaults={"role": Membership.Role.MANAGER})
            for _ in range(5):
                full = next(names, None)
                if full is None:
                    break
                member = person(f"{full.split()[0].lower()}@example.com", full)
                Membership.objects.get_or_create(user=member, team=teams[index])

    def handle(self, *args, **options):
        self._seed_org()
        from allocator.models import ProviderAccount, ProviderKind

        ProviderAccount.objects.get_or_create(
            name="Simulated", defaults={"kind": ProviderKind.SIMULATED, "status": ProviderAccount.Status.OK}
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {User.objects.count()} people, "
                f"{Team.objects.count()} teams, {Project.objects.count()} projects."
            )
        )
        if not options["no_usage"]:
            from django.core.management import call_command

            call_command("seed_demo_usage", stdout=self.stdout, stderr=self.stderr)
            call_command("seed_demo_coding", stdout=self.stdout)
            call_command("seed_demo_cursor", stdout=self.stdout)
            # Budgets are sized from the usage just recorded, then enforced once so alerts and a
            # suspension are there on first sign-in.
            call_command("seed_demo_budgets", enforce=True, stdout=self.stdout)
            call_command("seed_demo_capacity", stdout=self.stdout)
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for email, name, what in DEMO_LOGINS:
            self.stdout.write(f"  {email:<24} {name:<16} {what}")
