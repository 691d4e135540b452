"""A fake Gemini API (generateContent) and Vertex Veo (predictLongRunning) server for tests.

Scenarios are picked by a keyword in the prompt (`FakeGemini.scenarios` maps keywords to
scenario names; each name is also its own keyword) or forced for every call with
`FakeGemini.force`. Scenarios:

- "safety": the candidate stops with finishReason IMAGE_SAFETY and no image;
- "prompt-block": promptFeedback.blockReason PROHIBITED_CONTENT and no candidates;
- "no-image": the candidate has only a text part;
- "429", "500", "503": that HTTP status with a Google error body; the 429 is a plain rate
  limit ("Resource has been exhausted (e.g. check quota).", no details);
- "429-quota": 429 "You exceeded your current quota…" with only a Help detail;
- "429-quota-day": that message with a QuotaFailure of a per-day quota and a RetryInfo;
- "429-no-quota": that message with a QuotaFailure whose limit (quotaValue) is 0;
- "429-per-minute": that message with a QuotaFailure of a per-minute quota and a RetryInfo,
  which is how Google answers a burst over the requests-per-minute limit;
- "429-once", "500-once": that status on the first call with the prompt, success after;
- "malformed": status 200 with a body that is not JSON;
- "slow": the video operation is done after `slow_polls` fetches, reporting progressPercent;
- "filtered": the video operation ends with raiMediaFilteredCount and reasons;
- "op-error": the video operation ends with error {code 3, message}.

Like Veo, a video request with an aspect ratio other than 16:9 or 9:16, or a length other
than 4, 6 or 8 seconds, is refused with 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from job_svc.providers.local import edit, make_image, make_video
from tests.fakes.server import Scenarios, serve

API_KEY = "test-gemini-key-0123456789"
SCENARIOS = (
    "safety",
    "prompt-block",
    "no-image",
    "429",
    "500",
    "503",
    "429-once",
    "500-once",
    "429-quota",
    "429-quota-day",
    "429-no-quota",
    "429-per-minute",
    "malformed",
    "slow",
    "filtered",
    "op-error",
)
VEO_ASPECT_RATIOS = ("16:9", "9:16")
VEO_DURATIONS = (4, 6, 8)
_GENERATE = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):generateContent$")
_PREDICT = re.compile(
    r"^/(?P<version>[^/]+)/(?P<resource>(?:.+/)?publishers/google/models/(?P<model>[^/:]+))"
    r":predictLongRunning$"
)
_FETCH = re.compile(r"^/(?P<version>[^/]+)/(?P<resource>.+/models/[^/:]+):fetchPredictOperation$")
#: What the Gemini API says when a quota (of any window) is exceeded.
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
_HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}
_RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}


def _quota_failure(quota_id: str, metric: str, value: str) -> dict[str, Any]:
    violation = {
        "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
        "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": "fake-model"},
        "quotaValue": value,
    }
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]}


#: 429 scenarios about quotas: the error details each sends with QUOTA_MESSAGE.
_QUOTA_DETAILS: dict[str, list[dict[str, Any]]] = {
    "429-quota": [_HELP],
    "429-quota-day": [
        _quota_failure(
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "generate_content_free_tier_requests",
            "250",
        ),
        _HELP,
        _RETRY_INFO,
    ],
    "429-no-quota": [
        _quota_failure(
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "generate_content_free_tier_requests",
            "0",
        ),
        _HELP,
        _RETRY_INFO,
    ],
    "429-per-minute": [
        _quota_failure(
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "generate_content_free_tier_input_token_count",
            "250000",
        ),
        _HELP,
        _RETRY_INFO,
    ],
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class _Operation:
    scenario: str | None
    prompt: str
    aspect_ratio: str
    seconds: int
    image: bytes | None
    polls: int = 0


@dataclass
class FakeGemini(Scenarios):
    """State and scenario control of one fake server."""

    api_key: str = API_KEY
    #: Keyword in a prompt → scenario name; every scenario name is also its own keyword.
    scenarios: dict[str, str] = field(default_factory=lambda: {s: s for s in SCENARIOS})
    #: Fetches a "slow" video operation needs before it is done.
    slow_polls: int = 3
    requests: list[RecordedRequest] = field(default_factory=list)
    operations: dict[str, _Operation] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            payload: Any = await request.json() if body else None
        except ValueError:
            payload = None
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                {k.lower(): v for k, v in request.headers.items()},
                payload,
            )
        )
        key = request.headers.get("x-goog-api-key")
        if not key:
            return _error(403, "Method doesn't allow unregistered callers.")
        if key != self.api_key:
            return _error(400, "API key not valid. Please pass a valid API key.")
        if request.method != "POST" or not isinstance(payload, dict):
            return _error(400, "Invalid JSON payload received.")
        path = request.path
        if match := _GENERATE.match(path):
            return await self._generate(payload)
        if match := _PREDICT.match(path):
            return self._predict(match["resource"], payload)
        if _FETCH.match(path):
            return await self._fetch(payload)
        return _error(404, f"Method not found: {path}")

    def _failure(self, scenario: str | None, prompt: str) -> web.Response | None:
        """The error reply `scenario` calls for, if any."""
        if scenario == "429":
            return _error(429, "Resource has been exhausted (e.g. check quota).")
        if scenario in ("500", "503"):
            return _error(int(scenario), "The service is busy; try again later.")
        if scenario in _QUOTA_DETAILS:
            return _error(429, QUOTA_MESSAGE, _QUOTA_DETAILS[scenario])
        if scenario in ("429-once", "500-once"):
            if self.first_time(scenario, prompt):
                return _error(int(scenario[:3]), "The service is busy; try again later.")
        if scenario == "malformed":
            return web.Response(text='{"candidates": [', content_type="application/json")
        return None

    async def _generate(self, payload: dict[str, Any]) -> web.Response:
        parts = [p for c in payload.get("contents", []) for p in c.get("parts", [])]
        prompt = " ".join(p["text"] for p in parts if "text" in p)
        scenario = self.scenario_for(prompt)
        if failure := self._failure(scenario, prompt):
            return failure
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 1290, "totalTokenCount": 1300}
        if scenario == "prompt-block":
            return web.json_response(
                {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage}
            )
        if scenario == "safety":
            candidate = {"content": {"role": "model"}, "finishReason": "IMAGE_SAFETY", "index": 0}
            return web.json_response({"candidates": [candidate], "usageMetadata": usage})
        if scenario == "no-image":
            content = {"role": "model", "parts": [{"text": "I can only describe this."}]}
            candidate = {"content": content, "finishReason": "STOP", "index": 0}
            return web.json_response({"candidates": [candidate], "usageMetadata": usage})
        config = payload.get("generationConfig", {})
        ratio = config.get("imageConfig", {}).get("aspectRatio", "1:1")
        inputs = [b64decode(p["inlineData"]["data"]) for p in parts if "inlineData" in p]
        if inputs:
            png, *_ = await asyncio.to_thread(edit, inputs[0], prompt, ratio, 64, False)
        else:
            png, *_ = make_image(prompt, ratio, 64, False)
        image_part = {
            "inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}
        }
        content = {"role": "model", "parts": [image_part]}
        candidate = {"content": content, "finishReason": "STOP", "index": 0}
        return web.json_response(
            {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "fake"}
        )

    def _predict(self, resource: str, payload: dict[str, Any]) -> web.Response:
        instance = (payload.get("instances") or [{}])[0]
        prompt = str(instance.get("prompt", ""))
        scenario = self.scenario_for(prompt)
        if failure := self._failure(scenario, prompt):
            return failure
        parameters = payload.get("parameters", {})
        # Veo's own limits: landscape or portrait, 4, 6 or 8 seconds.
        ratio, seconds = parameters.get("aspectRatio", "16:9"), parameters.get("durationSeconds", 8)
        if ratio not in VEO_ASPECT_RATIOS:
            return _error(400, f"Aspect ratio {ratio} is not supported; use 16:9 or 9:16.")
        if seconds not in VEO_DURATIONS:
            return _error(400, f"Duration {seconds} s is not supported; use 4, 6 or 8 seconds.")
        image = instance.get("image", {}).get("bytesBase64Encoded")
        name = f"{resource}/operations/{uuid.uuid4()}"
        self.operations[name] = _Operation(
            scenario,
            prompt,
            ratio,
            int(seconds),
            b64decode(image) if image else None,
        )
        return web.json_response({"name": name})

    async def _fetch(self, payload: dict[str, Any]) -> web.Response:
        name = str(payload.get("operationName", ""))
        operation = self.operations.get(name)
        if operation is None:
            return _error(404, f"Operation {name} not found.")
        operation.polls += 1
        needed = self.slow_polls if operation.scenario == "slow" else 1
        if operation.polls < needed:
            percent = 100 * operation.polls // needed
            return web.json_response(
                {"name": name, "done": False, "metadata": {"progressPercent": percent}}
            )
        reply: dict[str, Any] = {"name": name, "done": True}
        if operation.scenario == "op-error":
            reply["error"] = {"code": 3, "message": "The prompt could not be rendered."}
        elif operation.scenario == "filtered":
            reply["response"] = {
                "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": ["The video violates the usage guidelines."],
            }
        else:
            # Veo's real length is in seconds; a fraction of them keeps the fake quick.
            mp4, *_ = await asyncio.to_thread(
                make_video, operation.prompt, operation.aspect_ratio, 1, 64, 4, operation.image
            )
            reply["response"] = {
                "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "videos": [
                    {"bytesBase64Encoded": base64.b64encode(mp4).decode(), "mimeType": "video/mp4"}
                ],
            }
        return web.json_response(reply)


def b64decode(text: str) -> bytes:
    """Bytes from base64 in either alphabet: the SDK sends the URL-safe one, as Google allows."""
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> web.Response:
    """A reply in Google's error format (google.rpc.Status, details included when given)."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status),
    }
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status)


@asynccontextmanager
async def start_fake_gemini() -> AsyncIterator[tuple[FakeGemini, str]]:
    """Run a fake on 127.0.0.1 on a free port; yields it and its base URL."""
    fake = FakeGemini()
    async with serve(fake.handle, client_max_size=32 * 1024 * 1024) as base_url:
        yield fake, base_url
