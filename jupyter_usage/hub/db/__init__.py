"""The database wing: every table, the migrations, storing reports, and the pieces of SQL
that the other wings share (a session of a window, of a group, as a KpiSession). It knows
nothing of KPIs, budgets or pages."""
