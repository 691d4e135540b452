"""Stability AI provider: images from Stable Image Core (standard) and Ultra (PRO), edits
by Stable Diffusion 3.5 image-to-image, through the v2beta REST API. No videos: Stability
no longer offers them, so a kind that needs one names another provider."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import httpx
from PIL import Image, ImageOps

from job_svc.model import Failure
from job_svc.providers.base import (
    MediaResult,
    PermanentProviderError,
    Progress,
    TransientProviderError,
    check_choice,
    image_size,
    open_upright,
    parse_ratio,
    sniff_image_mime,
)

#: The aspect ratios Stable Image Core and Ultra make.
_IMAGE_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "3:2", "2:3", "4:5", "5:4", "21:9", "9:21")
#: An image-to-image result keeps its input's shape, so an edit crops the input to these.
_EDIT_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "3:2", "2:3", "4:5", "5:4")
#: The most pixels an input image may have (the API refuses more), and the fewest per side.
_MAX_INPUT_PIXELS = 9_437_184
_MIN_INPUT_SIDE = 64
#: How far an edit may stray from the input: 0 keeps it, 1 ignores it.
_EDIT_STRENGTH = 0.6
#: HTTP statuses that may pass on their own.
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_REQUEST_TIMEOUT_SECONDS = 120
#: Where each service answers: core, ultra (images) and sd3 (edits).
_PATH = "/v2beta/stable-image/generate/"


class StabilityProvider:
    """Stable Image Core and Ultra, and SD 3.5 image-to-image, behind the provider interface."""

    name: str = "stability"
    aspect_ratios: Mapping[str, tuple[str, ...]] = MappingProxyType(
        {"image": _IMAGE_ASPECT_RATIOS, "edit": _EDIT_ASPECT_RATIOS}
    )
    video_durations: tuple[int, ...] = ()

    def __init__(
        self, *, api_key: str, base_url: str, edit_model: str, pro_edit_model: str
    ) -> None:
        if not api_key:
            raise ValueError("the stability provider needs STABILITY_API_KEY")
        self.edit_model = edit_model
        self.pro_edit_model = pro_edit_model
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=_REQUEST_TIMEOUT_SECONDS,
        )

    async def generate_image(
        self, prompt: str, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult:
        check_choice(self, "image", aspect_ratio)
        service = "ultra" if pro else "core"
        fields = {"prompt": prompt, "aspect_ratio": aspect_ratio, "output_format": "png"}
        return await self._generate(service, fields, None, {"model": f"stable-image-{service}"})

    async def edit_image(
        self, prompt: str, image: bytes, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult:
        check_choice(self, "edit", aspect_ratio)
        model = self.pro_edit_model if pro else self.edit_model
        fields = {
            "prompt": prompt,
            "mode": "image-to-image",
            "model": model,
            "strength": str(_EDIT_STRENGTH),
            "output_format": "png",
        }
        return await self._generate("sd3", fields, _shaped(image, aspect_ratio), {"model": model})

    async def generate_video(
        self,
        prompt: str,
        *,
        pro: bool,
        aspect_ratio: str,
        duration_seconds: int,
        image: bytes | None,
        progress: Progress,
    ) -> MediaResult:
        raise PermanentProviderError(f"{self.name} does not make videos", Failure.BAD_INPUT)

    async def close(self) -> None:
        await self._http.aclose()

    async def _generate(
        self,
        service: str,
        fields: dict[str, str],
        image: bytes | None,
        metadata: dict[str, str],
    ) -> MediaResult:
        # Every field as a part of its own: the API takes multipart/form-data only.
        parts: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
        if image is not None:
            parts["image"] = ("input.png", image, "image/png")
        try:
            response = await self._http.post(_PATH + service, files=parts)
        except httpx.HTTPError as exc:
            raise TransientProviderError(
                f"the image service could not be reached ({exc!r})"
            ) from None
        if response.status_code != 200:
            _raise_for(response)
        try:
            answer = response.json()
            data = base64.b64decode(answer["image"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise TransientProviderError(
                "the image service sent a reply that is not an image"
            ) from None
        if answer.get("finish_reason") == "CONTENT_FILTERED":
            raise PermanentProviderError(
                "the image was blocked by the safety filter", Failure.SAFETY_BLOCK
            )
        mime = sniff_image_mime(data)
        if mime is None:
            raise TransientProviderError("the image service sent a reply that is not an image")
        width, height = image_size(data)
        seed = answer.get("seed")
        if seed is not None:
            metadata = {**metadata, "seed": str(seed)}
        return MediaResult(data, mime, width, height, metadata)


def _raise_for(response: httpx.Response) -> NoReturn:
    """The error of a refused call: its words are the API's `errors`, its kind the status."""
    status = response.status_code
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = {}
    said = "; ".join(str(e) for e in body.get("errors", ()) if e) if isinstance(body, dict) else ""
    said = said or f"HTTP {status}"
    if status in _TRANSIENT_STATUSES:
        raise TransientProviderError(f"the image service is busy or failing ({said})")
    if status == 403:  # content_moderation
        raise PermanentProviderError(
            f"the request was blocked by the safety filter ({said})", Failure.SAFETY_BLOCK
        )
    if status == 422 and isinstance(body, dict) and body.get("name") == "invalid_language":
        raise PermanentProviderError(
            f"the image service takes prompts in English only ({said})",
            Failure.UNSUPPORTED_LANGUAGE,
        )
    if status == 422:  # e.g. public_figure: well formed, but not something it will make
        raise PermanentProviderError(
            f"the image service could not take this prompt ({said})", Failure.UNWORKABLE_PROMPT
        )
    if status in (400, 413):
        raise PermanentProviderError(f"the image service refused the request ({said})",
                                     Failure.BAD_INPUT)  # fmt: skip
    if status == 404:
        raise PermanentProviderError(f"the image service has no such model ({said})",
                                     Failure.PROVIDER_GONE)  # fmt: skip
    # 401 (the key), 402 (the account is out of credits) and anything else of the kind.
    raise PermanentProviderError(f"the image service refused our account ({said})")


def _shaped(image: bytes, aspect_ratio: str) -> bytes:
    """The input cropped about its centre to `aspect_ratio` and scaled within the API's
    pixel limits, as PNG (the result keeps the shape of what it is given)."""
    picture = open_upright(image)
    across, down = parse_ratio(aspect_ratio)
    width, height = picture.size
    if width * down > height * across:  # too wide: the sides go
        width = round(height * across / down)
    else:  # too tall: top and bottom go
        height = round(width * down / across)
    scale = min(1.0, math.sqrt(_MAX_INPUT_PIXELS / (width * height)))
    size = (int(width * scale), int(height * scale))
    if min(size) < _MIN_INPUT_SIDE:
        raise PermanentProviderError(
            f"the input image is too small: at least {_MIN_INPUT_SIDE} px a side after "
            f"cropping it to {aspect_ratio}",
            Failure.BAD_INPUT,
        )
    out = io.BytesIO()
    ImageOps.fit(picture, size, Image.Resampling.LANCZOS).save(out, format="PNG")
    return out.getvalue()
