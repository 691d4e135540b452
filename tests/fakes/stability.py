"""A fake Stability AI REST API (v2beta "stable-image" generate) server for tests.

It answers `POST /v2beta/stable-image/generate/{core,ultra,sd3}` the way the real service
does: `multipart/form-data` bodies only, `Authorization: Bearer <key>`, and either the raw
image (`Accept: image/*`, the default, with `finish-reason` and `seed` headers) or JSON
(`Accept: application/json`: `{"image": <base64>, "finish_reason", "seed"}` with the content
type `application/json; type=image/<format>`). Every error has Stability's body
`{"id": <32 hex>, "name": <kind>, "errors": [<message>, ...]}`.

Scenarios are picked by a keyword in the prompt (`FakeStability.scenarios` maps keywords to
scenario names; each name is also its own keyword) or forced for every call with
`FakeStability.force`. Scenarios:

- "filtered": 200 with finish_reason CONTENT_FILTERED and, like the real service, a blurred
  image all the same;
- "moderation": 403 content_moderation (the request was refused and not charged);
- "language": 422 invalid_language, "English is the only supported language for this service.";
- "public-figure": 422 public_figure (a public figure's likeness in the input);
- "credits": 402 payment_required, the account has no credits left;
- "429": 429 rate_limit_exceeded; "500": 500 internal_error;
- "429-once", "500-once": that status on the first call with the prompt, success after;
- "malformed": status 200 with a body that is not JSON (with `Accept: image/*`, bytes that are
  not an image);
- "slow": success, but only after `FakeStability.slow_seconds`.

Like the real service the fake refuses, with 400 bad_request naming each offending field
(`"<field>: <problem>"`): a body that is not multipart, an Accept other than `image/*` or
`application/json`, a missing, empty or longer than 10,000 characters prompt, an aspect ratio,
output format, style preset, seed or sd3 model outside the documented values, and for sd3's
`mode=image-to-image` a missing `image` or `strength`, a strength outside 0..1 and any
`aspect_ratio` (text-to-image only); `image`/`strength` are refused in sd3 text-to-image mode.
Ultra takes an optional `image` too, which then needs `strength`. An input image must be a
PNG, JPEG or WebP with every side at least 64 pixels. A body over 10 MiB gets 413.

Images are real: text-to-image draws `make_image` at the requested aspect ratio (its longer
side `FakeStability.long_side` pixels), image-to-image transforms the upload with `edit` at the
upload's own size, and either is sent in the requested `output_format`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from PIL import Image, ImageFilter, ImageOps

from job_svc.providers.local import edit, make_image
from tests.fakes.server import Scenarios, serve

API_KEY = "sk-test-stability-key-0123456789"
#: The endpoints: POST {base}{GENERATE_PATH}{service}.
GENERATE_PATH = "/v2beta/stable-image/generate/"
SERVICES = ("core", "ultra", "sd3")
SCENARIOS = (
    "filtered",
    "moderation",
    "language",
    "public-figure",
    "credits",
    "429",
    "500",
    "429-once",
    "500-once",
    "malformed",
    "slow",
)
ASPECT_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
SD3_MODELS = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash")
#: SD 3.0 names the service still accepts, re-routing them to their 3.5 equivalents.
SD3_LEGACY_MODELS = ("sd3-large", "sd3-large-turbo", "sd3-medium")
SD3_MODES = ("text-to-image", "image-to-image")
STYLE_PRESETS = (
    "enhance",
    "anime",
    "photographic",
    "digital-art",
    "comic-book",
    "fantasy-art",
    "line-art",
    "analog-film",
    "neon-punk",
    "isometric",
    "low-poly",
    "origami",
    "modeling-compound",
    "cinematic",
    "3d-model",
    "pixel-art",
    "tile-texture",
)
ACCEPTS = ("image/*", "application/json")
MAX_PROMPT = 10_000
MAX_SEED = 4_294_967_294
MAX_BODY = 10 * 1024 * 1024
MIN_SIDE = 64
MAX_SIDE = 16_384

# The real service's words, from its API reference and captured answers.
UNAUTHORIZED_MESSAGE = "authorization: invalid or missing header value"
MODERATION_MESSAGE = (
    "Your request was flagged by our content moderation system, as a result your request was "
    "denied and you were not charged."
)
LANGUAGE_MESSAGE = "English is the only supported language for this service."
PUBLIC_FIGURE_MESSAGE = (
    "Our system detected the likeness of a public figure in your image. To comply with our "
    "guidelines, this request cannot be processed. Please upload a different image."
)
CREDITS_MESSAGE = (
    "You lack sufficient credits to make this request. Please purchase more credits at "
    "https://platform.stability.ai/account/credits and try again."
)
RATE_LIMIT_MESSAGE = (
    "You have exceeded the rate limit of 150 requests within a 10 second period, and have been "
    "timed out for 60 seconds."
)
INTERNAL_MESSAGE = "An unexpected server error has occurred, please try again later."
TOO_LARGE_MESSAGE = "body: payloads cannot be larger than 10MiB in size"

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_INPUT_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    #: Every header, names in lower case (so "authorization", "accept", "content-type").
    headers: dict[str, str]
    #: The text fields of the form (the last value of a repeated name).
    fields: dict[str, str]
    #: The bytes of the uploaded `image` part, if any.
    image: bytes | None = None
    #: Its filename and content type as sent.
    image_filename: str | None = None
    image_content_type: str | None = None


@dataclass
class _Input:
    """An uploaded image, decoded."""

    data: bytes
    width: int
    height: int


@dataclass
class FakeStability(Scenarios):
    """State and scenario control of one fake server."""

    api_key: str = API_KEY
    #: Keyword in a prompt → scenario name; every scenario name is also its own keyword.
    scenarios: dict[str, str] = field(default_factory=lambda: {s: s for s in SCENARIOS})
    #: How long a "slow" generation takes.
    slow_seconds: float = 2.0
    #: Longer side in pixels of a text-to-image result (small, so tests stay quick).
    long_side: int = 64
    requests: list[RecordedRequest] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        too_large = (request.content_length or 0) > MAX_BODY
        fields: dict[str, str] = {}
        upload: web.FileField | bytes | None = None
        multipart = request.content_type == "multipart/form-data"
        if multipart and not too_large:
            try:
                form = await request.post()
            except ValueError:
                return _error(400, "bad_request", ["body: malformed multipart/form-data"])
            for name, value in form.items():
                if name == "image" and not isinstance(value, str):
                    upload = value if isinstance(value, web.FileField) else bytes(value)
                elif isinstance(value, str):
                    fields[name] = value
                elif not isinstance(value, web.FileField):
                    fields[name] = bytes(value).decode("utf-8", "replace")
        elif not too_large:
            await request.read()
        image = _upload_bytes(upload)
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                {k.lower(): v for k, v in request.headers.items()},
                fields,
                image,
                upload.filename if isinstance(upload, web.FileField) else None,
                upload.content_type if isinstance(upload, web.FileField) else None,
            )
        )
        service = request.path.removeprefix(GENERATE_PATH)
        if not request.path.startswith(GENERATE_PATH) or service not in SERVICES:
            return _error(404, "not_found", [f"{request.path}: not found"])
        if request.method != "POST":
            return _error(405, "method_not_allowed", [f"{request.method}: method not allowed"])
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", [UNAUTHORIZED_MESSAGE])
        if too_large:
            return _error(413, "payload_too_large", [TOO_LARGE_MESSAGE])
        if not multipart:
            return _error(400, "bad_request", ["content-type: must be multipart/form-data"])
        accept = request.headers.get("Accept", "image/*").strip().lower() or "image/*"
        if accept not in ACCEPTS:
            return _error(400, "bad_request", [f"accept: must be one of {', '.join(ACCEPTS)}"])
        errors, source = _validate(service, fields, image)
        if errors:
            return _error(400, "bad_request", errors)
        return await self._generate(service, fields, source, accept == "application/json")

    def _failure(self, scenario: str | None, prompt: str) -> web.Response | None:
        """The error reply `scenario` calls for, if any."""
        if scenario == "moderation":
            return _error(403, "content_moderation", [MODERATION_MESSAGE])
        if scenario == "language":
            return _error(422, "invalid_language", [LANGUAGE_MESSAGE])
        if scenario == "public-figure":
            return _error(422, "public_figure", [PUBLIC_FIGURE_MESSAGE])
        if scenario == "credits":
            return _error(402, "payment_required", [CREDITS_MESSAGE])
        if scenario == "429":
            return _error(429, "rate_limit_exceeded", [RATE_LIMIT_MESSAGE])
        if scenario == "500":
            return _error(500, "internal_error", [INTERNAL_MESSAGE])
        if scenario in ("429-once", "500-once"):
            if self.first_time(scenario, prompt):
                if scenario == "429-once":
                    return _error(429, "rate_limit_exceeded", [RATE_LIMIT_MESSAGE])
                return _error(500, "internal_error", [INTERNAL_MESSAGE])
        return None

    async def _generate(
        self, service: str, fields: dict[str, str], source: _Input | None, as_json: bool
    ) -> web.Response:
        prompt = fields["prompt"]
        scenario = self.scenario_for(prompt)
        if failure := self._failure(scenario, prompt):
            return failure
        output_format = fields.get("output_format") or "png"
        mime = _MIME[output_format]
        if scenario == "malformed":
            if as_json:
                return web.Response(
                    body=b'{"image": "iVBORw0KGgo',
                    headers={"Content-Type": f"application/json; type={mime}"},
                )
            return web.Response(
                body=b"<html>not an image</html>",
                headers={"Content-Type": mime, "finish-reason": "SUCCESS", "seed": "1"},
            )
        if scenario == "slow":
            await asyncio.sleep(self.slow_seconds)
        pro = service == "ultra"
        if source is not None:
            ratio, side = f"{source.width}:{source.height}", max(source.width, source.height)
            png, _w, _h, seed_hex = await asyncio.to_thread(
                edit, source.data, prompt, ratio, side, pro
            )
        else:
            ratio = fields.get("aspect_ratio") or "1:1"
            png, _w, _h, seed_hex = make_image(prompt, ratio, self.long_side, pro)
        filtered = scenario == "filtered"
        data = await asyncio.to_thread(_encode, png, output_format, filtered)
        sent_seed = int(float(fields.get("seed") or 0))
        seed = sent_seed or int(seed_hex, 16) % (MAX_SEED + 1)
        finish_reason = "CONTENT_FILTERED" if filtered else "SUCCESS"
        request_id = uuid.uuid4().hex
        if as_json:
            payload = {
                "image": base64.b64encode(data).decode(),
                "finish_reason": finish_reason,
                "seed": seed,
            }
            return web.Response(
                body=json.dumps(payload).encode(),
                headers={
                    "Content-Type": f"application/json; type={mime}",
                    "x-request-id": request_id,
                },
            )
        return web.Response(
            body=data,
            headers={
                "Content-Type": mime,
                "finish-reason": finish_reason,
                "seed": str(seed),
                "x-request-id": request_id,
            },
        )


def _upload_bytes(upload: web.FileField | bytes | None) -> bytes | None:
    if isinstance(upload, web.FileField):
        return upload.file.read()
    return upload


def _validate(
    service: str, fields: dict[str, str], image: bytes | None
) -> tuple[list[str], _Input | None]:
    """Every complaint the real service would make about the form, and the decoded input."""
    errors: list[str] = []
    prompt = fields.get("prompt")
    if prompt is None:
        errors.append("prompt: is required")
    elif not prompt:
        errors.append("prompt: cannot be empty")
    elif len(prompt) > MAX_PROMPT:
        errors.append(f"prompt: must be at most {MAX_PROMPT} characters")
    if len(fields.get("negative_prompt", "")) > MAX_PROMPT:
        errors.append(f"negative_prompt: must be at most {MAX_PROMPT} characters")
    _check_choice(errors, fields, "aspect_ratio", ASPECT_RATIOS)
    _check_choice(errors, fields, "output_format", OUTPUT_FORMATS)
    _check_choice(errors, fields, "style_preset", STYLE_PRESETS)
    if "seed" in fields and _number(fields["seed"], 0, MAX_SEED, integer=True) is None:
        errors.append(f"seed: must be a whole number between 0 and {MAX_SEED}")
    has_strength = "strength" in fields
    if has_strength and _number(fields["strength"], 0, 1) is None:
        errors.append("strength: must be a number between 0 and 1")
    wants_image = False
    if service == "sd3":
        _check_choice(errors, fields, "model", SD3_MODELS + SD3_LEGACY_MODELS, SD3_MODELS)
        _check_choice(errors, fields, "mode", SD3_MODES)
        if "cfg_scale" in fields and _number(fields["cfg_scale"], 1, 10) is None:
            errors.append("cfg_scale: must be a number between 1 and 10")
        if fields.get("mode") == "image-to-image":
            wants_image = True
            if image is None:
                errors.append("image: is required for image-to-image requests")
            if not has_strength:
                errors.append("strength: is required for image-to-image requests")
            if "aspect_ratio" in fields:
                errors.append("aspect_ratio: is only valid for text-to-image requests")
        elif fields.get("mode", "text-to-image") == "text-to-image":
            if image is not None:
                errors.append("image: is only valid for image-to-image requests")
            if has_strength:
                errors.append("strength: is only valid for image-to-image requests")
    elif service == "ultra" and image is not None:
        wants_image = True
        if not has_strength:
            errors.append("strength: is required when image is provided")
    source = None
    if wants_image and image is not None:
        source, problem = _decode_input(image)
        if problem:
            errors.append(problem)
    return errors, source


def _check_choice(
    errors: list[str],
    fields: dict[str, str],
    name: str,
    allowed: tuple[str, ...],
    listed: tuple[str, ...] | None = None,
) -> None:
    if name in fields and fields[name] not in allowed:
        errors.append(f"{name}: must be one of {', '.join(listed or allowed)}")


def _number(text: str, low: float, high: float, *, integer: bool = False) -> float | None:
    """`text` as a number within low..high (whole if `integer`), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not low <= value <= high or (integer and not value.is_integer()):
        return None
    return value


