"""perfmodel.diffusion: shapes checked by hand against published parameter and MAC counts, the
laws of add-ons (more ControlNets never faster; a parallel pool never slower than serial when it
has a GPU per ControlNet), one-line errors for bad specs, a seeded trace."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfmodel.diffusion import (deployment, denoiser_layers, load_pipeline, lora_bytes, make_trace,
                                 pipeline_from_dict, service, simulate, trace_spec)
from perfmodel.diffusion._graph import controlnet_layers
from perfmodel.diffusion._lora import PEFT_HOST_S_PER_MODULE, peft_inject_s, target_modules
from perfmodel.errors import PerfModelError
from perfmodel.quant import get_quant
from perfmodel.resolve import resolve_system
from tests._hyp import examples

Q = get_quant("fp16")


@pytest.fixture(scope="module")
def h800():
    return resolve_system("hgx-h800")


def _params(layers):
    return sum(x.params for x in layers)


@pytest.mark.parametrize("name,published_m", [
    ("sd-1.5", 859.5),      # BK-SDM (arXiv:2305.15798) Table: SD-v1.4/1.5 U-Net 859.5M parameters
    ("sdxl", 2567.5),       # SDXL report (arXiv:2307.01952) Table 1: 2.6B U-Net; diffusers count 2,567,463,684
    ("sd3-medium", 2028.0), # SD3-medium model card: 2B parameters (2.028B in diffusers)
    ("flux.1-dev", 11901.0),  # FLUX.1-dev model card: 12B parameters (11.9B in diffusers)
])
def test_denoiser_parameters_match_the_checkpoints(name, published_m):
    p = load_pipeline(name)
    counted = _params(denoiser_layers(p, batch=1, resolution_px=p.default_resolution_px)) / 1e6
    assert counted == pytest.approx(published_m, rel=0.03)  # biases, norms and embeddings left out


def test_sd15_unet_flops_per_step_at_512():
    # BK-SDM (arXiv:2305.15798) Table 2: the SD-v1.4 U-Net costs 338.7 G MACs per step at 512x512
    # (batch 1, convolutions and linears; its counter leaves out the attention score products).
    layers = denoiser_layers(load_pipeline("sd-1.5"), batch=1, resolution_px=512)
    gemm_flops = sum(x.flops for x in layers if x.kind == "linear")
    assert gemm_flops == pytest.approx(2 * 338.7e9, rel=0.02)
    total = sum(x.flops for x in layers)  # with attention: the ~0.8 TFLOPs/step usually quoted
    assert 0.75e12 < total < 0.9e12


def test_controlnet_is_the_unet_encoder():
    u = load_pipeline("sd-1.5").denoiser  # ControlNet v1.1 for SD1.5: 361M parameters (lllyasviel model card)
    assert _params(controlnet_layers(u, batch=1, latent_h=64, latent_w=64, ctx_tokens=77)) / 1e6 == \
        pytest.approx(361, rel=0.03)


def test_cfg_doubles_the_denoising_work_and_flux_has_none(h800):
    sd, flux = load_pipeline("sd-1.5"), load_pipeline("flux.1-dev")
    assert sd.cfg and not flux.cfg
    one = service(sd, h800, Q, deployment(), images=1, steps=10, resolution_px=512, controlnets=0, loras=0,
                  lora_misses=0)
    two = service(sd, h800, Q, deployment(), images=2, steps=10, resolution_px=512, controlnets=0, loras=0,
                  lora_misses=0)
    assert one["denoise_s"] < two["denoise_s"] <= 2.05 * one["denoise_s"]


def _latency(p, system, dep, n, loras=0):
    return service(p, system, Q, dep, images=1, steps=20, resolution_px=p.default_resolution_px, controlnets=n,
                   loras=loras, lora_misses=loras)["total_s"]


@settings(max_examples=examples(15))
@given(model=st.sampled_from(["sd-1.5", "sdxl"]), hardware=st.sampled_from(["hgx-h800", "dgx-a100", "l40s-8gpu"]),
       n=st.integers(0, 3), placement=st.sampled_from(["serial", "parallel"]), pool=st.integers(1, 4))
def test_more_controlnets_never_faster(model, hardware, n, placement, pool):
    p, system = load_pipeline(model), resolve_system(hardware)
    dep = deployment(controlnet_placement=placement, controlnet_gpus=pool if placement == "parallel" else 0)
    assert _latency(p, system, dep, n + 1) >= _latency(p, system, dep, n)


@settings(max_examples=examples(15))
@given(model=st.sampled_from(["sd-1.5", "sdxl"]), hardware=st.sampled_from(["hgx-h800", "dgx-a100", "l40s-8gpu"]),
       n=st.integers(1, 4))
def test_parallel_controlnets_never_slower_than_serial_with_a_gpu_each(model, hardware, n):
    p, system = load_pipeline(model), resolve_system(hardware)
    serial = _latency(p, system, deployment(), n)
    parallel = _latency(p, system, deployment(controlnet_placement="parallel", controlnet_gpus=n), n)
    assert parallel <= serial


def test_async_lora_loading_hides_the_load_behind_the_first_steps(h800):
    p = load_pipeline("sdxl")
    slow_disk = dict(disk_read_gb_s=0.5)  # 2 x 146 MB at 0.5 GB/s: ~0.6 s to load
    sync = service(p, h800, Q, deployment(**slow_disk), images=1, steps=50, resolution_px=1024, controlnets=0,
                   loras=2, lora_misses=2)
    bal = service(p, h800, Q, deployment(lora_loading="async", async_bound_steps=10, **slow_disk), images=1,
                  steps=50, resolution_px=1024, controlnets=0, loras=2, lora_misses=2)
    assert sync["lora_load_stall_s"] == pytest.approx(sync["lora_load_s"])
    assert bal["lora_load_stall_s"] == pytest.approx(max(0.0, bal["lora_load_s"] - 10 * bal["step_s"]))
    assert bal["total_s"] < sync["total_s"]
    # rank-64 attention adapters of SDXL: 2 x rank x (in + out) fp16 values per target projection
    assert lora_bytes(p, Q, rank=64) == pytest.approx(146.1e6, rel=0.01)


def test_unmerged_lora_costs_every_step_merged_costs_once(h800):
    p = load_pipeline("sd-1.5")
    kw = dict(images=1, resolution_px=512, controlnets=0, loras=1, lora_misses=0)
    merged = [service(p, h800, Q, deployment(), steps=s, **kw) for s in (10, 40)]
    unmerged = [service(p, h800, Q, deployment(lora_mode="unmerged"), steps=s, **kw) for s in (10, 40)]
    assert merged[0]["lora_patch_s"] > 0 == unmerged[0]["lora_patch_s"]
    assert unmerged[0]["step_s"] > merged[0]["step_s"]
    assert unmerged[1]["total_s"] - merged[1]["total_s"] > unmerged[0]["total_s"] - merged[0]["total_s"]


@pytest.mark.parametrize("fields,needle", [
    (dict(controlnet_placement="remote"), "controlnet_placement='remote'"),
    (dict(lora_rank=0), "lora_rank=0"),
    (dict(controlnet_placement="parallel"), "controlnet_gpus >= 1"),
    (dict(lora_sorce="disk"), "lora_sorce"),
])
def test_bad_deployment_is_one_line(fields, needle):
    with pytest.raises(PerfModelError) as err:
        deployment(**fields)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("fields,needle", [
    (dict(num_requests=0, rate_per_s=1), "num_requests=0"),
    (dict(num_requests=5, rate_per_s=-1), "rate_per_s=-1"),
    (dict(num_requests=5, rate_per_s=1, loras_max=3, lora_pool=2), "loras_max (3) must be <= lora_pool (2)"),
])
def test_bad_workload_is_one_line(fields, needle):
    with pytest.raises(PerfModelError) as err:
        trace_spec(**fields)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bad_pipeline_spec_is_one_line():
    body = load_pipeline("sd-1.5").model_dump()
    body["denoiser"]["heads"] = [8, 8, 8]
    with pytest.raises(PerfModelError, match="one value per block") as err:
        pipeline_from_dict(body, source="my.yaml")
    assert "\n" not in str(err.value)
    body = load_pipeline("sd-1.5").model_dump()
    body["vae"]["latent_channels"] = 16
    with pytest.raises(PerfModelError, match=r"denoiser latent channels \(4\) must equal vae.latent_channels \(16\)"):
        pipeline_from_dict(body, source="my.yaml")


def test_controlnets_on_a_dit_are_refused(h800):
    with pytest.raises(PerfModelError, match="controlnets must be 0 for 'flux.1-dev'"):
        _latency(load_pipeline("flux.1-dev"), h800, deployment(), 1)


def test_trace_is_seeded_and_popularity_skews_picks():
    spec = trace_spec(num_requests=300, rate_per_s=2.0, loras_max=1, lora_pool=50, popularity=1.2, seed=3)
    a, b = make_trace(spec), make_trace(spec)
    assert a == b
    picks = [r.loras[0] for r in a if r.loras]
    assert picks.count(0) > 5 * max(1, picks.count(49))


def test_simulation_batches_same_signature_requests_and_counts_gpus(h800):
    p = load_pipeline("sd-1.5")
    trace = make_trace(trace_spec(num_requests=40, rate_per_s=0, seed=1))  # no add-ons: one signature
    one = simulate(p, h800, Q, deployment(), trace, devices=2, steps=20, resolution_px=512)
    batched = simulate(p, h800, Q, deployment(), trace, devices=2, steps=20, resolution_px=512, max_batch=8)
    assert one["workers"] == 2 and batched["images_per_s"] > one["images_per_s"]
    assert batched["latency_s"]["p50"] <= batched["latency_s"]["p99"]
    with pytest.raises(PerfModelError, match="leave no worker"):
        simulate(p, h800, Q, deployment(controlnet_placement="parallel", controlnet_gpus=2), trace, devices=2,
                 steps=20, resolution_px=512)


@settings(max_examples=examples(10))
@given(disk=st.floats(0.05, 20.0), faster=st.floats(1.0, 10.0), loading=st.sampled_from(["sync", "async"]),
       loras=st.integers(1, 3))
def test_a_faster_disk_is_never_slower(disk, faster, loading, loras):
    p, system = load_pipeline("sdxl"), resolve_system("hgx-h800")
    slow = _latency(p, system, deployment(disk_read_gb_s=disk, lora_loading=loading), 0, loras)
    fast = _latency(p, system, deployment(disk_read_gb_s=disk * faster, lora_loading=loading), 0, loras)
    assert fast <= slow


@settings(max_examples=examples(10))
@given(n=st.integers(1, 4), pool=st.integers(1, 4))
def test_a_larger_controlnet_pool_is_never_slower(n, pool):
    p, system = load_pipeline("sdxl"), resolve_system("hgx-h800")
    small = _latency(p, system, deployment(controlnet_placement="parallel", controlnet_gpus=pool), n)
    large = _latency(p, system, deployment(controlnet_placement="parallel", controlnet_gpus=pool + 1), n)
    assert large <= small


def test_latent_parallelism_needs_cfg_and_halves_the_step_batch(h800):
    with pytest.raises(PerfModelError, match="'flux.1-dev' runs without CFG"):
        _latency(load_pipeline("flux.1-dev"), h800, deployment(cfg_parallel=True), 0)
    p = load_pipeline("sdxl")
    one = service(p, h800, Q, deployment(), images=1, steps=10, resolution_px=1024, controlnets=0, loras=0,
                  lora_misses=0)
    two = service(p, h800, Q, deployment(cfg_parallel=True), images=1, steps=10, resolution_px=1024, controlnets=0,
                  loras=0, lora_misses=0)
    assert two["base_step_s"] < one["base_step_s"] and two["worker_gpu_s"] == pytest.approx(2 * two["total_s"])


@pytest.mark.parametrize("name,modules", [
    ("sd-1.5", 16 * 8),             # 16 transformer blocks x (to_q, to_k, to_v, to_out.0) x 2 attentions
    ("sdxl", 70 * 8),               # 70 transformer blocks (down 2x2 + 2x10, mid 10, up 3x2 + 3x10)
    ("sd3-medium", 24 * 8),         # 24 joint blocks x (to_q/k/v/out + add_q/k/v_proj + to_add_out)
    ("flux.1-dev", 19 * 8 + 38 * 5),  # + 38 single blocks x (to_q, to_k, to_v, proj_mlp, proj_out)
])
def test_peft_wraps_diffusers_target_modules(name, modules):
    p = load_pipeline(name)
    assert target_modules(p) == modules
    assert peft_inject_s(p, adapters=2) == pytest.approx(2 * modules * PEFT_HOST_S_PER_MODULE)


def test_peft_loading_costs_the_measured_sdxl_load_time_per_cold_adapter(h800):
    # diffusers#9297: 1.216 s to load one SDXL LoRA through the PEFT backend; a direct loader skips it
    p = load_pipeline("sdxl")
    kw = dict(images=1, steps=50, resolution_px=1024, controlnets=0, loras=2)
    peft = service(p, h800, Q, deployment(), lora_misses=2, **kw)
    direct = service(p, h800, Q, deployment(lora_loader="direct"), lora_misses=2, **kw)
    assert peft["lora_inject_s"] == pytest.approx(2 * 1.216) and direct["lora_inject_s"] == 0
    assert peft["total_s"] - direct["total_s"] == pytest.approx(2 * 1.216)
    warm = service(p, h800, Q, deployment(), lora_misses=0, **kw)  # cached adapters: nothing to wrap
    assert warm["lora_inject_s"] == 0 and warm["total_s"] < direct["total_s"]


@settings(max_examples=examples(10))
@given(misses=st.integers(0, 2), loader=st.sampled_from(["peft", "direct"]),
       loading=st.sampled_from(["sync", "async"]), model=st.sampled_from(["sd-1.5", "sdxl"]))
def test_more_cold_adapters_never_faster_and_peft_never_faster_than_direct(misses, loader, loading, model):
    p, system = load_pipeline(model), resolve_system("hgx-h800")
    kw = dict(images=1, steps=20, resolution_px=p.default_resolution_px, controlnets=0, loras=3)
    dep = deployment(lora_loader=loader, lora_loading=loading)
    fewer = service(p, system, Q, dep, lora_misses=misses, **kw)["total_s"]
    more = service(p, system, Q, dep, lora_misses=misses + 1, **kw)["total_s"]
    assert more >= fewer
    direct = service(p, system, Q, deployment(lora_loader="direct", lora_loading=loading), lora_misses=misses + 1,
                     **kw)["total_s"]
    peft = service(p, system, Q, deployment(lora_loader="peft", lora_loading=loading), lora_misses=misses + 1,
                   **kw)["total_s"]
    assert peft >= direct
