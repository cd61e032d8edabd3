"""make test's two pytest-xdist workers: which modules must share one (conftest.xdist_group)."""

from __future__ import annotations

from pathlib import Path

from conftest import xdist_group

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _modules() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in HERE.glob("test_*.py"))


def test_the_users_of_the_shared_tiny_build_run_in_one_worker() -> None:
    users = ("test_chip_ports", "test_convert", "test_device_compare", "test_device_eval",
             "test_pipeline")  # the modules with a test or fixture taking tiny_build
    assert {xdist_group(f"host_tests/{m}.py", ROOT, False) for m in users} == {"tiny_build"}


def test_every_other_module_is_a_group_of_its_own() -> None:
    others = [m for m in _modules() if "tiny_build" not in (ROOT / m).read_text()]
    others.append("host_tests/test_workers.py")  # names the fixture, takes it nowhere
    assert len(others) > 30
    assert [xdist_group(m, ROOT, False) for m in others] == others


def test_a_real_board_puts_every_module_in_one_worker() -> None:
    assert {xdist_group(m, ROOT, True) for m in _modules()} == {"real-board"}
