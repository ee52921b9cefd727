"""Shell completion: click's bash, zsh and fish, plus PowerShell, which click lacks.

``_CMFW_COMPLETE=powershell_source cmfw`` prints a script that registers an argument
completer for ``cmfw``; on each Tab it runs ``cmfw`` with ``_CMFW_COMPLETE=
powershell_complete`` and the words typed so far in ``COMP_WORDS`` (one per line) and
``COMP_CWORD``, and offers the lines printed back. docs and README show how to load it.

The values completed come from the catalog (feature and variant names) and from the
matrix or build named on the command line (policy ids).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from click.shell_completion import CompletionItem, ShellComplete, add_completion_class

_POWERSHELL_SOURCE = """\
# cmfw completion for PowerShell: load it in $PROFILE with
#   cmfw completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName %(prog_name)s -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | ForEach-Object { $_.Extent.Text })
    $index = $words.Count
    if ($wordToComplete -ne '') {
        $index = $words.Count - 1
    }
    $env:COMP_WORDS = $words -join "`n"
    $env:COMP_CWORD = [string] $index
    $env:%(complete_var)s = 'powershell_complete'
    try {
        $items = @(%(prog_name)s)
    }
    finally {
        Remove-Item -Path 'Env:%(complete_var)s', 'Env:COMP_WORDS', 'Env:COMP_CWORD' -ErrorAction SilentlyContinue
    }
    foreach ($item in $items) {
        [System.Management.Automation.CompletionResult]::new($item, $item, 'ParameterValue', $item)
    }
}
"""


class PowerShellComplete(ShellComplete):
    """click's completion protocol for PowerShell (``Register-ArgumentCompleter -Native``)."""

    name = "powershell"
    source_template = _POWERSHELL_SOURCE

    def get_completion_args(self) -> tuple[list[str], str]:
        words = os.environ.get("COMP_WORDS", "").split("\n")
        try:
            index = int(os.environ.get("COMP_CWORD", ""))
        except ValueError:
            index = len(words)
        args = words[1:index]
        incomplete = words[index] if index < len(words) else ""
        return args, incomplete

    def format_completion(self, item: CompletionItem) -> str:
        return item.value


add_completion_class(PowerShellComplete)


def script(command: Any, shell: str, prog_name: str = "cmfw") -> str:
    """The registration script for ``shell`` (bash, zsh, fish, powershell) of ``command``
    (cmfw's click group, passed in so that this module need not import the CLI)."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:
        raise ValueError(shell)
    complete_var = "_" + prog_name.replace("-", "_").upper() + "_COMPLETE"
    return str(cls(command, {}, prog_name, complete_var).source())


def features(incomplete: str) -> list[CompletionItem]:
    from .catalog import load_catalog

    catalog = load_catalog()
    return [CompletionItem(name, help=f.title) for name, f in catalog.features.items() if name.startswith(incomplete)]


def variants(feature: str | None, incomplete: str) -> list[CompletionItem]:
    from .catalog import load_catalog

    catalog = load_catalog()
    found = catalog.features.get(feature or "")
    if found is None:
        return []
    return [CompletionItem(v.name, help=v.summary) for v in found.variants.values() if v.name.startswith(incomplete)]


def policies(source: str | None, incomplete: str) -> list[CompletionItem]:
    """Policy ids of the matrix or build named on the command line (nothing when unreadable)."""
    if not source:
        return []
    keys: list[tuple[str, str]] = []
    try:
        path = Path(source)
        if path.is_dir():
            import json

            data = json.loads((path / "build.json").read_text(encoding="utf-8"))
            keys = [(p["key"], p["name"]) for p in data["policies"]]
        elif path.suffix.lower() in (".yaml", ".yml"):
            from .matrix import load_matrix

            keys = [(p.key, p.name) for p in load_matrix(path).policies]
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(key, help=name) for key, name in keys if key.startswith(incomplete)]


def complete_features(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    return features(incomplete)


def complete_variants(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    # While an option's value is completed, click leaves the arguments before it
    # unprocessed in ctx.args.
    names = list(ctx.params.get("names") or ()) + list(ctx.args)
    return variants(names[0] if names else None, incomplete)


def complete_policies(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    return policies(ctx.params.get("source") or (ctx.args[0] if ctx.args else None), incomplete)
