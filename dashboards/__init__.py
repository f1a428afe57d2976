"""Grafana dashboards as code: the builders (model.py), the dashboards (boards.py), the
JSON they generate into dashboards/json (generate.py), the provisioning Grafana loads on
start (provisioning/), `boomerang dashboards push` (push.py) and static previews
(preview.py)."""
