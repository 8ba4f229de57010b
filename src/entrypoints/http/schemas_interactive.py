"""Wire shape of ``POST /api/conversations/{id}/interactive`` (reply buttons or a list).

Decoding checks the shape; Meta's limits are the core's (``policies.interactive``), so a
field over a limit is a 422 problem naming it (``buttons[1].title``).
"""

from __future__ import annotations

import msgspec

from whatsapp_core.policies.interactive import (
    InteractiveContent,
    ListRow,
    ListSection,
    ReplyButton,
    interactive_kind,
)


class ReplyButtonIn(msgspec.Struct, kw_only=True):
    id: str
    title: str


class ListRowIn(msgspec.Struct, kw_only=True):
    id: str
    title: str
    description: str | None = None


class ListSectionIn(msgspec.Struct, kw_only=True):
    rows: list[ListRowIn]
    title: str | None = None


class InteractiveIn(msgspec.Struct, kw_only=True):
    """``type`` "button": ``buttons`` (1-3). ``type`` "list": ``button`` (the label that
    opens the list) and ``sections`` (1-10, at most 10 rows in all)."""

    type: str
    body: str
    header: str | None = None
    footer: str | None = None
    buttons: list[ReplyButtonIn] = []
    button: str | None = None
    sections: list[ListSectionIn] = []
    reply_to_wamid: str | None = None

    def content(self) -> InteractiveContent:
        return InteractiveContent(
            kind=interactive_kind(self.type),
            body=self.body,
            header=self.header,
            footer=self.footer,
            buttons=tuple(ReplyButton(id=b.id, title=b.title) for b in self.buttons),
            button=self.button,
            sections=tuple(
                ListSection(
                    title=s.title,
                    rows=tuple(
                        ListRow(id=r.id, title=r.title, description=r.description) for r in s.rows
                    ),
                )
                for s in self.sections
            ),
        )
