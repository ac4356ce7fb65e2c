"""The paper fixtures live in tests/paper/__init__.py (shared with the Django-side tests)."""

from tests.paper import REPO_ROOT, make_paper_credentials

__all__ = ("REPO_ROOT", "make_paper_credentials")
