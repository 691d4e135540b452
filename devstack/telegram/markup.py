"""Formatted text as Telegram reads it: HTML, MarkdownV2 and Markdown parse modes, entities
found in plain text (commands, mentions, links), and trimming.

The rules and error messages follow TDLib's parsers (what the Bot API runs); offsets and lengths
are in UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from devstack.telegram.errors import ApiError, bad_request

Entity = dict[str, Any]

HTML_TAGS = frozenset(
    "a b strong i em s strike del u ins tg-spoiler tg-emoji span pre code blockquote".split()
)
_SIMPLE_HTML = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "s": "strikethrough",
    "strike": "strikethrough", "del": "strikethrough", "u": "underline", "ins": "underline",
    "tg-spoiler": "spoiler",
}  # fmt: skip
_SPACE = " \t\r\n\v\f"


class ParseError(Exception):
    """Text that a parse mode refuses; the message is TDLib's."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _checked_url(url: str) -> str:
    """The link Telegram keeps for a text_link, or "" for one it drops."""
    url = url.strip()
    if not url or any(c in url for c in _SPACE):
        return ""
    scheme, sep, _ = url.partition("://")
    if not sep:
        if url.startswith(("tg:", "ton:")):
            return url
        return f"http://{url}"
    return url if re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", scheme) else ""


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """The character an HTML entity at `pos` (an '&') stands for, and where it ends."""
    m = re.compile(r"&(#x[0-9a-fA-F]{1,8}|#[0-9]{1,9}|[a-zA-Z]+);?").match(text, pos)
    if not m:
        return None
    name = m.group(1)
    if name.startswith("#"):
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), m.end()
    char = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(name)
    if char is None:
        return None
    return char, m.end()


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int
    out_index: int
    byte_offset: int = 0
    attrs: dict[str, str] = field(default_factory=dict)


def parse_html(src: str) -> tuple[str, list[Entity]]:
    out: list[str] = []
    u16 = 0
    stack: list[_Open] = []
    entities: list[Entity] = []
    n = len(src)
    i = 0

    def at(k: int) -> str:
        return src[k] if k < n else ""

    while i < n:
        c = src[i]
        if c == "&":
            decoded = _decode_html_entity(src, i)
            if decoded:
                out.append(decoded[0])
                u16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
        if c != "<":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = _byte_offset(src, i)
        i += 1
        if at(i) != "/":
            start = i
            while at(i) and at(i) not in _SPACE and at(i) != ">":
                i += 1
            if not at(i):
                raise ParseError(f"Unclosed start tag at byte offset {begin}")
            tag = src[start:i].lower()
            if tag not in HTML_TAGS:
                raise ParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            attrs: dict[str, str] = {}
            while at(i) != ">":
                while at(i) and at(i) in _SPACE:
                    i += 1
                if at(i) == ">":
                    break
                name_start = i
                while at(i) and at(i) not in _SPACE and at(i) not in "=>":
                    i += 1
                name = src[name_start:i]
                if not name:
                    raise ParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while at(i) and at(i) in _SPACE:
                    i += 1
                if at(i) != "=":
                    if tag == "blockquote" and name.lower() == "expandable":
                        attrs["expandable"] = ""
                        continue
                    raise ParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i += 1
                while at(i) and at(i) in _SPACE:
                    i += 1
                if not at(i):
                    raise ParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if at(i) not in "'\"":
                    token_start = i
                    while at(i) and (at(i).isalnum() or at(i) in ".-"):
                        i += 1
                    value = src[token_start:i].lower()
                    if at(i) not in _SPACE + ">" or not at(i):
                        raise ParseError(
                            "Unexpected end of name token at byte offset "
                            f"{_byte_offset(src, token_start)}"
                        )
                else:
                    quote = src[i]
                    i += 1
                    chars: list[str] = []
                    while at(i) and at(i) != quote:
                        if at(i) == "&" and (decoded := _decode_html_entity(src, i)):
                            chars.append(decoded[0])
                            i = decoded[1]
                            continue
                        chars.append(src[i])
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = "".join(chars)
                if not at(i):
                    raise ParseError(f"Unclosed start tag at byte offset {begin}")
                attrs[name.lower()] = value
            argument = ""
            if tag == "a":
                argument = attrs.get("href", "")
            elif tag == "code" and attrs.get("class", "").startswith("language-"):
                argument = attrs["class"].removeprefix("language-")
            elif tag == "span" and attrs.get("class", "").startswith("tg-"):
                argument = attrs["class"].removeprefix("tg-")
            elif tag == "tg-emoji":
                argument = attrs.get("emoji-id", "")
            if tag == "span" and argument != "spoiler":
                raise ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            stack.append(_Open(tag, argument, u16, len(out), begin, attrs))
            i += 1
            continue
        # an end tag
        if not stack:
            raise ParseError(f"Unexpected end tag at byte offset {begin}")
        start = i + 1
        while at(i) and at(i) not in _SPACE and at(i) != ">":
            i += 1
        end_tag = src[start:i].lower()
        while at(i) and at(i) in _SPACE:
            i += 1
        if at(i) != ">":
            raise ParseError(f"Unclosed end tag at byte offset {begin}")
        i += 1
        top = stack.pop()
        if end_tag and end_tag != top.tag:
            raise ParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{top.tag}>", '
                f'found "</{end_tag}>"'
            )
        length = u16 - top.offset
        if length <= 0:
            continue
        entity: Entity = {"offset": top.offset, "length": length}
        if top.tag in _SIMPLE_HTML or top.tag == "span":
            entity["type"] = _SIMPLE_HTML.get(top.tag, "spoiler")
        elif top.tag == "tg-emoji":
            if not top.argument.isdigit() or int(top.argument) == 0:
                raise ParseError("Invalid custom emoji identifier specified")
            entity |= {"type": "custom_emoji", "custom_emoji_id": top.argument}
        elif top.tag == "a":
            url = _checked_url(top.argument or "".join(out[top.out_index :]))
            if not url:
                continue
            entity |= {"type": "text_link", "url": url}
        elif top.tag == "pre":
            last = entities[-1] if entities else None
            if (
                last
                and last["type"] == "code"
                and (last["offset"], last["length"]) == (top.offset, length)
                and last.get("language")
            ):
                last["type"] = "pre"
                continue
            entity["type"] = "pre"
        elif top.tag == "code":
            last = entities[-1] if entities else None
            if (
                last
                and last["type"] == "pre"
                and (last["offset"], last["length"]) == (top.offset, length)
                and top.argument
            ):
                last["language"] = top.argument
                continue
            entity["type"] = "code"
            if top.argument:
                entity["language"] = top.argument
        else:  # blockquote
            expandable = "expandable" in top.attrs
            entity["type"] = "expandable_blockquote" if expandable else "blockquote"
        entities.append(entity)
    if stack:
        raise ParseError(f"Can't find end tag corresponding to start tag {stack[-1].tag}")
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return "".join(out), entities


