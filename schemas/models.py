"""Domain records, mirroring ``schemas/*.avsc`` field by field.

Validated once where data enters (the Kafka message, a file line) and carried typed
through the stages. ``tests/test_schemas.py`` proves these models and the Avro schemas
agree, so the ``.avsc`` files stay the one source of truth.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Article",
    "BoilerplateStats",
    "DeadLetter",
    "Evidence",
    "Provenance",
    "ProvenanceKind",
    "RawArticle",
    "RawMessage",
    "Relation",
    "TopicTag",
    "utc_now",
]

def utc_now() -> datetime:
    """Now, truncated to milliseconds: the precision Avro timestamp-millis keeps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _as_utc_millis(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# Every timestamp of a record: UTC, milliseconds (what Avro timestamp-millis keeps), so a
# record read back equals the one written. Annotated at the top level, so the field's
# annotation stays ``datetime`` (``datetime | None``) for the schema-agreement test.
UtcMillis = Annotated[datetime, AfterValidator(_as_utc_millis)]
OptionalUtcMillis = Annotated[datetime | None, AfterValidator(_as_utc_millis)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_avro(self) -> dict[str, Any]:
        """A datum for fastavro: enums as their symbols, everything else as is."""
        return self.model_dump(mode="python")


class ProvenanceKind(StrEnum):
    KAFKA = "KAFKA"
    FILE = "FILE"


class Provenance(_Record):
    kind: ProvenanceKind
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp: OptionalUtcMillis = None
    key: bytes | None = None
    headers: dict[str, bytes] = Field(default_factory=dict)
    file: str | None = None
    line: int | None = None


    def describe(self) -> str:
        """Short human-readable position, for logs and error messages."""
        if self.kind is ProvenanceKind.KAFKA:
            return f"{self.topic}[{self.partition}]@{self.offset}"
        return f"{self.file}:{self.line}"


class RawMessage(_Record):
    """A message as the source hands it over: raw bytes plus where they came from.

    Decoding is a pipeline stage of its own, so a message that cannot be decoded still
    reaches the dead-letter route with its bytes intact.
    """

    value: bytes | None
    provenance: Provenance


class RawArticle(_Record):
    """The input contract (``raw_article.avsc``): a JSON object or an Avro record."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    id: str | None = None
    url: str = Field(min_length=1)
    title: str | None = None
    body: str | None = None
    html: str | None = None
    source: str | None = None
    language: str | None = None
    published_at: OptionalUtcMillis = None


    @model_validator(mode="after")
    def _needs_text(self) -> RawArticle:
        if not (self.body and self.body.strip()) and not (self.html and self.html.strip()):
            raise ValueError("article has neither a non-empty 'body' nor 'html'")
        return self


class Evidence(_Record):
    term: str
    field: str
    start: int
    end: int
    weight: float


class TopicTag(_Record):
    tag: str
    score: float
    iptc_code: str
    evidence: list[Evidence] = Field(default_factory=list)


class Relation(_Record):
    id: str
    relation: str
    confidence: float


class BoilerplateStats(_Record):
    lines_kept: int = 0
    lines_removed: int = 0
    chars_removed: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)
    learned_chrome_overruled: bool = False


class Article(_Record):
    """The output contract (``article.avsc``), filled in stage by stage.

    Stages return updated copies (``model_copy(update=...)``); a record is never mutated.
    """

    schema_version: int = 2
    id: str
    url: str
    canonical_url: str
    title: str = ""
    body: str = ""
    language: str = "und"
    language_confidence: float = 0.0
    source: str | None = None
    source_url: str | None = None
    author: str | None = None
    published_at: OptionalUtcMillis = None
    captions: list[str] = Field(default_factory=list)
    topics: list[TopicTag] = Field(default_factory=list)
    duplicate_of: str | None = None
    duplicate_kind: str | None = None
    duplicate_similarity: float | None = None
    related: list[Relation] = Field(default_factory=list)
    boilerplate: BoilerplateStats = Field(default_factory=BoilerplateStats)
    routes: list[str] = Field(default_factory=list)
    provenance: Provenance
    processed_at: UtcMillis = Field(default_factory=utc_now)


    # Not part of the output schema: raw HTML carried from parse to clean only.
    # Kept out of the Avro record by ``to_avro``.
    html: str | None = Field(default=None, exclude=True)

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.topics]


class DeadLetter(_Record):
    """A failure, kept whole (``dead_letter.avsc``): nothing consumed is ever lost."""

    schema_version: int = 1
    id: str
    stage: str
    error_class: str
    error_message: str
    payload: bytes
    provenance: Provenance
    failed_at: UtcMillis = Field(default_factory=utc_now)

