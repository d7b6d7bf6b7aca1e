"""The Python code dbt's Jinja templates compile to, kept from one process to the next.

Every dbt invocation compiles each template it renders (the models' SQL, the materializations, every macro
it calls) from its source: parse, generate Python, `compile()`. A cycle's process runs two invocations and
each cycle is a new process, so an idle hour at 100k accounts compiled the same ~230 templates again (the
journey step alone: 221 templates, 1.3 s inside `compile` on its two threads). Jinja's own bytecode cache
does not apply: dbt compiles every template with `Environment.from_string`, which bypasses it.

So `Environment.compile` is wrapped (`install`), for dbt's environments only: the code object of a
template source is looked up by a digest of everything the generated code depends on (the environment's
class, extensions, switches and syntax, the filters and tests it knows, the template's name and file
name, the source) and compiled only when missing. The codes live in `CODE_FILE` beside the prepared
manifest, with the Python, Jinja and dbt versions that produced them (any other version starts empty):
`load` reads it (the dbt warm-up does, in the background), `save` writes what this process compiled or
used (after each invocation). A file that cannot be read is ignored and rewritten. Templates that fail to
compile are never stored (the error is raised as before); with dbt's macro debugging on
(DBT_MACRO_DEBUGGING), nothing is cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import threading
from pathlib import Path
from types import CodeType
from typing import Any

CODE_FILE = "jinja_code.marshal"
# Codes kept in the file at most: a process writes the ones it used, plus older ones up to this many.
MAX_CODES = 2_000

_lock = threading.Lock()
_codes: dict[str, CodeType] = {}
_used: set[str] = set()
_loaded_from: Path | None = None
_changed = False
_original: Any = None


def _versions() -> str:
    from importlib.metadata import version

    return f"{sys.version}|" + "|".join(f"{name}=={version(name)}" for name in ("jinja2", "dbt-common", "dbt-core"))


def _name(value: Any) -> str:
    """A setting as text that is the same in every process (a function by its name, not its address)."""
    if value is None or isinstance(value, bool):
        return str(value)
    return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__qualname__)}"


def _digest(environment: Any, source: str, name: str | None, filename: str | None, defer_init: bool) -> str:
    digest = hashlib.blake2b(digest_size=20)
    for part in (
        f"{type(environment).__module__}.{type(environment).__qualname__}",
        ",".join(sorted(environment.extensions)),
        # ...and these switches of the environment.
        "|".join(str(part) for part in (
            environment.is_async, environment.sandboxed, environment.optimized,
            sorted(getattr(environment, "intercepted_binops", ())),
            sorted(getattr(environment, "intercepted_unops", ())),
            _name(environment.finalize), _name(environment.autoescape),
            # the syntax the source is parsed with
            environment.block_start_string, environment.block_end_string, environment.variable_start_string,
            environment.variable_end_string, environment.comment_start_string, environment.comment_end_string,
            environment.line_statement_prefix, environment.line_comment_prefix, environment.trim_blocks,
            environment.lstrip_blocks, repr(environment.newline_sequence), environment.keep_trailing_newline,
        )),
        # The code generator reads which filters and tests exist (and what they are passed) at compile time.
        ",".join(f"{k}:{getattr(v, 'jinja_pass_arg', '')}" for k, v in sorted(environment.filters.items())),
        ",".join(f"{k}:{getattr(v, 'jinja_pass_arg', '')}" for k, v in sorted(environment.tests.items())),
        str(name), str(filename), str(defer_init), source,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _compile(self: Any, source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
             defer_init: bool = False) -> Any:
    global _changed
    from dbt_common.clients import jinja as dbt_jinja

    # Only dbt's environments: another library's Jinja compiles as before.
    if raw or not isinstance(source, str) or type(self).__module__ != dbt_jinja.__name__ or dbt_jinja.MACRO_DEBUGGING:
        return _original(self, source, name, filename, raw, defer_init)
    key = _digest(self, source, name, filename, defer_init)
    code = _codes.get(key)
    if code is None:
        code = _original(self, source, name, filename, raw, defer_init)
        with _lock:
            _codes[key] = code
            _changed = True
    _used.add(key)
    return code


def install() -> None:
    """Wrap Jinja's `Environment.compile` (once per process)."""
    global _original
    import jinja2

    with _lock:
        if _original is None:
            _original = jinja2.Environment.compile
            jinja2.Environment.compile = _compile


def load(path: Path) -> None:
    """Read the stored codes (once per file and process) and install the wrapper."""
    global _loaded_from
    install()
    with _lock:
        if _loaded_from == path:
            return
        _loaded_from = path
    try:
        stored = marshal.loads(path.read_bytes())
        codes = stored["codes"] if stored.get("versions") == _versions() else {}
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
        codes = {}
    with _lock:
        for key, code in codes.items():
            if isinstance(key, str) and isinstance(code, CodeType):
                _codes.setdefault(key, code)


def save() -> None:
    """Write the codes this process used, and older ones up to MAX_CODES, when it compiled a new one."""
    global _changed
    if _loaded_from is None or not _changed:
        return
    with _lock:
        used = [key for key in _codes if key in _used]
        older = [key for key in _codes if key not in _used][: max(MAX_CODES - len(used), 0)]
        data = marshal.dumps({"versions": _versions(), "codes": {key: _codes[key] for key in used + older}})
        _changed = False
    with contextlib.suppress(OSError):
        _loaded_from.parent.mkdir(parents=True, exist_ok=True)
        scratch = _loaded_from.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_bytes(data)
        os.replace(scratch, _loaded_from)