_MD2_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
    "spoiler": "Spoiler", "code": "Code", "pre": "Pre", "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji", "blockquote": "BlockQuote",
}  # fmt: skip


def parse_markdown_v2(src: str) -> tuple[str, list[Entity]]:
    out: list[str] = []
    u16 = 0
    stack: list[_Open] = []
    entities: list[Entity] = []
    have_blockquote = False
    n = len(src)
    i = 0

    def at(k: int) -> str:
        return src[k] if k < n else ""

    def reserved(char: str) -> ParseError:
        return ParseError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        c = src[i]
        if c == "\\" and at(i + 1) and 0 < ord(at(i + 1)) <= 126:
            out.append(src[i + 1])
            u16 += 1
            i += 2
            continue
        reserved_chars = "_*[]()~`>#+-=|{}.!\n"
        if stack and stack[-1].tag in ("code", "pre"):
            reserved_chars = "`"
        if c not in reserved_chars:
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        is_end = False
        if stack:
            top = stack[-1].tag
            if have_blockquote and c == "\n" and (i + 1 == n or at(i + 1) != ">"):
                is_end = True
            elif top == "bold":
                is_end = c == "*"
            elif top == "italic":
                is_end = c == "_" and at(i + 1) != "_"
            elif top == "code":
                is_end = c == "`"
            elif top == "pre":
                is_end = c == "`" and at(i + 1) == "`" and at(i + 2) == "`"
            elif top in ("text_link", "custom_emoji"):
                is_end = c == "]"
            elif top == "underline":
                is_end = c == "_" and at(i + 1) == "_"
            elif top == "strikethrough":
                is_end = c == "~"
            elif top == "spoiler":
                is_end = c == "|" and at(i + 1) == "|"
        begin = _byte_offset(src, i)
        if not is_end:
            kind = ""
            argument = ""
            if c == "_":
                if at(i + 1) == "_":
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif c == "*":
                kind = "bold"
            elif c == "~":
                kind = "strikethrough"
            elif c == "|":
                if at(i + 1) != "|":
                    raise reserved(c)
                kind = "spoiler"
                i += 1
            elif c == "[":
                kind = "text_link"
            elif c == "`":
                if at(i + 1) == "`" and at(i + 2) == "`":
                    i += 3
                    kind = "pre"
                    lang_end = i
                    while at(lang_end) and at(lang_end) not in _SPACE and at(lang_end) != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and at(lang_end) != "`":
                        argument = src[i:lang_end]
                        i = lang_end
                    if at(i) in ("\n", "\r") and at(i):
                        i += (
                            2
                            if at(i + 1) in ("\n", "\r") and at(i + 1) and at(i) != at(i + 1)
                            else 1
                        )
                    i -= 1
                else:
                    kind = "code"
            elif c == "!":
                if at(i + 1) != "[":
                    raise reserved(c)
                kind = "custom_emoji"
                i += 1
            elif c == "\n":
                out.append("\n")
                u16 += 1
                if at(i + 1) == ">":
                    i += 1
                    if not have_blockquote:
                        kind = "blockquote"
                        have_blockquote = True
            elif c == ">" and i == 0:
                kind = "blockquote"
                have_blockquote = True
            else:
                raise reserved(c)
            i += 1
            if kind:
                stack.append(_Open(kind, argument, u16, len(out), begin))
            continue
        # the end of an entity
        top_open = stack[-1]
        if c == "\n" and top_open.tag != "blockquote":
            name = _MD2_NAMES[top_open.tag]
            raise ParseError(
                f"Can't find end of {name} entity at byte offset {top_open.byte_offset}"
            )
        skip = u16 == top_open.offset
        entity: Entity = {"type": top_open.tag}
        if top_open.tag in ("underline", "spoiler"):
            i += 1
        elif top_open.tag == "pre":
            i += 2
            if top_open.argument:
                entity["language"] = top_open.argument
        elif top_open.tag in ("text_link", "custom_emoji"):
            if at(i + 1) != "(":
                if top_open.tag == "custom_emoji":
                    raise ParseError("Custom emoji entity must contain a tg://emoji URL")
                url = "".join(out[top_open.out_index :])
            else:
                i += 2
                url_begin = i
                chars: list[str] = []
                while i < n and src[i] != ")":
                    if src[i] == "\\" and at(i + 1) and 0 < ord(at(i + 1)) <= 126:
                        chars.append(src[i + 1])
                        i += 2
                        continue
                    chars.append(src[i])
                    i += 1
                if at(i) != ")":
                    what = "a custom emoji URL" if top_open.tag == "custom_emoji" else "a URL"
                    raise ParseError(
                        f"Can't find end of {what} at byte offset {_byte_offset(src, url_begin)}"
                    )
                url = "".join(chars)
            if top_open.tag == "custom_emoji":
                emoji_id = url.removeprefix("tg://emoji?id=")
                if not emoji_id.isdigit():
                    raise ParseError("Invalid custom emoji identifier specified")
                entity["custom_emoji_id"] = emoji_id
            else:
                url = _checked_url(url)
                skip = skip or not url
                entity["url"] = url
        elif top_open.tag == "blockquote":
            have_blockquote = False
            out.append(c)
            u16 += 1
        i += 1
        stack.pop()
        if not skip:
            entity |= {"offset": top_open.offset, "length": u16 - top_open.offset}
            entities.append(entity)
    if have_blockquote and stack and stack[-1].tag == "blockquote":
        top_open = stack.pop()
        if u16 != top_open.offset:
            entities.append(
                {"type": "blockquote", "offset": top_open.offset, "length": u16 - top_open.offset}
            )
    if stack:
        name = _MD2_NAMES[stack[-1].tag]
        raise ParseError(f"Can't find end of {name} entity at byte offset {stack[-1].byte_offset}")
    return "".join(out), entities


