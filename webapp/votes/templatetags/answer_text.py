"""Render model answers as Markdown with raw HTML disabled: prompts and model output can never inject markup."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")


@register.filter
def answer_markdown(text: str) -> SafeString:
    # html=False escapes any raw HTML in the source, so the rendered output is safe to mark as such.
    return mark_safe(_md.render(text or ""))
