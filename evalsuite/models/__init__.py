"""Model adapters: the only code that touches a model. Tasks talk to adapters."""
