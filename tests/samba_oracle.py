"""Parse registry.pol files with Samba's NDR parser (an independent implementation).

Run by Debian's /usr/bin/python3 (python3-samba), not by pytest:
    /usr/bin/python3 tests/samba_oracle.py FILE... > report.json
For each file: the header, whether ndr_pack(ndr_unpack(x)) == x byte for byte, and
the entries as Samba decodes them (REG_SZ as text without its NUL, DWORD as a number).
"""

import json
import sys

from samba.dcerpc import preg
from samba.ndr import ndr_pack, ndr_unpack

report = []
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        data = fh.read()
    # Keep the parent object alive while reading entries (pytalloc ownership).
    parsed = ndr_unpack(preg.file, data)
    entries = []
    for entry in parsed.entries:
        value = entry.data
        if isinstance(value, bytes):
            value = value.hex()
        entries.append([entry.keyname, entry.valuename, entry.type, entry.size, value])
    report.append(
        {
            "path": path,
            "signature": parsed.header.signature,
            "version": parsed.header.version,
            "num_entries": parsed.num_entries,
            "repacked_identical": ndr_pack(parsed) == data,
            "entries": entries,
        }
    )
json.dump(report, sys.stdout)
