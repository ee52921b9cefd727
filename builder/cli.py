"""The ``cmfw`` command: parse options, call one library function, print.

Every command body is a few lines over a function in ``builder``; anything a
command does, a Python caller can do too. Errors of the library (bad input, an
output directory that is not ours) print one line per problem and exit with the
error's code: 2 for bad input, 1 for findings. Library modules are imported inside
the commands so that ``cmfw --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import signal
import sys
from typing import Any, Callable, NoReturn, TypeVar

import click

from . import __version__
from .errors import CmfwError, InputError, Problem
from .syntax.numbers import digits
from .syntax.plaintext import plural, shown

F = TypeVar("F", bound=Callable[..., Any])

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable and documented.",
)


#: The JSON documents of `validate` and `check` (docs/validate.md, docs/check.md).
VALIDATE_FORMAT = "cmfw-validate/1"
CHECK_FORMAT = "cmfw-check/1"

CI_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="text; json (stable, documented); sarif (SARIF 2.1.0, for code scanning); github (workflow annotations).",
)


def _print_ci(fmt: str, findings: Any = (), problems: Any = ()) -> None:
    """Findings and problems as SARIF (stdout) or GitHub workflow commands (stdout)."""
    from .ciformats import github_lines, sarif_document

    if fmt == "sarif":
        _print_json(sarif_document(findings, problems))
    else:
        for line in github_lines(findings, problems):
            click.echo(line)


WIDE = click.option("--wide", is_flag=True, help="Do not narrow tables to the terminal's width.")


def terminal_width(wide: bool) -> int | None:
    """How wide tables may be: $COLUMNS, else the terminal's width; no limit with --wide
    or when the output is not a terminal (a pipe or a file gets every character)."""
    import os
    import shutil

    if wide:
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    if digits(columns) and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return None


def fail(exc: CmfwError) -> NoReturn:
    """Print a library error, one line per problem, and exit with its code."""
    for line in exc.lines():
        click.echo(_severity_coloured(line).replace("cmfw: error:", f"cmfw: {paint('error', 'error')}:", 1), err=True)
    sys.exit(exc.exit_code)


def reports_errors(func: F) -> F:
    """Run a command body; library errors end it through :func:`fail`, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CmfwError as exc:
            fail(exc)
        except Terminated:
            click.echo(f"cmfw: terminated; {_output_state()}", err=True)
            sys.exit(143)
        except KeyboardInterrupt:
            click.echo(f"cmfw: interrupted; {_output_state()}", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _output_state() -> str:
    """What an interruption left: the swap of a new build is one step, before or after it."""
    from .writer import published

    done = published()
    if done:
        return f"the new build had already replaced {done[-1]} (it is complete)"
    return "the output directory was not changed"


def _complete(name: str) -> Callable[..., Any]:
    """A shell_complete callback from builder.completion, imported only when completing."""

    def callback(ctx: Any, param: Any, incomplete: str) -> Any:
        from . import completion

        return getattr(completion, name)(ctx, param, incomplete)

    return callback


class CmfwGroup(click.Group):
    """click's group, with cmfw's one error style for usage errors too
    (``cmfw: error: …``, one line, exit 2) and PowerShell among the completion shells."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        import os

        if any(key.endswith("_COMPLETE") and key.startswith("_") for key in os.environ):
            from . import completion  # noqa: F401 - registers the PowerShell completion class
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            message = " ".join(exc.format_message().split())
            click.echo(f"cmfw: error: {message}{where}", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("cmfw: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            click.echo(f"cmfw: error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(name="cmfw", cls=CmfwGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="cmfw", message="%(prog)s %(version)s")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems and what was asked for: no summaries.")
@click.option("-v", "--verbose", is_flag=True, help="Also print acknowledged lint findings with their reasons, and timings.")
@click.option(
    "--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
    help="Colour on a terminal; NO_COLOR set in the environment means never.",
)
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: bool, color: str) -> None:
    """Windows Firewall policy as code for Configuration Manager clients.

    Write a feature matrix (cmfw init), check it (cmfw validate) and build the
    policy artifacts from it (cmfw build).
    """
    import os

    if color == "always":
        ctx.color = True
    elif color == "never" or os.environ.get("NO_COLOR"):
        ctx.color = False
    ctx.obj = {"quiet": quiet and not verbose, "verbose": verbose}


def _setting(name: str) -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.obj is None:
        ctx = ctx.parent
    return bool(ctx and ctx.obj and ctx.obj.get(name))


def say(text: str, err: bool = False) -> None:
    """A summary line: left out with -q."""
    if not _setting("quiet"):
        click.echo(text, err=err)


class StatusLine:
    """What a long command is doing, on one line of stderr that each message overwrites,
    cleared at the end: only on a terminal and without -q (a log or a pipe gets nothing)."""

    def __init__(self) -> None:
        import shutil

        self.on = sys.stderr.isatty() and not _setting("quiet")
        self.width = shutil.get_terminal_size((80, 24)).columns if self.on else 0
        self.shown = False

    def show(self, what: str) -> None:
        if self.on:
            line = f"cmfw: {what}"[: max(self.width - 1, 10)]
            sys.stderr.write(f"\r\x1b[K{line}")
            sys.stderr.flush()
            self.shown = True

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:  # before any message that follows, success or error
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


_COLOURS = {"error": "red", "warning": "yellow", "note": "cyan", "ok": "green", "+": "green", "-": "red", "~": "yellow"}


def paint(text: str, kind: str) -> str:
    """``text`` in the colour of ``kind``; click drops the colour when it should not show."""
    colour = _COLOURS.get(kind)
    return click.style(text, fg=colour) if colour else text


def _severity_coloured(line: str) -> str:
    """A ``file:line:col: severity: …`` line with its severity word coloured."""
    for severity in ("error", "warning", "note"):
        marker = f": {severity}: "
        if marker in line:
            head, _, tail = line.partition(marker)
            return f"{head}: {paint(severity, severity)}: {tail}"
    return line


@cli.command()
@click.argument("path", default="firewall.yaml", type=click.Path(dir_okay=False, writable=True))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@reports_errors
def init(path: str, force: bool) -> None:
    """Write a starter matrix to PATH (default firewall.yaml), listing every feature (commented)."""
    from .starter import write_starter

    write_starter(path, force=force)
    say(f"wrote {path}: edit the addresses and features, then run: cmfw validate {path}")


@cli.command()
@click.argument("names", nargs=-1, metavar="[FEATURE]...", shell_complete=_complete("complete_features"))
@click.option("--search", "term", metavar="WORD", help="Only the features a word or port points at: 445, RPC, wol, pxe...")
@click.option("--variant", metavar="NAME", shell_complete=_complete("complete_variants"), help="With one FEATURE: show only this variant.")
@WIDE
@FORMAT
@reports_errors
def features(names: tuple[str, ...], term: str | None, variant: str | None, wide: bool, fmt: str) -> None:
    """List the feature catalog, or show FEATURE in detail.

    Each feature lists the firewall rules it needs, with default ports, who may
    connect, and the document section the rule comes from. --search finds features
    by a word (in the name, title, summary or rules, or as initials: wol) or a port.
    """
    from .catalog import load_catalog
    from .catalog.listing import catalog_document, check_names, format_feature, format_features_table, search

    catalog = load_catalog()
    if term is not None:
        if names:
            raise click.UsageError("give FEATURE names or --search, not both")
        found = search(catalog, term)
        if not found:
            click.echo(f"cmfw: no feature matches {term!r}; see `cmfw features`", err=True)
            sys.exit(1)
        if fmt == "json":
            _print_json(catalog_document(catalog, found))
        else:
            click.echo(format_features_table(catalog, found, terminal_width(wide)))
        return
    check_names(catalog, names)
    if variant is not None:
        if len(names) != 1:
            raise click.UsageError("--variant goes with exactly one FEATURE")
        chosen = catalog.features[names[0]]
        if variant not in chosen.variants:
            raise InputError([Problem("--variant", message=f"{names[0]} has no variant {variant!r} (it has {', '.join(chosen.variants)})")])
    if fmt == "json":
        _print_json(catalog_document(catalog, list(names) or None))
    elif names:
        click.echo("\n\n".join(format_feature(catalog, catalog.features[n], variant) for n in names))
    else:
        click.echo(format_features_table(catalog, width=terminal_width(wide)))


@cli.command()
@click.argument("matrix", metavar="MATRIX")
@CI_FORMAT
def validate(matrix: str, fmt: str) -> None:
    """Check MATRIX: schema, meaning, lint errors, and that every output format can
    carry its rules; exit 2 listing every problem. Nothing is rendered or written."""
    from .build import validate as run_validate

    try:
        result = run_validate(matrix)
    except InputError as exc:
        if fmt in ("sarif", "github"):
            _print_ci(fmt, problems=exc.problems or [Problem(matrix, message=str(exc))])
            sys.exit(exc.exit_code)
        if fmt != "json":
            fail(exc)
        _print_json({"format": VALIDATE_FORMAT, "file": matrix, "valid": False, "problems": [dataclasses.asdict(p) for p in exc.problems]})
        sys.exit(exc.exit_code)
    except CmfwError as exc:
        fail(exc)
    policies = result.policyset.policies
    if fmt in ("sarif", "github"):
        _print_ci(fmt, result.lint.findings)
        return
    if fmt == "json":
        _print_json(
            {
                "format": VALIDATE_FORMAT,
                "file": matrix,
                "valid": True,
                "problems": [],
                "warnings": len(result.lint.warnings),
                "policies": [
                    {"name": p.name, "key": p.key, "gpo_guid": p.gpo_guid, "rules": len(p.rules)} for p in policies
                ],
            }
        )
        return
    total = sum(len(p.rules) for p in policies)
    lint_summary = _show_lint(result.lint)
    say(f"{matrix}: valid: {plural(len(policies), 'policy', 'policies')}, {plural(total, 'rule')}{lint_summary}")
    for p in policies:
        click.echo(f"  {p.name}  ({p.key}, {plural(len(p.rules), 'rule')}, backup GPO GUID {p.gpo_guid})")


@cli.command()
@click.argument("matrix", metavar="MATRIX")
@click.option("-o", "--output", "output", required=True, metavar="DIR", help="Output directory (replaced atomically).")
@click.option("--force", is_flag=True, help="Build into a directory that holds files cmfw did not write (they are kept).")
@click.option(
    "--timestamp",
    metavar="TIME",
    help="Backup time to record: ISO 8601, seconds since 1970, or 'git' (the matrix's last commit); "
    "default SOURCE_DATE_EPOCH, else 2020-01-01.",
)
@click.option(
    "--zip/--no-zip", "make_zip", default=None,
    help="Also write DIR/package.zip: the whole package, reproducibly zipped (--check: as the last build did).",
)
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 listing the files in DIR a build would change.")
@click.option("--full", is_flag=True, help="With --check: render and compare every file, even when build.json says the inputs are unchanged.")
@click.option("--strict", is_flag=True, help="Fail (exit 1, nothing written) on open lint warnings.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "sarif", "github"]), default="text", show_default=True,
    help="How lint findings and input problems are reported: text (stderr), sarif or github (stdout, for CI).",
)
@reports_errors
def build(
    matrix: str, output: str, force: bool, timestamp: str | None, make_zip: bool | None, check_only: bool, full: bool, strict: bool,
    fmt: str,
) -> None:
    """Build the artifacts of MATRIX into DIR.

    Everything is generated and validated in memory first; DIR is replaced only
    when all of it is good, so a failed build leaves the previous output as it was.
    With --check, nothing is written: the exit status says whether DIR is up to
    date (0) or stale (1), for CI and pre-commit. --check uses the options the last
    build recorded in DIR/build.json (--zip, --timestamp) unless given, and needs no
    rendering when build.json names the same inputs and every file is as listed
    (--full renders and compares anyway).
    """
    from .lint import LintFailure

    if fmt != "text":
        try:
            _build(matrix, output, force, timestamp, make_zip, check_only, full, strict, fmt)
        except InputError as exc:
            _print_ci(fmt, problems=exc.problems or [Problem(matrix, message=str(exc))])
            sys.exit(exc.exit_code)
        except LintFailure as exc:
            _print_ci(fmt, exc.findings)
            click.echo(exc.lines()[-1], err=True)
            sys.exit(exc.exit_code)
        return
    _build(matrix, output, force, timestamp, make_zip, check_only, full, strict, fmt)


def _build(
    matrix: str, output: str, force: bool, timestamp: str | None, make_zip: bool | None, check_only: bool, full: bool, strict: bool,
    fmt: str,
) -> None:
    from .build import build as run_build, check_build

    if check_only:
        stale = check_build(matrix, output, timestamp=timestamp, zip=make_zip, strict=strict, full=full)
        for item in stale:
            click.echo(f"{output}/{item.path}: {_STALE_WORDS[item.reason]}")
        if stale:
            click.echo(
                f"{output} is stale: {plural(len(stale), 'file')} would change; rebuild with: cmfw build {matrix} -o {output}",
                err=True,
            )
            sys.exit(1)
        say(f"{output} is up to date with {matrix}")
        return
    if full:
        raise InputError([Problem("--full", message="goes with --check (a build always renders everything)")])
    with StatusLine() as status:
        result = run_build(matrix, output, force=force, timestamp=timestamp, zip=bool(make_zip), strict=strict, progress=status.show)
    if fmt != "text":
        _print_ci(fmt, result.lint.findings)
        lint_summary = ""
    else:
        lint_summary = _show_lint(result.lint)
    policies = result.policyset.policies
    total = sum(len(p.rules) for p in policies)
    say(
        f"built {output}: {plural(len(policies), 'policy', 'policies')}, {plural(total, 'rule')}, "
        f"{plural(len(result.files), 'file')}{lint_summary}",
        err=fmt != "text",
    )


def _show_lint(report: Any) -> str:
    """Open findings on stderr, one line each; a summary for the command's own line."""
    for finding in report.open:
        if finding.severity != "note" or not _setting("quiet"):
            click.echo(_severity_coloured(finding.format()), err=True)
    if _setting("verbose"):
        for finding in report.acknowledged:
            click.echo(f"{_severity_coloured(finding.format())} (acknowledged: {finding.acknowledged})", err=True)
    parts = []
    if report.warnings:
        parts.append(plural(len(report.warnings), "lint warning"))
    if report.notes:
        parts.append(plural(len(report.notes), "note"))
    if report.acknowledged:
        parts.append(f"{len(report.acknowledged)} acknowledged")
    return f"; lint: {', '.join(parts)}" if parts else ""


@cli.command()
@click.argument("matrix", metavar="MATRIX")
@click.option("--strict", is_flag=True, help="Exit 1 when any warning is open (not acknowledged in the matrix).")
@CI_FORMAT
@reports_errors
def lint(matrix: str, strict: bool, fmt: str) -> None:
    """Hardening and consistency findings for MATRIX, each with a code and a fix.

    Warnings exit 0 (1 with --strict); errors, which a build refuses, exit 2. A
    finding can be acknowledged in the matrix with a reason (`acknowledge:`); the
    codes are listed in docs/lint.md.
    """
    from .lint import lint_document, lint_file

    try:
        report = lint_file(matrix)
    except InputError as exc:
        if fmt not in ("sarif", "github"):
            raise
        _print_ci(fmt, problems=exc.problems or [Problem(matrix, message=str(exc))])
        sys.exit(exc.exit_code)
    if fmt in ("sarif", "github"):
        _print_ci(fmt, report.findings)
    elif fmt == "json":
        _print_json(lint_document(report, matrix))
    else:
        for finding in report.open:
            click.echo(_severity_coloured(finding.format()))
        if _setting("verbose"):
            for finding in report.acknowledged:
                click.echo(f"{_severity_coloured(finding.format())} (acknowledged: {finding.acknowledged})")
        say(
            f"{matrix}: {plural(len(report.errors), 'error')}, {plural(len(report.warnings), 'warning')}, "
            + (f"{plural(len(report.notes), 'note')}, " if report.notes else "")
            + f"{len(report.acknowledged)} acknowledged",
            err=True,
        )
    if report.errors:
        sys.exit(2)
    if strict and report.warnings:
        sys.exit(1)


_STALE_WORDS = {"differs": "differs from a fresh build", "missing": "missing", "obsolete": "would be removed"}


@cli.command()
@click.argument("path", metavar="PATH")
@click.option(
    "--xsd", type=click.Choice(["lxml", "xmlschema"]), default="lxml", show_default=True,
    help="XSD engine for the GPO XML files; xmlschema is an independent second opinion (pip install xmlschema).",
)
@FORMAT
@reports_errors
def check(path: str, xsd: str, fmt: str) -> None:
    """Validate a build, a GPO backup root or one backup folder at PATH.

    Every file is checked against its XSD or parser (registry.pol byte by byte, each
    rule string), and the files against each other; a cmfw build also against the
    SHA-256 sums in its build.json. Exit 1 when anything is wrong.
    """
    from .check import check_path

    report = check_path(path, xsd=xsd)
    if fmt == "json":
        _print_json(
            {
                "format": CHECK_FORMAT,
                "path": report.path,
                "kind": report.kind,
                "files": report.files,
                "ok": report.ok,
                "problems": [dataclasses.asdict(p) for p in report.problems],
            }
        )
    else:
        for problem in report.problems:
            click.echo(_severity_coloured(shown(problem.format("error"))), err=True)
        verdict = "ok" if report.ok else plural(len(report.problems), "problem")
        say(f"{path}: {report.kind}, {plural(report.files, 'file')} checked: {paint(verdict, 'ok' if report.ok else 'error')}")
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("path", metavar="PATH")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "lines"]),
    default="text",
    show_default=True,
    help="text: tables; json: stable and documented; lines: one line per rule, for git textconv.",
)
@WIDE
@reports_errors
def inspect(path: str, fmt: str, wide: bool) -> None:
    """List the firewall rules and profile settings in PATH.

    PATH is a cmfw build, a GPO backup root, one backup folder, a registry.pol, an
    LGPO text file or a MOF. Rules that cannot be read are reported (exit 2) after
    the rest.
    """
    from .inspect import format_inspect, format_lines, inspect as read, inspect_document

    gpos = read(path)
    if fmt == "json":
        _print_json(inspect_document(gpos))
    elif fmt == "lines":
        click.echo(format_lines(gpos), nl=False)
    else:
        click.echo(format_inspect(gpos, terminal_width(wide)))
    problems = [(g.source, m) for g in gpos for m in g.problems]
    for source, message in problems:
        click.echo(shown(f"{source}: error: {message}"), err=True)
    if problems:
        sys.exit(2)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("paths", nargs=-1, metavar="A B")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text; json (stable, documented); markdown for a pull-request comment.",
)
@reports_errors
def diff(paths: tuple[str, ...], fmt: str) -> None:
    """Show the rule-level differences between A and B; exit 1 when they differ.

    A and B are each a matrix (.yaml, built in memory), a cmfw build, a GPO backup
    root or folder, a registry.pol, an LGPO text file or a MOF. GPOs pair up by
    display name, rules by ID; every changed field is listed.

    Given git's seven arguments (PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX
    NEW-MODE) it compares OLD-FILE with NEW-FILE and exits 0, as git's external
    diff drivers must; see docs/diff.md for the .gitattributes line.
    """
    from .diff import diff_document, diff_paths, format_diff, format_markdown

    git = len(paths) in (7, 9)
    if len(paths) == 2:
        a, b = paths
    elif git:
        a, b = paths[1], paths[4]
    else:
        raise click.UsageError(f"expected two paths (A B), got {len(paths)}")
    labels = (f"a/{paths[0]}", f"b/{paths[7] if len(paths) == 9 else paths[0]}") if git else None
    result = diff_paths(a, b, labels)
    if fmt == "json":
        _print_json(diff_document(result))
    elif fmt == "markdown":
        click.echo(format_markdown(result), nl=False)
    else:
        click.echo(_diff_coloured(format_diff(result)))
    if not result.identical and not git:
        sys.exit(1)


