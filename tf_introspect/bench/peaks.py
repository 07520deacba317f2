"""This CPU's peak GFLOP/s and the roofline: the achieved GFLOP/s of a step (its FLOPs, from
:mod:`tf_introspect.bench.flops`, over its median time) and its fraction of the peak.

The peaks (``cpu_peaks``) are computed once for the whole run and printed with what they
assumed: physical cores from ``/proc/cpuinfo``, the clock from its ``cpu MHz`` or
``--cpu_ghz``, float32 FLOP/cycle/core = 2 FMA units x 16 lanes with AVX-512 (8 on AMD Zen 4
and with AVX2) x 2; bfloat16 with AMX-BF16 its tile unit's 1,024, else with AVX512_BF16 twice
float32. Memory bandwidth is not modelled.
"""

import os

# Intel's AMX tile unit (TMUL) of 4th-generation Xeon Scalable (Sapphire Rapids) does 1,024
# BF16 operations (multiplies and adds counted apart) per cycle per core. Source: Intel's
# Sapphire Rapids presentation at Architecture Day 2021 (AMX: 2,048 INT8 or 1,024 BF16
# operations per cycle per core, against 64 FP32 operations per cycle with AVX-512's two FMA
# units); i.e. one TDPBF16PS on full tiles, [16 x 32] x [32 x 16] = 2 * 16 * 16 * 32 = 16,384
# FLOP, every 16 cycles.
AMX_BF16_FLOP_PER_CYCLE = 1024


