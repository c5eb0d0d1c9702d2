"""Serializers of the board resources (allocator/api/leaderboards.py): query parameters checked strictly, and the
rows, positions, efficiency and adoption figures the board pages show. Money and costs are decimal strings with
micro-dollars (as usage), shares decimal strings from 0 to 1, ratios null where there is nothing to divide by."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from allocator.api.fields import QuarterField, cost_out
from budgets.reports.leaderboards import DEFAULT_SORT, DEFAULT_TAB, SORTS, TABS


def share_out(**kwargs: Any) -> serializers.DecimalField:
    """A share from 0 to 1 (null: nothing to divide by)."""
    return serializers.DecimalField(max_digits=12, decimal_places=6, read_only=True, allow_null=True, **kwargs)


def ratio_out(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=24, decimal_places=6, read_only=True, allow_null=True, **kwargs)


# --- Query parameters -------------------------------------------------------------------------------------------


class BoardQuery(serializers.Serializer):
    quarter = QuarterField(allow_blank=True)
    team = serializers.SlugField(
        required=False, allow_blank=True, max_length=50, help_text="A team's slug (one you may see, else 404)."
    )
    cost_center = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="A cost center's code (finance-wide viewers; ignored for others, as on the pages).",
    )


class LeaderboardQuery(BoardQuery):
    tab = serializers.ChoiceField(choices=list(TABS), default=DEFAULT_TAB, help_text="Which board.")
    sort = serializers.ChoiceField(
        choices=list(SORTS), default=DEFAULT_SORT, help_text="Largest first, except `name` (A to Z)."
    )


class CompareQuery(serializers.Serializer):
    quarter = QuarterField(allow_blank=True)
    team = serializers.SlugField(required=False, max_length=50, help_text="A team's slug.")
    cost_center = serializers.CharField(required=False, max_length=32, help_text="A cost center's code.")

    def validate(self, data: dict) -> dict:
        if ("team" in data) == ("cost_center" in data):
            raise serializers.ValidationError("Give exactly one of team or cost_center.")
        return data


# --- Rows -------------------------------------------------------------------------------------------------------


class BoardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Place by cost, whatever the sort.")
    id = serializers.IntegerField(allow_null=True, help_text="Person, project, team or key id (null for models, "
                                                             "providers).")  # fmt: skip
    ref = serializers.CharField(help_text="What the other endpoints call it: email, slug, key id, model, provider.")
    name = serializers.CharField()
    team = serializers.CharField(allow_null=True, help_text="Projects and keys: the owning team's slug.")
    cost_usd = cost_out()
    tokens = serializers.IntegerField(help_text="Input (cached included) plus output.")
    requests = serializers.IntegerField(allow_null=True, help_text="Null where the provider reports none.")
    previous_cost_usd = cost_out(source="previous_cost", help_text="All of the previous quarter.")
    same_day_cost_usd = cost_out(
        source="same_day_cost", allow_null=True, help_text="The previous quarter up to the same day (current quarter)."
    )
    change_percent = serializers.IntegerField(source="change", allow_null=True, help_text="Against the same day.")
    change_full_percent = serializers.IntegerField(source="change_full", allow_null=True)


class BoardTotalsSerializer(serializers.Serializer):
    cost_usd = cost_out(source="cost")
    tokens = serializers.IntegerField()
    requests = serializers.IntegerField(allow_null=True)
    previous_cost_usd = cost_out(source="previous_cost")
    same_day_cost_usd = cost_out(source="same_day_cost", allow_null=True)
    change_percent = serializers.IntegerField(source="change", allow_null=True)
    change_full_percent = serializers.IntegerField(source="change_full", allow_null=True)


class MediansSerializer(serializers.Serializer):
    cost_usd = cost_out(source="cost", allow_null=True)
    cost_per_request_usd = ratio_out(source="cost_per_request")
    cache_share = share_out()
    small_tier_share = share_out(source="small_share")
    per_active_day_usd = ratio_out(source="per_active_day")
    output_per_input = ratio_out()


class EfficiencySerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    ref = serializers.CharField(help_text="A person's email or a team's slug.")
    name = serializers.CharField()
    cost_usd = cost_out(source="cost")
    requests = serializers.IntegerField(allow_null=True)
    cost_per_request_usd = ratio_out(source="cost_per_request")
    cache_share = share_out(help_text="Cached input tokens / input tokens.")
    small_tier_share = share_out(source="small_share", help_text="Cost on small-tier models / cost.")
    per_active_day_usd = ratio_out(source="per_active_day")
    output_per_input = ratio_out()
    active_days = serializers.IntegerField()
    beats_median = serializers.DictField(source="better", child=serializers.BooleanField())
    score = serializers.IntegerField(help_text="Measures beating the median.")
    scored = serializers.IntegerField(help_text="Measures that could be compared.")
    heavy = serializers.BooleanField()
    careful = serializers.BooleanField()
    verdict = serializers.CharField(help_text='"heavy, careful", "heavy, costly", "careful" or "".')


class PositionSerializer(serializers.Serializer):
    """One's own place in a team whose names one may not see."""

    team = serializers.CharField(source="team.slug")
    team_name = serializers.CharField(source="team.name")
    members = serializers.IntegerField()
    rank = serializers.IntegerField(allow_null=True, help_text="By spend; null: no usage this quarter.")
    top_percent = serializers.IntegerField(allow_null=True)
    standing = serializers.CharField(help_text='"top 20 %" or "bottom 30 %" of the team by spend ("": no usage).')
    mine = EfficiencySerializer(allow_null=True, help_text="Your figures in this team (null: no usage).")
    team_medians = MediansSerializer(source="medians")


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.pk")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user")
    has_key = serializers.BooleanField()


