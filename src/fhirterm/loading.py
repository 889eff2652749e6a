"""Assemble the registry from settings: ICD-10-CM releases, FHIR JSON files, editorial files.

This is the one place that knows which provider reads which content. Parsed
ICD-10-CM releases are cached in packed form (``fhirterm.packed``, keyed by
the file's hash and the parser's own source) and memory-mapped, so a server is
ready in well under a second after the first start and its workers share the
content; fhir.resources validation of JSON files is likewise remembered
per file hash. The cache holds only what this code wrote itself.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from itertools import pairwise
from pathlib import Path

from . import history, packed
from .config import Settings
from .errors import ContentError
from .index import CodeSystemIndex
from .providers import editorial, fhir_json, icd10cm, release_maps
from .registry import Registry

log = logging.getLogger("fhirterm")

_PARSER_FILES = ("providers/icd10cm.py", "model.py", "index.py", "packed.py", "search.py")


def _fingerprint() -> str:
    """Hash of the parser's source: a new parser invalidates every cached release."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in _PARSER_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(target: Path, data: bytes) -> None:
    _replace_with(target, lambda tmp: tmp.write_bytes(data))


def _replace_with(target: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``target``, then put it in its place.

    A failed write (a full disk) leaves neither a partial target nor the
    temporary file behind; the OSError goes to the caller.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_icd10cm(
    spec: str | None,
    cache_dir: Path | None,
    lazy_text: bool = False,
    codes: dict[str, str] | None = None,
) -> CodeSystemIndex:
    """One ICD-10-CM release: memory-mapped from the cache when the file and parser are unchanged.

    Without a cache folder (or when it cannot be written) the release is
    parsed and kept as objects in memory. A cached release carries its cache key
    in ``info.extra["content_key"]`` (the history of two releases is cached by it);
    with ``lazy_text`` its text index is read on first use (``packed.load``);
    ``codes`` shares code strings between releases (``packed.load``).
    """
    ix, key = _load_icd10cm(spec, cache_dir, lazy_text, codes)
    if key is not None:
        ix.info.extra["content_key"] = key
    return ix


def _load_icd10cm(
    spec: str | None, cache_dir: Path | None, lazy_text: bool, codes: dict[str, str] | None
) -> tuple[CodeSystemIndex, str | None]:
    """``load_icd10cm`` and the key of the cached release (None when not cached)."""
    path = icd10cm.bundled_xml() if spec is None else Path(str(spec).split("#", 1)[0])
    if cache_dir is None or not path.exists():
        t = time.perf_counter()
        ix = icd10cm.load(spec)
        log.info(
            "%s: %d concepts parsed in %.1f s (no cache folder)",
            ix.info.source,
            len(ix.concepts),
            time.perf_counter() - t,
        )
        return ix, None
    file_hash = _file_hash(path)
    key = hashlib.sha256(f"{file_hash}|{spec or ''}|{_fingerprint()}".encode()).hexdigest()[:24]
    # The name holds the release file's hash and this parser's: files of other
    # releases, other versions of fhirterm and other servers sharing the folder
    # have other names and are never touched (nor removed: delete old ones by hand).
    cached = cache_dir / f"icd10cm-{file_hash[:16]}-{key}.packed"
    if cached.exists():
        try:
            ix = packed.load(cached, lazy_text, codes)
            log.info("%s: %d concepts from the cache file %s", path, len(ix.concepts), cached)
            return ix, key
        except Exception as e:  # a damaged cache is rebuilt, never trusted
            log.warning(
                "the cache file %s is unusable (%s); rebuilding it from %s", cached, e, path
            )
    t = time.perf_counter()
    ix = icd10cm.load(spec)
    parsed = time.perf_counter() - t
    try:
        _replace_with(cached, lambda tmp: packed.write(ix, tmp))
    except OSError as e:
        # a read-only or full cache folder still serves, without the fast restart
        log.warning(
            "%s: %d concepts parsed in %.1f s, kept in memory: cannot write the cache file %s (%s)",
            path,
            len(ix.concepts),
            parsed,
            cached,
            e,
        )
        return ix, None
    log.info(
        "%s: %d concepts parsed in %.1f s, cached in %s", path, len(ix.concepts), parsed, cached
    )
    return packed.load(cached, lazy_text, codes), key


def release_diff(
    old: CodeSystemIndex, new: CodeSystemIndex, cache_dir: Path | None
) -> history.ReleaseDiff:
    """The changes from ``old`` to ``new``, cached beside the packed releases (computing
    them reads every code and title of both: seconds, where a warm start has under one)."""
    keys = (old.info.extra.get("content_key"), new.info.extra.get("content_key"))
    if cache_dir is None or not all(keys):
        return history.diff(old, new)
    h = hashlib.sha256(f"{keys[0]}|{keys[1]}".encode())
    h.update((Path(__file__).parent / "history.py").read_bytes())
    cached = cache_dir / f"icd10cm-history-{h.hexdigest()[:24]}.pickle"
    if cached.exists():
        try:
            found = pickle.loads(cached.read_bytes())
            if isinstance(found, history.ReleaseDiff):
                return found
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
        cached.unlink(missing_ok=True)
    d = history.diff(old, new)
    with suppress(OSError):
        _write_atomic(cached, pickle.dumps(d, protocol=pickle.HIGHEST_PROTOCOL))
    return d


def _release_history(reg: Registry, cache_dir: Path | None) -> None:
    """The changes between consecutive ICD-10-CM releases, and a ConceptMap for each pair."""
    url = icd10cm.SYSTEM
    versions = list(reversed(reg.versions(url)))  # oldest first
    by_version = reg.code_systems.get(url, {})
    diffs = tuple(
        release_diff(by_version[a], by_version[b], cache_dir) for a, b in pairwise(versions)
    )
    if diffs:
        reg.changes[url] = diffs
    for d in diffs:
        reg.add_resource(
            release_maps.concept_map(
                d,
                f"http://fhirterm.org/fhir/ConceptMap/icd10cm-{d.old}-to-{d.new}",
                f"icd10cm-{d.old}-to-{d.new}",
                by_version[d.new].info.date,
            )
        )


def _share_records(releases: list[CodeSystemIndex]) -> None:
    """Earlier releases read their unchanged records from the newest (the first) one's
    file: a concept looked up in two releases then costs its pages once."""
    if not releases or not isinstance(releases[0].concepts, packed.PackedConcepts):
        return
    newest = releases[0].concepts
    for ix in releases[1:]:
        if isinstance(ix.concepts, packed.PackedConcepts):
            ix.concepts.share_records(newest)


def _validated(path: Path, resource: dict[str, object], cache_dir: Path | None) -> None:
    stamp = None
    if cache_dir is not None:
        stamp = cache_dir / "validated" / hashlib.sha256(path.read_bytes()).hexdigest()
        if stamp.exists():
            return
    fhir_json.validate(resource, str(path))
    if stamp is not None:
        with suppress(OSError):
            _write_atomic(stamp, b"")


@contextmanager
def _no_gc() -> Iterator[None]:
    # Loading creates hundreds of thousands of long-lived objects; the cyclic
    # collector would walk them again and again for nothing (3x slower load).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        # Keep the loaded content out of later collections (and so out of
        # copy-on-write page faults in forked workers).
        gc.freeze()


# Folders of content for one FHIR release only (codesystems/fhir/r4/, .../r5/): the FHIR
# core code systems and value sets carry the FHIR version as their version, and an R4
# endpoint serves R4's (administrative-gender|4.0.1), an R5 endpoint R5's (|5.0.0).
RELEASE_FOLDERS = ("r4", "r5")


def _release(path: Path, content: Path) -> str | None:
    """The FHIR release whose folder holds ``path`` (the innermost), or None: shared content."""
    folders = [p for p in path.relative_to(content).parts[:-1] if p in RELEASE_FOLDERS]
    return folders[-1] if folders else None


def load_registry(settings: Settings) -> Registry:
    """Load all content named by ``settings``; ContentError (file and field) when invalid."""
    reg = Registry()
    with _no_gc():
        # By default every bundled release: the newest answers requests without a
        # version, and a date of service picks the release in effect.
        specs: tuple[str | None, ...] = (
            tuple(str(p) for p in icd10cm.bundled_files())
            if settings.icd10cm is None
            else settings.icd10cm
        )
        icd: list[CodeSystemIndex] = []
        codes: dict[str, str] = {}  # one string per code for all releases (packed.load)
        for n, spec in enumerate(specs):
            # The earlier bundled releases are searched by text only when a date picks
            # them: their word lists stay in the file until then (~12 MB each).
            lazy = settings.icd10cm is None and n < len(specs) - 1
            ix = load_icd10cm(spec, settings.cache_dir, lazy, codes)
            clash = next((o for o in icd if o.info.version == ix.info.version), None)
            if clash is not None:
                raise ContentError(
                    ix.info.source,
                    "version",
                    f"version {ix.info.version!r} is already loaded from {clash.info.source}; "
                    "give one of them another version with path#version",
                )
            icd.append(ix)
        icd.sort(key=lambda x: x.info.version or "", reverse=True)
        _share_records(icd)
        for n, ix in enumerate(icd):
            # The newest release answers to id "icd10cm"; each also has a versioned id.
            ix.info.id = "icd10cm" if n == 0 else f"icd10cm-{ix.info.version}"
            reg.add_code_system(ix)
        _release_history(reg, settings.cache_dir)
        content = settings.content_dir
        if content is not None:
            json_files, toml_files = _content_files(content)
            kinds: dict[str, int] = {}
            for path in json_files:
                res = fhir_json.read_file(path)
                kinds[res["resourceType"]] = kinds.get(res["resourceType"], 0) + 1
                _validated(path, res, settings.cache_dir)
                release = _release(path, content)
                if res["resourceType"] == "CodeSystem":
                    cs = fhir_json.parse_code_system(res, str(path))
                    if release:
                        reg.add_release_content(release, cs=cs)
                    else:
                        reg.add_code_system(cs)
                else:
                    if not res.get("id"):
                        raise ContentError(str(path), f"{res['resourceType']}.id", "is required")
                    if release:
                        reg.add_release_content(release, resource=res)
                    else:
                        reg.add_resource(res)
            files = [editorial.read(p) for p in toml_files]
            if files:
                targets = {url: list(v.values()) for url, v in reg.code_systems.items()}
                editorial.apply(files, targets)
            log.info(
                "%s: %s and %d editorial files",
                content,
                ", ".join(f"{n} {rt}" for rt, n in sorted(kinds.items())) or "no FHIR resources",
                len(files),
            )
        for release in RELEASE_FOLDERS:
            reg.edition(release)  # made before the workers fork: shared, frozen with the rest
    return reg


def _content_files(content: Path) -> tuple[list[Path], list[Path]]:
    """The FHIR JSON and editorial files of the content folder; ContentError when the
    folder is missing or holds neither (a server started outside its checkout would
    otherwise serve no value sets, no CPT and no editorial content, silently)."""
    if not content.is_dir():
        raise ContentError(
            str(content),
            "FHIRTERM_CONTENT_DIR",
            "is not a folder: start the server from the folder that holds codesystems/, "
            "set FHIRTERM_CONTENT_DIR (--content-dir) to the content folder, or set it to "
            "'none' to serve ICD-10-CM alone",
        )
    json_files = sorted(content.rglob("*.json"))
    toml_files = sorted(content.rglob("*.toml"))
    if not json_files and not toml_files:
        raise ContentError(
            str(content),
            "FHIRTERM_CONTENT_DIR",
            "holds no FHIR JSON (*.json) or editorial (*.toml) files: point "
            "FHIRTERM_CONTENT_DIR at the content folder, or set it to 'none' to serve "
            "ICD-10-CM alone",
        )
    return json_files, toml_files


def overlay(registry: Registry, resources: list[dict[str, object]]) -> Registry:
    """The registry for one request: ``resources`` (tx-resource) over the server's content.

    CodeSystems go through the same parser as ``codesystems/``; ValueSets and
    ConceptMaps without an id get one from their url. Raises ContentError
    for a resource that cannot be used.
    """
    code_systems = []
    others: list[dict[str, object]] = []
    ids: set[tuple[object, object]] = set()
    for i, res in enumerate(resources):
        rt = res.get("resourceType")
        if rt == "CodeSystem":
            code_systems.append(fhir_json.parse_code_system(res, f"tx-resource[{i}]"))
        elif rt in ("ValueSet", "ConceptMap"):
            # Two resources of one request sharing an id would hide one another.
            if not res.get("id") or (rt, res.get("id")) in ids:
                res = {
                    **res,
                    "id": f"tx-{i}-{hashlib.sha256(str(res.get('url')).encode()).hexdigest()[:12]}",
                }
            ids.add((rt, res.get("id")))
            others.append(res)
        else:
            raise ContentError(
                f"tx-resource[{i}]",
                "resourceType",
                f"expected CodeSystem, ValueSet or ConceptMap, found {rt!r}",
            )
    return registry.overlay(code_systems, others)
