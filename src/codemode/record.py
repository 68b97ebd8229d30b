"""``Record``: a pydantic model that also reads like the dict py-code-mode returns.

py-code-mode's Session returns plain dicts (``tool['name']``, ``result.get('installed')``);
ours returns models, for schemas and attribute access. Every model the Session returns
derives from this one base, so both styles work on the same object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel


class Record(BaseModel):
    """A model with read-only mapping access: ``r['name']``, ``r.get('x', d)``, ``'x' in r``, ``dict(r)``.

    Keys are the names the JSON form uses (aliases included) and the computed fields.
    Iterating yields keys, as for a dict; ``dict(r)`` keeps nested records as records.
    """

    @classmethod
    def _key_map(cls) -> dict[str, str]:
        keys = {(field.serialization_alias or field.alias or name): name for name, field in cls.model_fields.items()}
        keys.update({name: name for name in cls.model_computed_fields})
        return keys

    def keys(self) -> list[str]:
        return list(self._key_map())

    def values(self) -> list[Any]:
        return [getattr(self, name) for name in self._key_map().values()]

    def items(self) -> list[tuple[str, Any]]:
        return [(key, getattr(self, name)) for key, name in self._key_map().items()]

    def get(self, key: str, default: Any = None) -> Any:
        name = self._key_map().get(key)
        return default if name is None else getattr(self, name)

    def __getitem__(self, key: str) -> Any:
        name = self._key_map().get(key)
        if name is None:
            raise KeyError(key)
        return getattr(self, name)

    def __contains__(self, key: object) -> bool:
        return key in self._key_map()

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # keys, as a dict does (BaseModel yields pairs)
        return iter(self._key_map())

    def __len__(self) -> int:
        return len(self._key_map())
