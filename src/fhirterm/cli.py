"""Command line: ``fhirterm serve`` and ``fhirterm check``."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
import time
from pathlib import Path

from .config import Settings
from .errors import ContentError

# Files a worker holds open besides its connections: the packed content, the
# listening socket, pipes, shared libraries.
FILES_BESIDES_CONNECTIONS = 256
MALLOC_ARENAS = 2  # glibc malloc arenas per process (MALLOC_ARENA_MAX) unless set


def _settings_env(args: argparse.Namespace) -> None:
    # Options become FHIRTERM_* variables so that every worker process, which
    # imports the app on its own, sees the same settings.
    if getattr(args, "content_dir", None):
        os.environ["FHIRTERM_CONTENT_DIR"] = (
            "none" if args.content_dir.lower() == "none" else str(Path(args.content_dir).resolve())
        )
    if getattr(args, "icd10cm", None):
        os.environ["FHIRTERM_ICD10CM"] = os.pathsep.join(args.icd10cm)


def _log_to_stderr() -> None:
    # What was loaded, from where, and when the server is ready (loading.py logs
    # to "fhirterm"); granian configures its own logging later, for its workers.
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s", stream=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """Load and validate all content; print counts; non-zero on invalid content."""
    from .loading import load_registry

    _settings_env(args)
    _log_to_stderr()
    t = time.perf_counter()
    try:
        settings = Settings.from_env()
        reg = load_registry(settings)
    except (ContentError, ValueError) as e:
        print(f"invalid content: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a load that fails for any other reason fails the check too
        print(f"loading the content failed: {e!r}", file=sys.stderr)
        return 1
    for cs in reg.all_code_systems():
        n = len(cs.concepts)
        selectable = sum(1 for c in cs.concepts.values() if not c.abstract)
        curated = sum(
            1 for c in cs.concepts.values() if any(p.code == "verified" for p in c.properties)
        )
        print(
            f"CodeSystem {cs.info.url}|{cs.info.version or ''} (id {cs.info.id}): {n} concepts, "
            f"{selectable} selectable, {n - selectable} not selectable, {curated} with editorial content"
        )
    for (rt, id_), res in sorted(reg.resources.items()):
        print(f"{rt} {res.get('url', '')}|{res.get('version', '')} (id {id_})")
    for release, (code_systems, resources) in sorted(reg.releases.items()):
        for cs in code_systems:
            print(f"{release}: CodeSystem {cs.info.url}|{cs.info.version or ''} (id {cs.info.id})")
        for res in resources:
            print(f"{release}: {res['resourceType']} {res.get('url', '')}|{res.get('version', '')}")
    print(f"content OK in {time.perf_counter() - t:.2f} s")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the production WSGI server (granian) with ``--workers`` processes."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    _settings_env(args)
    try:
        Settings.from_env()
    except ValueError as e:
        print(f"invalid settings: {e}", file=sys.stderr)
        return 2
    if not 1 <= args.idle_timeout <= 60:
        print(
            f"invalid settings: --idle-timeout must be 1-60 s, got {args.idle_timeout}",
            file=sys.stderr,
        )
        return 2
    if "FHIRTERM_BASE_URL" not in os.environ:
        os.environ["FHIRTERM_BASE_URL"] = f"http://{args.host}:{args.port}/fhir"
    busy = _port_in_use(args.host, args.port)
    if busy:
        print(busy, file=sys.stderr)
        return 1
    _log_to_stderr()
    started = time.perf_counter()
    if args.preload:
        # Load the content once, here, before granian forks its workers: they
        # share the loaded objects copy-on-write (the loader freezes them out
        # of the garbage collector), and invalid content stops the start.
        try:
            from .web import wsgi
        except ContentError as e:
            print(f"invalid content: {e}", file=sys.stderr)
            return 1
        except Exception as e:  # any failed load stops the start, with its reason
            print(f"loading the content failed: {e!r}", file=sys.stderr)
            return 1
        n = sum(len(cs.concepts) for cs in wsgi.registry.all_code_systems())
        logging.getLogger("fhirterm").info(
            "ready in %.2f s: %d concepts, serving http://%s:%d with %d workers",
            time.perf_counter() - started,
            n,
            args.host,
            args.port,
            args.workers,
        )
    backpressure = _open_files(args.backpressure)
    _limit_malloc_arenas()
    Granian(
        "fhirterm.web.wsgi:app",
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=args.graceful_timeout,
        # Threads that take requests; the intake (web/intake.py) lets one at a
        # time run the app, so the others wait for request bodies (which
        # granian reads only when the app asks) or for their turn without
        # sharing the GIL: a stalled body no longer holds the worker's only
        # thread.
        blocking_threads=args.threads,
        # An open connection holds a slot, idle or not: 1024 clients that sent
        # nothing locked every new client out at granian's default (1024 /
        # workers). Idle connections are closed by the idle timeout instead.
        backpressure=backpressure,
        # HTTP/1 only by default: with "auto" a connection that never sends a
        # byte is never closed (the protocol is sniffed with no timeout);
        # with HTTP/1 the header read timeout closes it, and keep-alive
        # connections idle for as long.
        http=HTTPModes(args.http),
        http1_settings=HTTP1Settings(header_read_timeout=int(args.idle_timeout * 1000)),
    ).serve()
    return 0


def _port_in_use(host: str, port: int) -> str | None:
    """A message when another process listens on ``host:port``, else None.

    granian binds with SO_REUSEPORT, so a second server on a busy port would
    start without a word and take part of the first one's connections; a
    plain bind (no SO_REUSEPORT) fails while any socket listens there.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        return f"cannot serve on {host}:{port}: {e}"
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed one's TIME_WAIT is fine
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is in use by another process (another fhirterm "
                    "serve?); stop it or choose another --port"
                )
            return f"cannot serve on {host}:{port}: {e}"
    return None


