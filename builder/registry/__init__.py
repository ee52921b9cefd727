"""Registry-based policy, shared by the GPO and DSC formats.

Firewall rule strings (MS-GPFAS), the registry.pol file (MS-GPREG), its LGPO text
form, and the mapping between a Policy and the registry values Group Policy applies.
"""
