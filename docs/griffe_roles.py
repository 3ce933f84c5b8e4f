"""A griffe extension for the API pages: the docstrings' Sphinx roles (:func:`ft`, :class:`Strategy`, ...) as code.

The docstrings are written for readers of the source, where ``:func:`x``` marks a cross-reference; the
documentation renders docstrings as Markdown, which has no roles, so the role name would be printed as text.
"""
from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const):`~?([^`]+)`")


class SphinxRolesAsCode(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", obj.docstring.value)