class MemberSerializer(PersonRefSerializer):
    spend_usd = cost_out(source="spend", help_text="All of their usage this quarter.")
    last_day = serializers.DateField(allow_null=True, help_text="Last usage, this quarter or the previous one.")


# --- Answers ----------------------------------------------------------------------------------------------------


class BoardPageSerializer(serializers.Serializer):
    quarter = serializers.CharField()
    tab = serializers.CharField()
    sort = serializers.CharField()
    team = serializers.CharField(allow_null=True, help_text="The team the board is narrowed to.")
    cost_center = serializers.CharField(allow_null=True)
    same_day_through = serializers.DateField(allow_null=True, help_text="The previous quarter's days before this.")
    names_visible = serializers.BooleanField(help_text="False: only your own positions (no names).")
    totals = BoardTotalsSerializer(allow_null=True)
    positions = PositionSerializer(many=True)
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = BoardRowSerializer(many=True)


class EfficiencyPageSerializer(serializers.Serializer):
    quarter = serializers.CharField()
    team = serializers.CharField(allow_null=True, help_text="The team whose people are shown.")
    cost_center = serializers.CharField(allow_null=True)
    small_tier_rule = serializers.CharField()
    heavy_multiple = serializers.DecimalField(max_digits=4, decimal_places=1)
    careful_score = serializers.IntegerField()
    names_visible = serializers.BooleanField()
    teams = EfficiencySerializer(many=True)
    team_medians = MediansSerializer(allow_null=True)
    people = EfficiencySerializer(many=True, help_text="The most expensive first.")
    medians = MediansSerializer(allow_null=True)
    most_expensive = EfficiencySerializer(allow_null=True)
    most_efficient = EfficiencySerializer(allow_null=True)
    not_using = PersonRefSerializer(many=True, help_text="Members with no usage this quarter or last.")
    members = serializers.IntegerField()
    positions = PositionSerializer(many=True)


class TeamAdoptionSerializer(serializers.Serializer):
    team = serializers.CharField(source="team.slug")
    name = serializers.CharField(source="team.name")
    cost_center = serializers.CharField(source="team.cost_center.code")
    names_visible = serializers.BooleanField(source="names")
    people = serializers.IntegerField()
    with_key = serializers.IntegerField()
    active_7_days = serializers.IntegerField(source="active_7")
    active_30_days = serializers.IntegerField(source="active_30")
    top_count = serializers.IntegerField(help_text="The top 10 % of people (at least one).")
    top_share = share_out(help_text="Their share of the team's spend.")
    spend_usd = cost_out(source="spend")
    state = serializers.CharField(help_text='"adopting", "not adopting", "concentrated" or "".')
    not_using_count = serializers.IntegerField()
    not_using = PersonRefSerializer(many=True, help_text="Empty when names are not visible.")
    members = MemberSerializer(many=True, help_text="Empty when names are not visible.")


class AdoptionPageSerializer(serializers.Serializer):
    today = serializers.DateField()
    teams = TeamAdoptionSerializer(many=True)


class CompareSectionSerializer(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    rows = BoardRowSerializer(many=True)
    totals = BoardTotalsSerializer()


class ComparePageSerializer(serializers.Serializer):
    quarter = serializers.CharField()
    previous_quarter = serializers.CharField()
    subject = serializers.DictField(child=serializers.CharField(), help_text="kind, ref (slug or code), name.")
    same_day_through = serializers.DateField(allow_null=True)
    sections = CompareSectionSerializer(many=True)