def parse_cpuinfo(text):
    """The processor entries of ``/proc/cpuinfo`` text: a list of ``{field: value}``."""
    entries, entry = [], {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if "processor" in entry:
                entries.append(entry)
            entry = {}
            continue
        key, _, value = line.partition(":")
        entry[key.strip()] = value.strip()
    return entries


def cpu_peaks(cpuinfo=None, cpus=None, ghz=None):
    """Peak float32 and bfloat16 GFLOP/s of the CPUs this process runs on, and what was
    assumed: the one place the roofline's peaks come from.

    ``cpuinfo``: ``/proc/cpuinfo``'s text (default: read it); ``cpus``: the logical CPUs used
    (default: this process's affinity); ``ghz``: the clock (default: the largest ``cpu MHz``
    of those CPUs; in a virtual machine this is the nominal, TSC, rate: turbo may run faster,
    AVX-512 and AMX licence clocks slower).

    Peak = physical cores x clock x FLOP per cycle per core. Physical cores: the distinct
    ``(physical id, core id)`` of the CPUs used (two hyperthreads of one core share its
    units and count once; ``siblings`` > ``cpu cores`` says a package has hyperthreads). In
    a virtual machine this is the topology the hypervisor presents, which may hide that two
    vCPUs are hyperthreads of one host core. float32: FMA units x 32-bit lanes x 2 (a
    multiply-add is 2 FLOP); two FMA units (Intel since Haswell, AMD since Zen 2; some Xeon
    Silver / Bronze have one 512-bit unit), 16 lanes with ``avx512f`` on Intel and on AMD from
    Zen 5 (family 26), 8 on AMD Zen 4 (family 25: 512-bit instructions on two 256-bit pipes)
    and with AVX2 only. bfloat16: with ``amx_bf16`` the AMX tile unit
    (``AMX_BF16_FLOP_PER_CYCLE``), else with ``avx512_bf16`` twice the float32 rate
    (VDPBF16PS: two bfloat16 products a 32-bit lane), else the float32 rate (converted).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    if cpus is None:
        try:
            cpus = os.sched_getaffinity(0)
        except AttributeError:
            cpus = None
    entries = parse_cpuinfo(cpuinfo)
    used = [e for e in entries if cpus is None or int(e["processor"]) in cpus] or entries
    result = {
        "cpu_model": None,
        "logical_cpus": len(used),
        "physical_cores": None,
        "ghz": None,
        "clock_source": None,
        "f32_flop_per_cycle_core": None,
        "bf16_flop_per_cycle_core": None,
        "bf16_unit": None,
        "f32_peak_gflops": None,
        "bf16_peak_gflops": None,
        "assumptions": [],
    }
    notes = result["assumptions"]
    flags_ = set(used[0].get("flags", "").split()) if used else set()
    if not used or not flags_ & {"sse", "sse2", "avx", "avx2"}:
        notes.append("not an x86 /proc/cpuinfo (no x86 flags): peaks unknown")
        return result
    first = used[0]
    vendor, family = first.get("vendor_id", "?"), int(first.get("cpu family", "0") or 0)
    result.update(cpu_model=first.get("model name"), vendor=vendor, cpu_family=family)
    if all("physical id" in e and "core id" in e for e in used):
        cores = len({(e["physical id"], e["core id"]) for e in used})
        siblings, per_package = first.get("siblings"), first.get("cpu cores")
        notes.append(
            f"{cores} physical core(s) for {len(used)} logical CPU(s): distinct "
            f"(physical id, core id); siblings {siblings}, cpu cores {per_package} "
            "(the topology as the kernel sees it; a hypervisor may back vCPUs by "
            "hyperthreads of one host core without saying so)"
        )
    else:
        cores = len(used)
        notes.append(f"no core ids: {cores} logical CPU(s) counted as physical cores")
    result["physical_cores"] = cores
    if ghz:
        result.update(ghz=float(ghz), clock_source="--cpu_ghz")
    else:
        mhz = [float(e["cpu MHz"]) for e in used if e.get("cpu MHz")]
        if mhz:
            result.update(ghz=round(max(mhz) / 1e3, 3), clock_source="/proc/cpuinfo cpu MHz")
            notes.append(
                f"clock {max(mhz) / 1e3:.3g} GHz from /proc/cpuinfo 'cpu MHz' "
                "(in a VM the nominal rate; turbo and AVX-512/AMX clocks differ)"
            )
        else:
            notes.append("no 'cpu MHz' in /proc/cpuinfo: peaks unknown (give --cpu_ghz)")
    amd = vendor == "AuthenticAMD"
    if "avx512f" in flags_ and not (amd and family < 26):
        bits, why = (
            512,
            (
                "avx512f: 512-bit vectors, two FMA units assumed (some Xeon "
                "Silver / Bronze have one)"
            ),
        )
    elif "avx512f" in flags_:
        bits, why = (
            256,
            ("AMD Zen 4 (family 25) with avx512f: 512-bit instructions on two 256-bit FMA pipes"),
        )
    elif flags_ & {"avx2", "avx"}:
        bits, why = 256, "AVX/AVX2: 256-bit vectors"
    else:
        bits, why = 128, "SSE only: 128-bit vectors"
    units = 2 if "fma" in flags_ else 1
    f32 = units * (bits // 32) * 2
    notes.append(
        f"float32: {why}; {units} FMA unit(s) x {bits // 32} lanes x 2 = {f32} "
        "FLOP/cycle/core" + ("" if "fma" in flags_ else " (no FMA: one multiply and one add pipe)")
    )
    if "amx_bf16" in flags_:
        bf16, unit = AMX_BF16_FLOP_PER_CYCLE, "amx_bf16"
        notes.append(
            f"bfloat16: AMX tile unit, {bf16} FLOP/cycle/core (Intel Architecture "
            "Day 2021, Sapphire Rapids); reached only by large matrix products that "
            "oneDNN runs on AMX"
        )
    elif "avx512_bf16" in flags_:
        bf16, unit = 2 * f32, "avx512_bf16"
        notes.append(f"bfloat16: avx512_bf16 (VDPBF16PS), 2 x float32 = {bf16} FLOP/cycle/core")
    else:
        bf16, unit = f32, "none"
        notes.append("bfloat16: no bfloat16 arithmetic unit; computed as float32")
    result.update(
        vector_bits=bits,
        fma_units=units,
        f32_flop_per_cycle_core=f32,
        bf16_flop_per_cycle_core=bf16,
        bf16_unit=unit,
    )
    if result["ghz"]:
        result["f32_peak_gflops"] = round(cores * result["ghz"] * f32, 1)
        result["bf16_peak_gflops"] = round(cores * result["ghz"] * bf16, 1)
    return result


def print_peaks(peaks):
    f32, bf16 = peaks["f32_peak_gflops"], peaks["bf16_peak_gflops"]
    print(
        f"\nRoofline peaks ({peaks['cpu_model'] or 'unknown CPU'}): float32 "
        f"{f32 if f32 is not None else '?'} GFLOP/s, bfloat16 "
        f"{bf16 if bf16 is not None else '?'} GFLOP/s ({peaks['physical_cores']} physical "
        f"core(s) x {peaks['ghz'] or '?'} GHz x {peaks['f32_flop_per_cycle_core']} / "
        f"{peaks['bf16_flop_per_cycle_core']} FLOP/cycle/core). Assumed:"
    )
    for note in peaks["assumptions"]:
        print(f"  - {note}")


def roofline(flops, seconds, peak_gflops):
    """``(achieved GFLOP/s, fraction of the peak or None)`` of ``flops`` in ``seconds``."""
    rate = flops / seconds / 1e9
    return round(rate, 2), (round(rate / peak_gflops, 4) if peak_gflops else None)


def percent(fraction):
    return f"{100 * fraction:.1f}%" if fraction is not None else "?"
