"""The composition root: settings, domain types, registry, REST API, CLI and wiring."""
