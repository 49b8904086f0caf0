"""The HTML report read back as a browser's parser sees it: elements, attributes and text."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """Every element with its attributes, and the text under each element path."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.script_texts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.script_texts if self._in_script else self.texts).append(data)

    def tags(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]

    def by_id(self, element_id: str) -> dict[str, str | None]:
        found = [attrs for _, attrs in self.elements if attrs.get("id") == element_id]
        assert len(found) == 1, element_id
        return found[0]

    @property
    def text(self) -> str:
        return "".join(self.texts)
