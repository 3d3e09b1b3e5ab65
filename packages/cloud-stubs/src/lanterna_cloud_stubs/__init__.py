"""lanterna-cloud-stubs: tenancy, metering, audit and entitlements on local storage.

The reference implementation of Lanterna's paid hook families. "Stubs" means it stands in
for a hosted service; every part works: API keys, a policy file, SQLite metering with an
outbox shaped like Stripe meter events, a hash-chained audit log and Ed25519 licenses.
Importing this package is cheap: heavy libraries are imported where they are used.
"""

__version__ = "0.1.0"

LANTERNA_PLUGIN_API = 1
