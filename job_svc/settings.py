"""job_svc settings: prices, limits, queue, object store and providers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from common.server.settings import ServiceSettings

ProviderName = Literal["gemini", "stability", "kling", "runway", "local"]


class JobSettings(ServiceSettings):
    """Everything job_svc and its workers read from the environment."""

    #: Prices in credits by kind and quality.
    COST_IMG_STANDARD: int = Field(default=1, ge=1, le=1_000_000)
    COST_IMG_PRO: int = Field(default=3, ge=1, le=1_000_000)
    COST_EDIT_STANDARD: int = Field(default=2, ge=1, le=1_000_000)
    COST_EDIT_PRO: int = Field(default=4, ge=1, le=1_000_000)
    COST_VIDEO_STANDARD: int = Field(default=10, ge=1, le=1_000_000)
    COST_VIDEO_PRO: int = Field(default=25, ge=1, le=1_000_000)
    #: Unfinished jobs a FREE user may have at once; PRO users get MAX_USER_QUEUE_PRO.
    MAX_USER_QUEUE: int = Field(default=3, ge=1, le=10_000)
    MAX_USER_QUEUE_PRO: int = Field(default=10, ge=1, le=10_000)
    #: Jobs a user may create per minute.
    CREATE_RATE_PER_MINUTE: int = Field(default=20, ge=1, le=100_000)

    #: Default provider for every kind; PROVIDER_IMAGE / _EDIT / _VIDEO override per kind.
    PROVIDER: ProviderName = "local"
    PROVIDER_IMAGE: ProviderName | None = None
    PROVIDER_EDIT: ProviderName | None = None
    PROVIDER_VIDEO: ProviderName | None = None

    #: Gemini (google-genai). The base URL is a setting so tests can use a local fake.
    GEMINI_API_KEY: SecretStr = SecretStr("")
    GEMINI_BASE_URL: str = ""
    GEMINI_IMAGE_STANDARD_MODEL: str = "gemini-2.5-flash-image"
    GEMINI_IMAGE_PRO_MODEL: str = "gemini-3-pro-image-preview"
    #: Veo model of STANDARD videos, and of PRO videos (which cost more: a better model).
    GEMINI_VIDEO_MODEL: str = "veo-3.0-fast-generate-001"
    GEMINI_VIDEO_PRO_MODEL: str = "veo-3.0-generate-001"
    #: Seconds between polls of a Veo long-running operation.
    GEMINI_POLL_SECONDS: float = Field(default=5.0, gt=0, le=60)

    #: Stability AI: images from Stable Image Core (standard) and Ultra (PRO), edits by
    #: SD 3.5 image-to-image with these models; no videos.
    STABILITY_API_KEY: SecretStr = SecretStr("")
    STABILITY_BASE_URL: str = "https://api.stability.ai"
    STABILITY_EDIT_MODEL: str = "sd3.5-large-turbo"
    STABILITY_EDIT_PRO_MODEL: str = "sd3.5-large"

    #: Local provider: seconds each call takes, share of calls that fail
    #: transiently, and the image side in pixels.
    LOCAL_LATENCY_SECONDS: float = Field(default=0.5, ge=0, le=600)
    LOCAL_FAILURE_RATE: float = Field(default=0.0, ge=0, le=1)
    LOCAL_IMAGE_SIZE: int = Field(default=512, ge=16, le=4096)

    #: Object store (any S3-compatible server: MinIO, SeaweedFS, AWS).
    MINIO_ENDPOINT: str = "127.0.0.1:9000"
    MINIO_ACCESS_KEY: SecretStr = SecretStr("")
    MINIO_SECRET_KEY: SecretStr = SecretStr("")
    MINIO_BUCKET: str = Field(default="mediabot", min_length=3, max_length=63)
    MINIO_SECURE: bool = False
    #: Lifetime of presigned download URLs.
    RESULT_URL_TTL_SECONDS: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    #: Worker: jobs in flight per process, per-provider caps, timeouts by kind.
    WORKER_CONCURRENCY: int = Field(default=64, ge=1, le=10_000)
    PROVIDER_CONCURRENCY: int = Field(default=16, ge=1, le=10_000)
    TIMEOUT_IMAGE_SECONDS: float = Field(default=120, gt=0)
    TIMEOUT_EDIT_SECONDS: float = Field(default=120, gt=0)
    TIMEOUT_VIDEO_SECONDS: float = Field(default=900, gt=0)
    #: Transient provider errors are retried this many times with exponential backoff.
    MAX_RETRIES: int = Field(default=3, ge=0, le=20)
    #: Times a job may be taken up by a worker (after workers died or handed it back).
    MAX_ATTEMPTS: int = Field(default=5, ge=1, le=100)
    RETRY_BASE_SECONDS: float = Field(default=1.0, ge=0, le=60)
    #: A job held by a worker that stopped heartbeating this long is re-claimed.
    CLAIM_IDLE_SECONDS: float = Field(default=30, gt=0, le=3600)
    HEARTBEAT_SECONDS: float = Field(default=5, gt=0, le=600)