@cli.command()
@click.argument("source", metavar="SOURCE")
@click.option("--policy", "policies", multiple=True, metavar="ID", shell_complete=_complete("complete_policies"), help="Policy id or name (repeat for GPOs that apply together).")
@click.option("--in", "inbound", metavar="PROTO/PORT", help="An inbound connection: tcp/2701, udp/Teredo, tcp/RPC, icmpv4/8.")
@click.option("--out", "outbound", metavar="PROTO/PORT", help="An outbound connection: tcp/443, udp/7680.")
@click.option("--from", "from_", metavar="ADDRESS", help="Who connects (with --in).")
@click.option("--to", metavar="ADDRESS", help="Where the connection goes (with --out).")
@click.option("--local-port", metavar="PORT", help="This machine's port of an outbound connection (its source port).")
@click.option("--remote-port", metavar="PORT", help="The other side's port of an inbound connection.")
@click.option("--program", metavar="PATH", help="The program that handles it here (System for the kernel).")
@click.option("--service", metavar="NAME", help="The service that handles it here.")
@click.option("--profile", default="Domain", show_default=True, metavar="PROFILE", help="Domain, Private or Public.")
@click.option("--local-subnet", "local_subnets", multiple=True, metavar="CIDR", help="This machine's subnet, for LocalSubnet rules (repeatable).")
@click.option("--edge", is_flag=True, help="It arrives through an edge-traversal interface (Teredo).")
@click.option("--windows-defaults", is_flag=True, help="Include the rules Windows enables in the local store on a clean install.")
@click.option("--scenarios", is_flag=True, help="Decide every scenario of every (chosen) policy instead.")
@FORMAT
@reports_errors
def query(
    source: str, policies: tuple[str, ...], inbound: str | None, outbound: str | None, from_: str | None, to: str | None,
    local_port: str | None, remote_port: str | None, program: str | None, service: str | None, profile: str,
    local_subnets: tuple[str, ...], edge: bool, windows_defaults: bool, scenarios: bool, fmt: str,
) -> None:
    """Would a connection get through the policy in SOURCE, and by which rule?

    SOURCE is a matrix, a cmfw build, a GPO backup root or folder, a registry.pol, an
    LGPO text file or a MOF. Exit 0 when allowed, 1 when not, 2 for bad input or when
    the answer depends on something not given (say, --local-subnet). With --scenarios,
    every scenario of the policies' features is decided (exit 1 if one is not as
    expected); that needs the matrix, given or recorded by the build.
    """
    from . import query as q

    loaded = q.load_source(source)
    if scenarios:
        checks = q.scenario_checks(loaded, policies)
        if fmt == "json":
            _print_json(q.scenarios_document(checks))
        else:
            click.echo(q.format_scenarios(checks))
        if not all(c.ok for items in checks.values() for c in items):
            sys.exit(1)
        return
    if bool(inbound) == bool(outbound):
        raise click.UsageError("give one connection: --in PROTO/PORT or --out PROTO/PORT (or --scenarios)")
    direction, spec, peer, peer_option = ("In", inbound, from_, "--from") if inbound else ("Out", outbound, to, "--to")
    if (from_ if direction == "Out" else to) is not None:
        raise click.UsageError("--from goes with --in, --to with --out")
    if peer is None:
        raise click.UsageError(f"{peer_option} ADDRESS is required: who is on the other side")
    protocol, port, icmp = q.parse_service_spec(str(spec), "--in" if inbound else "--out")
    # --in names this machine's port, --out the other side's; the other end's port is optional.
    if (local_port if direction == "In" else remote_port) is not None:
        raise click.UsageError("the port in --in is the local port and the one in --out the remote port; use --remote-port with --in, --local-port with --out")
    other_text, other_option = (remote_port, "--remote-port") if direction == "In" else (local_port, "--local-port")
    other = q.parse_port(other_text, other_option) if other_text is not None else None
    from .firewall import Connection

    connection = Connection(
        direction=direction,
        protocol=protocol,
        remote_address=q.parse_address(peer, peer_option),
        local_port=port if direction == "In" else other,
        remote_port=other if direction == "In" else port,
        icmp=icmp,
        program=program,
        service=service,
        profile=q.parse_profile(profile),
        edge=edge,
    )
    subnets = [q.parse_subnet(s, "--local-subnet") for s in local_subnets]
    answer = q.query(
        loaded, connection, policies, local_subnets=subnets or None,
        local_rules=q.windows_local_rules() if windows_defaults else (),
    )
    if fmt == "json":
        _print_json(q.answer_document(answer))
    else:
        text = q.format_answer(answer)
        first, _, rest = text.partition("\n")
        kind = {"allowed": "ok", "blocked": "error"}.get(answer.decision.verdict, "warning")
        click.echo(paint(first, kind) + ("\n" + rest if rest else ""))
    verdict = answer.decision.verdict
    if verdict == "undecided":
        click.echo("cmfw: error: the answer depends on what was not given (see 'unknown' above)", err=True)
        sys.exit(2)
    sys.exit(0 if verdict == "allowed" else 1)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish", "powershell"]))
def completion(shell: str) -> None:
    """Print the script that lets SHELL complete cmfw's commands, options, feature and
    variant names and the policy ids of the matrix on the command line.

    \b
    bash:       eval "$(cmfw completion bash)"            (in ~/.bashrc)
    zsh:        eval "$(cmfw completion zsh)"             (in ~/.zshrc)
    fish:       cmfw completion fish | source             (in ~/.config/fish/config.fish)
    PowerShell: cmfw completion powershell | Out-String | Invoke-Expression   (in $PROFILE)
    """
    from .completion import script

    click.echo(script(cli, shell), nl=False)


def _diff_coloured(text: str) -> str:
    """+ added in green, - removed in red, ~ changed in yellow (the markers stay)."""
    out = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        if body[:2] in ("+ ", "- ", "~ ") and not line.startswith(("--- ", "+++ ")):
            out.append(line[: len(line) - len(body)] + paint(body, body[0]))
        else:
            out.append(line)
    return "\n".join(out)


def _print_json(data: Any) -> None:
    from .syntax.jsonlayout import dumps

    click.echo(dumps(data).decode("utf-8"), nl=False)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: workers stopped, output left as it was."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    cli(prog_name="cmfw")
