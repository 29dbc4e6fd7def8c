"""`perfmodel diffusion`: one JSON document, a parallel ControlNet pool beats serial on latency,
one-line errors for bad options."""

import json

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


def test_diffusion_bad_options_one_line(capsys):
    code, _, err = run(capsys, "diffusion", "--lora-mode", "fused")
    assert code == 1 and err.count("\n") == 1 and "lora_mode='fused'" in err
    code, _, err = run(capsys, "diffusion", "-m", "sd4")
    assert code == 1 and err.strip() == "error: unknown diffusion model 'sd4'; did you mean 'sdxl'?"
    code, _, err = run(capsys, "diffusion", "-m", "flux.1-dev", "--controlnets", "1")
    assert code == 1 and "controlnets must be 0 for 'flux.1-dev'" in err
