"""`perfmodel edge`: the JSON document, and one-line errors for bad options."""

import json

import pytest

from tests._cli import run


def test_edge_json_matches_the_api(capsys):
    from perfmodel.edgemoe import edge_moe_step, edge_setup

    code, out, err = run(capsys, "edge", "-m", "mixtral-8x7b", "-H", "agx-orin", "--memory-budget-gb", "20",
                         "--bits", "2,4,8", "--expert-bits", "8:0.25,4:0.5,2:0.25", "--schedule", "hebf",
                         "--cache", "hottest", "--dense-bits", "8", "--json")
    assert code == 0, err
    doc = json.loads(out)
    api = edge_moe_step("mixtral-8x7b", "agx-orin", edge_setup(
        memory_budget_gb=20, bit_levels=(2, 4, 8), expert_bits={8: 0.25, 4: 0.5, 2: 0.25}, schedule="hebf",
        cache="hottest", dense_bits=8))
    assert doc["step_ms"] == pytest.approx(api.step_ms) and doc["streams_from_flash"] is True
    assert doc["memory_gb"]["budget"] == 20 and doc["peak_memory_gb"] == pytest.approx(20)


def test_edge_table(capsys):
    code, out, err = run(capsys, "edge", "-m", "mixtral-8x7b", "-H", "agx-orin")
    assert code == 0, err
    assert "mixtral-8x7b on jetson-agx-orin-64gb" in out and "tokens_per_s" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--bits", "2,x"], "error: --bits '2,x': give increasing bit widths separated by commas, e.g. 2,4,8"),
    (["--bits", "2,4", "--expert-bits", "4:0.5"],
     "error: edge setup: expert_bits shares must be >= 0 and sum to 1, got {4: 0.5}"),
    (["--expert-bits", "8-1"], "error: --expert-bits '8-1': give bits:share pairs separated by commas, "
                               "e.g. 8:0.25,4:0.5,2:0.25"),
    (["--schedule", "fifo"], "error: edge setup: schedule='fifo': Input should be 'on_demand' or 'hebf'"),
    (["--memory-budget-gb", "1"], None),
])
def test_edge_bad_options_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, "edge", "-m", "mixtral-8x7b", "-H", "agx-orin", *argv)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    if message:
        assert err.strip() == message
    else:
        assert err.startswith("error: memory_budget_gb=1: non-expert weights")


def test_hardware_show_gives_the_storage_read_speed_its_own_source(capsys):
    code, out, err = run(capsys, "hardware", "show", "-H", "jetson-agx-orin-64gb-devkit")
    assert code == 0, err
    row = next(line for line in out.splitlines() if "storage.seq_read_gb_s" in line)
    assert "7.00" in row and "Gen4 x4" in row
