"""Every escaper and layout helper, one module per target syntax.

XML, PowerShell (quoting and the tree-sitter checks of what was written), shell,
Markdown, YAML, cmfw's JSON layout, Jinja2 environments that escape by
construction, and plain-text tables. Format packages import from here; nothing here
knows about firewall rules.
"""