def _limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas at ``MALLOC_ARENA_MAX`` (default ``MALLOC_ARENAS``)
    for this process and the workers it forks; False where glibc is not the C library.

    glibc gives threads that allocate arenas of their own, up to 8 per core, and
    memory freed in an arena stays with it: with the intake's threads (web/intake.py)
    each worker held ~15 MB more after the benchmark than with two arenas, for no
    measurable speed (docs/benchmark.md). The variable is set for processes started
    anew and mallopt applies it to this one, whose state forked workers inherit.
    """
    import ctypes
    import ctypes.util

    os.environ.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENAS))
    try:
        arenas = int(os.environ["MALLOC_ARENA_MAX"])
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError, ValueError):
        return False
    m_arena_max = -8  # M_ARENA_MAX in glibc's malloc.h
    return bool(mallopt(m_arena_max, arenas) == 1)


def _open_files(backpressure: int) -> int:
    """Raise this process's open-file limit (inherited by the workers) to fit
    ``backpressure`` connections per worker; the connections that fit when the
    hard limit is lower (with a message)."""
    import resource

    need = backpressure + FILES_BESIDES_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft != resource.RLIM_INFINITY and soft < need:
        fit = max(1, soft - FILES_BESIDES_CONNECTIONS)
        print(
            f"the open-file limit ({soft}, ulimit -n) fits {fit} connections per worker, "
            f"not {backpressure}; raise the hard limit to serve more",
            file=sys.stderr,
        )
        return fit
    return backpressure


def cmd_import_cpt(args: argparse.Namespace) -> int:
    """Write a CPT CodeSystem with the official descriptors a licensed user holds."""
    import orjson

    from .providers.cpt import apply_descriptors, read_descriptors

    try:
        base = orjson.loads(Path(args.base).read_bytes())
        descriptors = read_descriptors(Path(args.file))
    except (OSError, orjson.JSONDecodeError, ContentError) as e:
        print(f"import-cpt: {e}", file=sys.stderr)
        return 1
    out = apply_descriptors(base, descriptors, args.all)
    Path(args.out).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
    replaced = sum(1 for c in base.get("concept", []) if c["code"] in descriptors)
    print(
        f"read {len(descriptors)} descriptors; {replaced} of {len(base.get('concept', []))} fragment codes "
        f"updated; wrote {len(out['concept'])} codes to {args.out}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fhirterm", description="FHIR terminology server for ICD-10-CM"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def content_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--content-dir", help="folder of FHIR JSON and editorial files (FHIRTERM_CONTENT_DIR)"
        )
        p.add_argument(
            "--icd10cm",
            action="append",
            metavar="FILE[#VERSION]",
            help="a CDC tabular XML or zip (repeat for several releases; FHIRTERM_ICD10CM)",
        )

    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--host", default=os.environ.get("FHIRTERM_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("FHIRTERM_PORT", "8080")))
    s.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("FHIRTERM_WORKERS", str(os.cpu_count() or 1))),
        help="worker processes (default: one per core; FHIRTERM_WORKERS)",
    )
    s.add_argument(
        "--backpressure",
        type=int,
        default=int(os.environ.get("FHIRTERM_CONNECTIONS", "2048")),
        help="connections one worker holds open at once, idle ones included (granian "
        "backpressure; default 2048; FHIRTERM_CONNECTIONS); the open-file limit is raised to fit",
    )
    s.add_argument(
        "--idle-timeout",
        type=float,
        default=float(os.environ.get("FHIRTERM_IDLE_TIMEOUT", "15")),
        help="seconds a connection may take to send a request's headers, and may stay idle "
        "between requests, before it is closed (1-60; default 15; FHIRTERM_IDLE_TIMEOUT)",
    )
    s.add_argument(
        "--http",
        choices=("1", "auto", "2"),
        default=os.environ.get("FHIRTERM_HTTP", "1"),
        help="HTTP versions served: 1 (default), auto (also cleartext HTTP/2, whose "
        "connections are never closed while they send nothing) or 2 (FHIRTERM_HTTP)",
    )
    s.add_argument(
        "--preload",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="load the content before forking the workers, which then share it (default on)",
    )
    s.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("FHIRTERM_THREADS", "64")),
        help="threads taking requests in each worker; one runs the app at a time, the others "
        "wait for their request body or their turn (default 64; FHIRTERM_THREADS)",
    )
    s.add_argument(
        "--graceful-timeout",
        type=int,
        default=30,
        help="seconds a stopping worker gets to finish its requests",
    )
    content_opts(s)
    s.set_defaults(func=cmd_serve)
    c = sub.add_parser("check", help="load and validate all content, print counts")
    content_opts(c)
    c.set_defaults(func=cmd_check)
    i = sub.add_parser(
        "import-cpt", help="load official CPT descriptors you hold (AMA licence) over the fragment"
    )
    i.add_argument(
        "file", help="CSV/TSV with code and description columns, or an AMA LONGULT/MEDU/SHORTU file"
    )
    i.add_argument(
        "--base", default="codesystems/cpt.json", help="the CPT CodeSystem to start from"
    )
    i.add_argument("--out", default="codesystems/cpt.json", help="where to write the result")
    i.add_argument(
        "--all", action="store_true", help="add every code of the file, not only the fragment's"
    )
    i.set_defaults(func=cmd_import_cpt)
    args = parser.parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
