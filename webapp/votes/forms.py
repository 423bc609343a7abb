from __future__ import annotations

from django import forms

from webapp.votes.models import Vote


class VoteForm(forms.Form):
    pair_id = forms.IntegerField(min_value=1)
    idempotency_key = forms.UUIDField()
    choice = forms.ChoiceField(choices=Vote.Choice.choices)
    strength = forms.TypedChoiceField(
        choices=Vote.Strength.choices, coerce=int, required=False, empty_value=Vote.Strength.CLEAR
    )
    rationale = forms.CharField(max_length=280, required=False, strip=True)
    time_to_vote_ms = forms.IntegerField(min_value=0, max_value=86_400_000, required=False)


class PairActionForm(forms.Form):
    pair_id = forms.IntegerField(min_value=1)


class UndoForm(forms.Form):
    vote_id = forms.IntegerField(min_value=1)
