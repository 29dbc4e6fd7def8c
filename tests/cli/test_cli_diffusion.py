"""`perfmodel diffusion`: one JSON document, a parallel ControlNet pool beats serial on latency,
one-line errors for bad options."""

import json

import pytest

from tests._cli import run

COMMON = ("diffusion", "-m", "sd-1.5", "-H", "hgx-h800", "--controlnets", "2", "--loras", "1", "-n", "30",
          "--offline", "--json")


def test_diffusion_json_and_parallel_controlnets(capsys):
    code, out, err = run(capsys, *COMMON, "--devices", "3")
    assert code == 0, err
    serial = json.loads(out)
    assert serial["model"] == "sd-1.5" and serial["serving"]["workers"] == 3
    assert serial["serving"]["images_per_s"] > 0 and serial["heaviest_request_s"]["controlnet_step_s"] > 0
    code, out, err = run(capsys, *COMMON, "--devices", "3", "--controlnet-placement", "parallel",
                         "--controlnet-gpus", "2")
    assert code == 0, err
    parallel = json.loads(out)
    assert parallel["serving"]["workers"] == 1 and parallel["serving"]["controlnet_gpus"] == 2
    assert parallel["heaviest_request_s"]["total_s"] < serial["heaviest_request_s"]["total_s"]


def test_diffusion_lora_loader_peft_costs_host_time(capsys):
    # sd-1.5 has 16 transformer blocks x 8 attention projections = 128 PEFT-wrapped modules
    runs = {}
    for loader in ("peft", "direct"):
        code, out, err = run(capsys, *COMMON, "--lora-loader", loader)
        assert code == 0, err
        runs[loader] = json.loads(out)["heaviest_request_s"]
    assert runs["direct"]["lora_inject_s"] == 0
    assert runs["peft"]["lora_inject_s"] == pytest.approx(128 * 1.216 / 560)
    assert runs["peft"]["total_s"] - runs["direct"]["total_s"] == pytest.approx(128 * 1.216 / 560)


def test_diffusion_bad_options_one_line(capsys):
    code, _, err = run(capsys, "diffusion", "--lora-mode", "fused")
    assert code == 1 and err.count("\n") == 1 and "lora_mode='fused'" in err
    code, _, err = run(capsys, "diffusion", "-m", "sd4")
    assert code == 1 and err.strip() == "error: unknown diffusion model 'sd4'; did you mean 'sdxl'?"
    code, _, err = run(capsys, "diffusion", "-m", "flux.1-dev", "--controlnets", "1")
    assert code == 1 and "controlnets must be 0 for 'flux.1-dev'" in err
    code, _, err = run(capsys, "diffusion", "--lora-loader", "safetensors")
    assert code == 1 and err.count("\n") == 1 and "lora_loader='safetensors'" in err
