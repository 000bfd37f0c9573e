"""SchemaRegistryClient and the Confluent wire format against an HTTP stand-in
(``tests/support/registry.py``: what it proves and what it does not)."""

from __future__ import annotations

import json

import pytest

import schemas
from connectors.schema_registry import SchemaRegistryClient, SchemaRegistryError, value_subject
from schemas.encoding import decode_value, encode_confluent, encode_single_object
from schemas.models import DeadLetter, Provenance, ProvenanceKind
from tests.support.registry import RegistryStandIn


def _letter() -> DeadLetter:
    return DeadLetter(id="d1", stage="parse", error_class="InvalidJson", error_message="bad",
                      payload=b"\xff{", provenance=Provenance(kind=ProvenanceKind.KAFKA,
                                                              topic="in", partition=0, offset=7))


def test_register_lookup_and_ids_are_cached(registry: RegistryStandIn) -> None:
    client = SchemaRegistryClient(registry.url)
    subject = value_subject("articles.energy")
    assert subject == "articles.energy-value"
    assert client.lookup(subject, schemas.load_schema("article")) is None
    schema_id = client.id_for(subject, schemas.schema_json("article"))
    assert registry.subjects == {subject: [schema_id]}
    calls = len(registry.requests)
    assert client.id_for(subject, schemas.load_schema("article")) == schema_id  # dict or JSON
    assert len(registry.requests) == calls, "a known schema is answered from the cache"
    # A second client (another worker) finds it by lookup, without registering again.
    other = SchemaRegistryClient(registry.url)
    assert other.id_for(subject, schemas.load_schema("article")) == schema_id
    assert registry.requests[-1] == ("POST", "/subjects/articles.energy-value")
    assert other.schema_by_id(schema_id) == json.loads(registry.schemas[schema_id - 1])


def test_confluent_wire_format_round_trip_through_the_registry(registry: RegistryStandIn) -> None:
    client = SchemaRegistryClient(registry.url)
    schema_id = client.register(value_subject("dl"), schemas.load_schema("dead_letter"))
    letter = _letter()
    payload = encode_confluent(schema_id, "dead_letter", letter.to_avro())
    assert payload[0] == 0 and int.from_bytes(payload[1:5], "big") == schema_id
    reader = SchemaRegistryClient(registry.url)  # fresh cache: fetches the schema by id
    name, datum = decode_value(payload, reader)
    assert name == "dead_letter" and DeadLetter.model_validate(datum) == letter
    assert ("GET", f"/schemas/ids/{schema_id}") in registry.requests
    # The same reader also takes single-object messages; Confluent needs a registry.
    assert decode_value(encode_single_object("dead_letter", letter.to_avro()))[0] == "dead_letter"
    with pytest.raises(ValueError, match="schema registry"):
        decode_value(payload)


def test_basic_auth_from_the_environment_and_refusal_without_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    with RegistryStandIn(user_info="svc:s3cret") as registry:
        with pytest.raises(SchemaRegistryError) as refused:
            SchemaRegistryClient(registry.url, user_info="").register("s", {"type": "string"})
        assert refused.value.status == 401
        monkeypatch.setenv("NEWSBEAM_SCHEMA_REGISTRY_USER_INFO", "svc:s3cret")
        client = SchemaRegistryClient(registry.url)
        assert client.register("s", {"type": "string"}) == 1
        assert "s3cret" not in repr(client)
        monkeypatch.delenv("NEWSBEAM_SCHEMA_REGISTRY_USER_INFO")
        secret_file = tmp_path / "registry-auth"
        secret_file.write_text("svc:s3cret\n")
        monkeypatch.setenv("NEWSBEAM_SCHEMA_REGISTRY_USER_INFO_FILE", str(secret_file))
        assert SchemaRegistryClient(registry.url).schema_by_id(1) == {"type": "string"}


def test_transient_errors_are_retried_then_reported(registry: RegistryStandIn) -> None:
    client = SchemaRegistryClient(registry.url, retries=2, backoff_seconds=0.01)
    registry.fail_next = 2
    assert client.register("s", {"type": "string"}) == 1
    registry.fail_next = 5
    with pytest.raises(SchemaRegistryError, match="HTTP 503") as failed:
        SchemaRegistryClient(registry.url, retries=1, backoff_seconds=0.01).schema_by_id(1)
    assert failed.value.status == 503
    unreachable = SchemaRegistryClient("http://127.0.0.1:9", retries=0, timeout=1)
    with pytest.raises(SchemaRegistryError, match="unreachable"):
        unreachable.schema_by_id(1)
