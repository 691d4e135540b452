"""Gemini provider: images through the Gemini API, Veo videos through Vertex, via google-genai."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from job_svc.model import Failure
from job_svc.providers.base import (
    MediaResult,
    PermanentProviderError,
    Progress,
    TransientProviderError,
    check_choice,
    image_size,
    sniff_image_mime,
    unreadable_input,
)

#: Why a candidate stopped, in words a person can act on; every one is permanent.
_FINISH_REASONS = {
    "SAFETY": "the request was blocked by the safety filter",
    "IMAGE_SAFETY": "the image was blocked by the safety filter",
    "PROHIBITED_CONTENT": "the request asks for prohibited content",
    "IMAGE_PROHIBITED_CONTENT": "the image would show prohibited content",
    "BLOCKLIST": "the prompt contains blocked words",
    "SPII": "the request contains sensitive personal information",
    "RECITATION": "the result was too close to existing protected content",
    "IMAGE_RECITATION": "the image was too close to existing protected content",
    "NO_IMAGE": "the model could not make an image for this prompt; try rewording it",
    "IMAGE_OTHER": "the model could not make an image for this prompt; try rewording it",
    "LANGUAGE": "the prompt is in a language the model does not support",
    "MODEL_ARMOR": "the request was blocked by the safety filter",
}
#: Finish reasons that are no refusal: the model could not make anything of the prompt.
_UNWORKABLE = frozenset({"NO_IMAGE", "IMAGE_OTHER", "LANGUAGE"})
#: Why a prompt was refused before generation.
_BLOCK_REASONS = {
    "SAFETY": "the prompt was blocked by the safety filter",
    "BLOCKLIST": "the prompt contains blocked words",
    "PROHIBITED_CONTENT": "the prompt asks for prohibited content",
    "IMAGE_SAFETY": "the input image was blocked by the safety filter",
    "MODEL_ARMOR": "the prompt was blocked by the safety filter",
    "JAILBREAK": "the prompt was blocked by the safety filter",
}
#: HTTP statuses that may pass on their own.
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: google.rpc codes of a failed long-running operation that may pass on their own:
#: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE.
_TRANSIENT_RPC_CODES = frozenset({4, 8, 10, 13, 14})
#: Aspect ratios offered for images and edits.
_IMAGE_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4")
#: Veo renders landscape or portrait only.
_VEO_ASPECT_RATIOS = ("16:9", "9:16")
#: Google's words for an exceeded quota. It says the same of per-minute quotas, so a
#: QuotaFailure detail, when there is one, tells which quota it was.
_QUOTA_EXCEEDED = re.compile(r"exceeded your current quota", re.IGNORECASE)
#: "…, limit: 0, model: …": the plan includes none of the model.
_NO_QUOTA = re.compile(r"\blimit: 0\b")
#: Typical Veo render time, for a progress estimate when the operation reports none.
_EXPECTED_VIDEO_SECONDS = 90.0
_REQUEST_TIMEOUT_SECONDS = 180
T = TypeVar("T")


class GeminiProvider:
    """Gemini image models (standard and pro) and Veo, behind the provider interface."""

    name: str = "gemini"
    aspect_ratios: Mapping[str, tuple[str, ...]] = MappingProxyType(
        {"image": _IMAGE_ASPECT_RATIOS, "edit": _IMAGE_ASPECT_RATIOS, "video": _VEO_ASPECT_RATIOS}
    )
    video_durations: tuple[int, ...] = (8, 4, 6)

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "",
        image_model: str,
        pro_image_model: str,
        video_model: str,
        pro_video_model: str,
        poll_seconds: float = 5.0,
    ) -> None:
        if not api_key:
            raise ValueError("the gemini provider needs GEMINI_API_KEY")
        self.image_model = image_model
        self.pro_image_model = pro_image_model
        self.video_model = video_model
        self.pro_video_model = pro_video_model
        self.poll_seconds = poll_seconds
        # Our own httpx client: the SDK would otherwise pick aiohttp when it is installed,
        # and network errors are then httpx errors, which _call maps to transient.
        self._http = httpx.AsyncClient()
        common: dict[str, Any] = {
            # The worker retries with its own backoff; SDK retries would multiply attempts.
            "retry_options": types.HttpRetryOptions(attempts=1),
            "timeout": _REQUEST_TIMEOUT_SECONDS * 1000,
            "httpx_async_client": self._http,
        }
        if base_url:
            common["base_url"] = base_url
        self._api = genai.Client(
            api_key=api_key, http_options=types.HttpOptions(api_version="v1beta", **common)
        )
        # google-genai 3.x runs Veo only in Vertex mode (express mode: API key, no project).
        self._vertex = genai.Client(
            vertexai=True, api_key=api_key, http_options=types.HttpOptions(**common)
        )

    async def generate_image(
        self, prompt: str, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult:
        check_choice(self, "image", aspect_ratio)
        return await self._image([prompt], pro, aspect_ratio)

    async def edit_image(
        self, prompt: str, image: bytes, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult:
        check_choice(self, "edit", aspect_ratio)
        mime = _input_mime(image)
        return await self._image(
            [types.Part.from_bytes(data=image, mime_type=mime), prompt], pro, aspect_ratio
        )

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
        check_choice(self, "video", aspect_ratio, duration_seconds)
        model = self.pro_video_model if pro else self.video_model
        source = types.GenerateVideosSource(
            prompt=prompt,
            image=types.Image(image_bytes=image, mime_type=_input_mime(image)) if image else None,
        )
        config = types.GenerateVideosConfig(
            aspect_ratio=aspect_ratio, duration_seconds=duration_seconds, number_of_videos=1
        )
        models, operations = self._vertex.aio.models, self._vertex.aio.operations
        operation = await _call(models.generate_videos(model=model, source=source, config=config))
        loop = asyncio.get_running_loop()
        started, reported = loop.time(), -1
        while not operation.done:
            percent = _operation_percent(operation.metadata)
            if percent is None:
                elapsed = loop.time() - started
                percent = int(100 * elapsed / _EXPECTED_VIDEO_SECONDS)
            percent = min(95, percent)
            if percent > reported:
                reported = percent
                await progress(percent)
            await asyncio.sleep(self.poll_seconds)
            operation = await _call(operations.get(operation))
        return self._video_result(operation, model, pro, aspect_ratio, duration_seconds)

    async def close(self) -> None:
        await self._api.aio.aclose()
        await self._vertex.aio.aclose()
        await self._http.aclose()
        self._api.close()
        self._vertex.close()

    async def _image(self, contents: list[Any], pro: bool, aspect_ratio: str) -> MediaResult:
        model = self.pro_image_model if pro else self.image_model
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect_ratio),
        )
        response = await _call(
            self._api.aio.models.generate_content(model=model, contents=contents, config=config)
        )
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = _enum_name(feedback.block_reason)
            raise PermanentProviderError(
                _BLOCK_REASONS.get(reason, f"the prompt was refused ({reason.lower()})"),
                Failure.SAFETY_BLOCK,
            )
        if not response.candidates:
            # A reply with neither a block reason nor a candidate is the provider's fault.
            raise TransientProviderError("the image service sent an empty reply")
        candidate = response.candidates[0]
        finish = _enum_name(candidate.finish_reason) if candidate.finish_reason else "STOP"
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        for part in parts:
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "").startswith("image/"):
                width, height = image_size(blob.data)
                meta = {"provider": self.name, "model": model, "finish_reason": finish}
                meta["quality"] = "pro" if pro else "standard"
                return MediaResult(blob.data, blob.mime_type or "image/png", width, height, meta)
        if finish in _FINISH_REASONS:
            failure = Failure.UNWORKABLE_PROMPT if finish in _UNWORKABLE else Failure.SAFETY_BLOCK
            raise PermanentProviderError(_FINISH_REASONS[finish], failure)
        # No image and no stated reason (a text-only answer, MAX_TOKENS, OTHER): generation is
        # random, so another attempt often succeeds; the worker's retry budget bounds the cost.
        raise TransientProviderError("the image service replied without an image")

    def _video_result(
        self,
        operation: types.GenerateVideosOperation,
        model: str,
        pro: bool,
        ratio: str,
        seconds: int,
    ) -> MediaResult:
        if operation.error:
            code = operation.error.get("code")
            message = str(operation.error.get("message") or "unknown error")[:300]
            error_class = (
                TransientProviderError if code in _TRANSIENT_RPC_CODES else PermanentProviderError
            )
            raise error_class(f"the video service failed: {message}")
        response = operation.response or operation.result
        if response is None:
            raise TransientProviderError("the video service finished without a result")
        if response.rai_media_filtered_count or response.rai_media_filtered_reasons:
            reasons = "; ".join(response.rai_media_filtered_reasons or [])
            detail = f": {reasons}" if reasons else ""
            raise PermanentProviderError(
                f"the video was blocked by the safety filter{detail}", Failure.SAFETY_BLOCK
            )
        videos = response.generated_videos or []
        video = videos[0].video if videos else None
        if video is None or not video.video_bytes:
            if video is not None and video.uri:
                # Only happens when an output bucket is configured, which this provider never does.
                raise PermanentProviderError("the video service stored the video elsewhere")
            raise TransientProviderError("the video service replied without a video")
        width, height = _video_size(ratio)
        meta = {
            "provider": self.name,
            "model": model,
            "quality": "pro" if pro else "standard",
            "duration_seconds": str(seconds),
        }
        return MediaResult(video.video_bytes, video.mime_type or "video/mp4", width, height, meta)


async def _call(awaitable: Awaitable[T]) -> T:
    """Await an SDK call, turning its failures into provider errors."""
    try:
        return await awaitable
    except genai_errors.APIError as exc:
        _raise_api_error(exc)
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise TransientProviderError(
            f"the provider could not be reached ({type(exc).__name__})"
        ) from exc
    except json.JSONDecodeError as exc:
        # A reply that is not JSON is the provider's (or a proxy's) fault, not the request's:
        # transient, so the worker retries it a bounded number of times.
        raise TransientProviderError("the provider sent a reply that could not be read") from exc


def _raise_api_error(exc: genai_errors.APIError) -> NoReturn:
    message = (exc.message or exc.status or "").strip()[:300]
    code = exc.code
    if code == 429:
        used_up = _quota_used_up(exc)
        if used_up is not None:
            raise PermanentProviderError(f"the provider's quota is used up; {used_up}") from exc
        raise TransientProviderError("the provider is rate limiting requests") from exc
    if code in _TRANSIENT_STATUSES or code >= 500:
        raise TransientProviderError(f"the provider had a temporary failure ({code})") from exc
    reason: str
    if code in (401, 403):
        reason = "the provider refused the credentials (check GEMINI_API_KEY)"
    elif code == 404:
        reason = f"the provider does not know this model ({message})"
    else:
        reason = f"the provider rejected the request: {message}"
    raise PermanentProviderError(reason) from exc


def _quota_used_up(exc: genai_errors.APIError) -> str | None:
    """What to do about a 429 that waiting a little will not cure; None for a rate limit.

    Google answers "You exceeded your current quota" to bursts over a per-minute quota
    too, so when a QuotaFailure lists the quotas exceeded, their windows decide.
    """
    message = exc.message or ""
    violations = _quota_violations(exc.details)
    if _NO_QUOTA.search(message) or any(str(v.get("quotaValue")) == "0" for v in violations):
        return "the plan has no quota for this model (check the plan of GEMINI_API_KEY)"
    for violation in violations:
        quota = str(violation.get("quotaId") or violation.get("quotaMetric") or "")
        if "perday" in quota.lower().replace("_", ""):
            return f"it renews daily ({quota})"
    if not violations and _QUOTA_EXCEEDED.search(message):
        return "check the plan and billing of GEMINI_API_KEY"
    return None


def _quota_violations(body: Any) -> list[dict[str, Any]]:
    """The violations of every google.rpc.QuotaFailure in a Google error body."""
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    violations: list[dict[str, Any]] = []
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type")).endswith("rpc.QuotaFailure"):
            found = detail.get("violations")
            if isinstance(found, list):
                violations += [v for v in found if isinstance(v, dict)]
    return violations


def _enum_name(value: Any) -> str:
    """'IMAGE_SAFETY' from an SDK enum member or a plain string."""
    return str(getattr(value, "value", value))


def _input_mime(image: bytes) -> str:
    mime = sniff_image_mime(image)
    if mime is None:
        raise unreadable_input()
    return mime


def _video_size(ratio: str) -> tuple[int, int]:
    # Veo's default resolution is 720p in either orientation.
    return (1280, 720) if ratio == "16:9" else (720, 1280)


def _operation_percent(metadata: dict[str, Any] | None) -> int | None:
    """Progress the operation reports about itself, if any."""
    for key in ("progressPercent", "progressPercentage", "progress_percent"):
        value = (metadata or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(0, int(value))
    return None
