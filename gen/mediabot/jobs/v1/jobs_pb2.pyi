import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_IMAGE: _ClassVar[JobKind]
    JOB_KIND_EDIT: _ClassVar[JobKind]
    JOB_KIND_VIDEO: _ClassVar[JobKind]

class Quality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUALITY_UNSPECIFIED: _ClassVar[Quality]
    QUALITY_STANDARD: _ClassVar[Quality]
    QUALITY_PRO: _ClassVar[Quality]

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATUS_UNSPECIFIED: _ClassVar[JobStatus]
    JOB_STATUS_QUEUED: _ClassVar[JobStatus]
    JOB_STATUS_RUNNING: _ClassVar[JobStatus]
    JOB_STATUS_SUCCEEDED: _ClassVar[JobStatus]
    JOB_STATUS_FAILED: _ClassVar[JobStatus]
    JOB_STATUS_CANCELLED: _ClassVar[JobStatus]

class JobFailure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_FAILURE_UNSPECIFIED: _ClassVar[JobFailure]
    JOB_FAILURE_SAFETY_BLOCK: _ClassVar[JobFailure]
    JOB_FAILURE_UNWORKABLE_PROMPT: _ClassVar[JobFailure]
    JOB_FAILURE_BAD_INPUT: _ClassVar[JobFailure]
    JOB_FAILURE_PROVIDER_UNAVAILABLE: _ClassVar[JobFailure]
    JOB_FAILURE_PROVIDER_REFUSED: _ClassVar[JobFailure]
    JOB_FAILURE_PROVIDER_GONE: _ClassVar[JobFailure]
    JOB_FAILURE_TOO_MANY_ATTEMPTS: _ClassVar[JobFailure]
    JOB_FAILURE_EXPIRED: _ClassVar[JobFailure]
    JOB_FAILURE_INTERNAL: _ClassVar[JobFailure]
    JOB_FAILURE_UNSUPPORTED_LANGUAGE: _ClassVar[JobFailure]
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_IMAGE: JobKind
JOB_KIND_EDIT: JobKind
JOB_KIND_VIDEO: JobKind
QUALITY_UNSPECIFIED: Quality
QUALITY_STANDARD: Quality
QUALITY_PRO: Quality
JOB_STATUS_UNSPECIFIED: JobStatus
JOB_STATUS_QUEUED: JobStatus
JOB_STATUS_RUNNING: JobStatus
JOB_STATUS_SUCCEEDED: JobStatus
JOB_STATUS_FAILED: JobStatus
JOB_STATUS_CANCELLED: JobStatus
JOB_FAILURE_UNSPECIFIED: JobFailure
JOB_FAILURE_SAFETY_BLOCK: JobFailure
JOB_FAILURE_UNWORKABLE_PROMPT: JobFailure
JOB_FAILURE_BAD_INPUT: JobFailure
JOB_FAILURE_PROVIDER_UNAVAILABLE: JobFailure
JOB_FAILURE_PROVIDER_REFUSED: JobFailure
JOB_FAILURE_PROVIDER_GONE: JobFailure
JOB_FAILURE_TOO_MANY_ATTEMPTS: JobFailure
JOB_FAILURE_EXPIRED: JobFailure
JOB_FAILURE_INTERNAL: JobFailure
JOB_FAILURE_UNSUPPORTED_LANGUAGE: JobFailure

class JobOptions(_message.Message):
    __slots__ = ("aspect_ratio", "duration_seconds")
    ASPECT_RATIO_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    aspect_ratio: str
    duration_seconds: int
    def __init__(self, aspect_ratio: _Optional[str] = ..., duration_seconds: _Optional[int] = ...) -> None: ...

