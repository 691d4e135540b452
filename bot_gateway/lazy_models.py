"""aiogram's Bot API models, built when first used instead of at import.

aiogram declares its ~900 types deferred (pydantic's `defer_build`) but then rebuilds
every one of them at import to resolve their forward references, and builds its ~170
methods eagerly: importing it costs about 155 MiB, nearly all of it validators of
types this bot never receives (aiogram#1513). `import_aiogram` imports it with both
kept deferred:

- the names that rebuild would pass are put where pydantic looks when it builds a
  model later: the globals of the model's module (the names its `TYPE_CHECKING`
  imports give the type checker);
- models created during the import inherit `defer_build`.

A model is then built the first time it is used (Update, with the Message tree under
it, in about a tenth of a second); `warm` builds the ones every update needs at start.
"""

from __future__ import annotations

import sys
from typing import Any

import pydantic


def import_aiogram() -> None:
    """Import aiogram with its models deferred; nothing to do when it is imported already
    (its models are then built, which is as correct, only heavier)."""
    if "aiogram" in sys.modules:
        return
    original = vars(pydantic.BaseModel)["model_rebuild"]
    rebuild = original.__func__
    default_config = vars(pydantic.BaseModel)["model_config"]
    provided: set[str] = set()

    def provide_names(
        cls: type[pydantic.BaseModel],
        /,
        *,
        _types_namespace: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool | None:
        if _types_namespace is None or not cls.model_config.get("defer_build"):
            return rebuild(cls, _types_namespace=_types_namespace, **kwargs)  # type: ignore[no-any-return]
        if cls.__module__ not in provided:
            provided.add(cls.__module__)
            module = vars(sys.modules[cls.__module__])
            for name, value in _types_namespace.items():
                module.setdefault(name, value)
        return None

    pydantic.BaseModel.model_rebuild = classmethod(provide_names)  # type: ignore[method-assign,assignment]
    pydantic.BaseModel.model_config = pydantic.ConfigDict(defer_build=True)
    try:
        import aiogram.methods
        import aiogram.types  # noqa: F401
    finally:
        pydantic.BaseModel.model_rebuild = original  # type: ignore[method-assign]
        pydantic.BaseModel.model_config = default_config


def warm(*models: type[pydantic.BaseModel]) -> None:
    """Build `models` now rather than on the first update that needs them."""
    for model in models:
        if not model.__pydantic_complete__:
            model.model_rebuild()