def _decode_input(data: bytes) -> tuple[_Input | None, str | None]:
    """The upload's pixel size, or what is wrong with it."""
    try:
        with Image.open(io.BytesIO(data), formats=_INPUT_FORMATS) as source:
            width, height = ImageOps.exif_transpose(source).size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None, "image: could not be read; supported formats are jpeg, png and webp"
    if min(width, height) < MIN_SIDE:
        return None, f"image: every side must be at least {MIN_SIDE} pixels"
    if max(width, height) > MAX_SIDE:
        return None, f"image: every side must be at most {MAX_SIDE} pixels"
    return _Input(data, width, height), None


def _encode(png: bytes, output_format: str, blur: bool) -> bytes:
    """`png` in `output_format`, blurred first when the content was filtered."""
    if output_format == "png" and not blur:
        return png
    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGB")
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(max(2, max(image.size) // 16)))
    out = io.BytesIO()
    image.save(out, _PIL_FORMAT[output_format])
    return out.getvalue()


def _error(status: int, name: str, errors: list[str]) -> web.Response:
    """A reply in Stability's error format: a 32-hex id, a short name and the messages."""
    return web.json_response(
        {"id": uuid.uuid4().hex, "name": name, "errors": errors}, status=status
    )


@asynccontextmanager
async def start_fake_stability() -> AsyncIterator[tuple[FakeStability, str]]:
    """Run a fake on 127.0.0.1 on a free port; yields it and its base URL."""
    fake = FakeStability()
    # Above the service's own 10 MiB limit, so the fake can answer 413 itself.
    async with serve(fake.handle, client_max_size=4 * MAX_BODY) as base_url:
        yield fake, base_url
