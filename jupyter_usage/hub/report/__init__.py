"""The admin report page: its Jinja2 templates, scripts and styles, and the one formatter
of numbers and money for the page."""
