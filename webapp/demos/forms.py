from __future__ import annotations

from django import forms

from webapp.catalog.models import Prompt
from webapp.demos.services import MAX_DISPLAY_NAME_CHARS, MAX_NAME_CHARS, MAX_PAIRS_PER_PARTICIPANT

YES_NO = [("yes", "yes"), ("no", "no")]


class SessionForm(forms.Form):
    """The presenter's form: a name alone is enough, everything else has a default."""

    name = forms.CharField(max_length=MAX_NAME_CHARS, strip=True)
    prompts = forms.ModelMultipleChoiceField(queryset=Prompt.objects.none(), required=False,
                                             help_text="none picked: a dozen prompts across the catalog's domains")
    pairs_per_participant = forms.IntegerField(min_value=1, max_value=MAX_PAIRS_PER_PARTICIPANT, required=False,
                                               initial=10)
    show_prototype = forms.TypedChoiceField(choices=YES_NO, required=False, initial="yes",
                                            coerce=lambda v: v == "yes", empty_value=True)
    showcase_prompt = forms.ModelChoiceField(queryset=Prompt.objects.none(), required=False,
                                             help_text="none picked: the prompt with the most candidate answers")

    def __init__(self, *args: object, prompts: list[Prompt], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        ids = [p.pk for p in prompts]
        self.fields["prompts"].queryset = Prompt.objects.filter(pk__in=ids).order_by("domain", "id")  # type: ignore[attr-defined]
        self.fields["showcase_prompt"].queryset = Prompt.objects.filter(pk__in=ids).order_by("domain", "id")  # type: ignore[attr-defined]


class JoinForm(forms.Form):
    code = forms.CharField(max_length=20, strip=True)
    display_name = forms.CharField(max_length=MAX_DISPLAY_NAME_CHARS, strip=True)


class StageForm(forms.Form):
    stage = forms.CharField(max_length=10)
