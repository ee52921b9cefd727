"""The package for domain controllers: deployment scripts, build manifest, checksums, zip."""
