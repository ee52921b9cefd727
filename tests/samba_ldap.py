"""Read (and, for negative tests, change) GPO attributes in a Samba DC's LDAP.

Run by Debian's /usr/bin/python3 (python3-samba), not by pytest:
    /usr/bin/python3 tests/samba_ldap.py SMB_CONF URL PASSWORD gpos
    /usr/bin/python3 tests/samba_ldap.py SMB_CONF URL PASSWORD gplink DN
    /usr/bin/python3 tests/samba_ldap.py SMB_CONF URL PASSWORD set GUID ATTRIBUTE VALUE
Prints JSON.
"""

import json
import sys

import ldb
from samba import param
from samba.auth import system_session
from samba.credentials import DONT_USE_KERBEROS, Credentials
from samba.samdb import SamDB

conf, url, password, command = sys.argv[1:5]
args = sys.argv[5:]
lp = param.LoadParm()
lp.load(conf)
creds = Credentials()
creds.guess(lp)
creds.set_username("Administrator")
creds.set_password(password)
creds.set_kerberos_state(DONT_USE_KERBEROS)
samdb = SamDB(url=url, session_info=system_session(), credentials=creds, lp=lp)
policies = "CN=Policies,CN=System," + str(samdb.domain_dn())


def text(message, name):
    value = message.get(name, idx=0)
    return None if value is None else str(value)


if command == "gpos":
    found = samdb.search(
        base=policies, scope=ldb.SCOPE_ONELEVEL, expression="(objectClass=groupPolicyContainer)",
        attrs=["name", "displayName", "versionNumber", "gPCMachineExtensionNames", "gPCUserExtensionNames", "gPCFileSysPath", "flags"],
    )
    out = {
        text(m, "name").upper(): {
            "name": text(m, "displayName"),
            "version": int(text(m, "versionNumber") or 0),
            "machine_extensions": text(m, "gPCMachineExtensionNames"),
            "user_extensions": text(m, "gPCUserExtensionNames"),
            "path": text(m, "gPCFileSysPath"),
            "flags": int(text(m, "flags") or 0),
        }
        for m in found
    }
    print(json.dumps({"gpos": out}))
elif command == "gplink":
    [found] = samdb.search(base=args[0], scope=ldb.SCOPE_BASE, attrs=["gPLink"])
    print(json.dumps({"gplink": text(found, "gPLink") or ""}))
elif command == "set":
    guid, attribute, value = args
    [found] = samdb.search(base=policies, scope=ldb.SCOPE_ONELEVEL, expression="(name=%s)" % ldb.binary_encode(guid), attrs=["name"])
    message = ldb.Message()
    message.dn = found.dn
    message[attribute] = ldb.MessageElement(value, ldb.FLAG_MOD_REPLACE, attribute)
    samdb.modify(message)
    print(json.dumps({"set": attribute}))
else:
    sys.exit("unknown command " + command)
