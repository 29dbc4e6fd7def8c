"""The CPU host this process runs on, described with the catalog's `Device` schema.

Everything is read from Linux pseudo-files (no measurement): /proc/cpuinfo (model, ISA flags,
clock, core ids), the process's CPU affinity and cgroup quota (cores it may use), sysfs cache
descriptions and /proc/meminfo (or the cgroup memory limit). Two numbers cannot be read there:

* peak FLOP/s is derived as cores x clock x FLOP/cycle/core from the vector ISA (table below);
* memory bandwidth is an assumption (`ASSUMED_STREAM_GB_S_PER_CORE` per core) that calibration
  replaces with a measured value.

`root` lets tests point the reader at a fake filesystem tree.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from perfmodel.hardware.catalog import System
from perfmodel.hardware.schema import Device, Node

# fp32 FLOP per cycle per core = FMA pipes x lanes x 2 (multiply + add).
# AVX-512 with two 512-bit FMA pipes (Skylake-SP Gold/Platinum, Ice Lake, SPR, Zen 5): 2 x 16 x 2.
# Zen 4 executes AVX-512 on 256-bit pipes ("double pumped", AMD Zen 4 optimization guide), so it
# has the AVX2 rate: 2 x 8 x 2. AVX without FMA: one 8-lane add + one 8-lane multiply.
FP32_FLOP_PER_CYCLE = {"avx512": 64, "avx512_zen4": 32, "avx2_fma": 32, "avx": 16, "sse": 8, "neon": 16}
# bf16 dot-product instructions double the fp32 FMA rate (VDPBF16PS: 2 products per fp32 lane);
# AMX-BF16: 1024 FLOP/cycle/core (hardware_specs.md section 6, WIKI-AMX).
BF16_FLOP_PER_CYCLE_AMX = 1024

# Not readable from /proc. A single modern server core streams on the order of 20-30 GB/s
# (limited by its outstanding cache-line misses); 30 GB/s/core is used as a generous upper bound
# so the fitted achievable fraction stays <= 1. Calibration replaces it with a measured rate.
ASSUMED_STREAM_GB_S_PER_CORE = 30.0
# PyTorch eager dispatch cost of one CPU operator (a 4x4 add takes ~2 us on a 2.6 GHz Zen 4 core
# with torch 2.13); an assumption until calibration fits `kernel_overhead_us`.
ASSUMED_CPU_OP_OVERHEAD_US = 5.0
# Achievable fraction of the (assumed) streaming bandwidth before calibration: an assumption.
ASSUMED_CPU_MEM_BW_EFFICIENCY = 0.7
# GEMM blocking for the cost model's tile/wave utilisation: CPU GEMM micro-kernels block a few
# rows by a few vector widths of columns (oneDNN brgemm on AVX-512: up to 16-32 rows x 64 fp32
# columns), far below a GPU's 128x128 tiles; 16 is the smallest tile the cost model uses.
CPU_GEMM_TILE_M = 16
CPU_GEMM_TILE_N = 64


@dataclass(frozen=True)
class CpuInfo:
    """What the host's pseudo-files say (raw facts, before turning them into a `Device`)."""

    model_name: str
    vendor: str
    family: int | None
    flags: frozenset[str]
    cores: int                      # physical cores this process may run on
    threads: int                    # logical CPUs this process may run on
    clock_ghz: float | None
    clock_source: str
    caches_kb: dict[str, int] = field(default_factory=dict)   # "L1d", "L2", "L3": per-instance size
    llc_total_mb: float | None = None                          # last-level cache reachable by our cores
    memory_gb: float = 0.0
    memory_source: str = ""
    arch: str = ""

    @property
    def isa(self) -> str:
        f = self.flags
        if "avx512f" in f:
            return "avx512_zen4" if self.vendor == "AuthenticAMD" and self.family == 25 else "avx512"
        if "avx2" in f and "fma" in f:
            return "avx2_fma"
        if "avx" in f:
            return "avx"
        if "asimd" in f or self.arch in ("aarch64", "arm64"):
            return "neon"
        return "sse"

    def as_dict(self) -> dict:
        return {"model_name": self.model_name, "vendor": self.vendor, "family": self.family, "isa": self.isa,
                "cores": self.cores, "threads": self.threads, "clock_ghz": self.clock_ghz,
                "caches_kb": self.caches_kb, "llc_total_mb": self.llc_total_mb, "memory_gb": self.memory_gb,
                "arch": self.arch, "bf16": "amx_bf16" in self.flags or "avx512_bf16" in self.flags}


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel.lstrip("/")).read_text()
    except OSError:
        return None


