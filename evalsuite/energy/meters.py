"""Energy meters: read a counter at the start and end of a window of work.

Three methods, best first:

- `measured-nvml`: the GPU's cumulative energy counter (Volta and newer), read
  through Zeus' `ZeusMonitor`, which synchronises queued CUDA work before each
  reading. Only the GPUs the run uses are counted; the CPU is not.
- `measured-rapl`: the CPU package (and DRAM, where exposed) counters under
  `/sys/class/powercap`. Read directly rather than through Zeus, whose RAPL
  reader has a fixed sysfs path and starts a polling process per counter: a
  background thread samples every `interval` seconds, often enough that a
  counter wraps at most once between samples, and each wrap is undone with the
  counter's `max_energy_range_uj`.
- `estimated`: on machines with neither counter (no `/sys/class/powercap`, no
  GPU), the process's CPU time (its threads and waited-for children) times a rated
  power per busy hardware thread. The assumption and its source are written into
  every estimate; set `EVALSUITE_CPU_WATTS_PER_THREAD` for your machine.

Measured readings can subtract the machine's idle power, measured once per meter
over a short window, so that a figure is what the evaluation added.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

METHODS = ("measured-nvml", "measured-rapl", "estimated")

# AMD EPYC 7763: 280 W rated TDP over 64 cores / 128 threads (AMD's product page) = 2.19 W per busy thread.
# A server CPU near full load draws about its TDP; per-thread it is 2-4 W on current x86 server parts.
DEFAULT_WATTS_PER_THREAD = 280.0 / 128
DEFAULT_ASSUMPTION = ("CPU time x 2.19 W per busy hardware thread (AMD EPYC 7763: 280 W rated TDP / 128 threads, "
                      "AMD's specification); CPU package only, memory, disks and cooling not counted; TDP-based "
                      "estimates can be off by tens of percent (CodeCarbon's docs cite up to ~40%)")
RAPL_ROOT = Path("/sys/class/powercap")


@dataclass
class Reading:
    """Energy over one window, with how it was obtained."""

    method: str
    joules: float  # what the window cost, idle power subtracted when `idle_watts` is set
    seconds: float
    devices: list[str]
    joules_gross: float | None = None  # before subtracting idle power (measured methods only)
    idle_watts: float | None = None
    assumption: str | None = None  # for estimates: what the number rests on
    details: dict = field(default_factory=dict)


class EstimatedMeter:
    """CPU time x a rated power per busy thread: an estimate, labelled so."""

    method = "estimated"

    def __init__(self, watts_per_thread: float | None = None, assumption: str | None = None):
        env = os.environ.get("EVALSUITE_CPU_WATTS_PER_THREAD")
        if watts_per_thread is None and env:
            watts_per_thread = float(env)
            assumption = assumption or (f"CPU time x {watts_per_thread:g} W per busy hardware thread "
                                        "(EVALSUITE_CPU_WATTS_PER_THREAD); CPU package only")
        self.watts_per_thread = DEFAULT_WATTS_PER_THREAD if watts_per_thread is None else float(watts_per_thread)
        self.assumption = assumption or DEFAULT_ASSUMPTION
        self._start = None

    @staticmethod
    def cpu_seconds() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def begin(self) -> None:
        self._start = (time.perf_counter(), self.cpu_seconds())

    def end(self) -> Reading:
        wall0, cpu0 = self._start
        cpu = self.cpu_seconds() - cpu0
        return Reading(self.method, cpu * self.watts_per_thread, time.perf_counter() - wall0,
                       [f"cpu ({os.cpu_count()} logical CPUs)"], assumption=self.assumption,
                       details={"cpu_seconds": round(cpu, 4), "watts_per_thread": self.watts_per_thread})


def rapl_zones(root: Path = RAPL_ROOT) -> list[Path]:
    """Readable package and DRAM zones under a powercap tree (psys and core/uncore subzones left out:
    core and uncore are inside the package figure, psys overlaps everything)."""
    zones = []
    for top in sorted(root.glob("intel-rapl:*")):
        if top.name.count(":") != 1:
            continue
        candidates = [top, *sorted(p for p in top.glob("intel-rapl:*") if p.is_dir())]
        for zone in candidates:
            name = _read_text(zone / "name")
            if name and (name.startswith("package") or name == "dram") and _read_int(zone / "energy_uj") is not None:
                zones.append(zone)
    return zones


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class RaplMeter:
    """Sum of the RAPL package/DRAM counters, wrap-around undone, sampled by a background thread."""

    method = "measured-rapl"

    def __init__(self, root: Path = RAPL_ROOT, interval: float | None = 1.0, zones: list[Path] | None = None):
        self.zones = zones if zones is not None else rapl_zones(root)
        if not self.zones:
            raise RuntimeError(f"no readable RAPL zone under {root}")
        self.ranges = [_read_int(z / "max_energy_range_uj") or 2**32 for z in self.zones]
        self.interval = interval
        self.idle_watts: float | None = None
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        self._last: list[int] = []
        self._total_uj = 0
        self.wraps = 0

    def devices(self) -> list[str]:
        return [f"{z.name} ({_read_text(z / 'name')})" for z in self.zones]

    def sample(self) -> None:
        """Read every counter and add what each advanced since the last reading (one wrap at most)."""
        with self._lock:
            now = [_read_int(z / "energy_uj") or 0 for z in self.zones]
            for i, (prev, cur) in enumerate(zip(self._last, now)):
                if cur >= prev:
                    self._total_uj += cur - prev
                else:  # the counter passed max_energy_range_uj and started again from 0
                    self._total_uj += self.ranges[i] - prev + cur
                    self.wraps += 1
            self._last = now

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def begin(self) -> None:
        with self._lock:
            self._last = [_read_int(z / "energy_uj") or 0 for z in self.zones]
            self._total_uj = 0
            self.wraps = 0
        self._t0 = time.perf_counter()
        if self.interval:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="evalsuite-rapl", daemon=True)
            self._thread.start()

    def end(self) -> Reading:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self.sample()
        seconds = time.perf_counter() - self._t0
        gross = self._total_uj / 1e6
        return _with_idle(Reading(self.method, gross, seconds, self.devices(), details={"wraps": self.wraps}),
                          self.idle_watts)

    def measure_idle(self, seconds: float = 0.5) -> float:
        return _measure_idle(self, seconds)


class NvmlMeter:
    """GPU energy from NVML's counter through Zeus (which synchronises CUDA before each reading)."""

    method = "measured-nvml"

    def __init__(self, gpu_indices: list[int]):
        from zeus.monitor import ZeusMonitor

        self.gpu_indices = gpu_indices
        self.monitor = ZeusMonitor(gpu_indices=gpu_indices, cpu_indices=[], sync_execution_with="torch")
        self.idle_watts: float | None = None
        self._n = 0

    def begin(self) -> None:
        self._n += 1
        self.monitor.begin_window(f"evalsuite-{self._n}", sync_execution=True)

    def end(self) -> Reading:
        m = self.monitor.end_window(f"evalsuite-{self._n}", sync_execution=True)
        import torch

        names = [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in self.gpu_indices]
        return _with_idle(Reading(self.method, float(sum(m.gpu_energy.values())), float(m.time), names,
                                  details={"per_gpu_joules": {str(k): v for k, v in m.gpu_energy.items()}}),
                          self.idle_watts)

    def measure_idle(self, seconds: float = 0.5) -> float:
        return _measure_idle(self, seconds)


