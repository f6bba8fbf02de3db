"""Walk every page of the portal as every persona, in Dutch and in English, and read what it shows.

The pages are the isolation matrix's rows (tests/test_isolation.py: every URL of the project has
one, and a completeness check keeps it so): each GET row a persona may open, answering HTML. Two
readers look at each page:

- ``localised_numbers``: a number in an attribute a machine reads (SVG geometry, ``data-*``,
  ``style``, numeric inputs) written the Dutch way, ``0,2051``: the browser cannot read it.
- ``foreign_text``: text in the other language, judged by the translation catalogues (ours,
  Django's, allauth's): a msgid shown on a Dutch page where a Dutch msgstr exists or is missing,
  or a Dutch msgstr shown on an English page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings
from django.utils import translation

# Attributes whose value is a number (or numbers) a browser or script parses.
NUMERIC_ATTRS = {
    "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry", "width", "height",
    "viewbox", "offset", "stroke-width", "opacity", "min", "max", "step", "low", "high",
    "optimum", "transform", "style",
}  # fmt: skip
LOCALISED = re.compile(r"\d,\d")
TEXT_ATTRS = ("aria-label", "placeholder", "title", "alt")
SKIP_TEXT_IN = {"script", "style", "code", "pre", "kbd", "samp"}


@dataclass
class Page(HTMLParser):
    """The parts of an HTML page the two readers need."""

    numbers: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attribute, value)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (language, text)
    inline_styles: list[str] = field(default_factory=list)  # style="..." and <style> (CSP refuses)
    _skip: int = 0
    _langs: list[tuple[str, str]] = field(default_factory=list)  # (tag, lang) of open elements

    @property
    def _lang(self) -> str:
        return self._langs[-1][1] if self._langs else ""

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "style" or "style" in values:
            self.inline_styles.append(f"<{tag} style={values.get('style', '')!r}>")
        for name, value in values.items():
            numeric = name in NUMERIC_ATTRS or (
                name.startswith("data-") and re.fullmatch(r"-?[\d.,]+", value) is not None
            )
            if tag == "input" and name == "value" and values.get("type") in {"number", "range"}:
                numeric = True
            if numeric and LOCALISED.search(value):
                self.numbers.append((tag, name, value))
        if values.get("lang") and tag != "html":  # text marked as another language (a language's own name)
            self._langs.append((tag, values["lang"].split("-")[0]))
        for name in TEXT_ATTRS:
            if values.get(name):
                self.texts.append((self._lang, values[name]))
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.texts.append((self._lang, values["value"]))
        if tag in SKIP_TEXT_IN:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if self._langs and self._langs[-1][0] == tag:
            self._langs.pop()
        if tag in SKIP_TEXT_IN and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append((self._lang, data))


def read_page(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def localised_numbers(html: str) -> list[tuple[str, str, str]]:
    return read_page(html).numbers


def inline_styles(html: str) -> list[str]:
    return read_page(html).inline_styles


# --- the catalogues -------------------------------------------------------------------------


def _po_entries(path: Path) -> Iterator[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) of a .po file; plurals give their singular forms."""
    entry: dict[str, str] = {}
    key = ""
    fuzzy = False

    def done() -> Iterator[tuple[str, str, bool]]:
        if entry.get("msgid"):
            yield entry["msgid"], entry.get("msgstr", entry.get("msgstr[0]", "")), fuzzy

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            yield from done()
            entry, key, fuzzy = {}, "", True
        elif line.startswith("#~"):
            continue
        elif line.startswith(("msgctxt", "msgid ")) and (key.startswith("msgstr") or not key):
            if key.startswith("msgstr"):
                yield from done()
                entry, fuzzy = {}, False
            key, _, rest = line.partition(" ")
            entry[key] = _unquote(rest)
        elif re.match(r"msg(id_plural|str(\[\d+\])?) ", line):
            key, _, rest = line.partition(" ")
            entry[key] = _unquote(rest)
        elif line.startswith('"') and key:
            entry[key] = entry.get(key, "") + _unquote(line)
        elif not line:
            yield from done()
            entry, key, fuzzy = {}, "", False
    yield from done()


