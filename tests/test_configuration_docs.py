"""Every environment variable the settings read is listed in .env.example and the README."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _variables() -> set[str]:
    source = (ROOT / "allocator" / "settings.py").read_text()
    return set(re.findall(r'env\.\w+\("([A-Z_]+)"', source))


def test_env_example_lists_every_variable():
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert _variables() - listed == set()


def test_readme_lists_every_variable():
    readme = (ROOT / "README.md").read_text()
    assert {v for v in _variables() if f"`{v}`" not in readme} == set()