def _parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """One dict per `processor` block of /proc/cpuinfo."""
    blocks, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
            cur = {}
            continue
        key, _, value = line.partition(":")
        cur[key.strip()] = value.strip()
    if cur:
        blocks.append(cur)
    return blocks


def _parse_cpu_list(text: str) -> set[int]:
    """'0-3,8,10-11' -> {0,1,2,3,8,10,11}."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _size_kb(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)B?\s*", text, re.IGNORECASE)
    if not m:
        return 0
    return int(m.group(1)) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024 * 1024}[m.group(2).upper()]


def _cgroup_cpus(root: Path) -> float | None:
    """CPUs allowed by a cgroup v2 quota ("max 100000" means none)."""
    parts = (_read(root, "sys/fs/cgroup/cpu.max") or "").split()
    if len(parts) == 2 and parts[0] != "max":
        return int(parts[0]) / int(parts[1])
    return None


def _caches(root: Path, cpus: set[int]) -> tuple[dict[str, int], float | None]:
    """Per-instance sizes by level and the total last-level cache shared by `cpus`."""
    sizes: dict[str, int] = {}
    llc_instances: dict[str, int] = {}
    llc_level = 0
    for cpu in sorted(cpus):
        base = f"sys/devices/system/cpu/cpu{cpu}/cache"
        for idx in range(8):
            level = _read(root, f"{base}/index{idx}/level")
            if level is None:
                break
            ctype = (_read(root, f"{base}/index{idx}/type") or "").strip()
            size = _size_kb(_read(root, f"{base}/index{idx}/size") or "")
            shared = (_read(root, f"{base}/index{idx}/shared_cpu_list") or str(cpu)).strip()
            lvl = int(level)
            name = f"L{lvl}" + ("d" if ctype == "Data" else "i" if ctype == "Instruction" else "")
            sizes[name] = size
            if ctype != "Instruction" and lvl >= llc_level:
                if lvl > llc_level:
                    llc_instances, llc_level = {}, lvl
                llc_instances[shared] = size
    llc = sum(llc_instances.values()) / 1024 if llc_instances else None
    return sizes, llc


def _memory_gb(root: Path) -> tuple[float, str]:
    total_kb = 0
    for line in (_read(root, "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            total_kb = int(line.split()[1])
    gb, source = total_kb * 1024 / 1e9, "detected: /proc/meminfo MemTotal"
    limit = (_read(root, "sys/fs/cgroup/memory.max") or "max").strip()
    if limit.isdigit() and int(limit) / 1e9 < gb:
        gb, source = int(limit) / 1e9, "detected: cgroup memory.max"
    return gb, source


def read_cpu_info(root: Path | str = "/", affinity: set[int] | None = None) -> CpuInfo:
    """Facts about the host CPU from pseudo-files under `root` (default the real `/`)."""
    root = Path(root)
    blocks = _parse_cpuinfo(_read(root, "proc/cpuinfo") or "")
    if affinity is None:
        affinity = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    by_id = {int(b["processor"]): b for b in blocks if b.get("processor", "").isdigit()}
    mine = [by_id[c] for c in sorted(affinity) if c in by_id] or list(by_id.values())
    first = mine[0] if mine else {}
    physical = {(b.get("physical id", "0"), b.get("core id", b.get("processor"))) for b in mine}
    threads = len(affinity) if affinity else len(mine) or 1
    cores = len(physical) or threads
    quota = _cgroup_cpus(root)
    if quota is not None:
        cores = max(1, min(cores, int(quota)))
        threads = max(1, min(threads, int(quota)))
    flags = frozenset((first.get("flags") or first.get("Features") or "").split())
    clock, clock_src = None, ""
    max_khz = _read(root, f"sys/devices/system/cpu/cpu{min(affinity) if affinity else 0}/cpufreq/cpuinfo_max_freq")
    if max_khz and max_khz.strip().isdigit():
        clock, clock_src = int(max_khz) / 1e6, "detected: sysfs cpufreq/cpuinfo_max_freq"
    elif first.get("cpu MHz"):
        clock, clock_src = float(first["cpu MHz"]) / 1e3, "detected: /proc/cpuinfo 'cpu MHz' (nominal; boost may be higher)"
    caches, llc = _caches(root, affinity or {0})
    mem_gb, mem_src = _memory_gb(root)
    family = first.get("cpu family")
    return CpuInfo(
        model_name=first.get("model name") or platform.processor() or "unknown CPU",
        vendor=first.get("vendor_id", first.get("CPU implementer", "unknown")),
        family=int(family) if family and family.isdigit() else None,
        flags=flags, cores=cores, threads=threads, clock_ghz=clock, clock_source=clock_src,
        caches_kb=caches, llc_total_mb=llc, memory_gb=mem_gb, memory_source=mem_src, arch=platform.machine(),
    )


def cpu_device(info: CpuInfo) -> Device:
    """A `Device` (kind "cpu") for the cores in `info`, every number with its source."""
    isa = info.isa
    per_cycle = FP32_FLOP_PER_CYCLE[isa]
    sources = {
        "compute_units": "detected: physical cores in os.sched_getaffinity (and cgroup cpu.max), /proc/cpuinfo core ids",
        "memory_gb": info.memory_source,
        "memory_bw_gb_s": f"assumption: {ASSUMED_STREAM_GB_S_PER_CORE} GB/s streaming per core x {info.cores} cores; "
                          "calibration fits the achievable rate",
        "mem_bw_efficiency": "assumption until calibrated",
        "kernel_overhead_us": "assumption: PyTorch eager CPU dispatch per operator; calibration fits it",
        "gemm_tile_m": "assumption: CPU GEMM micro-kernel rows (oneDNN AVX-512 brgemm blocking)",
        "gemm_tile_n": "assumption: CPU GEMM micro-kernel columns (4 x 16 fp32 lanes)",
    }
    clock = info.clock_ghz or 2.0
    sources["clock_ghz"] = info.clock_source or "assumption: 2.0 GHz (no clock in /proc/cpuinfo or sysfs)"
    peak = {"fp32": info.cores * clock * per_cycle / 1e3}
    sources["peak_dense_tflops.fp32"] = (f"derived: {info.cores} cores x {clock:.3f} GHz x {per_cycle} FLOP/cycle "
                                         f"({isa} from /proc/cpuinfo flags)")
    if "amx_bf16" in info.flags:
        peak["bf16"] = info.cores * clock * BF16_FLOP_PER_CYCLE_AMX / 1e3
        sources["peak_dense_tflops.bf16"] = f"derived: {info.cores} cores x {clock:.3f} GHz x 1024 FLOP/cycle (AMX-BF16)"
    elif "avx512_bf16" in info.flags:
        peak["bf16"] = 2 * peak["fp32"]
        sources["peak_dense_tflops.bf16"] = "derived: 2 x fp32 rate (AVX512-BF16 dot products)"
    data = dict(
        id=local_device_id(info), name=f"{info.model_name} ({info.cores} cores)", vendor=info.vendor, kind="cpu",
        peak_dense_tflops=peak, memory_gb=max(info.memory_gb, 0.001),
        memory_bw_gb_s=ASSUMED_STREAM_GB_S_PER_CORE * info.cores, compute_units=info.cores, clock_ghz=clock,
        mem_bw_efficiency=ASSUMED_CPU_MEM_BW_EFFICIENCY, kernel_overhead_us=ASSUMED_CPU_OP_OVERHEAD_US,
        gemm_tile_m=CPU_GEMM_TILE_M, gemm_tile_n=CPU_GEMM_TILE_N,
        aliases=["local-cpu"],
    )
    if info.llc_total_mb:
        data["onchip_cache_mb"] = info.llc_total_mb
        sources["onchip_cache_mb"] = "detected: sysfs cache/index*/size of the last level, per distinct shared_cpu_list"
    return Device(**data, sources=sources)


def local_device_id(info: CpuInfo) -> str:
    """A stable id for this CPU model and core count, e.g. "cpu-amd-epyc-2c" (what calibration
    profiles are matched by)."""
    slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\((r|tm)\)|cpu|processor|@.*", "", info.model_name.lower())).strip("-")
    return f"cpu-{slug or 'unknown'}-{info.cores}c"


def detect_local_cpu(root: Path | str = "/") -> Device:
    """The CPU cores this process may use, as a catalog `Device` (kind "cpu")."""
    return cpu_device(read_cpu_info(root))


def local_cpu_system(device: Device | None = None) -> System:
    """A single-"device" system for the local CPU, for the cost model."""
    dev = device or detect_local_cpu()
    one = "this process's cores form one device"
    node = Node(id=f"{dev.id}-host", name=f"this host ({dev.name})", device=dev.id, devices_per_node=1,
                topology="single", scaleup_domain_devices=1, cpu_sockets=1,
                sources={"devices_per_node": one, "scaleup_domain_devices": one, "cpu_sockets": one})
    return System(device=dev, node=node, cluster=None, host_cpu=dev)
