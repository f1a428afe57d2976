"""The tests' fixtures and end-of-session checks live in the plugin support/plugin.py; the
helpers that start real servers in support/ (servers, gateways, postgres, processes)."""

pytest_plugins = ["support.plugin"]
