"""The taxonomy as validated data: tag definitions and per-language term lists.

``tags.yaml`` names each tag's IPTC Media Topic code and threshold; its tags must be
exactly ``schemas.routes.TAGS`` (the one list of tags), else loading fails.
``terms/<lang>.yaml`` lists, per tag, weighted terms for one language. Adding a language
is adding a file.

Term syntax (matched on whole words unless starred; case-insensitively when written in
lower case, exactly when written with capitals):

- ``oil``          the word ``oil`` (also inside a phrase, never inside a longer word);
- ``crude oil``    the phrase, words separated by single spaces;
- ``halvleder*``   a word starting with ``halvleder`` (compounds: ``halvlederfeltet``);
- ``*vindkraft*``  ``vindkraft`` anywhere inside a word (``havvindkraft``, ``vindkraftverk``);
- ``*kraftverk``   a word ending in ``kraftverk``;
- ``Forsvaret``    only capitalised: the Norwegian Armed Forces, not ``forsvaret`` (the
  defence of a football team or of the accused).

Per tag, ``terms`` are anchors (evidence on their own; a negative weight is evidence
against the tag, e.g. ``court`` for defense), and ``context`` terms are ambiguous words
(``power``, ``defence``, ``chips``) that count only when an anchor of the same tag also
matched. ``exclude`` lists phrases that claim their text for no tag at all: because the
longest match wins, ``defence lawyer`` or ``forsvarsadvokat*`` stops ``defence`` or
``forsvars*`` from matching inside it, and ``energisk*`` stops ``energi*``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.routes import TAGS

__all__ = [
    "COMMON",
    "DATA_DIR",
    "LanguageTerms",
    "TagSpec",
    "TagTerms",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
    "normalise_term",
]

DATA_DIR = Path(__file__).resolve().parent
COMMON = "common"  # terms/common.yaml: names and acronyms shared by every language
_MAX_WEIGHT = 10.0


class TaxonomyError(ValueError):
    """A taxonomy file is missing or invalid; the message names the file and the problem."""


def normalise_term(term: str) -> str:
    """NFC and single spaces: the form terms are stored in. Case is kept: a term written
    with capitals matches only with those capitals (see the module docstring)."""
    return " ".join(unicodedata.normalize("NFC", term).split())


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_terms(terms: dict[str, float], *, allow_negative: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for raw, weight in terms.items():
        term = normalise_term(str(raw))
        core = term.strip("*")
        if not core or "*" in core:
            raise ValueError(f"term {raw!r}: '*' may only start or end a term")
        if len(core) < 2:
            raise ValueError(f"term {raw!r} is too short to match reliably")
        if weight == 0 or abs(weight) > _MAX_WEIGHT:
            raise ValueError(f"term {raw!r}: weight must be non-zero and within ±{_MAX_WEIGHT}")
        if weight < 0 and not allow_negative:
            raise ValueError(f"term {raw!r}: context terms must have a positive weight")
        if term in out:
            raise ValueError(f"term {raw!r} is listed twice")
        out[term] = float(weight)
    return out


class TagTerms(_Spec):
    terms: dict[str, float] = Field(default_factory=dict)
    context: dict[str, float] = Field(default_factory=dict)

    @field_validator("terms")
    @classmethod
    def _anchors(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_terms(v, allow_negative=True)

    @field_validator("context")
    @classmethod
    def _context(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_terms(v, allow_negative=False)

    @model_validator(mode="after")
    def _disjoint(self) -> TagTerms:
        both = set(self.terms) & set(self.context)
        if both:
            raise ValueError(f"terms listed both as anchor and as context: {sorted(both)}")
        return self


class LanguageTerms(_Spec):
    language: str = Field(pattern=r"^([a-z]{2}|common)$")
    name: str = ""
    extends: list[str] = Field(default_factory=list)
    tags: dict[str, TagTerms] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, v: list[str]) -> list[str]:
        return list(_check_terms({t: 1.0 for t in v}, allow_negative=False))


class TagSpec(_Spec):
    label: str
    iptc_code: str = Field(pattern=r"^medtop:\d{8}$")
    threshold: float = Field(gt=0)


class _TagsFile(_Spec):
    tags: dict[str, TagSpec]

    @field_validator("tags")
    @classmethod
    def _the_one_tag_list(cls, v: dict[str, TagSpec]) -> dict[str, TagSpec]:
        missing = [tag for tag in TAGS if tag not in v]
        unknown = sorted(set(v) - set(TAGS))
        if missing or unknown:
            raise ValueError(
                f"the tags must be exactly schemas.routes.TAGS {list(TAGS)} (the one list "
                f"the routes and article.avsc follow); missing {missing}, unknown {unknown}. "
                "To add or rename a tag, change TAGS and this file together")
        return v


class Taxonomy(_Spec):
    """Tags plus term lists per language, with ``extends`` and ``common`` already merged."""

    tags: dict[str, TagSpec]
    languages: dict[str, LanguageTerms]

    @model_validator(mode="after")
    def _known_tags(self) -> Taxonomy:
        for lang in self.languages.values():
            unknown = set(lang.tags) - set(self.tags)
            if unknown:
                raise ValueError(f"{lang.language}.yaml uses unknown tags {sorted(unknown)}")
        return self


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (YAML would silently keep the last)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    dupes = sorted({str(k) for k in keys if keys.count(k) > 1})
    if dupes:
        raise yaml.constructor.ConstructorError(
            None, None, f"keys given twice: {dupes}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _read_yaml(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"{path}: cannot read taxonomy file: {exc}") from exc


def _merge(parts: list[LanguageTerms], language: str) -> LanguageTerms:
    """Later parts override earlier ones term by term (weight and kind)."""
    tags: dict[str, dict[str, dict[str, float]]] = {}
    exclude: list[str] = []
    for part in parts:
        for tag, terms in part.tags.items():
            slot = tags.setdefault(tag, {"terms": {}, "context": {}})
            for kind, other, items in (("terms", "context", terms.terms),
                                       ("context", "terms", terms.context)):
                for term, weight in items.items():
                    slot[other].pop(term, None)  # a later file may move a term's kind
                    slot[kind][term] = weight
        exclude += [e for e in part.exclude if e not in exclude]
    return LanguageTerms(language=language, name=parts[-1].name,
                         tags={t: TagTerms(**v) for t, v in tags.items()}, exclude=exclude)


def load_taxonomy(data_dir: Path | None = None) -> Taxonomy:
    """Read and validate ``tags.yaml`` and every ``terms/*.yaml`` under ``data_dir``."""
    base = data_dir or DATA_DIR
    try:
        tags = _TagsFile.model_validate(_read_yaml(base / "tags.yaml")).tags
    except ValueError as exc:
        raise TaxonomyError(f"{base / 'tags.yaml'}: {exc}") from exc
    raw: dict[str, LanguageTerms] = {}
    for path in sorted((base / "terms").glob("*.yaml")):
        try:
            spec = LanguageTerms.model_validate(_read_yaml(path))
        except ValueError as exc:
            raise TaxonomyError(f"{path}: {exc}") from exc
        if spec.language != path.stem:
            raise TaxonomyError(f"{path}: declares language {spec.language!r}, expected {path.stem!r}")
        raw[spec.language] = spec

    def chain(code: str, seen: tuple[str, ...]) -> list[LanguageTerms]:
        if code in seen:
            raise TaxonomyError(f"terms/{code}.yaml: 'extends' loops through {seen}")
        if code not in raw:
            raise TaxonomyError(f"terms/{seen[-1]}.yaml extends unknown language {code!r}")
        parents = [p for parent in raw[code].extends for p in chain(parent, (*seen, code))]
        return [*parents, raw[code]]

    common = [raw[COMMON]] if COMMON in raw else []
    languages = {code: _merge(common + chain(code, ()), code) for code in raw if code != COMMON}
    if not languages:
        raise TaxonomyError(f"{base / 'terms'}: no language files found")
    try:
        return Taxonomy(tags=tags, languages=languages)
    except ValueError as exc:
        raise TaxonomyError(str(exc)) from exc
