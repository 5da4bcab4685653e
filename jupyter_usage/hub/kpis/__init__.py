"""The KPIs: their vocabulary and report shape (model.py), the database's answer to each
(database.py), the drill-downs (activity, sizing, coverage) and their CSV exports."""