def parse_markdown(src: str) -> tuple[str, list[Entity]]:
    """The legacy Markdown mode: *bold*, _italic_, `code`, ```pre```, [text](url)."""
    out: list[str] = []
    u16 = 0
    entities: list[Entity] = []
    n = len(src)
    i = 0
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.append(src[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = False
        i += 1
        language = ""
        if c == "`" and src[i : i + 2] == "``":
            i += 2
            is_pre = True
            lang_end = i
            while lang_end < n and src[lang_end] not in _SPACE and src[lang_end] != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and src[lang_end] != "`":
                language = src[i:lang_end]
                i = lang_end
            if i < n and src[i] in "\r\n":
                i += 2 if src[i + 1 : i + 2] in ("\r", "\n") and src[i + 1 : i + 2] != src[i] else 1
        offset = u16
        while i < n and (src[i] != end_char or (is_pre and src[i + 1 : i + 3] != "``")):
            out.append(src[i])
            u16 += utf16_len(src[i])
            i += 1
        if i == n:
            raise ParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(src, begin)}"
            )
        if u16 != offset:
            entity: Entity = {"offset": offset, "length": u16 - offset}
            if c == "_":
                entity["type"] = "italic"
            elif c == "*":
                entity["type"] = "bold"
            elif c == "[":
                url = "".join(out[len(out) - (i - begin - 1) :])
                if src[i + 1 : i + 2] == "(":
                    i += 2
                    chars: list[str] = []
                    while i < n and src[i] != ")":
                        chars.append(src[i])
                        i += 1
                    url = "".join(chars)
                url = _checked_url(url)
                entity |= {"type": "text_link", "url": url}
                if not url:
                    entity = {}
            elif is_pre:
                entity["type"] = "pre"
                if language:
                    entity["language"] = language
            else:
                entity["type"] = "code"
            if entity:
                entities.append(entity)
        if is_pre:
            i += 2
        i += 1
    return "".join(out), entities


