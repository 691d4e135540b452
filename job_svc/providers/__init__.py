"""Media providers behind one interface, and the factory that picks them from settings."""

from __future__ import annotations

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
_UNAVAILABLE = frozenset({"stability", "kling", "runway"})


def build_provider(name: str, settings: JobSettings) -> Provider:
    """One provider by name, configured from `settings`."""
    if name == "local":
        return LocalProvider(
            latency_seconds=settings.LOCAL_LATENCY_SECONDS,
            failure_rate=settings.LOCAL_FAILURE_RATE,
            image_size=settings.LOCAL_IMAGE_SIZE,
        )
    if name == "gemini":
        api_key = settings.GEMINI_API_KEY.get_secret_value()
        if not api_key:
            raise ValueError("provider 'gemini' needs GEMINI_API_KEY to be set")
        # Imported here: google-genai is heavy and only this provider needs it.
        from job_svc.providers.gemini import GeminiProvider

        return GeminiProvider(
            api_key=api_key,
            base_url=settings.GEMINI_BASE_URL,
            image_model=settings.GEMINI_IMAGE_STANDARD_MODEL,
            pro_image_model=settings.GEMINI_IMAGE_PRO_MODEL,
            video_model=settings.GEMINI_VIDEO_MODEL,
            pro_video_model=settings.GEMINI_VIDEO_PRO_MODEL,
            poll_seconds=settings.GEMINI_POLL_SECONDS,
        )
    if name in _UNAVAILABLE:
        raise ValueError(f"provider {name!r} is not available in this build; use gemini or local")
    raise ValueError(f"unknown provider {name!r}; use gemini or local")


def build_providers(settings: JobSettings) -> dict[Kind, Provider]:
    """The provider of each kind ("image", "edit", "video"); kinds naming the same one share it.

    Every name is checked before anything is built, so a bad setting leaves nothing to close.
    """
    names = {
        Kind.IMAGE: settings.PROVIDER_IMAGE or settings.PROVIDER,
        Kind.EDIT: settings.PROVIDER_EDIT or settings.PROVIDER,
        Kind.VIDEO: settings.PROVIDER_VIDEO or settings.PROVIDER,
    }
    for name in dict.fromkeys(names.values()):
        if name not in ("local", "gemini"):
            build_provider(name, settings)  # raises the explanation
        if name == "gemini" and not settings.GEMINI_API_KEY.get_secret_value():
            raise ValueError("provider 'gemini' needs GEMINI_API_KEY to be set")
    built: dict[str, Provider] = {}
    for name in names.values():
        if name not in built:
            built[name] = build_provider(name, settings)
    return {kind: built[name] for kind, name in names.items()}
