"""What the team does to the conversation in focus in a ``wa simulate`` script: assign,
label, note, resolve, each through its use case, as the inbox's buttons would."""

from __future__ import annotations

import uuid

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.model import Principal
from whatsapp_core.services import accounts, conversations


class TeamSteps:
    """Mixed into ``Harness``, which provides these."""

    runtime: Runtime
    admin: Principal
    agent: Principal

    def _focus(self) -> uuid.UUID:
        raise NotImplementedError

    async def assign(self, teammate: str) -> list[str]:
        """The admin hands the conversation to a teammate (``nobody``: unassigns)."""
        to = {"agent": self.agent, "admin": self.admin}.get(teammate)
        assignee = to.user_id if to is not None else None
        await conversations.assign(self.runtime.services, self.admin, self._focus(), assignee)
        return [f"the admin assigns the conversation to {teammate}"]

    async def add_label(self, label: str) -> list[str]:
        svc = self.runtime.services
        found = await conversations.add_label(svc, self.agent, self._focus(), label)
        return [f"the agent labels it {label!r} (labels: {', '.join(found.labels)})"]

    async def add_note(self, text: str) -> list[str]:
        note = await accounts.add_note(self.runtime.services, self.agent, self._focus(), text)
        return [f"the agent writes a note for the team ({len(note.body)} characters)"]

    async def resolve(self) -> list[str]:
        await conversations.resolve(self.runtime.services, self.agent, self._focus())
        return ["conversation resolved by the agent"]
