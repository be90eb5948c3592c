#!/usr/bin/env python3
"""Mutation testing for maascurl: does the suite notice when the code is subtly wrong?

Usage:
    python scripts/mutate.py                  # every module in MUTANTS
    python scripts/mutate.py wire/auth config # some modules (by path, or a unique name)
    python scripts/mutate.py --jobs 2         # two mutants at a time (a tree copy each)
    python scripts/mutate.py --list           # the mutants, without running anything
    python scripts/mutate.py --equivalent     # the survivors known to be harmless, and why

Each mutant is one small change a real bug could look like (a flipped
operator or condition, a changed constant, a removed call), written as an
exact piece of a module's text and its replacement. Each is applied, alone,
to a copy of the tree in a temporary directory (the working tree is never
touched, even on Ctrl-C), and the module's test files (TESTS) run against it
with -x. A mutant is killed when a test fails (or the run times out), and
survives when all pass. The score is killed / all; each survivor is printed,
and one listed in EQUIVALENT is shown with the reason no test can kill it.

To cover a new module, add its mutants to MUTANTS and its test files to
TESTS, keyed by the module's path under maascurl/ without .py ("jobs/fleet";
a name alone, "fleet", is taken on the command line when only one module has
it). A mutant whose text no longer appears exactly once in its module is
reported as stale and not run: update it.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds for one mutant's test run; a hang counts as killed


class Mutant(NamedTuple):
    name: str  # unique within its module
    old: str  # exact text, found exactly once in the module
    new: str


M = Mutant

# Module (maascurl/PATH.py, keyed by PATH: "wire/auth", "errors") -> its mutants.
MUTANTS: dict[str, list[Mutant]] = {
    "wire/auth": [
        M(
            "offset from Date with the sign flipped",
            "return parsedate_to_datetime(date).timestamp() - time.time()",
            "return time.time() - parsedate_to_datetime(date).timestamp()",
        ),
        M(
            "offset from the 401's numbers with the sign flipped",
            "return int(match.group(2)) - time.time()",
            "return time.time() - int(match.group(2))",
        ),
        M(
            "learned offset never applied",
            "return int(time.time() + self.offset)",
            "return int(time.time())",
        ),
        M(
            "no re-sign after learning the offset",
            "            self.sign(request)\n            yield request",
            "            yield request",
        ),
        M(
            "skew handled on 403 instead of 401",
            "expired = response.status_code == 401 and",
            "expired = response.status_code == 403 and",
        ),
    ],
    "wire/client": [
        M(
            "the other origin's client left open",
            "            self.client.close()",
            "            pass",
        ),
        M(
            "same-origin check ignores the scheme",
            "return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)",
            "return (a.host, a.port) == (b.host, b.port)",
        ),
        M(
            "same-origin check ignores the port",
            "return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)",
            "return (a.scheme, a.host) == (b.scheme, b.host)",
        ),
        M(
            "https-to-http check with --follow-any inverted",
            'if request.url.scheme == "https" and target.scheme != "https":',
            'if request.url.scheme == "http" and target.scheme != "https":',
        ),
        M(
            "303 keeps a POST's method",
            "if status in (301, 302, 303) and method not in",
            "if status in (301, 302) and method not in",
        ),
        M(
            "Authorization kept on a redirect",
            '    headers.pop("Authorization", None)\n',
            "",
        ),
        M(
            "refused connection retried for POST",
            "if request.method not in IDEMPOTENT or attempt >= transport.retries:",
            "if attempt >= transport.retries:",
        ),
        M(
            "TLS failure retried",
            "if _is_tls(exc) or unresolved(exc):",
            "if unresolved(exc):",
        ),
        M(
            "a name that does not resolve retried",
            "if _is_tls(exc) or unresolved(exc):",
            "if _is_tls(exc):",
        ),
        M(
            "one retry more than --retries",
            "if wait is None or attempt >= transport.retries:",
            "if wait is None or attempt > transport.retries:",
        ),
        M("409 never retried", "RETRY_STATUSES = (409, 429, 503)", "RETRY_STATUSES = (429, 503)"),
        M(
            "a Retry-After in the past not clamped",
            "return max(0.0, float(value))",
            "return float(value)",
        ),
        M(
            "cookies kept",
            "CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))",
            "CookieJar(policy=DefaultCookiePolicy())",
        ),
    ],
    "show/output": [
        M(
            "a signal let in before the temp file's object owns it",
            "            with stream:\n                let_in()\n",
            "            let_in()\n            with stream:\n",
        ),
        M(
            "download length check removed",
            "    save_chunks(_tracked(response, path), path, lambda written: "
            "_check_length(response, written))",
            "    save_chunks(_tracked(response, path), path)",
        ),
        M(
            "a 3xx written as success",
            "failed = not 200 <= response.status_code < 300",
            "failed = not 200 <= response.status_code < 400",
        ),
        M(
            "partial download left behind on interrupt",
            "        except BaseException:\n            _unlink_quietly(tmp)\n            raise\n",
            "        except BaseException:\n            raise\n",
        ),
        M("-o - pretty-printed", 'pretty = False  # "-o -"', 'pretty = True  # "-o -"'),
        M("binary bodies shown", 'if b"\\0" in body[:8192]:', 'if b"\\0" in body[:0]:'),
    ],
    "profiles/config": [
        M(
            "permission warning for others only",
            "if mode & 0o077 and path not in _warned:",
            "if mode & 0o007 and path not in _warned:",
        ),
        M(
            "config written in place",
            'fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")',
            "fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), str(path)",
        ),
        M("config not synced before the rename", "            os.fsync(stream.fileno())\n", ""),
        M("no lock around a change", "fcntl.flock(self.fd, fcntl.LOCK_EX)", "pass"),
        M(
            "/api/2.0 not stripped from a URL",
            'for suffix in ("/api/2.0", "/api"):',
            'for suffix in ("/api",):',
        ),
        M(
            "$MAAS_API_URL wins over -p",
            "if name is None and os.environ.get(ENV_URL):",
            "if os.environ.get(ENV_URL):",
        ),
        M(
            "backslashes not escaped in TOML",
            'escaped = value.replace("\\\\", "\\\\\\\\").replace(\'"\', \'\\\\"\')',
            "escaped = value.replace('\"', '\\\\\"')",
        ),
    ],
    "errors": [
        M(
            "a fleet line's note names no line",
            "_clean(_note_subject.get() + message)",
            "_clean(message)",
        ),
        M("400 taken for a 3xx", "if status < 400:", "if status <= 400:"),
        M("500 taken for a 4xx", "if status < 500:", "if status <= 500:"),
        M(
            "secrets of 8-79 characters not redacted",
            "if text and (any_length or len(text) >= 8):",
            "if text and (any_length or len(text) >= 80):",
        ),
    ],
    "jobs/call": [
        M(
            "op not checked against the description",
            "if desc is not None and not options.no_check:",
            "if desc is not None and options.no_check:",
        ),
        M(
            "a refused op never rechecked against a fresh description",
            "    if age < RECHECK_AFTER:\n        return None",
            "    if age < RECHECK_AFTER or True:\n        return None",
        ),
        M(
            "stale description not refreshed",
            "if not server_hash or (desc is not None and server_hash == desc.hash):",
            "if not server_hash or (desc is not None and server_hash != desc.hash):",
        ),
    ],
    "wire/request": [
        M(
            "an official CLI name mapped in a full URL",
            "    named = bool(quoted) and not filled[0] and not full",
            "    named = bool(quoted) and not filled[0]",
        ),
        M(
            "--no-check adds the trailing slash",
            '        return api_root + typed + ("/" if typed_slash and typed else ""), query, None',
            '        return api_root + typed + ("/" if typed else ""), query, None',
        ),
        M(
            "a mapped path not said with -v",
            "        _say(notes, f\"{shown} is the official CLI's name of MAAS's "
            '{canonical}: sent as that")',
            "        pass",
        ),
        M(
            "op not put first",
            'spec.query = [("op", ops[0]), *((n, v) for n, v in spec.query if n != "op")]',
            'spec.query = [*((n, v) for n, v in spec.query if n != "op"), ("op", ops[0])]',
        ),
        M("'.' segment accepted", 'if segment in (".", ".."):', 'if segment == "..":'),
        M("two different ops accepted", "if len(set(ops)) > 1:", "if len(set(ops)) > 2:"),
        M(
            "DELETE fields sent as a body",
            'elif item.separator == "==" or item.name == "op" or spec.method in ("GET", "DELETE"):',
            'elif item.separator == "==" or item.name == "op" or spec.method in ("GET",):',
        ),
        M(
            "no trailing slash added",
            'canonical = relative if v3 else (relative + "/" if relative else "")',
            'canonical = relative if v3 else (relative if relative else "")',
        ),
        M(
            "a URL on another scheme of the same host accepted",
            "if (target.scheme, target.netloc) != (root.scheme, root.netloc):",
            "if target.netloc != root.netloc:",
        ),
        M(
            "CR/LF accepted in a header value",
            'if any(c in value for c in "\\r\\n\\0"):',
            'if any(c in value for c in "\\0"):',
        ),
        M(
            "a quote accepted in a part name",
            "if any(char in name for char in '\"\\r\\n'):",
            "if any(char in name for char in '\\r\\n'):",
        ),
        M(
            "a file part accepted on GET",
            'if spec.method in ("GET", "DELETE"):\n            raise UsageError(\n'
            '                f"{spec.method} cannot carry a file',
            'if spec.method in ("DELETE",):\n            raise UsageError(\n'
            '                f"{spec.method} cannot carry a file',
        ),
        M("a raw body's offset ignored", "stream.seek(self.offset)", "stream.seek(0)"),
    ],
    "wire/multipart": [
        M(
            "a fixed boundary",
            "self.boundary = secrets.token_hex(16)",
            'self.boundary = "maascurl-0123456789abcdef0123456789"',
        ),
        M(
            "part names not escaped",
            'return name.replace(\'"\', "%22").replace("\\r", "%0D").replace("\\n", "%0A")',
            "return name",
        ),
        M(
            "Content-Length 2 bytes short per file",
            "size += len(self._file_head(part)) + part.size() + 2",
            "size += len(self._file_head(part)) + part.size()",
        ),
        M(
            "no closing boundary",
            'return f"--{self.boundary}--\\r\\n".encode()',
            'return f"--{self.boundary}\\r\\n".encode()',
        ),
    ],
    "api/checks": [
        M(
            "an op the resource lacks is sent",
            "    if action is None:\n        raise NotInDescription(",
            "    if action is None and False:\n        raise NotInDescription(",
        ),
        M(
            "warnings for documented fields instead of undocumented",
            "for unknown in dict.fromkeys(n for n in given if n not in documented):",
            "for unknown in dict.fromkeys(n for n in given if n in documented):",
        ),
    ],
    "api/apidesc": [
        M(
            "the paths MAAS serves beyond its description unknown",
            "        self.served: tuple[Resource, ...] = "
            "(*self.resources, *_undescribed(self.resources))",
            "        self.served: tuple[Resource, ...] = self.resources",
        ),
        M(
            "an undescribed path without its twin's fields",
            "            actions = tuple(a for a in twin.actions if a.method in methods)",
            "            actions = tuple(Action(a.name, a.method, a.op, a.restful, a.anonymous, "
            'a.summary, "", ()) for a in twin.actions if a.method in methods)',
        ),
        M(
            "any path that shares a few letters suggested",
            "CLOSE = 0.8",
            "CLOSE = 0.3",
        ),
        M(
            "the official CLI's names not suggested",
            "                if alike_name >= CLOSE:\n",
            "                if alike_name > 1:\n",
        ),
        M(
            "the worse of two matching templates chosen",
            "if score is not None and (best is None or score > best[0]):",
            "if score is not None and (best is None or score < best[0]):",
        ),
        M(
            "no suggestion for a misspelt op",
            "return found[0] if found else None",
            "return None",
        ),
        M(
            "required read as optional",
            'required = None if flag is None else flag.group(1) == "Required"',
            'required = None if flag is None else flag.group(1) == "Optional"',
        ),
        M(
            "a cache of another format read",
            'if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT:',
            "if not isinstance(head, dict):",
        ),
    ],
    "api/completion": [
        M(
            "long help not shortened",
            'return text if len(text) <= width else text[: width - 3].rstrip() + "..."',
            "return text",
        ),
        M(
            "op-NAME suffixes not completed",
            "        found.update(_op_suffixes(desc, head, partial))\n",
            "        pass\n",
        ),
        M(
            "a field already given offered again",
            "if word.startswith(incomplete) and (p.repeatable or p.name not in given):",
            "if word.startswith(incomplete):",
        ),
        M("required fields not marked", 'label = "required: " if p.required else ""', 'label = ""'),
        M(
            "op= offered when an op is chosen",
            'if op is None and ops and "op=".startswith(incomplete):',
            'if ops and "op=".startswith(incomplete):',
        ),
    ],
    "show/jsoncolor": [
        M(
            "indent one level too deep",
            'newline = "\\n" + " " * (self.indent * len(self.newlines))',
            'newline = "\\n" + " " * (self.indent * (len(self.newlines) + 1))',
        ),
        M(
            "control characters reach the terminal",
            "chunk = _UNSAFE.sub(_escape_unsafe, chunk)",
            "chunk = chunk",
        ),
        M(
            "no colour",
            'return (f"\\x1b[{params}m", "\\x1b[0m") if params else ("", "")',
            'return ("", "")',
        ),
    ],
    "profiles/login": [
        M(
            "--api-key-file - opens a file named -",
            'if key_file == "-":',
            'if key_file == "--":',
        ),
        M(
            "--cacert stored relative",
            "cacert = os.path.abspath(cacert) if cacert else None",
            "cacert = cacert or None",
        ),
        M(
            "login checks ignore the profile's TLS settings",
            "    ).for_profile(profile)\n    return Connection(",
            "    )\n    return Connection(",
        ),
        M(
            "logout keeps a default that no longer exists",
            "        if config.default == name:\n            config.default = None\n",
            "",
        ),
        M(
            "every login becomes the default",
            "        if not config.default or config.default not in config.profiles:",
            "        if True:",
        ),
        M("401 not explained", "if error.status == 401:", "if error.status == 403:"),
    ],
    "api/describe": [
        M(
            "restful actions not found by name",
            "return [a for a in actions if a.op == op or (a.restful and a.name == op)]",
            "return [a for a in actions if a.op == op]",
        ),
        M(
            "op left out of the URL shown",
            'query = f"?op={action.op}" if action.op is not None else ""',
            'query = ""',
        ),
        M(
            "methods listed alphabetically",
            "for method in sorted({a.method for a in res.actions}, key=_method_key):",
            "for method in sorted({a.method for a in res.actions}):",
        ),
    ],
    "termsafe": [
        M(
            "C1 controls not made visible",
            r'f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]"',
            r'f"[\x00-\x08\x0b-\x1f\x7f{BIDI_CONTROLS}]"',
        ),
        M(
            "tabs and newlines made visible too",
            r'f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]"',
            r'f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]"',
        ),
        M(
            "newlines kept in a one-line message",
            r'return safe(text).replace("\n", "\\n").replace("\t", "\\t")',
            r'return safe(text).replace("\t", "\\t")',
        ),
    ],
    "cli/shellcomplete": [
        M(
            "candidates reach the shell with the server's control characters",
            "        items = [_visible(item) for item in items]\n",
            "",
        ),
        M(
            "a value starting with '-' completed as an option name",
            "            items = self._dash_value(args, incomplete)",
            "            items = None",
        ),
        M(
            "--option= not put back before a value",
            'if not eq or not name.startswith("-"):',
            'if not eq or name.startswith("-"):',
        ),
        M(
            "colons not escaped for zsh",
            'value = str(item.value).replace(":", r"\\:")',
            "value = str(item.value)",
        ),
        M(
            "help not kept to one line",
            'return " ".join((text or "").split())',
            'return text or ""',
        ),
        M(
            "fish's current token taken as an argument",
            'return words[1:-1], (split_arg_string(token) or [""])[0]',
            'return words[1:], (split_arg_string(token) or [""])[0]',
        ),
    ],
    "profiles/state": [
        M(
            "a damaged state file breaks the request",
            "    except (OSError, ValueError, RecursionError):\n        return {}",
            "    except (OSError, RecursionError):\n        return {}",
        ),
    ],
    "cli/group": [
        M(
            "secrets not redacted from errors",
            "message = safe_line(redact_secrets(message))",
            "message = safe_line(message)",
        ),
        M("Ctrl-C exits 1", '_fail("interrupted", EXIT_INTERRUPTED)', '_fail("interrupted", 1)'),
        M(
            "a closed pipe exits 1",
            "    os.dup2(devnull, sys.stdout.fileno())\n    sys.exit(0)",
            "    os.dup2(devnull, sys.stdout.fileno())\n    sys.exit(1)",
        ),
        M(
            "debug traceback not redacted",
            'sys.stderr.write(redact_secrets("".join(traceback.format_exception(exc))))',
            'sys.stderr.write("".join(traceback.format_exception(exc)))',
        ),
    ],
    # The fleet (issue #8): `--each FILE` and `maascurl batch FILE`.
    "jobs/fleet": [
        M(
            "lines on one object sent in any order",
            "        self._order = None if options.no_check else Order(self._queue.put)",
            "        self._order = None",
        ),
        M(
            "a line does not wait for the lines under its path",
            "            for below in self._under.get((server, path), ()):",
            "            for below in ():",
        ),
        M(
            "a line does not wait for the line above its path",
            "            for depth in range(len(path) + 1):  # the same path, and those above it",
            "            for depth in range(len(path), len(path) + 1):",
        ),
        M(
            "a finished line never lets the next go",
            "                if follower.waiting == 0:\n                    ready.append(follower)",
            "                if follower.waiting < 0:\n                    ready.append(follower)",
        ),
        M(
            "only the first bad line named",
            "                    bad.add(exc)  # and read on: every bad line is named in one run\n"
            "                    continue",
            "                    raise",
        ),
        M(
            "no check still maps a line's path",
            "exact=self.options.no_check,",
            "exact=False,",
        ),
        M(
            "no bar when the bodies go to files and stdout is a terminal",
            "bodies_to_terminal = bodies and options.output.output is None and out.isatty()",
            "bodies_to_terminal = bodies and out.isatty()",
        ),
        M(
            "--fail-fast ignored",
            "if self.fleet.fail_fast:\n                    self.stopping = True",
            "if self.fleet.fail_fast:\n                    pass",
        ),
        M(
            "exit status of the last failure, not the first",
            "if self.first_failure is None:\n                self.first_failure = result",
            "if True:\n                self.first_failure = result",
        ),
        M("interrupted run exits 0", "return EXIT_INTERRUPTED", "return 0"),
        M(
            "a line's error printed without making it terminal-safe",
            'line = f"maascurl: error: {safe_line(message)}"',
            'line = f"maascurl: error: {message}"',
        ),
        M(
            "a line's error not redacted",
            "message = redact_secrets(str(error))",
            "message = str(error)",
        ),
        M(
            "--report URL not redacted",
            '"url": redact_secrets(url),',
            '"url": url,',
        ),
        M(
            "two lines may write the same -o file",
            "if path in self._outputs:",
            "if path is None:",
        ),
        M(
            "lines left unsent not counted",
            "self.counts.not_sent += 1",
            "pass",
        ),
        M(
            "a bare URL's target reused for every line",
            "if target.profile is not None:  # a bare URL",
            "if True:  # a bare URL",
        ),
    ],
    "jobs/batch": [
        M(
            "comments in a batch file not skipped",
            "shlex.split(text, comments=True)",
            "shlex.split(text, comments=False)",
        ),
        M(
            "a batch line's item may read stdin",
            'items = tuple(_refuse_stdin(parse_item(word), "a batch line") for word in rest[1:])',
            "items = tuple(parse_item(word) for word in rest[1:])",
        ),
        M(
            "an --each item may read stdin",
            "return _refuse_stdin(checked_item(name, self.separator, value), ",
            "return (lambda item, what: item)(checked_item(name, self.separator, value), ",
        ),
        M("field {0} taken as the last field", "if index < 1:", "if index < 0:"),
        M(
            "a PATH value with a slash accepted",
            'if "/" in value:',
            "if False:",
        ),
        M(
            "an -o value with a slash accepted",
            'if not value or "/" in value or "\\0" in value or value in (".", ".."):',
            'if not value or "\\0" in value or value in (".", ".."):',
        ),
        M(
            "a null JSON value filled as null",
            '    if value is None:\n        return _missing(name, "its value is null")\n',
            "",
        ),
        M("an escaped brace kept escaped", 'return "{"', 'return "\\\\{"'),
        M(
            "-pNAME on a batch line not read as a profile",
            'elif word.startswith("-p") and len(word) > 2 and "=" not in word:',
            'elif word.startswith("-p") and len(word) > 3 and "=" not in word:',
        ),
    ],
    "jobs/fleetwait": [
        M(
            "an image upload in a fleet taken as finished",
            "return result.failed(MaascurlError(FLEET_IMAGE_WAIT))",
            "return result",
        ),
        M(
            "a failed wait written as the line's success",
            "if watch.error is not None:\n            return replace(",
            "if False:\n            return replace(",
        ),
        M(
            "an import's final listing not read",
            "if watch.goal.final is not None and watch.session is not None:",
            "if False:",
        ),
        M(
            "machines polled one GET each instead of one listing",
            "watch.key = machine_key(api_root, job.spec.url, data)",
            "watch.key = None",
        ),
        M(
            "the action's own answer not taken as the first observation",
            'if watch.observe(data, result.body or b"", now):',
            "if False:",
        ),
        M("the fleet's wait summary never printed", "if not is_quiet():", "if False:"),
    ],
    # Waiting (issue #9): --wait, `maascurl wait`, the views, `maascurl events`.
    "jobs/wait": [
        M(
            "--wait-timeout ignored (one request's and a fleet's)",
            "if goal is not None and wait.timeout is not None:",
            "if goal is not None and False:",
        ),
        M(
            "Releasing failed misnamed",
            '"Releasing": "Releasing failed",',
            '"Releasing": "Failed releasing",',
        ),
        M(
            "abort ending in a failed status taken as a failure",
            '"abort": status_goal(None, 10 * MINUTE, frozenset()),',
            '"abort": status_goal(None, 10 * MINUTE),',
        ),
        M(
            "a power error seen before the BMC acted taken as the failure",
            "return Goal(condition, 5 * MINUTE, stale_failure=True)",
            "return Goal(condition, 5 * MINUTE)",
        ),
        M(
            "a 4xx poll waited out as transient",
            "return error.status >= 500",
            "return error.status >= 400",
        ),
        M(
            "poll interval not reset when a state changes",
            "pacer.reset()  # something moves: look again soon",
            "pass",
        ),
        M(
            "a power_off answering null taken as done",
            "    if op in POWER_OPS and answer is None:\n        raise NothingStarted(",
            "    if False:\n        raise NothingStarted(",
        ),
        M(
            "a manual machine's power action waited for",
            '    if op in POWER_OPS and answer.get("power_type") == "manual":',
            "    if False:",
        ),
        M(
            "a wait that never got an answer reported as a timeout",
            "        if self.seen is None and trouble is not None:",
            "        if False:",
        ),
        M(
            "a poll's failure not kept for the timeout's message",
            "        for watch in watches:\n            watch.trouble = error\n",
            "",
        ),
        M(
            "-H not sent with the polls",
            "spec.headers = list(watch.headers)",
            "spec.headers = []",
        ),
        M(
            "a machine missing from the listing not taken as gone",
            "if data is None:  # deleted, or no longer visible to this user",
            "if data is None and False:",
        ),
        M(
            "a unit after a bare number accepted",
            "(bare and (position or match.end() != len(spec)))",
            "(bare and position)",
        ),
        M(
            "the failed state named without what was expected",
            "if self.goal.condition.busy is not None and self.seen.state not in FAILED"
            " and expected:",
            "if False:",
        ),
    ],
    "show/waitview": [
        M(
            "a state printed without making it terminal-safe",
            'self._say(f"{name_of(watch)}: {safe_line(watch.seen.state)} [{elapsed}]")',
            'self._say(f"{name_of(watch)}: {watch.seen.state} [{elapsed}]")',
        ),
        M(
            "a hostname printed without making it terminal-safe",
            'return f"{where} ({safe_line(host)})" if host else where',
            'return f"{where} ({host})" if host else where',
        ),
        M(
            "an unchanged state printed again",
            "if watch.seen is None or self.shown.get(id(watch)) == watch.seen.state:",
            "if watch.seen is None:",
        ),
        M(
            "an outage said at every poll",
            "if where in self.troubled:",
            "if False:",
        ),
        M("--quiet ignored by the state lines", "if is_quiet():", "if False:"),
        M(
            "the fleet view lists the fastest, not the slowest",
            "key=lambda w: w.changed_at)",
            "key=lambda w: -w.changed_at)",
        ),
        M(
            "a live view after --no-progress",
            "return progress.allowed()",
            "return sys.stderr.isatty()",
        ),
    ],
    "jobs/events": [
        M(
            "a followed page printed newest first",
            "fresh = sorted((e for e in page if _event_id(e) > newest), key=_event_id)",
            "fresh = [e for e in page if _event_id(e) > newest]",
        ),
        M(
            "the newest event seen printed again",
            "if _event_id(e) > newest)",
            "if _event_id(e) >= newest)",
        ),
        M(
            "a full page not followed at once",
            "if len(page) < PAGE or not fresh:",
            "if len(page) <= PAGE or not fresh:",
        ),
        M(
            "-n 0 prints the backlog",
            "printer.write(sorted(page, key=_event_id) if lines else [])",
            "printer.write(sorted(page, key=_event_id))",
        ),
        M(
            "the backlog printed newest first",
            "printer.write(sorted(page, key=_event_id) if lines else [])",
            "printer.write(page if lines else [])",
        ),
        M(
            "a filter may set after or limit",
            'if item.separator not in ("=", "==") or item.name in MANAGED:',
            'if item.separator not in ("=", "=="):',
        ),
        M(
            "a 4xx while following waited out",
            "if not transient(error):",
            "if False:",
        ),
        M(
            "an event printed to a terminal without making it terminal-safe",
            "            return safe_line(\n",
            "            return str(\n",
        ),
        M(
            "Ctrl-C while following exits non-zero",
            "            if not follow:\n                raise\n",
            "            raise\n",
        ),
    ],
    # Boot-image uploads' wait for the racks' sync (issue #12).
    "jobs/racksync": [
        M(
            "a disconnected rack waited for",
            'if answer.get("connected") is False:',
            'if answer.get("connected") is None:',
        ),
        M(
            "a rack synced without the image taken as synced",
            "if status == SYNCED and isinstance(images, list) and images and not "
            "image.held_in(images):",
            "if False:",
        ),
        M(
            "the subarchitecture ignored",
            '            and self.subarch in (item.get("subarches") or [self.subarch])\n',
            "",
        ),
        M(
            "custom/ kept in a custom image's name",
            'self.name = name.removeprefix("custom/")',
            "self.name = name",
        ),
        M(
            "a rack that is gone fails the wait",
            "            watch.error = None\n",
            "",
        ),
        M(
            "a transient failure of the rack listing not waited out",
            "if not transient(error) or time.monotonic() + delay >= deadline:",
            "if True:",
        ),
        M(
            "a resource whose upload is incomplete waited for",
            'if rfile is None or not rfile.get("complete"):',
            "if rfile is None:",
        ),
    ],
}

# The second wave's modules: tables (fields, table), password login and profile
# import, uploads (upload, progress), bounded reading, recorded listings.
MUTANTS["show/fields"] = [
    M(
        "a list index one past the end taken",
        "value = value[index] if -len(value) <= index < len(value) else None",
        "value = value[index] if -len(value) <= index <= len(value) else None",
    ),
    M(
        "rows without the sort field sorted first",
        "pairs = [present[i][1] for i in order] + absent",
        "pairs = absent + [present[i][1] for i in order]",
    ),
    M(
        "digits sorted as text (node-10 before node-2)",
        "return (2, tuple(_by_value(part) if i % 2 else part for i, part in enumerate(parts)))",
        "return (2, tuple(parts))",
    ),
    M(
        "--sort -FIELD not descending",
        "key=keys.__getitem__, reverse=descending)",
        "key=keys.__getitem__, reverse=False)",
    ),
    M(
        "timestamps sorted as text",
        "    if all(moment is not None for moment in times):",
        "    if False:",
    ),
    M(
        "sizes sorted as text",
        "    if all(number is not None for number in numbers):",
        "    if False:",
    ),
    M(
        "only the first --sort key used",
        "    for key_spec in reversed(specs):",
        "    for key_spec in specs[:1]:",
    ),
    M(
        "a header not taken for the path it shows",
        "        if column.label == name:\n            return column.path",
        "        if False:\n            return column.path",
    ),
    M(
        "case not ignored in the natural order",
        "parts = _DIGITS.split(cell(value).casefold())",
        "parts = _DIGITS.split(cell(value))",
    ),
    M(
        "no key column for a dict keyed by ID",
        "if listing.keys is not None and all(c.path != KEY_COLUMN for c in columns):",
        "if listing.keys is None and all(c.path != KEY_COLUMN for c in columns):",
    ),
    M(
        "default columns kept when most are missing",
        "return len(roots & present) * 2 > len(roots)",
        "return len(roots & present) > 0",
    ),
    M(
        "an empty name in --fields accepted",
        "if not all(names):",
        "if not any(names):",
    ),
    M(
        "--crlf accepted with another format than csv",
        '    if crlf and chosen != "csv":',
        "    if False:",
    ),
    M(
        "booleans shown as Python's True/False",
        '    if value is True:\n        return "true"\n    if value is False:\n'
        '        return "false"\n',
        "",
    ),
]
MUTANTS["show/table"] = [
    M(
        "tabs not escaped in TSV",
        r'text = text.replace("\\", "\\\\").replace("\t", "\\t")',
        r'text = text.replace("\\", "\\\\")',
    ),
    M(
        "backslashes not escaped in TSV",
        r'text = text.replace("\\", "\\\\").replace("\t", "\\t")',
        r'text = text.replace("\t", "\\t")',
    ),
    M(
        "CSV lines end in CRLF without --crlf",
        r'lineterminator="\r\n" if crlf else "\n"',
        r'lineterminator="\r\n"',
    ),
    M(
        "control characters reach the terminal in a table",
        "body = [[text if text.isprintable() else safe_line(text) for text in row]"
        " for row in body]",
        "body = [[text for text in row] for row in body]",
    ),
    M(
        "numbers not right-aligned",
        "right = [numeric(row[i] for row in values) for i in range(len(columns))]",
        "right = [False] * len(columns)",
    ),
    M(
        "the gaps between columns not counted when fitting",
        "room = width - len(GAP) * (len(widths) - 1)",
        "room = width",
    ),
    M(
        "a piped table cut to 80 columns",
        "    if not sys.stdout.isatty():\n        return None",
        "    if not sys.stdout.isatty():\n        return DEFAULT_WIDTH",
    ),
    M(
        "a cut cell one character too wide",
        'return text[: width - 1] + "…", width',
        'return text[:width] + "…", width',
    ),
    M(
        "--header ignored (TSV always has one)",
        "        if header and columns\n",
        "        if columns\n",
    ),
]
MUTANTS["profiles/password"] = [
    M(
        "--timeout ignored with --username",
        "insecure=profile.insecure, cacert=profile.cacert, timeout=timeout, retries=1",
        "insecure=profile.insecure, cacert=profile.cacert, timeout=30.0, retries=1",
    ),
    M(
        "a password on the command line accepted",
        'if source is not None and source != "-":',
        'if source is None and source != "-":',
    ),
    M(
        "spaces around a password from stdin stripped",
        'password = sys.stdin.readline().rstrip("\\r\\n")',
        "password = sys.stdin.readline().strip()",
    ),
    M("an empty password sent", "if not password:", "if password is None:"),
    M(
        "the password not registered as a secret",
        "    register_secret(password, any_length=True)\n",
        "",
    ),
    M(
        "a refused login not explained",
        'if error.status == 403 and spec.method == "POST":',
        'if error.status == 401 and spec.method == "POST":',
    ),
    M(
        "the capability not checked",
        "if CAPABILITY not in capabilities:",
        "if not capabilities:",
    ),
    M(
        "the answer read without a cap",
        "return session.read_capped(spec, ANSWER_LIMIT)",
        "return session.read(spec, 2**62).content",
    ),
    M(
        "a consumer name that changes with every run",
        'return f"maascurl@{socket.gethostname()}"',
        'return f"maascurl@{socket.gethostname()}-{os.getpid()}"',
    ),
]
MUTANTS["profiles/profile_import"] = [
    M(
        "the other tool's database opened writable",
        'uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"',
        'uri = f"file:{quote(str(path.resolve()))}?mode=rw"',
    ),
    M(
        "a write-ahead log beside the database ignored",
        'for suffix in ("-journal", "-wal"):',
        'for suffix in ("-journal",):',
    ),
    M(
        "an empty journal taken for a write in progress",
        "if beside.is_file() and beside.stat().st_size > 0:",
        "if beside.is_file():",
    ),
    M(
        "a same-size change during the read not noticed",
        "return status.st_ino, status.st_size, status.st_mtime_ns",
        "return status.st_ino, status.st_size, 0",
    ),
    M(
        "an existing profile replaced without --force",
        "if existed and not force:",
        "if existed and force:",
    ),
    M(
        "the other tool's selected profile not made the default",
        "chosen = [item.name for item in found if item.selected and item.name in done]",
        "chosen = []",
    ),
    M(
        "an existing default overridden",
        "if done and (not config.default or config.default not in config.profiles):",
        "if done:",
    ),
    M(
        "a certificate left behind when the config write fails",
        "            cacert.unlink(missing_ok=True)\n",
        "            pass\n",
    ),
    M(
        "a profile without credentials signs",
        "anonymous=item.api_key is None,",
        "anonymous=False,",
    ),
    M(
        "control characters in a stored URL printed as they are",
        "        safe_line(item.url),\n",
        "        item.url,\n",
    ),
]
MUTANTS["jobs/upload"] = [
    M(
        "bytes stored read as size times progress",
        "ratio = size / progress",
        "ratio = size * progress",
    ),
    M(
        "an unfinished upload resumed from 0",
        "    return Unfinished(resource_id, rfile, held)\n",
        "    return Unfinished(resource_id, rfile, 0)\n",
    ),
    M(
        "the last chunk not shortened to the file's end",
        "length = min(job.chunk_size or CHUNK_SIZE, size - offset)",
        "length = job.chunk_size or CHUNK_SIZE",
    ),
    M(
        "a same-size change during the upload not noticed",
        "return info.st_size, info.st_mtime_ns",
        "return info.st_size, 0",
    ),
    M(
        "an upload_uri on another server accepted",
        "if not url.startswith(api.api_root):",
        'if not url.startswith(("http://", "https://")):',
    ),
    M(
        "one chunk retry more than --retries",
        "if failures >= retries:",
        "if failures > retries:",
    ),
    M(
        "a finished image not recognised",
        'if rfile.get("complete"):\n        note(',
        'if rfile.get("completed"):\n        note(',
    ),
    M(
        "the sha256 not checked after the upload",
        'if rfile is None or rfile.get("sha256") != sha256 or rfile.get("size") != size:\n'
        '        raise MaascurlError(f"{where} does not show',
        'if rfile is None or rfile.get("size") != size:\n'
        '        raise MaascurlError(f"{where} does not show',
    ),
    M(
        "the same bytes as another filetype resumed",
        'if rfile.get("filetype") != STORED_FILETYPES.get(job.filetype or "tgz"):',
        'if rfile.get("filetype") is None:',
    ),
    M(
        "custom/ not dropped when looking for an earlier upload",
        'stored_name = job.name.removeprefix("custom/")',
        "stored_name = job.name",
    ),
]
MUTANTS["show/progress"] = [
    M(
        "a bar drawn when stderr is not a terminal",
        "return enabled and _stderr_is_terminal()",
        "return enabled",
    ),
    M(
        "--no-progress ignored",
        "return enabled and _stderr_is_terminal()",
        "return _stderr_is_terminal()",
    ),
    M(
        "a bar for a short transfer",
        "return total is None or total >= MIN_BYTES",
        "return total is None or total >= 0",
    ),
    M(
        "a bar of unknown length drawn at once",
        "if not self._show or self.completed < MIN_BYTES:",
        "if not self._show:",
    ),
    M(
        "the bar drawn on stdout",
        "console = Console(file=sys.stderr)",
        "console = Console(file=sys.stdout)",
    ),
    M(
        "a file name in the label read as markup",
        'TextColumn("{task.fields[label]}", markup=False)',
        'TextColumn("{task.fields[label]}", markup=True)',
    ),
    M(
        "control characters in the label shown as they are",
        "label=safe_line(self.label)",
        "label=self.label",
    ),
    M(
        "the bar never stopped",
        "            self._progress.stop()\n",
        "",
    ),
]
MUTANTS["wire/bounded"] = [
    M(
        "stacked gzip accepted",
        "if len(layers) > 1 or any(c not in _ACCEPTED for c in layers):",
        "if any(c not in _ACCEPTED for c in layers):",
    ),
    M(
        "a coding not asked for accepted",
        "if len(layers) > 1 or any(c not in _ACCEPTED for c in layers):",
        "if len(layers) > 1:",
    ),
    M(
        "gzip decoded in one go",
        "out = decompressor.decompress(data, DECODE_STEP)",
        "out = decompressor.decompress(data)",
    ),
    M(
        "--max-time not checked between chunks",
        "            self._check_deadline()\n            yield chunk",
        "            yield chunk",
    ),
    M(
        "a socket shut at --max-time reported as a transport error",
        "self._check_deadline()  # a socket shut by the timer is a timeout",
        "pass",
    ),
    M(
        "the --max-time timer not cancelled when the answer is closed",
        "        if self.timer is not None:\n            self.timer.cancel()\n",
        "",
    ),
    M(
        "a body ended by the --max-time timer taken as complete",
        "            yield from chunks\n            # A body that ends",
        "            yield from chunks\n            return\n            # A body that ends",
    ),
    M(
        "a capped read returns more than the cap",
        "return bytes(body[:limit]), more",
        "return bytes(body), more",
    ),
    M(
        "request timeouts not bounded by --max-time",
        "return {name: left if value is None else min(value, left)"
        " for name, value in bounds.items()}",
        "return {name: value for name, value in bounds.items()}",
    ),
]
MUTANTS["api/listings"] = [
    M(
        "a compressed listing recorded",
        "if is_encoded(response):",
        "if False:",
    ),
    M(
        "more than MAX_IDS IDs kept",
        "for entry in data[:MAX_IDS]:",
        "for entry in data:",
    ),
    M(
        "an entry without the ID field skipped instead of giving up",
        "            return None  # not a listing of this resource after all",
        "            continue",
    ),
    M(
        "a listing that is not JSON recorded",
        'if "json" not in response.headers.get("Content-Type", ""):',
        'if "json" in response.headers.get("Content-Type", "") and False:',
    ),
    M(
        "the oldest listing paths never dropped",
        "while len(paths) > MAX_PATHS:",
        "while len(paths) > MAX_PATHS * 100:",
    ),
    M(
        "a label equal to its ID repeated",
        'rows.append([str(entry[field]), label if label != str(entry[field]) else ""])',
        "rows.append([str(entry[field]), label])",
    ),
    M(
        "a listing cut short recorded",
        "if not self.complete or self.size > RECORD_LIMIT:",
        "if self.size > RECORD_LIMIT:",
    ),
    M(
        "the cache directory not made private",
        "        make_private_dirs(target.parent)\n",
        "        target.parent.mkdir(parents=True, exist_ok=True)\n",
    ),
]
MUTANTS["api/checks"] += [
    M(
        "every undocumented field refused, typo or not",
        "cutoff=0.75",
        "cutoff=0.0",
    ),
    M(
        "a documented name with words added taken for a typo",
        "        if not (words < others or others < words):",
        "        if True:",
    ),
    M(
        "a misspelt field sent",
        "        if meant is not None:",
        "        if False:",
    ),
    M(
        "fields of open-ended ops refused",
        "if not documented or spec.op in OPEN_ENDED_OPS:",
        "if not documented:",
    ),
    M(
        "power_parameters_* refused",
        "        if unknown.startswith(OPEN_ENDED_PREFIXES):\n            continue\n",
        "",
    ),
    M(
        "a file part warned about where MAAS reads a file",
        "if part.name in documented and not wants_file_part(resource.template, part.name):",
        "if part.name in documented:",
    ),
    M(
        "the official CLI's dashed op not mapped to underscores",
        'underscored = op.replace("-", "_")',
        "underscored = op",
    ),
]

# Module -> the test files that exercise it (kept short: mutation runs must be quick).
_GUARANTEES = "tests/test_guarantees.py"
# Behaviour added while the fleet wave's branches were merged.
MUTANTS["show/output"].append(
    M(
        "a signal let in before the temp file's name is known",
        "        if not letting_in:\n",
        "        if False:\n",
    )
)
MUTANTS["show/table"] += [
    M(
        "the naming column cut like the others",
        "    return column.path in IDENTITY",
        "    return False",
    ),
    M(
        "every column cut rather than some left out",
        "        shown.remove(can_go[-1])",
        "        break",
    ),
    M(
        "addresses cut like text",
        "        whole = [w or atomic(row[i] for row in body) for i, w in enumerate(whole)]",
        "        pass",
    ),
    M(
        "columns left out without a word",
        "    if len(shown) < len(labels):\n        left_out",
        "    if len(shown) < len(labels) and False:\n        left_out",
    ),
    M(
        "trailing blanks kept",
        '    return GAP.join(parts).rstrip(" ")',
        "    return GAP.join(parts)",
    ),
]
MUTANTS["cli/shellcomplete"].append(
    M(
        "an option's value typed before the method left to Click",
        "        items = self._before_the_method(args, incomplete)\n",
        "        items = None\n",
    )
)

# Mutants of code that moved between modules when the package was split into floors.
MUTANTS["show/terminal"] = [
    M(
        "--no-pager ignored",
        "command = pager_command() if enabled is not False and stdout_is_terminal() else None",
        "command = pager_command() if stdout_is_terminal() else None",
    ),
    M(
        "a pager that is not installed is run",
        'if program in ("", "cat") or shutil.which(program) is None:',
        'if program in ("", "cat"):',
    ),
    M(
        "NO_COLOR ignored",
        'return stream.isatty() and not os.environ.get("NO_COLOR")',
        "return stream.isatty()",
    ),
]

MUTANTS["wire/settings"] = [
    M(
        "--insecure given on the command line loses to the profile",
        "insecure=self.insecure or profile.insecure,",
        "insecure=profile.insecure,",
    ),
    M(
        "--cacert given on the command line loses to the profile",
        "cacert=self.cacert or profile.cacert,",
        "cacert=profile.cacert or self.cacert,",
    ),
    M(
        "a key of four parts accepted",
        "if len(parts) != 3 or not all(",
        "if len(parts) < 3 or not all(",
    ),
    M(
        "token key not registered as a secret",
        "for secret in parts[1:]:",
        "for secret in parts[2:]:",
    ),
]

MUTANTS["wire/connection"] = [
    M(
        "a 3xx read as a success (a fleet line's, a poll's)",
        "if not 200 <= response.status_code < 300:",
        "if not 200 <= response.status_code < 400:",
    ),
]

MUTANTS["profiles/target"] = [
    M(
        "--insecure warning for http instead of https",
        'if transport.insecure and scheme == "https":',
        'if transport.insecure and scheme == "http":',
    ),
    M(
        "--anonymous still signs",
        "if anonymous or target.profile is None or target.profile.anonymous:",
        "if target.profile is None or target.profile.anonymous:",
    ),
    M(
        "clock offset not saved",
        "        state.save_clock_offset(target.state_key, offset)\n",
        "",
    ),
    M(
        "clear-text warning for loopback too (key and password login)",
        'return parts.scheme == "http" and not _is_loopback(parts.hostname or "")',
        'return parts.scheme == "http"',
    ),
]

MUTANTS["sandbox/serve"] = [
    M(
        "the sandbox's profile made the default of the user's config",
        "        if path is not None:  # the private config of the commands run: theirs alone\n",
        "        if True:\n",
    ),
    M(
        "a profile of that name for another server replaced",
        "if old is not None and not is_sandbox_url(old.url):",
        "if False:",
    ),
    M(
        "the description not cached for the profile",
        "save_cache(profile.api_root, sim.describe_bytes, ",
        "(lambda *args: None)(profile.api_root, sim.describe_bytes, ",
    ),
    M(
        "commands run on the serving port",
        "sim = start(settings, 0 if settings.port is None else settings.port)",
        "sim = start(settings, DEFAULT_PORT if settings.port is None else settings.port)",
    ),
    M(
        "MAASCURL_PROFILE passed on to the commands",
        "if k not in (ENV_PROFILE, ENV_CACERT)}",
        "if k not in (ENV_CACERT,)}",
    ),
    M(
        "this maascurl not first on the commands' PATH",
        'env["PATH"] = os.pathsep.join([str(here), env.get("PATH", os.defpath)])',
        'env["PATH"] = env.get("PATH", os.defpath)',
    ),
    M(
        "the commands after a failed one still run",
        "            if status != 0:\n                return status\n",
        "            if status != 0:\n                continue\n",
    ),
    M(
        "a command ended by a signal reported as a success",
        "return 128 - status if status < 0 else status",
        "return max(status, 0)",
    ),
    M(
        "Ctrl-C not left to the command",
        "                signal.SIGINT: self.interrupt,\n",
        "",
    ),
    M(
        "SIGTERM not passed on to the command",
        "                signal.SIGTERM: self.pass_on,\n",
        "",
    ),
    M(
        "signals handled only once the commands run",
        "    with runner.handling_signals():  # from the start",
        "    with handling({}):  # from the start",
    ),
]

MUTANTS["cli/sandbox"] = [
    M("another default port", "DEFAULT_PORT = 5248", "DEFAULT_PORT = 5240"),
    M("--run not repeatable", '    "runs",\n    multiple=True,\n', '    "runs",\n'),
]

MUTANTS["api/apidesc"] += [
    M(
        "'handler' kept in the official CLI's names",
        'return "-".join(part for part in parts if part != "handler")',
        'return "-".join(parts)',
    ),
    M(
        "an ambiguous CLI name resolved to the first match",
        "return found[0] if len(found) == 1 else None",
        "return found[0] if found else None",
    ),
]

MUTANTS["wire/bounded"] = [
    M(
        "length checked against a compressed Content-Length",
        "return int(length) if length.isdigit() and not is_encoded(response) else None",
        "return int(length) if length.isdigit() else None",
    ),
]

MUTANTS["api/apidesc"] += [
    M(
        "a path matched against the last answer kept for another",
        "if last is None or last[0] != segments:",
        "if last is None:",
    ),
]
MUTANTS["api/fetch"] = [
    M(
        "the description read without a cap",
        "connection.read_capped(spec, DESCRIBE_LIMIT, transport)",
        "connection.read(spec, 2**62).content",
    ),
]
MUTANTS["dirs"] = [
    M("directories made with the umask's mode", "os.mkdir(path, 0o700)", "os.mkdir(path)"),
]
MUTANTS["cli/values"] = [
    M("-j, --report and --fail-fast taken without --each", "if given.get(name):", "if False:"),
]

# Issue #25: sixteen behaviours an independent sample of mutants found unguarded, each
# now pinned by a test in tests/test_behaviours.py (numbered as in the issue).
MUTANTS["api/checks"] += [
    M(
        "1. the hint for an op of another method names the method typed",
        "use `maascurl {other[0].lower()} {name} op={op}`",
        "use `maascurl {method.lower()} {name} op={op}`",
    ),
    M(
        "2. file-part names not checked for typos",
        "    given += [part.name for part in spec.files]\n",
        "",
    ),
]
MUTANTS["jobs/events"] += [
    M(
        "3. events filters not checked against the description",
        "    if desc is not None:\n        check_against_description(",
        "    if False:\n        check_against_description(",
    ),
    M(
        "4. following starts after the oldest event of the backlog",
        "newest = max((_event_id(event) for event in page), default=0)",
        "newest = min((_event_id(event) for event in page), default=0)",
    ),
]
MUTANTS["wire/bounded"] += [
    M(
        "5. a body of exactly the cap taken as over it",
        "if len(chunk) > room:",
        "if len(chunk) >= room:",
    ),
    M(
        "6. identity taken for a coding",
        'layers = [c for c in codings if c != "identity"]',
        "layers = codings",
    ),
    M(
        "7. no timer at the --max-time deadline",
        "self.timer = _shutdown_timer(response, deadline, self._expire)",
        "self.timer = None",
    ),
]
MUTANTS["api/listings"].append(
    M("8. a listing recorded again keeps its old place", "    paths.pop(listing, None)\n", "")
)
MUTANTS["jobs/upload"] += [
    M("9. chunk failures not reset by a good chunk", "                failures = 0\n", ""),
    M(
        "10. an upload MAAS reports incomplete taken as finished",
        'if not rfile.get("complete") and stored_bytes(rfile) is not None:',
        "if False:",
    ),
]
MUTANTS["profiles/password"].append(
    M("11. no clear-text warning before the password", "    _warn_cleartext(profile.url)\n", "")
)
MUTANTS["jobs/wait"] += [
    M(
        "12. a wait sleeps a whole interval past --wait-timeout",
        "view.sleep(min(pacer.next(), max(0.0, deadline - now)))",
        "view.sleep(pacer.next())",
    ),
    M(
        "13. a list index equal to the length taken",
        "part.isdigit() and int(part) < len(data):",
        "part.isdigit() and int(part) <= len(data):",
    ),
    M(
        "16. the first machine of each listing chunk never polled",
        "chunk = listed[start : start + LISTING_CHUNK]",
        "chunk = listed[start + 1 : start + LISTING_CHUNK]",
    ),
    M(
        "16. `maascurl wait` ignores --wait-timeout",
        "goal = Goal(condition, wait.timeout or DEFAULT_WAIT_TIMEOUT)",
        "goal = Goal(condition, DEFAULT_WAIT_TIMEOUT)",
    ),
]
MUTANTS["jobs/fleetwait"] += [
    M(
        "12. a fleet's wait sleeps a whole interval past --wait-timeout",
        "delay = min(pacer.next(), max(0.0, min(w.deadline() for w in pending) - now))",
        "delay = pacer.next()",
    ),
    M(
        "14. a fleet's wait held to the runner's window",
        "    fleet = replace(fleet, window=FLEET_WINDOW, bodies=bodies)\n",
        "    fleet = replace(fleet, bodies=bodies)\n",
    ),
]
MUTANTS["jobs/fleet"].append(
    M(
        "15. a line whose -o file cannot be written counted as ok",
        "        except MaascurlError as exc:\n            result = result.failed(exc)\n"
        "        except RecursionError:",
        "        except MaascurlError:\n            pass\n        except RecursionError:",
    )
)
# MAAS's v3 API (tests/test_v3.py against maascurl/sandbox/simulator_v3.py).
MUTANTS["wire/redact"] = [
    M(
        "oauth_token not redacted",
        '_SECRET_PARAMS = ("oauth_consumer_key", "oauth_token", "oauth_signature")',
        '_SECRET_PARAMS = ("oauth_consumer_key", "oauth_signature")',
    ),
    M(
        "a bearer token shown",
        'if re.match(r"(?i)\\s*bearer\\b", value):',
        "if False:",
    ),
    M("cookies shown", 'if lowered in ("cookie", "set-cookie"):', "if False:"),
]
MUTANTS["wire/bearer"] = [
    M("no second token after a 401", "if other is not None and other != token:", "if False:"),
    M(
        "a 401's body read whole",
        "response._content, _ = read_capped(response, AUTH_BODY_LIMIT)",
        "response.read()",
    ),
]
MUTANTS["wire/jsonbody"] = [
    M("a repeated name replaces the first", "if name not in self.members:", "if True:"),
    M(
        "name:=JSON sent as text",
        "            value = json.loads(text)",
        "            value = text",
    ),
]
MUTANTS["wire/request"] += [
    M(
        "v3 items sent as form fields",
        "    if v3:\n        _add_v3_items(spec, tokens, body, stdin)\n        return spec\n",
        "",
    ),
    M(
        "v3/ kept in a short v3 PATH",
        "        return stripped[len(V3_SEGMENT) :]",
        "        return stripped",
    ),
    M(
        "a v3 JSON body without its Content-Type",
        '        spec.headers.append(("Content-Type", JSON_TYPE))  # what the v3 API reads',
        "        pass",
    ),
    M("name:=JSON taken by the 2.0 API", "        raise _json_for_v2(item)", "        return"),
]
MUTANTS["wire/status"] = [
    M(
        "the v3 envelope read as any JSON",
        "if isinstance(data, dict) and is_envelope(data):",
        "if False:",
    ),
    M(
        "the detail's field left out",
        'text = f"{where}: {text}"',
        "text = text",
    ),
]
MUTANTS["profiles/tokens"] = [
    M(
        "a token about to expire not renewed",
        "if stored is not None and stored.left() > RENEW_BEFORE:",
        "if stored is not None and stored.left() > 0:",
    ),
    M(
        "the refresh token never used",
        "        if stored is not None and stored.refresh_token:\n            refreshed",
        "        if False:\n            refreshed",
    ),
    M(
        "the token file world-readable",
        "os.replace(tmp, path)",
        "os.chmod(tmp, 0o644); os.replace(tmp, path)",
    ),
    M(
        "a script asked for a password",
        "if not (self.prompt or can_prompt)():",
        "if False:",
    ),
    M(
        "the refresh cookie's name wrong",
        'REFRESH_COOKIE = "maas.local_refresh_token_cookie"',
        'REFRESH_COOKIE = "refresh"',
    ),
    M(
        "a token kept from another server",
        "if stored.url != profile.v3_root or not stored.access_token:",
        "if not stored.access_token:",
    ),
    M(
        "tokens not registered as secrets",
        "    register_secret(token)\n    if refresh:",
        "    if refresh:",
    ),
]
MUTANTS["profiles/target"] += [
    M(
        "v3 PATHs sent to the 2.0 API",
        "if is_v3_path(path, urlsplit(chosen.url).path):",
        "if False:",
    ),
]
MUTANTS["profiles/password"] += [
    M(
        "the password posted to a region without v3",
        "        if desc is None:\n            return V3Login(None, 0)",
        "        if False:\n            return V3Login(None, 0)",
    ),
]
MUTANTS["api/openapi"] = [
    M(
        "a literal segment no better than a placeholder",
        "return 2 * len(segment) + 1000, None",
        "return 0, None",
    ),
    M(
        "a page not told apart",
        'if isinstance(properties, dict) and {"items", "total"} <= set(properties):',
        "if False:",
    ),
    M(
        "a stale document kept for ever",
        "return not 0 <= time.time() - desc.fetched < MAX_AGE",
        "return False",
    ),
    M(
        "a 404 read as an error, not as no v3 API",
        "        if error.status == 404:\n            return None\n        raise",
        "        raise",
    ),
]
MUTANTS["api/v3checks"] = [
    M(
        "a field MAAS drops passed over in silence",
        "            else:  # MAAS's v3 models drop what they do not name, without a word\n",
        "            elif False:\n",
    ),
    M(
        "a method the path lacks sent",
        "        raise NotInDescription(_no_such_method(name, match.path, spec.method))",
        "        return",
    ),
    M(
        "no warning of text for an array",
        'if isinstance(value, str) and field.type in ("array", "object"):',
        "if False:",
    ),
]
MUTANTS["api/v3completion"] = [
    M("a verb offered without its ID", "    return partial + verb", "    return verb"),
    M(
        "body fields all offered as name=",
        'field.name + ("=" if field.is_text else ":=")',
        'field.name + "="',
    ),
]
MUTANTS["jobs/v3"] = [
    M(
        "no word of a server without v3",
        "    if fresh is None:\n        raise no_v3_api(target.server)",
        "    if False:\n        raise no_v3_api(target.server)",
    ),
    M("a 412 unexplained", "    if error.status == 412:", "    if False:"),
]
MUTANTS["jobs/pages"] = [
    M("only the first page", "        if not link:\n            break", "        break"),
    M(
        "a next on another server followed",
        "    if target.scheme and (target.scheme, target.netloc) != (root.scheme, root.netloc):",
        "    if False:",
    ),
    M("a page handed out twice followed", "        if key in seen:", "        if False:"),
]
MUTANTS["show/pages"] = [
    M(
        "every item held at once",
        "    first = next(pages, None)\n"
        "    pages = _chain(first, pages) if first is not None else iter(())",
        "    pages = iter([[i for p in pages for i in p]])",
    ),
    M(
        "a page's items joined without a comma",
        '            yield ("" if first else ",") + ",".join(parts)',
        '            yield ",".join(parts)',
    ),
]

_GAPS = "tests/test_mutation_gaps.py"
_HOSTILE = "tests/test_hostile.py"
_REGION = "tests/test_region.py"
TESTS: dict[str, list[str]] = {
    "wire/auth": [_GUARANTEES, "tests/test_reliability.py", "tests/test_requests.py"],
    "wire/client": [
        _GUARANTEES,
        "tests/test_reliability.py",
        "tests/test_tls.py",
        "tests/test_habits.py::test_a_name_that_does_not_resolve_fails_at_once",
    ],
    "show/output": [
        _GUARANTEES,
        _GAPS,
        "tests/test_output.py",
        "tests/test_reliability.py",
        "tests/test_security.py::test_a_signal_as_the_temp_file_is_created_leaves_nothing_behind",
    ],
    "profiles/config": [_GUARANTEES, _GAPS, "tests/test_profiles.py", "tests/test_reliability.py"],
    "errors": [
        _GAPS,
        "tests/test_requests.py",
        "tests/test_reliability.py",
        "tests/test_fleet.py::test_retry_after_slows_the_whole_run",
    ],
    "jobs/call": [
        _GAPS,
        "tests/test_requests.py",
        "tests/test_fleet.py::test_a_redirect_fails_its_line_with_exit_3",
        _REGION,
        "tests/test_reliability.py",
        "tests/test_tls.py",
    ],
    "wire/request": [
        _GUARANTEES,
        _GAPS,
        "tests/test_items.py",
        "tests/test_requests.py",
        _HOSTILE,
        _REGION,
    ],
    "wire/multipart": [_GUARANTEES, "tests/test_items.py", "tests/test_requests.py"],
    "api/checks": ["tests/test_requests.py", _REGION, "tests/test_describe_cli.py"],
    # _REGION: the official CLI's names, which moved here from checks.py.
    "api/apidesc": [
        "tests/test_apidesc.py",
        "tests/test_describe.py",
        "tests/test_requests.py",
        _REGION,
    ],
    "api/completion": [_GAPS, "tests/test_completion.py"],
    "show/jsoncolor": ["tests/test_jsoncolor.py", "tests/test_output.py"],
    "profiles/login": [
        "tests/test_profiles.py",
        "tests/test_reliability.py",
        "tests/test_tls.py",
        "tests/test_security.py::test_login_reads_the_key_from_a_file",
        "tests/test_password_login.py",
    ],
    "api/describe": [_GAPS, "tests/test_describe.py", "tests/test_describe_cli.py"],
    "termsafe": ["tests/test_termsafe.py"],
    "cli/shellcomplete": [
        _GAPS,
        "tests/test_completion.py",
        "tests/test_table.py::test_completion_of_formats_and_fields",
        "tests/test_security.py::test_every_completion_candidate_is_made_visible",
    ],
    "profiles/state": [_GAPS, "tests/test_reliability.py"],
    "cli/group": [
        _GAPS,
        "tests/test_requests.py",
        "tests/test_reliability.py",
        "tests/test_entrypoint.py",
    ],
    "jobs/fleet": [
        "tests/test_fleet.py",
        "tests/test_wait_fleet.py::test_a_failure_message_from_maas_is_redacted_and_made_safe",
        "tests/test_wait_fleet.py::"
        "test_with_bodies_to_files_the_states_go_under_the_bar_on_a_shared_terminal",
    ],
    "jobs/batch": ["tests/test_fleet.py", "tests/test_each_data.py"],
    "jobs/fleetwait": [
        "tests/test_wait_fleet.py",
        "tests/test_imagewait.py::test_a_fleet_line_that_uploads_an_image_is_not_taken_as_waited_for",
    ],
    "jobs/wait": [
        "tests/test_wait.py",
        "tests/test_wait_fleet.py::test_a_failed_post_and_a_timeout_in_one_run",
    ],
    "show/waitview": ["tests/test_wait.py"],
    "jobs/events": ["tests/test_events.py"],
    "jobs/racksync": ["tests/test_imagewait.py"],
}

_TABLE = "tests/test_table.py"
_UPLOAD = "tests/test_upload.py"
_SECURITY = "tests/test_security.py"
TESTS["show/fields"] = [_TABLE]
TESTS["show/table"] = [_TABLE]
TESTS["profiles/password"] = [
    "tests/test_password_login.py",
    _SECURITY + "::test_password_login_gives_up_on_a_silent_server_too",
]
TESTS["profiles/profile_import"] = ["tests/test_profile_import.py"]
TESTS["jobs/upload"] = [_UPLOAD]
TESTS["show/progress"] = [_UPLOAD]
TESTS["wire/bounded"] = [_SECURITY]
TESTS["api/listings"] = [_REGION, _SECURITY]
TESTS["show/terminal"] = TESTS["show/output"] + ["tests/test_fast_paths.py"]
_V3 = "tests/test_v3.py"
TESTS["wire/redact"] = [_V3, "tests/test_reliability.py"]
for _module in ("wire/bearer", "wire/jsonbody", "wire/status", "profiles/tokens", "profiles/target",
                "api/openapi", "api/v3checks", "api/v3completion", "jobs/v3", "jobs/pages",
                "show/pages"):  # fmt: skip
    TESTS[_module] = [_V3]
TESTS["wire/request"] = [*TESTS["wire/request"], _V3]
TESTS["profiles/password"] = [*TESTS["profiles/password"], _V3]
TESTS["wire/settings"] = TESTS["profiles/config"] + [_HOSTILE, "tests/test_tls.py"]
TESTS["wire/connection"] = TESTS["jobs/call"] + ["tests/test_wait.py"]
TESTS["profiles/target"] = TESTS["jobs/call"] + TESTS["profiles/login"]
TESTS["wire/bounded"] = [
    _SECURITY,
    "tests/test_output.py",
    "tests/test_reliability.py",
    "tests/test_mutation_gaps.py::"
    "test_a_gzip_download_is_checked_against_its_decoded_length_not_the_header",
]
TESTS["sandbox/serve"] = ["tests/test_sandbox.py"]
TESTS["cli/sandbox"] = ["tests/test_sandbox.py"]
TESTS["profiles/target"] = list(dict.fromkeys([*TESTS["profiles/target"], _V3]))
TESTS["api/fetch"] = [_SECURITY, "tests/test_profiles.py"]
TESTS["dirs"] = ["tests/test_profiles.py", "tests/test_reliability.py", _SECURITY]
TESTS["cli/values"] = ["tests/test_fleet.py"]

# Issue #25's tests, each run only with the module whose mutants it kills.
_BEHAVIOURS = "tests/test_behaviours.py::"
for _module, _tests in {
    "api/checks": [
        "test_an_op_sent_with_the_wrong_method_gets_the_command_to_type",
        "test_a_mistyped_file_part_name_gets_a_did_you_mean",
        "test_a_misspelt_events_filter_draws_a_warning",
    ],
    "jobs/events": [
        "test_a_misspelt_events_filter_draws_a_warning",
        "test_following_after_a_backlog_of_several_prints_each_event_once",
    ],
    "wire/bounded": [
        "test_a_body_of_exactly_the_cap_is_not_over_it",
        "test_an_identity_content_encoding_is_accepted",
        "test_max_time_ends_a_body_that_trickles_then_stalls_at_the_deadline",
    ],
    "api/listings": ["test_the_listing_cache_drops_the_least_recently_recorded_listing"],
    "jobs/upload": [
        "test_scattered_chunk_faults_each_get_the_retries",
        "test_an_upload_maas_still_reports_incomplete_fails",
    ],
    "profiles/password": [
        "test_password_login_over_cleartext_http_warns_before_the_password_is_sent"
    ],
    "jobs/wait": [
        "test_a_wait_never_sleeps_past_the_wait_timeout",
        "test_a_fleet_wait_never_sleeps_past_the_wait_timeout",
        "test_a_list_index_equal_to_the_length_is_no_such_field",
        "test_the_first_machine_of_each_listing_is_polled",
        "test_maascurl_wait_honours_its_wait_timeout",
    ],
    "jobs/fleetwait": [
        "test_a_fleet_wait_never_sleeps_past_the_wait_timeout",
        "test_the_first_machine_of_each_listing_is_polled",
        "test_each_wait_sends_every_action_before_waiting_past_the_window",
    ],
    "jobs/fleet": ["test_a_line_whose_output_file_cannot_be_written_fails"],
}.items():
    _ours = [_BEHAVIOURS + name for name in _tests]
    # First for wait: the test_wait.py tests that notice its two mutants numbered 16 do so
    # only by hanging until the per-test timeout (120 s each); these fail within seconds.
    TESTS[_module] = (
        [*_ours, *TESTS[_module]] if _module == "jobs/wait" else [*TESTS[_module], *_ours]
    )

# Issue 22: curl's, gh's and kubectl's habits, --wait's last line, errors with a next step.
_HABITS = "tests/test_habits.py"
MUTANTS["show/fields"].append(
    M("--jq taken with --format", "        if shaped:\n", "        if False:\n")
)
MUTANTS["jobs/wait"].append(
    M(
        "a wait piped ends in one line too",
        "    return not (asked or out.include or out.keep_error_body) and stdout_is_terminal()",
        "    return not (asked or out.include or out.keep_error_body)",
    )
)
MUTANTS["profiles/target"] += [
    M(
        "a refused key names no profile",
        "    if profile is None:\n        return None\n    if not signed:",
        "    if True:\n        return None\n    if not signed:",
    ),
    M(
        "/maas taken for MAAS's path",
        '    if not (error.html or not root.endswith("/MAAS")):',
        "    if not error.html:",
    ),
]
MUTANTS["show/stream"] = [
    M(
        "a header for every line's answer",
        "        header = not self.started and view.header_row and bool(columns)",
        "        header = view.header_row and bool(columns)",
    ),
]
MUTANTS["cli/options"] = [
    M(
        "-o json taken for a file name",
        "    hint = KUBECTL_OUTPUT.get(value)\n",
        "    hint = None\n",
    ),
]
MUTANTS["show/jq"] = [
    M(
        "strings printed as JSON",
        "    if isinstance(value, str):\n        return value",
        "    if False:\n        return value",
    ),
    M(
        "a runtime error a traceback",
        "    except ValueError as exc:  # a runtime error",
        "    except KeyError as exc:  # a runtime error",
    ),
    M(
        "one result only",
        '    return "".join(line + "\\n" for line in map(_line, values))',
        '    return "".join(line + "\\n" for line in map(_line, values[:1]))',
    ),
]
MUTANTS["api/v3describe"] = [
    M(
        "a v3 path's methods out of order",
        "        methods = sorted(p.methods, key=_ORDER.index)",
        "        methods = sorted(p.methods)",
    ),
    M(
        "the If-Match header listed as a parameter",
        'if f.where != "header" or f.name != "if-match"]',
        'if f.where != "header" or f.name != "nothing"]',
    ),
    M(
        "no suggestion for an unknown path",
        "    if guess is not None:\n        message += ",
        "    if guess is None:\n        message += ",
    ),
]
TESTS["show/fields"] = [*TESTS["show/fields"], _HABITS]
TESTS["jobs/wait"] = [*TESTS["jobs/wait"], _HABITS]
TESTS["profiles/target"] = [*TESTS["profiles/target"], _HABITS]
TESTS["show/stream"] = [_HABITS]
TESTS["cli/options"] = [_HABITS]
TESTS["show/jq"] = [_HABITS]
TESTS["api/v3describe"] = [_V3]
TESTS["jobs/fleet"] += [_HABITS + "::test_a_line_whose_answer_is_not_json_fails_alone"]

# (module, mutant name) -> why the mutant cannot change anything a test can observe.
EQUIVALENT: dict[tuple[str, str], str] = {
    ("profiles/tokens", "tokens not registered as secrets"): (
        "a second layer: MAAS's access tokens are JWTs, which errors.py's patterns redact "
        "wherever they appear, registered or not (and a kept token is registered when it is "
        "loaded); the registration covers a token of another shape"
    ),
    ("wire/client", "Authorization kept on a redirect"): (
        "no hop can carry the old header either way: a same-origin hop is signed afresh "
        "(MaasAuth.sign replaces Authorization) and a cross-origin hop keeps only "
        "_NEUTRAL_HEADERS; the pop is a second layer"
    ),
    ("wire/bounded", "--max-time not checked between chunks"): (
        "a second layer: at the deadline the timer shuts the socket, so the next read ends "
        "in an error or an early end, and both are checked against the deadline; the check "
        "between chunks only notices the same expiry one chunk sooner"
    ),
    ("api/listings", "a compressed listing recorded"): (
        "harmless: the recorder wraps the stream after bounded.guard_response (a response "
        "hook run inside client.send) has made it yield decoded bytes, and take() caps "
        "those at RECORD_LIMIT, so a gzip listing would be recorded correctly and within "
        "bounds; MAAS and the simulator send listings uncompressed"
    ),
    ("api/listings", "a listing that is not JSON recorded"): (
        "a body that is not JSON fails json.loads in save() and records nothing either "
        "way; only a JSON listing sent under another Content-Type would be recorded, "
        "correctly, and MAAS sends its listings as application/json"
    ),
    ("api/listings", "a listing cut short recorded"): (
        "save() is reached only after write_response returned, i.e. after the body was "
        "read to its end; a transfer cut short raises first (and its partial JSON would "
        "not parse); the complete flag is a second guard"
    ),
    ("api/checks", "the official CLI's dashed op not mapped to underscores"): (
        "difflib already ranks the underscored spelling first: for every op of every "
        "resource in the MAAS description (maascurl/sandbox/data/describe.json), "
        "suggest_op on op.replace('_', '-') answers op; the mapping guards future names"
    ),
    ("api/apidesc", "an ambiguous CLI name resolved to the first match"): (
        "no MAAS description (the sandbox's, the captured 3.x one it is made from "
        "and libmaas's 2.0-2.2 ones) has two handlers with the same CLI name and number of IDs, so "
        "at most one template is ever found; the check guards a future description"
    ),
    ("profiles/config", "config not synced before the rename"): (
        "fsync only matters if the machine loses power between the write and the rename; "
        "the rename is still atomic for every running process, so no test without a power "
        "cut can tell"
    ),
    ("jobs/events", "the newest event seen printed again"): (
        "MAAS answers `after=ID` with the events whose id is greater than ID (id__gt in "
        "EventsHandler.query, src/maasserver/api/events.py), and the next page is asked for "
        "after the newest id printed, so no page MAAS sends holds an event already printed; "
        "the `> newest` filter only guards against a server that broke that"
    ),
}


def source_of(tree: Path, module: str) -> Path:
    """maascurl/PATH.py in TREE for the MUTANTS key PATH ("jobs/fleet")."""
    return tree / "maascurl" / f"{module}.py"


def resolve(names: list[str]) -> tuple[list[str], list[str]]:
    """MUTANTS keys for NAMES (a key, or a module's name when only one key ends in it);
    the keys, and the names that match none or several."""
    keys, unknown = [], []
    for name in names:
        found = [k for k in MUTANTS if k == name or k.rsplit("/", 1)[-1] == name]
        if len(found) == 1:
            keys.append(found[0])
        else:
            unknown.append(name)
    return keys, unknown


def check_mutants(modules: list[str]) -> tuple[list[str], set[tuple[str, str]]]:
    """Problems with the table (unknown modules, repeated names) and the stale mutants."""
    problems: list[str] = []
    stale: set[tuple[str, str]] = set()
    for module in modules:
        path = source_of(REPO, module)
        if not path.exists():
            problems.append(f"{module}: maascurl/{module}.py does not exist")
            continue
        if module not in TESTS:
            problems.append(f"{module}: no test files in TESTS")
        names = [m.name for m in MUTANTS[module]]
        if len(set(names)) != len(names):
            problems.append(f"{module}: two mutants share a name")
        text = path.read_text(encoding="utf-8")
        for mutant in MUTANTS[module]:
            if text.count(mutant.old) != 1:
                stale.add((module, mutant.name))
    return problems, stale


def copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns(
        ".git",
        ".venv",
        "venv",
        "dist",
        "build",
        "*.egg-info",
        "__pycache__",
        ".*_cache",
        ".hypothesis",
    )
    shutil.copytree(REPO, dest, ignore=ignore)


def _default_sigint() -> None:
    """In the test run, Ctrl-C acts as at a terminal, even when this script runs in the
    background (`&`, nohup), where SIGINT is ignored and every child would inherit that:
    the tests that interrupt maascurl would then fail under any mutant."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_tests(tree: Path, files: list[str]) -> tuple[bool, str]:
    """Run FILES in TREE; (passed, first failing test or a reason)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        *files,
    ]
    try:
        done = subprocess.run(
            cmd,
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=_default_sigint,
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {TIMEOUT} s"
    if done.returncode == 0:
        return True, ""
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return False, failed[0] if failed else (done.stdout + done.stderr).strip()[-300:]


def check_import(tree: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import maascurl, sys; sys.stdout.write(maascurl.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True
    )
    if not found.stdout.startswith(str(tree)):
        sys.exit(f"mutate: the copy is not what Python imports ({found.stdout or found.stderr})")


def mutate(modules: list[str], stale: set[tuple[str, str]], baseline: bool, jobs: int = 1) -> int:
    """Every mutant of MODULES, JOBS at a time, each in a copy of the tree of its own."""
    killed: list[str] = []
    survived: list[tuple[str, str]] = []
    invalid = 0
    with tempfile.TemporaryDirectory(prefix="maascurl-mutate-") as tmp:
        trees: queue.Queue[Path] = queue.Queue()
        for number in range(jobs):
            tree = Path(tmp) / f"tree{number}"
            copy_tree(tree)
            check_import(tree)
            trees.put(tree)
        if baseline:
            files = sorted({f for m in modules for f in TESTS[m]})
            ok, why = run_tests(trees.queue[0], files)
            if not ok:
                print(f"mutate: the tests fail without any mutant: {why}", file=sys.stderr)
                return 1
            print(f"baseline: {len(files)} test files pass unmutated", flush=True)
        work: list[tuple[str, Mutant]] = []
        for module in modules:
            original = source_of(REPO, module).read_text(encoding="utf-8")
            for mutant in MUTANTS[module]:
                if (module, mutant.name) in stale:
                    continue
                try:
                    compile(original.replace(mutant.old, mutant.new), module, "exec")
                except SyntaxError as exc:
                    # A mutant that cannot even be imported proves nothing about the tests.
                    print(
                        f"INVALID  {module}: {mutant.name}: {exc}; fix it in MUTANTS (not counted)"
                    )
                    invalid += 1
                    continue
                work.append((module, mutant))

        def one(module: str, mutant: Mutant) -> None:
            tree = trees.get()
            try:
                passed, why, took = run_mutant(tree, module, mutant)
            finally:
                trees.put(tree)
            label = f"{module}: {mutant.name}"
            if passed:
                survived.append((module, mutant.name))
                print(f"SURVIVED {label} ({took:.0f} s)", flush=True)
            else:
                killed.append(label)
                print(f"killed   {label} ({took:.0f} s) by {why}", flush=True)

        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            for future in [pool.submit(one, module, mutant) for module, mutant in work]:
                future.result()
        except KeyboardInterrupt:
            print("\nmutate: interrupted; partial results follow", file=sys.stderr)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return report(killed, survived) or (1 if stale or invalid else 0)


def run_mutant(tree: Path, module: str, mutant: Mutant) -> tuple[bool, str, float]:
    """MUTANT applied to TREE's copy of MODULE while its tests run; (passed, why, seconds)."""
    source = source_of(tree, module)
    original = source.read_text(encoding="utf-8")
    source.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
    started = time.monotonic()
    try:
        passed, why = run_tests(tree, TESTS[module])
    finally:
        source.write_text(original, encoding="utf-8")
    return passed, why, time.monotonic() - started


def report(killed: list[str], survived: list[tuple[str, str]]) -> int:
    total = len(killed) + len(survived)
    if total == 0:
        return 1
    equivalent = [s for s in survived if s in EQUIVALENT]
    unexplained = [s for s in survived if s not in EQUIVALENT]
    print(f"\nmutation score: {len(killed)}/{total} killed ({100 * len(killed) / total:.1f} %)")
    if equivalent:
        real = total - len(equivalent)
        print(
            f"  {len(equivalent)} survivor(s) equivalent: {len(killed)}/{real} of the "
            f"non-equivalent mutants killed ({100 * len(killed) / real:.1f} %)"
        )
    for module, name in equivalent:
        print(f"  equivalent {module}: {name}: {EQUIVALENT[(module, name)]}")
    for module, name in unexplained:
        print(f"  SURVIVOR   {module}: {name}: no test failed; add one or explain it in EQUIVALENT")
    return 1 if unexplained else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Run maascurl's tests against small deliberate bugs (mutants)."
    )
    parser.add_argument(
        "modules", nargs="*", help=f"modules (default: all of {', '.join(MUTANTS)})"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--equivalent", action="store_true", help="list the known equivalents")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated test run")
    parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="run N mutants at once (a tree copy each)"
    )
    args = parser.parse_args()
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background (`cmd &` without job control): an ignored
        # SIGINT is inherited by the tests' maascurl processes, and the tests
        # that press Ctrl-C would fail for that alone and count as kills.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    modules, unknown = resolve(args.modules) if args.modules else (list(MUTANTS), [])
    if unknown:
        parser.error(f"no mutants for {', '.join(unknown)}; known: {', '.join(MUTANTS)}")
    if args.equivalent:
        for (module, name), reason in EQUIVALENT.items():
            print(f"{module}: {name}\n    {reason}")
        return 0
    problems, stale = check_mutants(modules)
    # Modules with code but no entry yet (private helpers such as _httpx.py are left out).
    package = REPO / "maascurl"
    uncovered = sorted(
        key
        for key in (
            str(path.relative_to(package).with_suffix("")) for path in package.rglob("*.py")
        )
        if not key.rsplit("/", 1)[-1].startswith("_") and key not in MUTANTS
    )
    if uncovered and not args.modules:
        print(f"mutate: no mutants yet for: {', '.join(uncovered)}", file=sys.stderr)
    for problem in problems:
        print(f"mutate: {problem}", file=sys.stderr)
    if problems:
        return 1
    for module, name in sorted(stale):
        print(
            f"mutate: STALE {module}: {name}: its text is not found exactly once in "
            f"maascurl/{module}.py; update it in MUTANTS (not run)",
            file=sys.stderr,
        )
    if args.list:
        for module in modules:
            print(f"{module} ({', '.join(TESTS[module])}):")
            for mutant in MUTANTS[module]:
                mark = " [stale]" if (module, mutant.name) in stale else ""
                print(f"  {mutant.name}{mark}")
        print(f"{sum(len(MUTANTS[m]) for m in modules)} mutants")
        return 1 if stale else 0
    return mutate(modules, stale, baseline=not args.no_baseline, jobs=max(1, args.jobs))


if __name__ == "__main__":
    sys.exit(main())
