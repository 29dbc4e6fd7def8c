"""The bundled hardware catalog and the loader: real files, real validation, no mocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from perfmodel import hardware
from perfmodel.hardware.catalog import bundled, load_file, resolve
from perfmodel.hardware.schema import Device, Sourced, _numeric_paths
from perfmodel.errors import PerfModelError, UnknownNameError

CATALOG_DIR = Path(hardware.__file__).parent / "catalog"

ACCELERATORS = [
    "a100-sxm-40gb", "a100-sxm-80gb", "a100-pcie-80gb", "h100-sxm", "h100-pcie", "h200-sxm", "b200",
    "l40s", "l4", "a10g", "mi300x", "ascend-910b", "ascend-910c",
]
CPUS = ["xeon-8480", "xeon-6980p", "epyc-9654", "epyc-9755", "kunpeng-920"]
PCIE_ONLY = ["a100-pcie-80gb", "h100-pcie", "l40s", "l4", "a10g"]


def _device(name: str) -> Device:
    return hardware.get_device(name)






# ------------------------------------------------------------------ required ids and kinds

@pytest.mark.parametrize("name", ACCELERATORS)
def test_required_accelerators_resolve_to_their_default_node(name):
    system = resolve(name)
    assert system.device.id == name
    assert system.device.kind in ("gpu", "npu")
    assert system.node.device == name
    assert system.node.default is True
    assert system.node.devices_per_node == 8


@pytest.mark.parametrize("name", CPUS + ["epyc-7742"])
def test_required_cpus_are_cpu_devices(name):
    dev = _device(name)
    assert dev.kind == "cpu"
    assert dev.host_link is None and dev.scaleup_link is None
    assert dev.clock_ghz is not None
    # The fp32 peak is cores x GHz x FLOP/cycle: a per-core rate between 16 (NEON) and 64 (AVX-512 x2).
    per_core_cycle = dev.peak_dense_tflops["fp32"] * 1e3 / (dev.compute_units * dev.clock_ghz)
    assert 16 <= per_core_cycle <= 64 + 1e-6


def test_every_accelerator_has_exactly_one_default_node():
    cat = bundled()
    for dev in cat.devices:
        defaults = [n.id for n in cat.nodes if n.device == dev.id and n.default]
        if dev.kind == "cpu":
            assert defaults == [], dev.id
        else:
            assert len(defaults) == 1, (dev.id, defaults)


def test_a100_40gb_has_its_own_node():
    assert resolve("a100-sxm-40gb").node.id == "dgx-a100-40gb"
    assert resolve("a100-sxm-80gb").node.id == "dgx-a100"


# ------------------------------------------------------------------ dense, not sparse

@pytest.mark.parametrize(("name", "dtype", "value"), [
    ("h100-sxm", "bf16", 989.4), ("h100-sxm", "fp8", 1978.9), ("h100-sxm", "tf32", 494.7),
    ("h100-pcie", "bf16", 756.5), ("h100-pcie", "fp8", 1513),
    ("h200-sxm", "bf16", 989), ("h200-sxm", "fp8", 1979),
    ("b200", "bf16", 2250), ("b200", "fp8", 4500), ("b200", "fp4", 9000),
    ("a100-sxm-80gb", "bf16", 312), ("a100-sxm-40gb", "int8", 624), ("a100-pcie-80gb", "tf32", 156),
    ("l40s", "bf16", 362.05), ("l40s", "fp8", 733),
    ("l4", "bf16", 121), ("l4", "fp8", 242),
    ("a10g", "bf16", 70), ("mi300x", "bf16", 1307.4), ("mi300x", "fp8", 2614.9),
    ("ascend-910c", "bf16", 752),
])
def test_peaks_are_dense(name, dtype, value):
    assert _device(name).peak_dense_tflops[dtype] == pytest.approx(value)


@pytest.mark.parametrize(("name", "has_fp8"), [
    ("a100-sxm-40gb", False), ("a100-sxm-80gb", False), ("a100-pcie-80gb", False), ("a10g", False),
    ("ascend-910b", False), ("ascend-910c", False),
    ("l4", True), ("l40s", True), ("h100-sxm", True), ("h200-sxm", True), ("b200", True), ("mi300x", True),
])
def test_fp8_only_where_the_tensor_units_have_it(name, has_fp8):
    assert _device(name).has_dtype("fp8") is has_fp8


def test_fp32_work_does_not_fall_back_to_tensor_rates():
    # Without an fp32 entry, peak_flops('fp32') would fall back to tf32/bf16: 15x too fast on A10G.
    assert _device("h200-sxm").peak_flops("fp32") == pytest.approx(67e12)
    assert _device("a10g").peak_flops("fp32") == pytest.approx(31.2e12)
    for dev in bundled().devices:
        if dev.kind == "gpu":
            assert dev.has_dtype("fp32"), dev.id


def test_ascend_910c_is_the_whole_package():
    dev = _device("ascend-910c")
    assert (dev.peak_dense_tflops["bf16"], dev.memory_gb, dev.memory_bw_gb_s) == (752, 128, 3200)
    assert dev.scaleup_link is not None and dev.scaleup_link.bw_per_direction_gb_s == 392


# ------------------------------------------------------------------ measured fractions wired right

@pytest.mark.parametrize(("name", "latency", "efficiency"), [
    ("a100-sxm-80gb", 21, 197 / 300), ("h100-sxm", 15.5, 362 / 450), ("h200-sxm", 16, 367 / 450),
    ("b200", 25, 422 / 900), ("mi300x", 20, 320 / 448),
])
def test_scaleup_link_latency_and_efficiency(name, latency, efficiency):
    link = _device(name).scaleup_link
    assert link is not None
    assert link.latency_us == latency
    assert link.efficiency == pytest.approx(efficiency, abs=0.006)


@pytest.mark.parametrize(("name", "bw"), [
    ("a100-sxm-80gb", 300), ("h100-sxm", 450), ("h200-sxm", 450), ("b200", 900), ("mi300x", 448),
])
def test_scaleup_bandwidth_is_per_direction(name, bw):
    assert _device(name).scaleup_link.bw_per_direction_gb_s == bw


@pytest.mark.parametrize(("name", "dtype", "frac"), [
    ("h100-sxm", "bf16", 0.87), ("h100-sxm", "fp8", 0.77), ("a100-sxm-80gb", "bf16", 0.93),
    ("a100-sxm-80gb", "int8", 0.94), ("l40s", "bf16", 0.77), ("l40s", "fp8", 0.60), ("b200", "bf16", 0.76),
    ("b200", "fp8", 0.71), ("mi300x", "bf16", 0.54), ("mi300x", "fp8", 0.48), ("ascend-910c", "int8", 0.80),
])
def test_gemm_efficiency_is_the_measured_best_shape_fraction(name, dtype, frac):
    assert _device(name).gemm_efficiency[dtype] == pytest.approx(frac)


@pytest.mark.parametrize("name", PCIE_ONLY)
def test_pcie_only_cards_have_no_scaleup_link_and_pcie_nodes(name):
    system = resolve(name)
    assert system.device.scaleup_link is None
    assert system.device.host_link is not None
    assert system.node.topology == "pcie"


# ------------------------------------------------------------------ sources

def _entries():
    cat = bundled()
    return [*cat.devices, *cat.nodes, *cat.clusters]


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.id)
def test_every_number_in_the_bundled_catalog_has_a_source(entry):
    paths = _numeric_paths(entry)
    for path in paths:
        parts = path.split(".")
        covering = [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in entry.sources]
        assert covering, f"{entry.id}: {path} has no source"
        assert all(entry.sources[c].strip() for c in covering), f"{entry.id}: empty source for {path}"


def test_source_keys_are_documented_in_sources_md():
    documented = (CATALOG_DIR / "SOURCES.md").read_text()
    # Hyphenated upper-case tokens that are not keys: part names, memory types, ISA features.
    not_keys = re.compile(r"^(DDR\d|MRDIMM|AVX|AMX|CX|A100|H100|MI300X|TRT|LOW)")
    missing = set()
    for entry in _entries():
        for text in entry.sources.values():
            for key in re.findall(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+\b", text):
                if not not_keys.match(key) and f"**{key}" not in documented and f"/ {key}" not in documented:
                    missing.add(key)
    for bare in ("AIC", "RRZE", "LLMA", "VIDUR", "MYSTREAM"):
        assert f"**{bare}**" in documented
    assert not missing, f"source keys used in the catalog but not expanded in SOURCES.md: {sorted(missing)}"


def test_entry_missing_one_source_is_rejected_naming_the_field(h100_entry):
    data = h100_entry
    del data["sources"]["memory_bw_gb_s"]
    with pytest.raises(ValidationError) as err:
        Device.model_validate(data)
    assert "memory_bw_gb_s" in str(err.value)


def test_entry_missing_a_nested_link_source_is_rejected(h100_entry, write_yaml):
    data = h100_entry
    del data["sources"]["scaleup_link.latency_us"]
    path = write_yaml({"devices": [data]})
    with pytest.raises(PerfModelError) as err:
        load_file(path)
    msg = str(err.value)
    assert "scaleup_link.latency_us" in msg and "without a source" in msg
    assert "\n" not in msg


def test_a_parent_key_covers_every_number_below_it(h100_entry):
    data = h100_entry
    for key in [k for k in data["sources"] if k.startswith("scaleup_link.")]:
        del data["sources"][key]
    data["sources"]["scaleup_link"] = "one source for the whole link"
    assert Device.model_validate(data).scaleup_link.latency_us == 15.5


def test_schema_defaults_need_no_source(h100_entry):
    data = h100_entry
    for key in ("gemm_tile_m", "gemm_tile_n"):
        del data[key]
        del data["sources"][key]
    dev = Device.model_validate(data)
    assert (dev.gemm_tile_m, dev.gemm_tile_n) == (128, 128)


def test_sourced_subclasses_reject_unsourced_nodes():
    with pytest.raises(ValidationError, match="devices_per_node"):
        hardware.Node.model_validate({"id": "n", "name": "n", "device": "h100-sxm", "devices_per_node": 8,
                                      "topology": "nvswitch", "scaleup_domain_devices": 8,
                                      "sources": {"scaleup_domain_devices": "x"}})
    assert issubclass(hardware.Node, Sourced)


# ------------------------------------------------------------------ names

def test_alias_resolves():
    assert resolve("h100").device.id == "h100-sxm"
    assert resolve("H100").device.id == "h100-sxm"
    assert resolve("cm384").id == "cloudmatrix384"
    assert resolve("cloudmatrix-384").id == "cloudmatrix384"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError) as err:
        resolve("h100-sxn")
    assert "did you mean" in str(err.value) and "'h100-sxm'" in str(err.value)


def test_every_name_in_the_bundled_catalog_is_unique():
    seen: dict[str, str] = {}
    for entry in _entries():
        for key in [entry.id, *entry.aliases]:
            assert key.lower() not in seen, f"{key!r} names {seen.get(key.lower())} and {entry.id}"
            seen[key.lower()] = entry.id


def test_host_cpus_resolve_to_cpu_devices():
    cat = bundled()
    named = [n for n in cat.nodes if n.host_cpu]
    assert {n.id for n in named} >= {"dgx-h100", "dgx-a100", "cm384-node", "ascend-910b-8npu"}
    for node in named:
        cpu = hardware.get_device(node.host_cpu)
        assert cpu.kind == "cpu", node.id
        system = resolve(node.id)
        assert system.host_cpu is not None and system.host_cpu.id == cpu.id
    assert resolve("cm384-node").host_cpu.id == "kunpeng-920"
    assert resolve("cm384-node").node.cpu_sockets == 4
    assert resolve("dgx-a100").host_cpu.id == "epyc-7742"


# ------------------------------------------------------------------ link_for_group

def test_eight_gpus_on_dgx_h100_use_nvlink():
    link, topo = resolve("dgx-h100").link_for_group(8)
    assert topo == "nvswitch"
    assert link.bw_per_direction_gb_s == 450 and "NVLink" in link.name


def test_eight_gpus_on_an_l40s_node_use_the_pcie_host_link():
    system = resolve("l40s")
    link, topo = system.link_for_group(8)
    assert topo == "pcie"
    assert link == system.device.host_link and link.bw_per_direction_gb_s == 31.5


def test_64_npus_on_cloudmatrix384_use_the_unified_bus():
    system = resolve("cloudmatrix384")
    assert system.max_devices == 384
    link, topo = system.link_for_group(64)
    assert topo == "ub_switch"
    assert link == system.cluster.scaleup_link and link.bw_per_direction_gb_s == 392
    # Crossing nodes on the UB costs <1 us and <3% bandwidth (CM384 paper): the cluster link is
    # slightly worse than the in-node one, never better.
    inner, _ = system.link_for_group(8)
    assert inner == system.device.scaleup_link
    assert 0 < link.latency_us - inner.latency_us <= 1
    assert 0.97 * inner.efficiency <= link.efficiency < inner.efficiency
    assert system.link_for_group(384)[1] == "ub_switch"


def test_sixteen_gpus_on_one_dgx_h100_raise():
    with pytest.raises(PerfModelError, match="16 devices"):
        resolve("dgx-h100").link_for_group(16)


def test_sixteen_gpus_on_two_dgx_h100_use_the_nic():
    system = resolve("dgx-h100-x2")
    assert system.max_devices == 16
    link, topo = system.link_for_group(16)
    assert topo == "scaleout"
    assert link.bw_per_direction_gb_s == 50
    assert system.link_for_group(8)[1] == "nvswitch"
    with pytest.raises(PerfModelError):
        system.link_for_group(17)


def test_single_device_and_meshes():
    assert resolve("h100").link_for_group(1)[1] == "single"
    assert resolve("mi300x").link_for_group(8)[1] == "xgmi_mesh"
    assert resolve("ascend-910b").link_for_group(8)[1] == "hccs_mesh"


def test_a_cpu_alone_cannot_form_a_group():
    system = resolve("xeon-8480")
    assert system.max_devices == 1
    with pytest.raises(PerfModelError):
        system.link_for_group(2)


# ------------------------------------------------------------------ efficiencies cite measurements (issue 15)

def _measurement_keys() -> set[str]:
    """Keys documented under '## Measurements' in SOURCES.md (measured data, not modeling values)."""
    text = (CATALOG_DIR / "SOURCES.md").read_text()
    section = text.split("## Measurements", 1)[1].split("\n## ", 1)[0]
    return {k for line in re.findall(r"^- \*\*([^*]+)\*\*", section, flags=re.M) for k in line.split(" / ")}


EFFICIENCY_FIELDS = ("gemm_efficiency", "mem_bw_efficiency", "attn_prefill_efficiency", "attn_decode_efficiency")


@pytest.mark.parametrize("dev", bundled().devices, ids=lambda d: d.id)
def test_every_efficiency_cites_a_measurement_not_a_rationale(dev):
    keys = _measurement_keys()
    assert {"AIC-DATA", "RRZE", "ROCM-MAF2", "NVBW-24"} <= keys  # the parse found the section
    for name in EFFICIENCY_FIELDS:
        if name not in dev.model_fields_set:
            continue
        covering = [p for p in dev.sources if p == name or p.startswith(f"{name}.")]
        assert covering, f"{dev.id}: {name} has no source"
        for path in covering:
            text = dev.sources[path]
            assert not text.lstrip().startswith("[assumption"), f"{dev.id}: {path} is a rationale: {text}"
            assert any(re.search(rf"\b{re.escape(k)}\b", text) for k in keys), \
                f"{dev.id}: {path} cites no measurement source ({', '.join(sorted(keys))}): {text}"


def test_h100_bandwidth_efficiency_matches_its_measurement():
    # RRZE gpu-stream/gh200.txt: triad 3783 of 4000 GB/s on the GH200's H100 die (issue 15: was 0.85)
    assert _device("h100-sxm").mem_bw_efficiency == pytest.approx(3783 / 4000, abs=1e-3)


# ------------------------------------------------------------------ 2025-2026 devices (issue 10)

NEW_DEVICES = ["b300", "gb200", "gb300", "mi325x", "mi355x", "h20", "h800", "rtx-pro-6000"]


@pytest.mark.parametrize("name", NEW_DEVICES)
def test_new_devices_load_with_sources_and_a_default_node(name):
    system = resolve(name)
    dev = system.device
    assert dev.id == name and dev.kind == "gpu"
    assert {"peak_dense_tflops", "memory_gb", "memory_bw_gb_s", "compute_units"} <= {
        p.split(".")[0] for p in dev.sources}
    assert dev.has_dtype("fp32") and dev.has_dtype("bf16") and dev.has_dtype("fp8")
    assert system.node is not None and system.node.device == name


@pytest.mark.parametrize(("name", "has_fp4"), [
    ("b300", True), ("gb200", True), ("gb300", True), ("mi355x", True), ("rtx-pro-6000", True),
    ("mi325x", False), ("h20", False), ("h800", False),
])
def test_fp4_tensor_cores_where_the_part_has_them(name, has_fp4):
    assert _device(name).has_dtype("fp4") is has_fp4


@pytest.mark.parametrize(("name", "dtype", "value"), [
    ("b300", "fp4", 14000), ("gb300", "fp4", 15000), ("gb200", "fp4", 10000), ("gb200", "bf16", 2500),
    ("mi355x", "fp8", 5033), ("mi355x", "fp6", 10066), ("h20", "bf16", 148), ("h800", "fp8", 1978.9),
    ("b300", "int8", 150),  # Blackwell Ultra cut INT8 (VERDA-GB300: 0.15 POPS dense)
])
def test_new_peaks_are_dense(name, dtype, value):
    assert _device(name).peak_dense_tflops[dtype] == value


@pytest.mark.parametrize("rack", ["gb200-nvl72", "gb300-nvl72"])
def test_nvl72_racks_are_one_72_gpu_nvlink_domain(rack):
    system = resolve(rack)
    assert system.node.devices_per_node == 72 and system.node.scaleup_domain_devices == 72
    link, _ = system.link_for_group(72)
    assert link.bw_per_direction_gb_s == 900  # NVLink5 across the rack, not a NIC


def test_h800_nvlink_is_cut_to_200_per_direction():
    assert _device("h800").scaleup_link.bw_per_direction_gb_s == 200
    assert _device("h800").peak_dense_tflops == _device("h100-sxm").peak_dense_tflops


@pytest.mark.parametrize(("alias", "device"), [("b200_sxm", "b200"), ("h100_sxm", "h100-sxm"),
                                               ("h200_sxm", "h200-sxm"), ("gb200", "gb200")])
def test_measured_serving_system_names_resolve(alias, device):
    assert resolve(alias).device.id == device