def _unquote(text: str) -> str:
    text = text.strip()[1:-1]
    return re.sub(r'\\(["\\nt])', lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), text)


def our_po() -> Path:
    return Path(settings.BASE_DIR) / "locale" / "nl" / "LC_MESSAGES" / "django.po"


def _third_party_po() -> list[Path]:
    import allauth

    return sorted((Path(allauth.__file__).parent / "locale" / "nl" / "LC_MESSAGES").glob("*.po"))


def _placeholder_pattern(text: str) -> re.Pattern[str] | None:
    """A regex for a message with placeholders, when it has enough words of its own to judge."""
    parts = re.split(r"%\(\w+\)[sd]|%[sd]|\{\{ ?\w+ ?\}\}|<[^>]+>", text)
    if len(parts) < 2 or sum(len(p.strip()) for p in parts) < 12 or any("\n" in p for p in parts):
        return None
    return re.compile(r"\s*" + r".+?".join(re.escape(p.strip()) for p in parts) + r"\s*", re.DOTALL)


@dataclass(frozen=True)
class Catalogue:
    english: frozenset[str]  # every msgid
    dutch: frozenset[str]  # every Dutch msgstr
    to_dutch: dict[str, str]  # msgid -> Dutch, where Dutch differs ("" where it is missing)
    to_english: dict[str, str]  # Dutch msgstr -> msgid, where they differ
    english_patterns: tuple[tuple[re.Pattern[str], str], ...]
    dutch_patterns: tuple[tuple[re.Pattern[str], str], ...]


def _norm(text: str) -> str:
    return " ".join(text.split())


@cache
def catalogue() -> Catalogue:
    with translation.override("nl"):
        merged = translation.trans_real.translation("nl")._catalog  # type: ignore[attr-defined]
        keys = {k: (k if isinstance(k, str) else k[0]) for k, _v in merged.items()}  # plurals: (msgid, n)
        pairs = {keys[k]: v for k, v in merged.items() if keys[k]}
    pairs = {_norm(k.split("\x04")[-1]): _norm(v) for k, v in pairs.items()}
    ours_and_third_party = [our_po(), *_third_party_po()]
    for path in ours_and_third_party:  # messages without a Dutch msgstr count too
        for msgid, msgstr, fuzzy in _po_entries(path):
            msgid = _norm(msgid)
            if not msgstr or fuzzy:
                pairs.setdefault(msgid, "")
    english = frozenset(pairs)
    dutch = frozenset(v for v in pairs.values() if v)
    to_dutch = {k: v for k, v in pairs.items() if v != k}
    to_english = {v: k for k, v in pairs.items() if v and v != k}
    english_patterns = []
    dutch_patterns = []
    for path in ours_and_third_party:
        for msgid, msgstr, fuzzy in _po_entries(path):
            if msgstr == msgid:
                continue
            if (pattern := _placeholder_pattern(msgid)) is not None:
                english_patterns.append((pattern, msgid))
            if msgstr and not fuzzy and (pattern := _placeholder_pattern(msgstr)) is not None:
                dutch_patterns.append((pattern, msgstr))
    return Catalogue(english, dutch, to_dutch, to_english, tuple(english_patterns), tuple(dutch_patterns))


def foreign_text(html: str, language: str) -> list[str]:
    """Texts on a page in ``language`` that are in the other language (or untranslated)."""
    cat = catalogue()
    found = []
    page = read_page(html)
    for lang, raw in page.texts:
        text = _norm(raw)
        if lang and lang != language:
            continue  # marked as the other language on purpose
        if len(text) < 3 or not re.search(r"[A-Za-z]{2}", text):
            continue
        if language == "nl":
            own, other, patterns = cat.dutch, cat.to_dutch, cat.english_patterns
        else:
            own, other, patterns = cat.english, cat.to_english, cat.dutch_patterns
        if text not in own and (text in other or any(p.fullmatch(text) for p, _ in patterns)):
            found.append(text)
    return found