class ResultFile(_message.Message):
    __slots__ = ("key", "mime_type", "size_bytes", "width", "height", "telegram_file_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    key: str
    mime_type: str
    size_bytes: int
    width: int
    height: int
    telegram_file_id: str
    def __init__(self, key: _Optional[str] = ..., mime_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., telegram_file_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "telegram_id", "kind", "quality", "prompt", "options", "status", "progress", "cost", "provider", "error", "results", "attempts", "created_at", "started_at", "finished_at", "client_key", "has_input", "delivered", "retry_of", "version", "failure")
    ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_KEY_FIELD_NUMBER: _ClassVar[int]
    HAS_INPUT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    RETRY_OF_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    id: str
    telegram_id: int
    kind: JobKind
    quality: Quality
    prompt: str
    options: JobOptions
    status: JobStatus
    progress: int
    cost: int
    provider: str
    error: str
    results: _containers.RepeatedCompositeFieldContainer[ResultFile]
    attempts: int
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    client_key: str
    has_input: bool
    delivered: bool
    retry_of: str
    version: int
    failure: JobFailure
    def __init__(self, id: _Optional[str] = ..., telegram_id: _Optional[int] = ..., kind: _Optional[_Union[JobKind, str]] = ..., quality: _Optional[_Union[Quality, str]] = ..., prompt: _Optional[str] = ..., options: _Optional[_Union[JobOptions, _Mapping]] = ..., status: _Optional[_Union[JobStatus, str]] = ..., progress: _Optional[int] = ..., cost: _Optional[int] = ..., provider: _Optional[str] = ..., error: _Optional[str] = ..., results: _Optional[_Iterable[_Union[ResultFile, _Mapping]]] = ..., attempts: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., client_key: _Optional[str] = ..., has_input: _Optional[bool] = ..., delivered: _Optional[bool] = ..., retry_of: _Optional[str] = ..., version: _Optional[int] = ..., failure: _Optional[_Union[JobFailure, str]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("telegram_id", "kind", "quality", "prompt", "input_image", "options", "client_key")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    INPUT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_KEY_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    kind: JobKind
    quality: Quality
    prompt: str
    input_image: bytes
    options: JobOptions
    client_key: str
    def __init__(self, telegram_id: _Optional[int] = ..., kind: _Optional[_Union[JobKind, str]] = ..., quality: _Optional[_Union[Quality, str]] = ..., prompt: _Optional[str] = ..., input_image: _Optional[bytes] = ..., options: _Optional[_Union[JobOptions, _Mapping]] = ..., client_key: _Optional[str] = ...) -> None: ...

class CreateJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "telegram_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    telegram_id: int
    def __init__(self, job_id: _Optional[str] = ..., telegram_id: _Optional[int] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("telegram_id", "page_size", "page_token")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    page_size: int
    page_token: str
    def __init__(self, telegram_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id", "telegram_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    telegram_id: int
    def __init__(self, job_id: _Optional[str] = ..., telegram_id: _Optional[int] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetResultUrlsRequest(_message.Message):
    __slots__ = ("job_id", "telegram_id", "expires_in_seconds")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    telegram_id: int
    expires_in_seconds: int
    def __init__(self, job_id: _Optional[str] = ..., telegram_id: _Optional[int] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class ResultUrl(_message.Message):
    __slots__ = ("file", "url", "expires_at")
    FILE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    file: ResultFile
    url: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, file: _Optional[_Union[ResultFile, _Mapping]] = ..., url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetResultUrlsResponse(_message.Message):
    __slots__ = ("urls",)
    URLS_FIELD_NUMBER: _ClassVar[int]
    urls: _containers.RepeatedCompositeFieldContainer[ResultUrl]
    def __init__(self, urls: _Optional[_Iterable[_Union[ResultUrl, _Mapping]]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "telegram_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    telegram_id: int
    def __init__(self, job_id: _Optional[str] = ..., telegram_id: _Optional[int] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("job", "queue_position", "estimated_start_at", "estimated_finish_at")
    JOB_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_START_AT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FINISH_AT_FIELD_NUMBER: _ClassVar[int]
    job: Job
    queue_position: int
    estimated_start_at: _timestamp_pb2.Timestamp
    estimated_finish_at: _timestamp_pb2.Timestamp
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., queue_position: _Optional[int] = ..., estimated_start_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., estimated_finish_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchDeliveriesRequest(_message.Message):
    __slots__ = ("gateway", "lease_seconds", "max_unacked")
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_UNACKED_FIELD_NUMBER: _ClassVar[int]
    gateway: str
    lease_seconds: int
    max_unacked: int
    def __init__(self, gateway: _Optional[str] = ..., lease_seconds: _Optional[int] = ..., max_unacked: _Optional[int] = ...) -> None: ...

class WatchDeliveriesResponse(_message.Message):
    __slots__ = ("job", "lease_expires_at", "delivery_attempt")
    JOB_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job: Job
    lease_expires_at: _timestamp_pb2.Timestamp
    delivery_attempt: int
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivery_attempt: _Optional[int] = ...) -> None: ...

class SentFile(_message.Message):
    __slots__ = ("key", "telegram_file_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    key: str
    telegram_file_id: str
    def __init__(self, key: _Optional[str] = ..., telegram_file_id: _Optional[str] = ...) -> None: ...

class AckDeliveryRequest(_message.Message):
    __slots__ = ("job_id", "gateway", "sent_files")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    SENT_FILES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    gateway: str
    sent_files: _containers.RepeatedCompositeFieldContainer[SentFile]
    def __init__(self, job_id: _Optional[str] = ..., gateway: _Optional[str] = ..., sent_files: _Optional[_Iterable[_Union[SentFile, _Mapping]]] = ...) -> None: ...

class AckDeliveryResponse(_message.Message):
    __slots__ = ("already_delivered", "delivered_by", "job")
    ALREADY_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_BY_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    already_delivered: bool
    delivered_by: str
    job: Job
    def __init__(self, already_delivered: _Optional[bool] = ..., delivered_by: _Optional[str] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class KindCount(_message.Message):
    __slots__ = ("kind", "status", "count")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    kind: JobKind
    status: JobStatus
    count: int
    def __init__(self, kind: _Optional[_Union[JobKind, str]] = ..., status: _Optional[_Union[JobStatus, str]] = ..., count: _Optional[int] = ...) -> None: ...

class ProviderStats(_message.Message):
    __slots__ = ("provider", "finished", "failed", "failure_rate")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    FAILURE_RATE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    finished: int
    failed: int
    failure_rate: float
    def __init__(self, provider: _Optional[str] = ..., finished: _Optional[int] = ..., failed: _Optional[int] = ..., failure_rate: _Optional[float] = ...) -> None: ...

class GetJobStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJobStatsResponse(_message.Message):
    __slots__ = ("counts", "providers", "queue_depth", "mean_wait_seconds", "mean_run_seconds")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    MEAN_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_RUN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[KindCount]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderStats]
    queue_depth: int
    mean_wait_seconds: float
    mean_run_seconds: float
    def __init__(self, counts: _Optional[_Iterable[_Union[KindCount, _Mapping]]] = ..., providers: _Optional[_Iterable[_Union[ProviderStats, _Mapping]]] = ..., queue_depth: _Optional[int] = ..., mean_wait_seconds: _Optional[float] = ..., mean_run_seconds: _Optional[float] = ...) -> None: ...

class ListAllJobsRequest(_message.Message):
    __slots__ = ("telegram_id", "status", "kind", "provider", "page_size", "page_token")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    status: JobStatus
    kind: JobKind
    provider: str
    page_size: int
    page_token: str
    def __init__(self, telegram_id: _Optional[int] = ..., status: _Optional[_Union[JobStatus, str]] = ..., kind: _Optional[_Union[JobKind, str]] = ..., provider: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAllJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RetryJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class RetryJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListOffersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Offer(_message.Message):
    __slots__ = ("kind", "quality", "price", "provider", "aspect_ratios", "durations_seconds", "input_image")
    KIND_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ASPECT_RATIOS_FIELD_NUMBER: _ClassVar[int]
    DURATIONS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INPUT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    kind: JobKind
    quality: Quality
    price: int
    provider: str
    aspect_ratios: _containers.RepeatedScalarFieldContainer[str]
    durations_seconds: _containers.RepeatedScalarFieldContainer[int]
    input_image: str
    def __init__(self, kind: _Optional[_Union[JobKind, str]] = ..., quality: _Optional[_Union[Quality, str]] = ..., price: _Optional[int] = ..., provider: _Optional[str] = ..., aspect_ratios: _Optional[_Iterable[str]] = ..., durations_seconds: _Optional[_Iterable[int]] = ..., input_image: _Optional[str] = ...) -> None: ...

class ListOffersResponse(_message.Message):
    __slots__ = ("offers",)
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[Offer]
    def __init__(self, offers: _Optional[_Iterable[_Union[Offer, _Mapping]]] = ...) -> None: ...
