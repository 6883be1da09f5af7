"""Text in and out of Teams: Teams HTML to inert plain text, and the checks on an answer.

Customer messages arrive as the HTML Teams' composer produces (``<p>``, ``<div>``, ``<br>``,
``<strong>``, ``<a>``, ``<at>`` mentions, ``<img>`` inline images, ``<attachment>`` markers).
None of it passes through: block elements become line breaks, mentions become ``@Name``,
links keep their visible text and show their target in brackets when it differs, inline images
and attachment markers are reported, and everything else is dropped. The result is plain text
that the console always renders as text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser

from bot.errors import ValidationError

MAX_CUSTOMER_CHARS = 20_000
"""A customer message is kept up to this many characters (Teams allows about 28 KB)."""
MAX_ANSWER_BYTES = 20_000
"""An answer's text, UTF-8 encoded: with the card around it, it stays under Teams' ~28 KB."""
TRUNCATED = " […] (truncated: the message was longer than the experts' console shows)"

_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
_DROP = {"script", "style", "head", "title", "template", "noscript", "iframe", "object"}
_AT = re.compile(r"<at(?:\s[^>]*)?>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class _Parsed:
    parts: list[str] = field(default_factory=list)
    images: int = 0
    attachment_ids: list[str] = field(default_factory=list)


class _TeamsHtml(HTMLParser):
    def __init__(self, bot_ids: frozenset[str], mention_names: dict[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Parsed()
        self._drop = 0
        self._mention: list[str] | None = None
        self._mention_id = ""
        self._link: tuple[str, list[str]] | None = None
        self._bot_ids = bot_ids
        self._mention_names = mention_names

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in _DROP:
            self._drop += 1
        elif tag == "at":
            self._mention = []
            self._mention_id = a.get("id", "")
        elif tag == "a":
            self._link = (a.get("href", ""), [])
        elif tag == "img":
            self.out.images += 1
        elif tag == "attachment":
            self.out.attachment_ids.append(a.get("id", ""))
        elif tag in _BLOCK:
            self._emit("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.out.images += 1
        elif tag == "attachment":
            self.out.attachment_ids.append(dict(attrs).get("id") or "")
        elif tag in _BLOCK:
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self._drop = max(0, self._drop - 1)
        elif tag == "at" and self._mention is not None:
            name = " ".join("".join(self._mention).split())
            self._mention = None
            if name and name not in self._bot_ids:
                self._emit(f"@{self._mention_names.get(name, name)}")
        elif tag == "a" and self._link is not None:
            href, text_parts = self._link
            self._link = None
            text = "".join(text_parts).strip()
            href = href.strip()
            if href and text and href.rstrip("/") != text.rstrip("/"):
                self._emit(f"{text} [{href}]")
            else:
                self._emit(text or href)
        elif tag in _BLOCK and tag != "br":
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if self._drop:
            return
        if self._mention is not None:
            self._mention.append(data)
        elif self._link is not None:
            self._link[1].append(data)
        else:
            self._emit(data)

    def _emit(self, text: str) -> None:
        self.out.parts.append(text)


@dataclass(frozen=True)
class CustomerText:
    text: str
    inline_images: int
    attachment_ids: tuple[str, ...]


def clean(text: str) -> str:
    """Normalize, drop control and direction-override characters, tidy blank lines."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).replace("\u00a0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def customer_text(
    raw: str,
    text_format: str = "xml",
    *,
    bot_names: frozenset[str] = frozenset(),
    mention_names: dict[str, str] | None = None,
) -> CustomerText:
    """Teams message text as inert plain text. Mentions of the bot (by the names in
    ``bot_names``) are dropped; other mentions become ``@Name``. HTML (``xml``/``html``) is
    parsed and no markup passes through; ``plain`` text is kept as typed (the console shows it
    as text)."""
    if text_format == "plain":
        # Plain text is what the customer typed, "<" and all; only mentions are tagged.
        def mention(match: re.Match[str]) -> str:
            name = " ".join(match.group(1).split())
            return "" if name in bot_names else f"@{name}"

        text = clean(_AT.sub(mention, raw))
        parsed = _Parsed()
    else:
        parser = _TeamsHtml(bot_names, mention_names or {})
        parser.feed(raw)
        parser.close()
        parsed = parser.out
        text = clean("".join(parsed.parts))
    if len(text) > MAX_CUSTOMER_CHARS:
        text = text[:MAX_CUSTOMER_CHARS] + TRUNCATED
    return CustomerText(text, parsed.images, tuple(parsed.attachment_ids))


def answer_text(raw: object) -> str:
    """An expert's answer, checked: a string, not empty, no control characters, not over
    Teams' message size. Raises ValidationError with a message the expert can act on."""
    if not isinstance(raw, str):
        raise ValidationError("'text' must be a string", field="text")
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", raw):
        raise ValidationError(
            "The answer contains control characters; remove them and send again", field="text"
        )
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n")).strip()
    if not text:
        raise ValidationError("Write an answer before sending", field="text")
    size = len(text.encode("utf-8"))
    if size > MAX_ANSWER_BYTES:
        raise ValidationError(
            f"The answer is {size:,} bytes; Teams takes at most {MAX_ANSWER_BYTES:,} in one "
            "message. Shorten it or send it in parts",
            field="text",
        )
    return text