def _measure_idle(meter, seconds: float) -> float:
    """The device's power while this process sleeps; later readings subtract it."""
    meter.idle_watts = None
    meter.begin()
    time.sleep(seconds)
    reading = meter.end()
    meter.idle_watts = reading.joules / max(reading.seconds, 1e-9)
    return meter.idle_watts


def _with_idle(reading: Reading, idle_watts: float | None) -> Reading:
    reading.joules_gross = reading.joules
    if idle_watts is not None:
        reading.idle_watts = idle_watts
        reading.joules = max(0.0, reading.joules - idle_watts * reading.seconds)
    return reading


def meter_for(device: str | None = None, *, rapl_root: Path = RAPL_ROOT, measure_idle: bool = True):
    """The best meter for work on `device` ('cuda:N' counts that GPU; anything else counts the CPU)."""
    if device and str(device).startswith("cuda"):
        try:
            meter = NvmlMeter([int(str(device).partition(":")[2] or 0)])
        except Exception:  # zeus missing or NVML unreadable: fall through to the CPU's counters
            meter = None
        if meter is not None:
            if measure_idle:
                meter.measure_idle()
            return meter
    try:
        meter = RaplMeter(rapl_root)
    except RuntimeError:
        return EstimatedMeter()
    if measure_idle:
        meter.measure_idle()
    return meter