_WORD = r"[\w]"
_FOUND = re.compile(
    r"(?P<bot_command>(?<![\w/<>])/[a-zA-Z0-9_]{1,64}(?:@[a-zA-Z0-9_]{3,32})?(?![\w/<>]))"
    r"|(?P<mention>(?<!\w)@[a-zA-Z0-9_]{2,32}(?!\w))"
    r"|(?P<hashtag>(?<!\w)#\w*[^\W\d]\w*)"
    r"|(?P<email>(?<![\w.+-])[\w.+-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*\.[a-zA-Z]{2,}(?!\w))"
    r"|(?P<url>(?<![\w@])(?:https?://)?(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}(?::\d{1,5})?"
    r"(?:/[^\s]*[^\s.,;:!?'\")\]])?(?![\w@]))"
    r"|(?P<url_ip>(?<![\w@])https?://\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?:/[^\s]*[^\s.,;:!?'\")\]])?)"
)


def find_entities(text: str) -> list[Entity]:
    """Entities Telegram finds in any text: bot commands, mentions, hashtags, e-mails and URLs."""
    found: list[Entity] = []
    for m in _FOUND.finditer(text):
        kind = m.lastgroup or ""
        kind = "url" if kind == "url_ip" else kind
        found.append(
            {"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        )
    return found


def _sorted(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def merge_found(text: str, entities: list[Entity]) -> list[Entity]:
    """`entities` plus those found in the text that do not overlap a link or code entity."""
    blocking = [e for e in entities if e["type"] in ("text_link", "code", "pre", "text_mention")]
    result = list(entities)
    for entity in find_entities(text):
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if not any(b["offset"] < end and start < b["offset"] + b["length"] for b in blocking):
            result.append(entity)
    return _sorted(result)


def _trim(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    stripped = text.lstrip(_SPACE)
    shift = utf16_len(text) - utf16_len(stripped)
    stripped = stripped.rstrip(_SPACE)
    size = utf16_len(stripped)
    kept: list[Entity] = []
    for entity in entities:
        start = max(0, entity["offset"] - shift)
        end = min(size, entity["offset"] + entity["length"] - shift)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def _check_entities(raw: Any) -> list[Entity]:
    if not isinstance(raw, list):
        raise bad_request("can't parse entities JSON object")
    entities: list[Entity] = []
    for item in raw:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("type"), str)
            or not isinstance(item.get("offset"), int)
            or not isinstance(item.get("length"), int)
        ):
            raise bad_request('can\'t parse MessageEntity: Field "type" must be of type String')
        entities.append(dict(item))
    return entities


def format_text(text: str, parse_mode: str, raw_entities: Any = None) -> tuple[str, list[Entity]]:
    """The text and entities Telegram stores for `text` sent with `parse_mode` or `entities`.

    Raises ApiError "can't parse entities: …" for text the parse mode refuses."""
    mode = parse_mode.strip().lower()
    try:
        if mode in ("", "none"):
            entities = _check_entities(raw_entities) if raw_entities is not None else []
        elif mode == "html":
            text, entities = parse_html(text)
        elif mode == "markdownv2":
            text, entities = parse_markdown_v2(text)
        elif mode == "markdown":
            text, entities = parse_markdown(text)
        else:
            raise bad_request("unsupported parse_mode")
    except ParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    text, entities = _trim(text, entities)
    return text, merge_found(text, _sorted(entities))


def is_parse_error(error: ApiError) -> bool:
    return "can't parse entities" in error.description
