"""Providers: the local one offline, Gemini against a fake server, and the factory."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator

import av
import pytest
from PIL import Image

from job_svc.model import Failure
from job_svc.providers import (
    LocalProvider,
    PermanentProviderError,
    TransientProviderError,
    build_providers,
    no_progress,
)
from job_svc.providers.gemini import GeminiProvider
from job_svc.providers.local import render, to_png
from job_svc.providers.stability import StabilityProvider
from job_svc.settings import JobSettings
from tests.fakes.gemini import API_KEY, FakeGemini, b64decode, start_fake_gemini
from tests.fakes.stability import API_KEY as STABILITY_KEY
from tests.fakes.stability import FakeStability, start_fake_stability

SECRETS = {"SERVICE_TOKEN": "s" * 20, "ADMIN_API_TOKEN": "a" * 20}


class Recorder:
    """A progress callback that keeps what it was told."""

    def __init__(self) -> None:
        self.reports: list[int] = []

    async def __call__(self, percent: int) -> None:
        self.reports.append(percent)


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def video_frames(data: bytes) -> tuple[str, int, tuple[int, int]]:
    """Container format, frame count and frame size of an MP4."""
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
        return container.format.name, len(frames), (frames[0].width, frames[0].height)


def png_bytes(size: tuple[int, int], color: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


# --- local ---------------------------------------------------------------------------------


async def test_local_image_is_png_of_the_aspect_and_deterministic() -> None:
    provider = LocalProvider(image_size=64)
    wide = await provider.generate_image(
        "a red fox", pro=False, aspect_ratio="16:9", progress=no_progress
    )
    image = decode_image(wide.data)
    assert (wide.mime_type, image.format, image.size) == ("image/png", "PNG", (64, 36))
    assert (wide.width, wide.height) == (64, 36)
    again = await provider.generate_image(
        "a red fox", pro=False, aspect_ratio="16:9", progress=no_progress
    )
    other = await provider.generate_image(
        "a blue whale", pro=False, aspect_ratio="16:9", progress=no_progress
    )
    assert again.data == wide.data
    assert other.data != wide.data
    tall = await provider.generate_image(
        "a red fox", pro=True, aspect_ratio="9:16", progress=no_progress
    )
    assert decode_image(tall.data).size == (36, 64)
    assert tall.metadata["quality"] == "pro"


@pytest.mark.parametrize("size", [(17, 5), (64, 36), (300, 300)])
async def test_png_writer_round_trips(size: tuple[int, int]) -> None:
    image = render(bytes(range(64)), *size, shapes=3)
    decoded = decode_image(to_png(image))
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "RGB", size)
    assert decoded.tobytes() == image.tobytes()


async def test_local_large_image_has_the_configured_size() -> None:
    provider = LocalProvider(image_size=512)
    result = await provider.generate_image(
        "a castle", pro=False, aspect_ratio="4:3", progress=no_progress
    )
    assert decode_image(result.data).size == (512, 384)


async def test_local_accepts_every_ratio_for_every_kind() -> None:
    provider = LocalProvider(image_size=64)
    ratios = ("1:1", "16:9", "9:16", "4:3", "3:4")
    assert dict(provider.aspect_ratios) == {"image": ratios, "edit": ratios, "video": ratios}
    assert sorted(provider.video_durations) == [4, 6, 8]


async def test_local_refuses_unknown_aspect_ratio_and_duration() -> None:
    provider = LocalProvider(image_size=64)
    refused = (
        "aspect_ratio 7:1 is not available for image on local; choose 1:1, 16:9, 9:16, 4:3 or 3:4"
    )
    with pytest.raises(PermanentProviderError, match=f"^{refused}$"):
        await provider.generate_image("x", pro=False, aspect_ratio="7:1", progress=no_progress)
    refused = "duration_seconds 99 is not available for video on local; choose 4, 6 or 8"
    with pytest.raises(PermanentProviderError, match=f"^{refused}$"):
        await provider.generate_video(
            "x",
            pro=False,
            aspect_ratio="1:1",
            duration_seconds=99,
            image=None,
            progress=no_progress,
        )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
async def test_local_edit_transforms_the_input(fmt: str) -> None:
    provider = LocalProvider(image_size=64)
    source = png_bytes((80, 80), (40, 160, 220), fmt)
    result = await provider.edit_image(
        "make it warmer", source, pro=False, aspect_ratio="1:1", progress=no_progress
    )
    edited = decode_image(result.data).convert("RGB")
    original = decode_image(source).convert("RGB").resize(edited.size)
    assert edited.size == (64, 64)
    assert edited.tobytes() != original.tobytes()
    again = await provider.edit_image(
        "make it warmer", source, pro=False, aspect_ratio="1:1", progress=no_progress
    )
    assert again.data == result.data


async def test_local_edit_rejects_unreadable_input() -> None:
    provider = LocalProvider(image_size=64)
    with pytest.raises(PermanentProviderError, match="could not be read"):
        await provider.edit_image(
            "x", b"not an image", pro=False, aspect_ratio="1:1", progress=no_progress
        )


async def test_local_video_is_an_mp4_with_frames() -> None:
    provider = LocalProvider(image_size=64)
    result = await provider.generate_video(
        "waves",
        pro=False,
        aspect_ratio="16:9",
        duration_seconds=4,
        image=None,
        progress=no_progress,
    )
    fmt, frames, size = video_frames(result.data)
    assert result.mime_type == "video/mp4"
    assert "mp4" in fmt
    assert frames == 4 * provider.video_fps
    assert size == (128, 72) == (result.width, result.height)
    from_image = await provider.generate_video(
        "waves",
        pro=False,
        aspect_ratio="1:1",
        duration_seconds=4,
        image=png_bytes((50, 50), (250, 0, 0)),
        progress=no_progress,
    )
    assert video_frames(from_image.data)[1] > 1


async def test_local_forbidden_is_permanent() -> None:
    provider = LocalProvider(image_size=64)
    with pytest.raises(PermanentProviderError, match="safety filter") as refused:
        await provider.generate_image(
            "something Forbidden here", pro=False, aspect_ratio="1:1", progress=no_progress
        )
    assert refused.value.failure == Failure.SAFETY_BLOCK


async def test_local_flaky_fails_n_times_then_succeeds() -> None:
    provider = LocalProvider(image_size=64)
    for _ in range(2):
        with pytest.raises(TransientProviderError, match="on purpose"):
            await provider.generate_image(
                "cat flaky:2", pro=False, aspect_ratio="1:1", progress=no_progress
            )
    result = await provider.generate_image(
        "cat flaky:2", pro=False, aspect_ratio="1:1", progress=no_progress
    )
    assert decode_image(result.data).format == "PNG"
    # Another instance (another worker) counts on its own.
    with pytest.raises(TransientProviderError):
        await LocalProvider(image_size=64).generate_image(
            "cat flaky:2", pro=False, aspect_ratio="1:1", progress=no_progress
        )


async def test_local_latency_reports_progress() -> None:
    provider = LocalProvider(image_size=64, latency_seconds=0.25)
    progress = Recorder()
    await provider.generate_image("slowpoke", pro=False, aspect_ratio="1:1", progress=progress)
    assert len(progress.reports) >= 2
    assert progress.reports == sorted(progress.reports)
    assert all(0 <= p <= 100 for p in progress.reports)


async def test_local_no_latency_reports_nothing() -> None:
    progress = Recorder()
    await LocalProvider(image_size=64).generate_image(
        "quick", pro=False, aspect_ratio="1:1", progress=progress
    )
    assert progress.reports == []


async def test_local_failure_rate_one_always_fails() -> None:
    provider = LocalProvider(image_size=64, failure_rate=1.0)
    for prompt in ("a", "b", "c"):
        with pytest.raises(TransientProviderError, match="on purpose"):
            await provider.generate_image(
                prompt, pro=False, aspect_ratio="1:1", progress=no_progress
            )


async def test_local_failure_rate_is_a_share() -> None:
    provider = LocalProvider(image_size=64, failure_rate=0.5, rng=random.Random(7))
    failures = 0
    for n in range(200):
        try:
            await provider.generate_image(
                str(n), pro=False, aspect_ratio="1:1", progress=no_progress
            )
        except TransientProviderError:
            failures += 1
    assert 60 < failures < 140


# --- gemini against the fake ---------------------------------------------------------------


@pytest.fixture
async def gemini() -> AsyncIterator[tuple[FakeGemini, GeminiProvider]]:
    async with start_fake_gemini() as (fake, base_url):
        provider = GeminiProvider(
            api_key=API_KEY,
            base_url=base_url,
            image_model="img-standard",
            pro_image_model="img-pro",
            video_model="veo-test",
            pro_video_model="veo-pro-test",
            poll_seconds=0.01,
        )
        yield fake, provider
        await provider.close()


async def test_gemini_image(gemini: tuple[FakeGemini, GeminiProvider]) -> None:
    fake, provider = gemini
    result = await provider.generate_image(
        "a lighthouse", pro=False, aspect_ratio="16:9", progress=no_progress
    )
    assert decode_image(result.data).format == "PNG"
    assert (result.mime_type, result.width, result.height) == ("image/png", 64, 36)
    request = fake.requests[-1]
    assert request.path == "/v1beta/models/img-standard:generateContent"
    assert request.headers["x-goog-api-key"] == API_KEY
    assert request.json["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9"
    assert request.json["generationConfig"]["responseModalities"] == ["IMAGE"]
    await provider.generate_image(
        "a lighthouse", pro=True, aspect_ratio="1:1", progress=no_progress
    )
    assert fake.requests[-1].path == "/v1beta/models/img-pro:generateContent"


async def test_gemini_edit_sends_the_image(gemini: tuple[FakeGemini, GeminiProvider]) -> None:
    fake, provider = gemini
    source = png_bytes((40, 40), (0, 200, 0), "JPEG")
    result = await provider.edit_image(
        "add snow", source, pro=False, aspect_ratio="1:1", progress=no_progress
    )
    assert decode_image(result.data).size == (64, 64)
    parts = fake.requests[-1].json["contents"][0]["parts"]
    inline = next(p["inlineData"] for p in parts if "inlineData" in p)
    # The SDK spells this one field in snake case; Google's JSON parser accepts both.
    assert inline.get("mimeType", inline.get("mime_type")) == "image/jpeg"
    assert b64decode(inline["data"]) == source
    assert any(p.get("text") == "add snow" for p in parts)


#: 429s that mean the quota is used up (permanent) and those that only ask to slow down.
QUOTA_ERRORS = [
    # "You exceeded your current quota" with no QuotaFailure detail to say more.
    ("429-quota", PermanentProviderError, "^the provider's quota is used up; "),
    # A QuotaFailure naming a per-day quota: nothing changes before tomorrow.
    ("429-quota-day", PermanentProviderError, "^the provider's quota is used up; it renews daily"),
    # A QuotaFailure with limit 0: the plan includes none of this model.
    ("429-no-quota", PermanentProviderError, "^the provider's quota is used up; the plan has no"),
    # The same message with a QuotaFailure of a per-minute quota only: a rate limit.
    ("429-per-minute", TransientProviderError, "rate limiting"),
]


@pytest.mark.parametrize(
    ("prompt", "error", "reason"),
    [
        ("safety", PermanentProviderError, "safety filter"),
        ("prompt-block", PermanentProviderError, "prohibited"),
        ("429", TransientProviderError, "rate limiting"),
        *QUOTA_ERRORS,
        ("500", TransientProviderError, "temporary failure"),
        ("503", TransientProviderError, "temporary failure"),
        # A reply that is not JSON is the provider's fault: transient (see gemini._call).
        ("malformed", TransientProviderError, "could not be read"),
        ("no-image", TransientProviderError, "without an image"),
    ],
)
async def test_gemini_image_errors(
    gemini: tuple[FakeGemini, GeminiProvider], prompt: str, error: type[Exception], reason: str
) -> None:
    fake, provider = gemini
    with pytest.raises(error, match=reason):
        await provider.generate_image(prompt, pro=False, aspect_ratio="1:1", progress=no_progress)
    # One attempt only: the worker owns retries.
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("prompt", "failure"),
    [
        ("safety", Failure.SAFETY_BLOCK),
        ("prompt-block", Failure.SAFETY_BLOCK),
        ("429-quota", Failure.PROVIDER_REFUSED),
    ],
)
async def test_gemini_permanent_errors_say_why_as_a_failure_code(
    gemini: tuple[FakeGemini, GeminiProvider], prompt: str, failure: Failure
) -> None:
    _, provider = gemini
    with pytest.raises(PermanentProviderError) as refused:
        await provider.generate_image(prompt, pro=False, aspect_ratio="1:1", progress=no_progress)
    assert refused.value.failure == failure


async def test_gemini_bad_key_is_permanent(gemini: tuple[FakeGemini, GeminiProvider]) -> None:
    fake, provider = gemini
    fake.api_key = "another-key"
    with pytest.raises(PermanentProviderError, match="API key not valid"):
        await provider.generate_image("x", pro=False, aspect_ratio="1:1", progress=no_progress)


async def test_gemini_unreachable_is_transient() -> None:
    async with start_fake_gemini() as (_fake, base_url):
        pass  # the port is free again once the server stopped
    provider = GeminiProvider(
        api_key=API_KEY,
        base_url=base_url,
        image_model="m",
        pro_image_model="m",
        video_model="v",
        pro_video_model="v",
    )
    try:
        with pytest.raises(TransientProviderError, match="could not be reached"):
            await provider.generate_image("x", pro=False, aspect_ratio="1:1", progress=no_progress)
    finally:
        await provider.close()


async def test_gemini_retry_once_succeeds(gemini: tuple[FakeGemini, GeminiProvider]) -> None:
    _fake, provider = gemini
    with pytest.raises(TransientProviderError):
        await provider.generate_image(
            "429-once", pro=False, aspect_ratio="1:1", progress=no_progress
        )
    result = await provider.generate_image(
        "429-once", pro=False, aspect_ratio="1:1", progress=no_progress
    )
    assert result.data


async def test_gemini_video_through_slow_operation(
    gemini: tuple[FakeGemini, GeminiProvider],
) -> None:
    fake, provider = gemini
    fake.slow_polls = 4
    progress = Recorder()
    result = await provider.generate_video(
        "slow sunrise",
        pro=False,
        aspect_ratio="16:9",
        duration_seconds=8,
        image=None,
        progress=progress,
    )
    fmt, frames, _size = video_frames(result.data)
    assert "mp4" in fmt and frames > 1
    assert result.mime_type == "video/mp4"
    assert len(progress.reports) >= 3
    assert progress.reports == sorted(set(progress.reports))
    assert max(progress.reports) <= 95
    predict, *polls = fake.requests
    assert predict.path == "/v1beta1/publishers/google/models/veo-test:predictLongRunning"
    assert predict.headers["x-goog-api-key"] == API_KEY
    assert predict.json["parameters"] == {
        "sampleCount": 1,
        "durationSeconds": 8,
        "aspectRatio": "16:9",
    }
    assert len(polls) == 4
    assert all(p.path.endswith("/models/veo-test:fetchPredictOperation") for p in polls)
    assert (
        polls[0].json["operationName"].startswith("publishers/google/models/veo-test/operations/")
    )


async def test_gemini_video_from_image(gemini: tuple[FakeGemini, GeminiProvider]) -> None:
    fake, provider = gemini
    source = png_bytes((32, 32), (10, 20, 30))
    result = await provider.generate_video(
        "move",
        pro=False,
        aspect_ratio="9:16",
        duration_seconds=4,
        image=source,
        progress=no_progress,
    )
    assert video_frames(result.data)[1] > 1
    assert (result.width, result.height) == (720, 1280)
    instance = fake.requests[0].json["instances"][0]
    assert b64decode(instance["image"]["bytesBase64Encoded"]) == source
    assert fake.requests[0].json["parameters"]["aspectRatio"] == "9:16"


async def test_gemini_declares_what_veo_accepts(
    gemini: tuple[FakeGemini, GeminiProvider],
) -> None:
    _fake, provider = gemini
    images = ("1:1", "16:9", "9:16", "4:3", "3:4")
    assert dict(provider.aspect_ratios) == {
        "image": images,
        "edit": images,
        "video": ("16:9", "9:16"),
    }
    assert sorted(provider.video_durations) == [4, 6, 8]


@pytest.mark.parametrize("ratio", ["1:1", "4:3", "3:4"])
async def test_gemini_video_refuses_ratios_veo_lacks(
    gemini: tuple[FakeGemini, GeminiProvider], ratio: str
) -> None:
    # Veo renders 16:9 or 9:16 only; another ratio used to be replaced by the nearer of the
    # two without a word. A job queued before CreateJob checked this now fails (and is refunded).
    fake, provider = gemini
    refused = f"aspect_ratio {ratio} is not available for video on gemini; choose 16:9 or 9:16"
    with pytest.raises(PermanentProviderError, match=f"^{refused}$"):
        await provider.generate_video(
            "a square sunset",
            pro=False,
            aspect_ratio=ratio,
            duration_seconds=8,
            image=None,
            progress=no_progress,
        )
    assert fake.requests == []  # nothing was sent, so nothing was rendered or billed


async def test_gemini_pro_video_uses_the_pro_model(
    gemini: tuple[FakeGemini, GeminiProvider],
) -> None:
    fake, provider = gemini
    result = await provider.generate_video(
        "a pro sunrise",
        pro=True,
        aspect_ratio="16:9",
        duration_seconds=8,
        image=None,
        progress=no_progress,
    )
    assert video_frames(result.data)[1] > 1
    assert (result.metadata["model"], result.metadata["quality"]) == ("veo-pro-test", "pro")
    predict, *polls = fake.requests
    assert predict.path == "/v1beta1/publishers/google/models/veo-pro-test:predictLongRunning"
    assert polls and all(
        p.path.endswith("/models/veo-pro-test:fetchPredictOperation") for p in polls
    )
    standard = await provider.generate_video(
        "a pro sunrise",
        pro=False,
        aspect_ratio="16:9",
        duration_seconds=8,
        image=None,
        progress=no_progress,
    )
    assert standard.metadata["model"] == "veo-test"
    assert fake.requests[len(polls) + 1].path.endswith("/models/veo-test:predictLongRunning")


@pytest.mark.parametrize(
    ("prompt", "error", "reason"),
    [
        ("filtered", PermanentProviderError, "safety filter: The video violates"),
        ("op-error", PermanentProviderError, "could not be rendered"),
        ("429", TransientProviderError, "rate limiting"),
        *QUOTA_ERRORS,
    ],
)
async def test_gemini_video_errors(
    gemini: tuple[FakeGemini, GeminiProvider], prompt: str, error: type[Exception], reason: str
) -> None:
    fake, provider = gemini
    with pytest.raises(error, match=reason):
        await provider.generate_video(
            prompt,
            pro=False,
            aspect_ratio="9:16",
            duration_seconds=8,
            image=None,
            progress=no_progress,
        )
    if prompt.startswith("429"):
        # Refused at submission, once: the worker owns retries.
        assert [r.path.rsplit(":", 1)[1] for r in fake.requests] == ["predictLongRunning"]


# --- build_providers -----------------------------------------------------------------------


async def test_build_providers_gemini_video_model_follows_quality() -> None:
    async with start_fake_gemini() as (fake, base_url):
        settings = JobSettings(
            **SECRETS,
            PROVIDER="local",
            PROVIDER_VIDEO="gemini",
            GEMINI_API_KEY=API_KEY,
            GEMINI_BASE_URL=base_url,
            GEMINI_POLL_SECONDS=0.01,
        )
        # The defaults: STANDARD keeps the fast Veo model, PRO gets the full one.
        assert settings.GEMINI_VIDEO_MODEL == "veo-3.0-fast-generate-001"
        assert settings.GEMINI_VIDEO_PRO_MODEL == "veo-3.0-generate-001"
        video = build_providers(settings)["video"]
        try:
            for pro in (True, False):
                await video.generate_video(
                    "a harbour at dawn",
                    pro=pro,
                    aspect_ratio="16:9",
                    duration_seconds=8,
                    image=None,
                    progress=no_progress,
                )
        finally:
            await video.close()
        predicts = [p for p in fake.paths() if p.endswith(":predictLongRunning")]
        assert predicts == [
            "/v1beta1/publishers/google/models/veo-3.0-generate-001:predictLongRunning",
            "/v1beta1/publishers/google/models/veo-3.0-fast-generate-001:predictLongRunning",
        ]


# --- stability against the fake ------------------------------------------------------------


@pytest.fixture
async def stability() -> AsyncIterator[tuple[FakeStability, StabilityProvider]]:
    async with start_fake_stability() as (fake, base_url):
        provider = StabilityProvider(
            api_key=STABILITY_KEY, base_url=base_url, edit_model="sd3.5-large-turbo",
            pro_edit_model="sd3.5-large",
        )  # fmt: skip
        yield fake, provider
        await provider.close()


async def test_stability_images_come_from_core_and_pro_ones_from_ultra(
    stability: tuple[FakeStability, StabilityProvider],
) -> None:
    fake, provider = stability
    result = await provider.generate_image(
        "a lighthouse", pro=False, aspect_ratio="16:9", progress=no_progress
    )
    assert (result.mime_type, result.width, result.height) == ("image/png", 64, 36)
    assert decode_image(result.data).size == (64, 36)
    assert result.metadata["model"] == "stable-image-core" and result.metadata["seed"]
    request = fake.requests[-1]
    assert request.path == "/v2beta/stable-image/generate/core"
    assert request.headers["authorization"] == f"Bearer {STABILITY_KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.fields == {"prompt": "a lighthouse", "aspect_ratio": "16:9",
                              "output_format": "png"}  # fmt: skip
    tall = await provider.generate_image(
        "a tower", pro=True, aspect_ratio="9:21", progress=no_progress
    )
    assert fake.requests[-1].path == "/v2beta/stable-image/generate/ultra"
    assert (tall.width, tall.height) == (27, 64)


async def test_stability_edits_crop_the_input_to_the_chosen_shape(
    stability: tuple[FakeStability, StabilityProvider],
) -> None:
    fake, provider = stability
    source = png_bytes((300, 200), (0, 200, 0), "JPEG")
    result = await provider.edit_image(
        "add snow", source, pro=False, aspect_ratio="1:1", progress=no_progress
    )
    request = fake.requests[-1]
    assert request.path == "/v2beta/stable-image/generate/sd3"
    assert request.fields["mode"] == "image-to-image" and request.fields["prompt"] == "add snow"
    assert request.fields["model"] == "sd3.5-large-turbo" and request.fields["strength"] == "0.6"
    assert "aspect_ratio" not in request.fields, "image-to-image takes the input's shape"
    assert request.image is not None and decode_image(request.image).size == (200, 200)
    assert (result.width, result.height) == (200, 200) and result.mime_type == "image/png"
    await provider.edit_image(
        "add snow", source, pro=True, aspect_ratio="16:9", progress=no_progress
    )
    request = fake.requests[-1]
    assert request.fields["model"] == "sd3.5-large"
    assert request.image is not None and decode_image(request.image).size == (300, 169)
    # An input past the API's pixel limit is scaled down within it.
    huge = png_bytes((4000, 4000), (10, 10, 200))
    await provider.edit_image("add snow", huge, pro=False, aspect_ratio="1:1",
                              progress=no_progress)  # fmt: skip
    assert fake.requests[-1].image is not None
    width, height = decode_image(fake.requests[-1].image).size
    assert width == height and width * height <= 9_437_184


#: A Stability answer and the failure it becomes.
STABILITY_ERRORS = [
    ("filtered", PermanentProviderError, Failure.SAFETY_BLOCK),
    ("moderation", PermanentProviderError, Failure.SAFETY_BLOCK),
    ("language", PermanentProviderError, Failure.UNSUPPORTED_LANGUAGE),
    ("public-figure", PermanentProviderError, Failure.UNWORKABLE_PROMPT),
    ("credits", PermanentProviderError, Failure.PROVIDER_REFUSED),
    ("429", TransientProviderError, None),
    ("500", TransientProviderError, None),
    ("malformed", TransientProviderError, None),
]


@pytest.mark.parametrize(("scenario", "error", "failure"), STABILITY_ERRORS)
async def test_stability_errors_are_permanent_or_transient_as_they_are(
    stability: tuple[FakeStability, StabilityProvider],
    scenario: str,
    error: type[Exception],
    failure: Failure | None,
) -> None:
    _, provider = stability
    with pytest.raises(error) as raised:
        await provider.generate_image(f"a fox {scenario}", pro=False, aspect_ratio="1:1",
                                      progress=no_progress)  # fmt: skip
    if failure is not None:
        assert isinstance(raised.value, PermanentProviderError)
        assert raised.value.failure == failure


async def test_stability_refuses_what_it_cannot_make_before_calling_out(
    stability: tuple[FakeStability, StabilityProvider],
) -> None:
    fake, provider = stability
    with pytest.raises(PermanentProviderError) as refused:
        await provider.generate_image("a fox", pro=False, aspect_ratio="4:3",
                                      progress=no_progress)  # fmt: skip
    assert refused.value.failure == Failure.BAD_INPUT and "choose 1:1, 16:9" in str(refused.value)
    with pytest.raises(PermanentProviderError) as refused:
        await provider.edit_image("x", png_bytes((40, 40), (1, 2, 3)), pro=False,
                                  aspect_ratio="1:1", progress=no_progress)  # fmt: skip
    assert "at least 64 px" in str(refused.value)
    with pytest.raises(PermanentProviderError):
        await provider.edit_image("x", b"not an image", pro=False, aspect_ratio="1:1",
                                  progress=no_progress)  # fmt: skip
    with pytest.raises(PermanentProviderError, match="does not make videos"):
        await provider.generate_video("x", pro=False, aspect_ratio="16:9", duration_seconds=4,
                                      image=None, progress=no_progress)  # fmt: skip
    assert fake.requests == []


async def test_stability_bad_key_is_permanent_and_unreachable_is_transient() -> None:
    async with start_fake_stability() as (_, base_url):
        wrong = StabilityProvider(api_key="sk-wrong", base_url=base_url, edit_model="m",
                                  pro_edit_model="m")  # fmt: skip
        with pytest.raises(PermanentProviderError) as refused:
            await wrong.generate_image("a fox", pro=False, aspect_ratio="1:1",
                                       progress=no_progress)  # fmt: skip
        assert refused.value.failure == Failure.PROVIDER_REFUSED
        await wrong.close()
    gone = StabilityProvider(api_key=STABILITY_KEY, base_url="http://127.0.0.1:9",
                             edit_model="m", pro_edit_model="m")  # fmt: skip
    with pytest.raises(TransientProviderError):
        await gone.generate_image("a fox", pro=False, aspect_ratio="1:1", progress=no_progress)
    await gone.close()


async def test_stability_retry_once_succeeds(
    stability: tuple[FakeStability, StabilityProvider],
) -> None:
    _, provider = stability
    with pytest.raises(TransientProviderError):
        await provider.generate_image("a fox 429-once", pro=False, aspect_ratio="1:1",
                                      progress=no_progress)  # fmt: skip
    result = await provider.generate_image("a fox 429-once", pro=False, aspect_ratio="1:1",
                                           progress=no_progress)  # fmt: skip
    assert result.mime_type == "image/png"


async def test_build_providers_defaults_to_one_shared_local() -> None:
    providers = build_providers(JobSettings(**SECRETS, PROVIDER="local", LOCAL_IMAGE_SIZE=64))
    assert set(providers) == {"image", "edit", "video"}
    assert {p.name for p in providers.values()} == {"local"}
    assert providers["image"] is providers["edit"] is providers["video"]


async def test_build_providers_honours_overrides() -> None:
    settings = JobSettings(
        **SECRETS,
        PROVIDER="local",
        PROVIDER_VIDEO="gemini",
        GEMINI_API_KEY=API_KEY,
        GEMINI_BASE_URL="http://127.0.0.1:9",
    )
    providers = build_providers(settings)
    try:
        assert providers["image"].name == providers["edit"].name == "local"
        assert isinstance(providers["video"], GeminiProvider)
        gemini_everywhere = build_providers(
            settings.model_copy(update={"PROVIDER": "gemini", "PROVIDER_IMAGE": "local"})
        )
        assert gemini_everywhere["image"].name == "local"
        assert gemini_everywhere["edit"] is gemini_everywhere["video"]
        await gemini_everywhere["video"].close()
    finally:
        await providers["video"].close()


@pytest.mark.parametrize("name", ["kling", "runway"])
async def test_build_providers_refuses_unavailable(name: str) -> None:
    with pytest.raises(ValueError, match=f"provider '{name}' is not available in this build"):
        build_providers(JobSettings(**SECRETS, PROVIDER="local", PROVIDER_EDIT=name))


async def test_build_providers_gemini_needs_key() -> None:
    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        build_providers(JobSettings(**SECRETS, PROVIDER="gemini", GEMINI_API_KEY=""))


async def test_build_providers_stability_needs_a_key_and_makes_no_videos() -> None:
    with pytest.raises(ValueError, match="STABILITY_API_KEY"):
        build_providers(JobSettings(**SECRETS, PROVIDER="local", PROVIDER_IMAGE="stability"))
    with pytest.raises(ValueError, match="'stability' does not make video jobs; set PROVIDER_VI"):
        build_providers(JobSettings(**SECRETS, PROVIDER="stability", STABILITY_API_KEY="k" * 20))
    providers = build_providers(
        JobSettings(**SECRETS, PROVIDER="stability", PROVIDER_VIDEO="local",
                    STABILITY_API_KEY="k" * 20)
    )  # fmt: skip
    try:
        assert providers["image"] is providers["edit"]
        assert isinstance(providers["image"], StabilityProvider)
        assert providers["video"].name == "local"
    finally:
        await providers["image"].close()
