"""Local CPU detection from (fake and real) Linux pseudo-files."""

from pathlib import Path

import pytest

from perfmodel.hardware.local import (ASSUMED_STREAM_GB_S_PER_CORE, FP32_FLOP_PER_CYCLE, cpu_device, detect_local_cpu,
                            local_cpu_system, read_cpu_info)
from perfmodel.hardware.schema import Catalog

FLAGS_ZEN4 = "fpu sse sse2 avx fma avx2 avx512f avx512bw avx512_bf16"
FLAGS_SPR = "fpu sse sse2 avx fma avx2 avx512f avx512bw amx_bf16 amx_tile"


def _fake_host(root: Path, *, cpus: int, cores_per_socket: int, flags: str, vendor="GenuineIntel", family=6,
               model_name="Intel(R) Xeon(R) Platinum 8480+", mhz="2000.000", max_khz=None, mem_kb=16_000_000,
               cgroup_cpu=None, l3_kb=105 * 1024):
    blocks = []
    for i in range(cpus):
        blocks.append(f"processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: {model_name}\n"
                      f"cpu MHz\t\t: {mhz}\nphysical id\t: 0\ncore id\t\t: {i % cores_per_socket}\nflags\t\t: {flags}\n")
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "cpuinfo").write_text("\n".join(blocks) + "\n")
    (root / "proc" / "meminfo").write_text(f"MemTotal:       {mem_kb} kB\nMemFree:        1000 kB\n")
    for i in range(cpus):
        cache = root / f"sys/devices/system/cpu/cpu{i}/cache"
        for idx, (level, ctype, size, shared) in enumerate(
                [(1, "Data", "48K", str(i)), (1, "Instruction", "32K", str(i)), (2, "Unified", "2048K", str(i)),
                 (3, "Unified", f"{l3_kb}K", f"0-{cpus - 1}")]):
            d = cache / f"index{idx}"
            d.mkdir(parents=True)
            (d / "level").write_text(f"{level}\n")
            (d / "type").write_text(f"{ctype}\n")
            (d / "size").write_text(f"{size}\n")
            (d / "shared_cpu_list").write_text(f"{shared}\n")
        if max_khz:
            freq = root / f"sys/devices/system/cpu/cpu{i}/cpufreq"
            freq.mkdir(parents=True)
            (freq / "cpuinfo_max_freq").write_text(f"{max_khz}\n")
    if cgroup_cpu:
        (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
        (root / "sys/fs/cgroup/cpu.max").write_text(cgroup_cpu + "\n")
    return root


def test_sapphire_rapids_with_smt_counts_physical_cores(tmp_path):
    root = _fake_host(tmp_path, cpus=8, cores_per_socket=4, flags=FLAGS_SPR, max_khz=3800000)
    info = read_cpu_info(root, affinity=set(range(8)))
    assert (info.cores, info.threads) == (4, 8)
    assert info.isa == "avx512" and info.clock_ghz == pytest.approx(3.8)
    dev = cpu_device(info)
    assert dev.kind == "cpu" and dev.compute_units == 4
    assert dev.peak_dense_tflops["fp32"] == pytest.approx(4 * 3.8 * 64 / 1e3)
    assert dev.peak_dense_tflops["bf16"] == pytest.approx(4 * 3.8 * 1024 / 1e3)  # AMX
    assert dev.onchip_cache_mb == pytest.approx(105)
    assert dev.memory_bw_gb_s == pytest.approx(4 * ASSUMED_STREAM_GB_S_PER_CORE)
    assert dev.sources["peak_dense_tflops.fp32"].startswith("derived")
    assert dev.sources["memory_bw_gb_s"].startswith("assumption")
    assert dev.id == "cpu-intel-xeon-platinum-8480-4c"


def test_zen4_avx512_runs_at_the_avx2_rate(tmp_path):
    root = _fake_host(tmp_path, cpus=2, cores_per_socket=2, flags=FLAGS_ZEN4, vendor="AuthenticAMD", family=25,
                      model_name="AMD EPYC 9654 96-Core Processor", mhz="2596.0")
    info = read_cpu_info(root, affinity={0, 1})
    assert info.isa == "avx512_zen4"
    dev = cpu_device(info)
    assert dev.peak_dense_tflops["fp32"] == pytest.approx(2 * 2.596 * FP32_FLOP_PER_CYCLE["avx2_fma"] / 1e3)
    assert dev.peak_dense_tflops["bf16"] == pytest.approx(2 * dev.peak_dense_tflops["fp32"])
    assert "nominal" in dev.sources["clock_ghz"]


def test_affinity_and_cgroup_quota_limit_the_cores(tmp_path):
    root = _fake_host(tmp_path, cpus=16, cores_per_socket=16, flags="fpu avx fma avx2", cgroup_cpu="300000 100000")
    info = read_cpu_info(root, affinity={0, 1, 2, 3, 4, 5})
    assert info.cores == 3 and info.isa == "avx2_fma"


def test_cgroup_memory_limit(tmp_path):
    root = _fake_host(tmp_path, cpus=2, cores_per_socket=2, flags="avx", mem_kb=64_000_000)
    (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
    (root / "sys/fs/cgroup/memory.max").write_text("8000000000\n")
    info = read_cpu_info(root, affinity={0, 1})
    assert info.memory_gb == pytest.approx(8.0) and "cgroup" in info.memory_source


def test_this_host_is_a_valid_catalog_device():
    dev = detect_local_cpu()
    assert dev.kind == "cpu" and dev.compute_units >= 1 and dev.peak_flops("fp32") > 0
    # round-trips through the catalog schema (what `validate --out` writes as hardware.yaml)
    system = local_cpu_system(dev)
    cat = Catalog.model_validate({"devices": [dev.model_dump(exclude_unset=True)],
                                  "nodes": [system.node.model_dump(exclude_unset=True)]})
    assert cat.devices[0] == dev
