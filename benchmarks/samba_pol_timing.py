"""Time Samba's registry.pol parser on a file; run by Debian's /usr/bin/python3 (python3-samba).

Prints two medians in seconds: ndr_unpack alone, and ndr_unpack plus reading every
entry's key, name, type and data (what a caller needs, and what cmfw's reader returns).
"""

import statistics
import sys
import time

from samba.dcerpc import preg
from samba.ndr import ndr_unpack

data = open(sys.argv[1], "rb").read()
repeat = int(sys.argv[2])
alone, full = [], []
for _ in range(repeat):
    start = time.perf_counter()
    parsed = ndr_unpack(preg.file, data)
    alone.append(time.perf_counter() - start)
    start = time.perf_counter()
    parsed = ndr_unpack(preg.file, data)
    entries = [(e.keyname, e.valuename, e.type, e.data) for e in parsed.entries]
    full.append(time.perf_counter() - start)
print(statistics.median(alone), statistics.median(full))
