"""`link_terms`: approved glossary terms named in a text become links to their pages."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from django import template
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from governance.glossary import selectors

register = template.Library()

# A name counts only as a whole word: not inside a longer word, nor a hyphenated compound.
WORD_BEFORE = r"(?<![\w-])"
WORD_AFTER = r"(?![\w-])"


@dataclass(frozen=True)
class LinkIndex:
    """The compiled pattern of every approved name and synonym, and where each one links."""

    pattern: re.Pattern | None
    targets: dict[str, tuple[str, str, str]]  # casefolded text -> (slug, name, href)


_lock = threading.Lock()
_cached: tuple[object, LinkIndex] | None = None


def _compile(targets: list[selectors.LinkTarget]) -> LinkIndex:
    if not targets:
        return LinkIndex(None, {})
    # Longest first: at one position "personal data" wins over "data".
    alternatives = "|".join(re.escape(t.text) for t in targets)
    pattern = re.compile(f"{WORD_BEFORE}(?:{alternatives}){WORD_AFTER}", re.IGNORECASE)
    links = {
        t.text.casefold(): (t.slug, t.name, reverse("governance:glossary-term", args=[t.slug]))
        for t in targets
    }
    return LinkIndex(pattern, links)


def link_index() -> LinkIndex:
    """This process's index, rebuilt when the glossary's revision counter has moved."""
    global _cached
    key = selectors.link_revision()
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != key:
            _cached = (key, _compile(selectors.link_targets()))
        return _cached[1]


def forget_link_index() -> None:
    """Drop the cached index (tests whose data change without a revision bump use it)."""
    global _cached
    with _lock:
        _cached = None


@register.filter
def link_terms(text, skip: str = "") -> SafeString:
    """Plain text in, safe HTML out: every approved term it names (whole words) becomes a link."""
    # Use it before linebreaksbr. The text is matched as written and each piece between links
    # is escaped on its own, so a name can never match inside an entity or a tag; `skip` is a
    # slug left unlinked (a term's own page).
    if text is None or text == "":
        return mark_safe("")
    text = str(text)
    index = link_index()
    if index.pattern is None:
        return escape(text)
    pieces, position = [], 0
    for match in index.pattern.finditer(text):
        # Case-insensitive matching and casefolding disagree on a few letters: skip those.
        target = index.targets.get(match.group(0).casefold())
        if target is None or target[0] == skip:
            continue
        _, name, href = target
        pieces.append(escape(text[position : match.start()]))
        pieces.append(
            format_html(
                '<a class="term-link" href="{}" title="Glossary: {}">{}</a>',
                href,
                name,
                match.group(0),
            )
        )
        position = match.end()
    pieces.append(escape(text[position:]))
    # Every piece is escaped text or a link format_html built: the whole is safe.
    return mark_safe("".join(pieces))
