"""The server's sentences for people, written so they can be translated.

The API answers in plain English (`message`) and adds a stable `code` with `params`;
the UI says the code in the user's language. The English is written as a msgid with
JupyterLab's `%1`-style placeholders through `trans.gettext` (a name the extractor
of jupyterlab-translate looks for in Python), so these sentences land in the domain's template
(jupyter_usage/locale/jupyter_usage.pot, `python scripts/translations.py`) — the same
msgids the UI uses for the same codes, so each is translated once.
"""

from __future__ import annotations


class EnglishBundle:
    """JupyterLab's `TranslationBundle.gettext` for the English the API speaks."""

    def gettext(self, msgid: str, *args: object) -> str:
        text = msgid
        # %10 before %1, so that one placeholder never eats the start of another.
        for index in range(len(args), 0, -1):
            text = text.replace(f"%{index}", str(args[index - 1]))
        return text


trans = EnglishBundle()
