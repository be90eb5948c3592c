"""The JSON object that ITEMs build for a request to MAAS's v3 API, as httpie builds it.

MAAS's v3 API (FastAPI) reads POST and PUT bodies as JSON objects, never as
form fields: `name=value` is a string member, `name:=JSON` a member of any
JSON type (`vid:=10`, `active:=true`, `ids:='[1,2]'`). A name given twice
becomes a list of its values, in order. Imported only for v3 requests.
"""

from __future__ import annotations

import json
from typing import Any

from maascurl.errors import UsageError

JSON_TYPE = "application/json"


class JsonObject:
    """The members given so far, in the order they were first given."""

    def __init__(self) -> None:
        self.members: dict[str, Any] = {}
        self._repeated: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.members)

    def add(self, name: str, value: Any) -> None:
        if name not in self.members:
            self.members[name] = value
            return
        if name not in self._repeated:
            self.members[name] = [self.members[name]]
            self._repeated.add(name)
        self.members[name].append(value)

    def add_text(self, name: str, content: bytes, item: str) -> None:
        """A string member read from a file (name=@FILE): it must be UTF-8 text."""
        try:
            self.add(name, content.decode("utf-8"))
        except UnicodeDecodeError:
            raise UsageError(f"{item}: a JSON string must be UTF-8 text") from None

    def add_json(self, name: str, text: str | bytes, item: str) -> None:
        """A member of any JSON type (name:=JSON, name:=@FILE)."""
        try:
            value = json.loads(text)
        except RecursionError:
            raise UsageError(f"{item}: the JSON is nested too deeply") from None
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise UsageError(
                f"{item}: not JSON ({reason}); a string needs quotes ('{name}:=\"text\"') "
                f"or is given as {name}=text"
            ) from None
        self.add(name, value)

    def encode(self) -> bytes:
        return json.dumps(self.members, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
