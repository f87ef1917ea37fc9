"""The admin API: fault contract, provisioning and retirement, state reads,
exports, metrics, and the token."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from poslab.iso8583 import generate_tmk
from tests.acquirer.conftest import Stack, start_stack
from tests.acquirer.services import REPO, start_acquirer
from tests.acquirer.terminal_client import TerminalClient


def test_fault_api_shape(host: Stack) -> None:
    acquirer = host.acquirer
    assert acquirer.get("/admin/faults").json() == {"active": {}}
    response = acquirer.post("/admin/faults/force_mismatch", {"share": 0.25})
    assert response.status_code == 200
    assert response.json() == {"fault": "force_mismatch", "params": {"share": 0.25}}
    acquirer.fault("issuer_timeout", ms=800)
    assert acquirer.get("/admin/faults").json()["active"] == {
        "force_mismatch": {"share": 0.25},
        "issuer_timeout": {"ms": 800},
    }
    assert acquirer.delete("/admin/faults/force_mismatch").status_code == 200
    assert acquirer.delete("/admin/faults/force_mismatch").status_code == 200  # idempotent
    assert acquirer.post("/admin/reset").status_code == 200
    assert acquirer.get("/admin/faults").json() == {"active": {}}


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("no_such_fault", {}, 404),
        ("force_mismatch", {"share": 1.5}, 422),
        ("force_mismatch", {"ratio": 0.5}, 422),
        ("issuer_timeout", {}, 422),
        ("issuer_timeout", {"ms": "fast"}, 422),
        ("min_software", {"version": "2.1"}, 422),
        ("expire_keys", {"regions": ["atlantis"]}, 422),
        ("expire_keys", {"tids": ["99999999"]}, 422),
        ("day_end_cut", {"now": True}, 422),
        ("stall_settlement", [1, 2], 400),
    ],
)
def test_bad_fault_requests_are_4xx_with_a_message(
    host: Stack, name: str, body: object, status: int
) -> None:
    response = host.acquirer.post(f"/admin/faults/{name}", body)
    assert response.status_code == status
    assert response.json()["error"]
    assert host.acquirer.get("/admin/faults").json() == {"active": {}}


def test_body_that_is_not_json_is_400(host: Stack) -> None:
    response = httpx.post(
        host.acquirer.url("/admin/faults/day_end_cut"),
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400 and "JSON" in response.json()["error"]


def test_provision_and_retire_a_terminal(host: Stack) -> None:
    old = host.take()
    old_client = host.signed_on(old)
    card = host.cards(old)[0]
    assert old_client.sale(card, 1_100).text(39) == "00"
    tmk = generate_tmk()
    body = {
        "tid": "77000001",
        "mid": old.mid,
        "tmk": tmk.hex(),
        "region": old.region,
        "software_version": "020100",
        "allowed": ["sale", "void"],
    }
    created = host.acquirer.post("/admin/terminals", body)
    assert created.status_code == 201 and created.json()["created"] is True
    assert host.acquirer.post("/admin/terminals", body).status_code == 200  # same again
    assert (
        host.acquirer.post("/admin/terminals", {**body, "tmk": generate_tmk().hex()}).status_code
        == 409
    )
    for bad in (
        {**body, "tid": "1"},
        {**body, "mid": "12345"},
        {**body, "tmk": "zz"},
        {k: v for k, v in body.items() if k != "region"},
        {**body, "allowed": ["cashback"]},
        [1],
    ):
        response = host.acquirer.post("/admin/terminals", bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]
    # the new terminal works with its own TMK
    replacement = type(old)(
        tid="77000001",
        mid=old.mid,
        region=old.region,
        tmk=tmk.hex(),
        software_version="020100",
        allowed=("sale", "void"),
    )
    new_client = TerminalClient(host.acquirer.main, replacement)
    assert new_client.sign_on().text(39) == "00"
    assert new_client.sale(card, 500).text(39) == "00"
    assert new_client.refund(card, 100, new_client.sale(card, 600)).text(39) == "58"
    # a merchant the agent onboarded at run time (not in the world file) is fine too
    onboarded = {**body, "tid": "77000002", "mid": "898999954110001", "tmk": generate_tmk().hex()}
    assert host.acquirer.post("/admin/terminals", onboarded).status_code == 201
    info = host.acquirer.get("/admin/terminals/77000001").json()
    assert info["provisioned"] is True and info["session"]["mode"] == "003"
    # retiring the old one closes its open batch host-side and refuses it
    retired = host.acquirer.post(f"/admin/terminals/{old.tid}/retire")
    assert retired.status_code == 200
    assert retired.json()["closed_batches"] == [old_client.batch]
    [batch] = [b for b in host.acquirer.export("batches") if b["tid"] == old.tid]
    assert (batch["status"], batch["closed_by"], batch["host_debit_amount"]) == (
        "closed",
        "replacement",
        1_100,
    )
    assert old_client.sign_on().text(39) == "97"
    assert host.acquirer.post(f"/admin/terminals/{old.tid}/retire").status_code == 200
    assert host.acquirer.post("/admin/terminals/12345678/retire").status_code == 404
    assert host.acquirer.get("/admin/terminals/12345678").status_code == 404


def test_state_and_batches_reads(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    client.sale(card, 2_222)
    state = host.acquirer.get("/admin/state").json()
    assert state["ledger"]["counts"]["sale/approved"] >= 1
    assert state["ledger"]["sums_fen"]["sale/approved"] >= 2_222
    assert state["open_batches"] >= 1 and state["issuer_links"] >= 1
    assert {"settlement_backlog", "payouts", "advices_pending", "connections"} <= set(state)
    open_batches = host.acquirer.get("/admin/batches", params={"status": "open"}).json()["batches"]
    assert any(b["tid"] == client.terminal.tid for b in open_batches)
    assert host.acquirer.get("/admin/batches", params={"status": "odd"}).status_code == 400
    assert host.acquirer.get("/admin/payouts").json() == {"payouts": []}
    assert host.acquirer.get("/admin/export/secrets").status_code == 404


def test_metrics_are_prometheus_text(host: Stack) -> None:
    client = host.signed_on()
    client.sale(host.cards(client.terminal)[0], 100)
    reply = host.acquirer.get("/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(reply.text)
    for name, labels in (
        ("acquirer_requests_total", {"mti": "0200", "rc": "00"}),
        ("acquirer_requests_total", {"mti": "0800", "rc": "00"}),
        ("acquirer_request_seconds_bucket", {"mti": "0200", "le": "+Inf"}),
        ("acquirer_issuer_requests_total", {"mti": "0100", "outcome": "00"}),
        ("acquirer_ledger_commit_seconds_count", {}),
    ):
        assert samples[(name, tuple(sorted(labels.items())))] >= 1, (name, labels)
    for gauge in ("acquirer_open_connections", "acquirer_settlement_backlog"):
        assert (gauge, ()) in samples
    issuer = _samples(host.issuer.get("/metrics").text)
    assert issuer[("issuer_requests_total", (("mti", "0100"), ("rc", "00")))] >= 1
    assert ("issuer_holds", ()) in issuer and ("issuer_connections", ()) in issuer


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(name, sorted labels) → value: the exposition parsed, not matched as text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _export_cli(module: str, db: object, out: object) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", module, "export", "--db", str(db), "--out", str(out)]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_export_cli_on_a_stopped_host(tmp_path: object) -> None:
    from pathlib import Path

    workdir = Path(str(tmp_path))
    stack = start_stack(workdir)
    try:
        client = stack.signed_on()
        card = stack.cards(client.terminal)[0]
        sale = client.sale(card, 3_300)
    finally:
        stack.acquirer.stop(__import__("signal").SIGKILL)
        stack.issuer.stop()
    out = workdir / "ledger"
    done = _export_cli("poslab.mocks.acquirer", workdir / "acquirer.sqlite", out)
    assert done.returncode == 0, done.stderr
    [row] = [json.loads(x) for x in (out / "transactions.jsonl").read_text().splitlines()]
    assert set(row) == set(
        [
            "tid",
            "mid",
            "stan",
            "batch",
            "type",
            "amount",
            "pan",
            "card_kind",
            "rrn",
            "rc",
            "status",
            "booked_at",
            "reversed_at",
            "orig_rrn",
            "settle_date",
        ]
    )
    assert (row["rrn"], row["amount"], row["status"]) == (sale.require(37), 3_300, "approved")
    [batch] = [json.loads(x) for x in (out / "batches.jsonl").read_text().splitlines()]
    assert set(batch) == set(
        [
            "tid",
            "mid",
            "batch",
            "status",
            "closed_by",
            "closed_at",
            "host_debit_amount",
            "host_debit_count",
            "host_credit_amount",
            "host_credit_count",
            "terminal_totals",
            "recon_code",
            "uploaded",
        ]
    )
    assert (out / "payouts.jsonl").read_text() == ""
    issuer_out = _export_cli("poslab.mocks.issuer", workdir / "issuer.sqlite", out)
    assert issuer_out.returncode == 0, issuer_out.stderr
    [auth] = [json.loads(x) for x in (out / "issuer.jsonl").read_text().splitlines()]
    assert {
        "auth_id",
        "pan",
        "amount",
        "status",
        "acquirer_ref",
        "created_at",
        "updated_at",
    } <= set(auth)
    assert auth["pan"].count("*") == len(card.pan) - 10
    missing = _export_cli("poslab.mocks.acquirer", workdir / "nope.sqlite", out)
    assert missing.returncode == 2 and "no ledger" in missing.stderr


def test_admin_token_is_enforced(host: Stack, tmp_path: object) -> None:
    from pathlib import Path

    workdir = Path(str(tmp_path))
    acquirer = start_acquirer(
        host.world_path, workdir, host.issuer.main, None, "--admin-token", "s3cret"
    )
    try:
        assert acquirer.get("/health").status_code == 200
        assert acquirer.get("/admin/faults").status_code == 401
        assert acquirer.get("/metrics").status_code == 401
        ok = acquirer.get("/admin/faults", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
    finally:
        acquirer.stop()
    # bound off loopback without a token: refuses to start
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "poslab.mocks.acquirer",
            "--world",
            str(host.world_path),
            "--host",
            "0.0.0.0",
            "--db",
            str(workdir / "x.sqlite"),
            "--issuer",
            "127.0.0.1:9",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin", "LAB_ADMIN_TOKEN": ""},
    )
    assert refused.returncode == 2 and "admin-token" in refused.stderr
