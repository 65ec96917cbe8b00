"""The HTML page around the encrypted chunks: assembly (writer) and scanning (reader).

The page is ``resources/viewer/template.html`` with the viewer's readable JS and CSS inlined and
a Content-Security-Policy that allows exactly that one script and that one style, by SHA-256.
The chunk elements are ``type="application/octet-stream"``: the browser never runs them, so they
need no hash, and the writer can stream them between the fixed head and tail of the page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import BinaryIO

from dentsend.bundle.format import damaged
from dentsend.resources import resource_path

#: Inlined into the one ``<script>``, in this order (the JS interface in bundle.js relies on it).
SCRIPTS = ("bundle.js", "zip.js", "viewer.js")
STYLE = "viewer.css"
TEMPLATE = "template.html"
CHUNK_OPEN = '<script type="application/octet-stream" class="dentsend-chunk">'
CHUNK_CLOSE = "</script>\n"
HEADER_OPEN = '<script id="dentsend-header" type="application/json">'

_COMMENT = re.compile(r"<!--.*?-->\n?", re.DOTALL)
_PLACEHOLDER = re.compile(r"\{\{(CSP|TITLE|STYLE|HEADER|CHUNKS|SCRIPT)\}\}")


def _text(name: str) -> str:
    # Newlines are normalised to LF: the HTML parser does the same before the browser hashes an
    # inline script, so a CRLF checkout (Windows) would otherwise break the CSP hash.
    text = resource_path("viewer", name).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _sha256_source(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


@dataclass(frozen=True)
class PageParts:
    """The page split around the chunks, with the header and title still to fill in."""

    template: str
    script: str
    style: str
    csp: str


@cache
def page_parts() -> PageParts:
    script = "\n".join(_text(name) for name in SCRIPTS)
    style = _text(STYLE)
    # The template's comments are for its maintainers (they spell the placeholders out); they
    # are dropped, so only the real placeholders remain and the page carries no dead weight.
    template = _COMMENT.sub("", _text(TEMPLATE))
    lowered = script.lower()
    # Inside <script>, "</script" ends the element and "<!--" switches the HTML parser into an
    # escaped mode; either would cut the viewer short.
    if "</script" in lowered or "<!--" in lowered:
        raise RuntimeError("viewer scripts must not contain '</script' or '<!--'")
    if "</style" in style.lower():
        raise RuntimeError("viewer.css must not contain '</style'")
    found = _PLACEHOLDER.findall(template)
    if sorted(found) != sorted(["CSP", "TITLE", "STYLE", "HEADER", "CHUNKS", "SCRIPT"]):
        raise RuntimeError(f"template.html must hold each placeholder once (found {found})")
    order = [template.index("{{" + name + "}}") for name in ("HEADER", "CHUNKS", "SCRIPT")]
    if order != sorted(order):
        raise RuntimeError("template.html must place HEADER, CHUNKS and SCRIPT in that order")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_sha256_source(script)}",
            f"style-src {_sha256_source(style)}",
            "img-src blob: data:",
            "connect-src 'none'",
            "font-src 'none'",
            "media-src 'none'",
            "worker-src 'none'",
            "frame-src 'none'",
            "object-src 'none'",
            "manifest-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ]
    )
    return PageParts(template, script, style, csp)


def render_page(header_text: str, title: str) -> tuple[str, str]:
    """The page text before and after the chunk elements."""
    parts = page_parts()
    values = {
        "CSP": parts.csp,
        "TITLE": html.escape(title),
        "STYLE": parts.style,
        "HEADER": f"{HEADER_OPEN}{header_text}</script>",
        "SCRIPT": parts.script,
    }
    before, after = parts.template.split("{{CHUNKS}}")
    # One pass over the template only: a placeholder spelled inside the scripts stays as it is.
    fill = lambda m: values[m.group(1)]  # noqa: E731
    return _PLACEHOLDER.sub(fill, before), _PLACEHOLDER.sub(fill, after)


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class ScriptElement:
    attributes: dict[str, str]
    text: str


_TAG_NAME = re.compile(r"<([A-Za-z][^\s/>]*)")
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"'=<`]+)))?""")
_SCRIPT_END = re.compile(r"</script[\s/>]", re.IGNORECASE)
_READ = 8 << 20


def iter_scripts(source: BinaryIO) -> Iterator[ScriptElement]:
    """The ``<script>`` elements of a page, in document order, read in pieces.

    A small tokenizer rather than ``html.parser``: it only needs comments, tags and script text
    (the rules browsers use for them), and it reads a 500 MB page at disk speed. The text is
    decoded as Latin-1 so every byte maps to one character; the header and chunks are ASCII.
    """
    buffer = ""
    position = 0
    eof = False

    def more() -> bool:
        nonlocal buffer, position, eof
        if eof:
            return False
        data = source.read(_READ)
        if not data:
            eof = True
            return False
        buffer = buffer[position:] + data.decode("latin-1")
        position = 0
        return True

    while True:
        start = buffer.find("<", position)
        if start < 0:
            position = len(buffer)
            if not more():
                return
            continue
        if len(buffer) - start < 16 and not eof:
            position = start
            more()
            continue
        if buffer.startswith("<!--", start):
            end = buffer.find("-->", start + 4)
            while end < 0:
                position = start
                if not more():
                    return
                start = 0
                end = buffer.find("-->", 4)
            position = end + 3
            continue
        match = _TAG_NAME.match(buffer, start)
        end = buffer.find(">", start)
        while end < 0:
            position = start
            if not more():
                return
            start = 0
            match = _TAG_NAME.match(buffer, 0)
            end = buffer.find(">", 0)
        if match is None or match.group(1).lower() != "script":
            position = end + 1
            continue
        attributes: dict[str, str] = {}
        for item in _ATTRIBUTE.finditer(buffer, match.end(), end):
            name = item.group(1).lower()
            if name not in attributes:
                value = item.group(2) or item.group(3) or item.group(4) or ""
                attributes[name] = html.unescape(value)
        content_start = end + 1
        closing = _SCRIPT_END.search(buffer, content_start)
        while closing is None:
            position = content_start
            if not more():
                raise damaged("page: a script element is not closed")
            content_start = 0
            closing = _SCRIPT_END.search(buffer, max(0, len(buffer) - _READ - 16))
        text = buffer[content_start : closing.start()]
        position = closing.end()
        yield ScriptElement(attributes, text)


def is_chunk(element: ScriptElement) -> bool:
    classes = element.attributes.get("class", "").split()
    return "dentsend-chunk" in classes


def is_header(element: ScriptElement) -> bool:
    return element.attributes.get("id") == "dentsend-header"
