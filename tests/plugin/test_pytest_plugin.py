"""The pytest plugin (poslab.pytest_plugin, a pytest11 entry point) as a team's suite
meets it: pytester runs small suites that use its fixtures and options.

What runs the lab runs in a pytest of its own (``runpytest_subprocess``), as a
team's suite would: pytester's in-process runs drop the modules an inner run
imported, and PyYAML's C loader does not survive being imported twice in one
process. Those tests are marked by hand (process, locust): the processes start
out of the static reading's sight (tests/support/tiers.py)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_the_fixtures_and_options_are_there_once_installed(pytester: pytest.Pytester) -> None:
    fixtures = pytester.runpytest("--fixtures")
    text = fixtures.stdout.str()
    for name in ("pos_world", "pos_stack", "toxiproxy", "run_scenario", "pos_settings"):
        assert f"\n{name}" in text, name
    help_text = pytester.runpytest("--help").stdout.str()
    for option in ("--pos-time-scale", "--pos-terminals", "--pos-containers", "--pos-plugin"):
        assert option in help_text


def test_pos_world_follows_the_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_world(pos_world, pos_settings):
            assert pos_settings.seed == 7 and pos_settings.time_scale == 0.5
            assert len(pos_world.terminals) == 5
            assert pos_world.path.name == "world.json" and pos_world.path.is_file()
        """
    )
    options = ("--pos-terminals", "5", "--pos-seed", "7", "--pos-time-scale", "0.5")
    result = pytester.runpytest(*options)
    result.assert_outcomes(passed=1)
    bad = pytester.runpytest("--pos-terminals", "many")
    assert bad.ret != 0
    bad.stdout.fnmatch_lines(["*--pos-terminals: not a number: 'many'*"])


@pytest.mark.process
def test_containers_that_cannot_run_here_fail_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine here
    pytester.makepyfile(
        """
        import pytest

        def test_flag(pos_stack):
            raise AssertionError("no stack can have started")

        @pytest.mark.pos_containers
        def test_marker(run_scenario):
            run_scenario("acquirer-outage")
        """
    )
    result = pytester.runpytest_subprocess("--pos-containers", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(["*--pos-containers: container mode is not usable here: *"])


@pytest.mark.process
def test_an_unknown_scenario_is_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_unknown(run_scenario):
            run_scenario("no-such-scenario")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no scenario named no-such-scenario*"])


@pytest.mark.process  # a whole stack starts inside the inner run
def test_pos_stack_and_a_toxiproxy_python_handle_on_its_proxy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_break_the_issuer_link(pos_stack, toxiproxy):
            proxies = toxiproxy.proxies()
            assert {"issuer", "region-north", "acquirer-backup"} <= set(proxies)
            issuer = toxiproxy.get_proxy("issuer")
            issuer.add_toxic(name="slow", type="latency", attributes={"latency": 300})
            assert [t for t in issuer.toxics()] == ["slow"]
            assert pos_stack.health().ok
            host, port = pos_stack.addresses.services["acquirer"].rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=2).close()

        def test_the_proxy_was_reset_after_the_last_test(pos_stack, toxiproxy):
            assert toxiproxy.get_proxy("issuer").toxics() == {}
            assert pos_stack.addresses.admin["acquirer"].startswith("http://127.0.0.1:")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.locust  # lab run's whole machinery: a stack and its terminal fleet
@pytest.mark.timeout(300)  # a 0.3-scaled scenario takes 30-60 s on a loaded machine
def test_run_scenario_scores_a_time_scaled_scenario(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json

        def test_outage(run_scenario):
            result = run_scenario("acquirer-outage")
            print(result)
            saved = json.loads((result.run_dir / "result.json").read_text())
            assert saved["scenarios"][0]["score"] == result.score
            assert 0 <= result.score <= 100 and result.status == "scored"
            assert {c.kind for c in result.checks} >= {"lost_approvals", "double_bookings"}
            assert "failed-over" in {e.name for e in result.expectations}
            assert result.passed == (result.exit_code == 0)
            metrics = (result.run_dir / "metrics.prom").read_text()
            assert "poslab_second_throughput_tps{" in metrics
            assert f'poslab_scenario_score{{run="{result.run_dir.name}"' in metrics
            assert result.score >= 101, "fails on purpose: the run's console is in the report"
        """
    )
    result = pytester.runpytest_subprocess(
        "--pos-time-scale", "0.3", "--pos-terminals", "6", "-p", "no:cacheprovider", "-rA"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*fails on purpose*",
            "*- Captured pos-lab acquirer-outage call -*",
            "*run directory *acquirer-outage*",
        ]
    )
