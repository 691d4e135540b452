"""Media providers behind one interface, and the factory that picks them from settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from job_svc.model import Kind
from job_svc.providers.base import (
    KINDS,
    MediaResult,
    PermanentProviderError,
    Progress,
    Provider,
    ProviderError,
    TransientProviderError,
    no_progress,
    option_refusal,
)
from job_svc.providers.local import LocalProvider

if TYPE_CHECKING:
    from job_svc.settings import JobSettings

__all__ = [
    "KINDS",
    "LocalProvider",
    "MediaResult",
    "PermanentProviderError",
    "Progress",
    "Provider",
    "ProviderError",
    "TransientProviderError",
    "build_provider",
    "build_providers",
    "no_progress",
    "option_refusal",
]

#: Named in the settings but without an implementation in this build.
_UNAVAILABLE = frozenset({"kling", "runway"})


def _provider_class(name: str) -> type[Provider]:
    """The class of provider `name`, imported only when named (the SDKs are heavy)."""
    if name == "local":
        return LocalProvider
    if name == "gemini":
        from job_svc.providers.gemini import GeminiProvider

        return GeminiProvider
    if name == "stability":
        from job_svc.providers.stability import StabilityProvider

        return StabilityProvider
    if name in _UNAVAILABLE:
        raise ValueError(
            f"provider {name!r} is not available in this build; use gemini, stability or local"
        )
    raise ValueError(f"unknown provider {name!r}; use gemini, stability or local")


def build_provider(name: str, settings: JobSettings) -> Provider:
    """One provider by name, configured from `settings`."""
    _check_key(name, settings)
    cls: Callable[..., Provider] = _provider_class(name)
    if name == "local":
        return cls(
            latency_seconds=settings.LOCAL_LATENCY_SECONDS,
            failure_rate=settings.LOCAL_FAILURE_RATE,
            image_size=settings.LOCAL_IMAGE_SIZE,
        )
    if name == "gemini":
        return cls(
            api_key=settings.GEMINI_API_KEY.get_secret_value(),
            base_url=settings.GEMINI_BASE_URL,
            image_model=settings.GEMINI_IMAGE_STANDARD_MODEL,
            pro_image_model=settings.GEMINI_IMAGE_PRO_MODEL,
            video_model=settings.GEMINI_VIDEO_MODEL,
            pro_video_model=settings.GEMINI_VIDEO_PRO_MODEL,
            poll_seconds=settings.GEMINI_POLL_SECONDS,
        )
    return cls(
        api_key=settings.STABILITY_API_KEY.get_secret_value(),
        base_url=settings.STABILITY_BASE_URL,
        edit_model=settings.STABILITY_EDIT_MODEL,
        pro_edit_model=settings.STABILITY_EDIT_PRO_MODEL,
    )


def _check_key(name: str, settings: JobSettings) -> None:
    keys = {"gemini": settings.GEMINI_API_KEY, "stability": settings.STABILITY_API_KEY}
    if name in keys and not keys[name].get_secret_value():
        raise ValueError(f"provider {name!r} needs {name.upper()}_API_KEY to be set")


def build_providers(settings: JobSettings) -> dict[Kind, Provider]:
    """The provider of each kind ("image", "edit", "video"); kinds naming the same one share it.

    Every name is checked before anything is built, so a bad setting leaves nothing to close.
    """
    names = {
        Kind.IMAGE: settings.PROVIDER_IMAGE or settings.PROVIDER,
        Kind.EDIT: settings.PROVIDER_EDIT or settings.PROVIDER,
        Kind.VIDEO: settings.PROVIDER_VIDEO or settings.PROVIDER,
    }
    for kind, name in names.items():
        if kind.value not in _provider_class(name).aspect_ratios:
            raise ValueError(
                f"provider {name!r} does not make {kind.value} jobs; "
                f"set PROVIDER_{kind.value.upper()} to one that does"
            )
        _check_key(name, settings)
    built: dict[str, Provider] = {}
    for name in names.values():
        if name not in built:
            built[name] = build_provider(name, settings)
    return {kind: built[name] for kind, name in names.items()}
