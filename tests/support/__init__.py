"""Helpers shared by the tests (no tests here): imported as ``from support.NAME import ...``.

``tests/`` is on the path (pyproject's ``[tool.pytest.ini_options] pythonpath``); the pytest fixtures that wrap
these helpers live in tests/conftest.py. A test module never imports another test module or conftest.
"""
