"""Energy meters: the estimate's arithmetic, RAPL from a planted sysfs tree (wrap-around included), labels."""

from __future__ import annotations

import time

import pytest

from evalsuite.energy import energy_block, label, meter_for
from evalsuite.energy.meters import EstimatedMeter, RaplMeter, Reading, rapl_zones
from evalsuite.errors import UserError


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def test_estimate_is_cpu_time_times_rated_power():
    meter = EstimatedMeter(watts_per_thread=3.0, assumption="3 W per thread (test)")
    cpu0 = time.process_time()
    meter.begin()
    _burn(0.3)
    reading = meter.end()
    cpu = time.process_time() - cpu0  # an independent clock of the same CPU time
    assert reading.method == "estimated" and reading.assumption == "3 W per thread (test)"
    assert reading.joules == pytest.approx(3.0 * cpu, rel=0.1)
    assert reading.details["cpu_seconds"] == pytest.approx(cpu, rel=0.1)


def test_estimate_does_not_count_sleep():
    meter = EstimatedMeter(watts_per_thread=100.0)
    meter.begin()
    time.sleep(0.3)
    reading = meter.end()
    assert reading.seconds >= 0.3
    assert reading.joules < 100.0 * 0.05  # sleeping costs (almost) no CPU time


def test_estimate_takes_the_rate_from_the_environment(monkeypatch):
    monkeypatch.setenv("EVALSUITE_CPU_WATTS_PER_THREAD", "7.5")
    meter = EstimatedMeter()
    assert meter.watts_per_thread == 7.5 and "EVALSUITE_CPU_WATTS_PER_THREAD" in meter.assumption


def _zone(path, name, energy, max_range=1000_000_000):
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy}\n")
    (path / "max_energy_range_uj").write_text(f"{max_range}\n")


@pytest.fixture()
def powercap(tmp_path):
    root = tmp_path / "powercap"
    _zone(root / "intel-rapl:0", "package-0", 900_000_000)
    _zone(root / "intel-rapl:0" / "intel-rapl:0:0", "core", 5)  # inside the package figure: not added again
    _zone(root / "intel-rapl:0" / "intel-rapl:0:1", "dram", 100)
    _zone(root / "intel-rapl:1", "psys", 7)  # the whole platform: overlaps everything, left out
    return root


def _set(root, rel, value):
    (root / rel / "energy_uj").write_text(f"{value}\n")


def test_rapl_zones_are_packages_and_dram(powercap):
    names = sorted(z.name for z in rapl_zones(powercap))
    assert names == ["intel-rapl:0", "intel-rapl:0:1"]


def test_rapl_sums_counters_and_undoes_a_wrap(powercap):
    meter = RaplMeter(powercap, interval=None)
    meter.begin()
    _set(powercap, "intel-rapl:0", 950_000_000)  # +50 J
    _set(powercap, "intel-rapl:0/intel-rapl:0:1", 2_000_100)  # +2 J of DRAM
    meter.sample()
    _set(powercap, "intel-rapl:0", 30_000_000)  # wrapped at 1000 J: +50 J to the top, +30 J after
    meter.sample()
    _set(powercap, "intel-rapl:0", 40_000_000)  # +10 J
    reading = meter.end()
    assert reading.method == "measured-rapl"
    assert reading.joules == pytest.approx(50 + 2 + 80 + 10)
    assert reading.details["wraps"] == 1
    assert reading.idle_watts is None and reading.joules_gross == reading.joules


def test_rapl_background_sampling_catches_every_wrap(powercap):
    meter = RaplMeter(powercap, interval=0.02)
    meter.begin()
    value = 900_000_000
    for _ in range(3):  # 900 -> 500 (wrap) -> 100 (wrap) -> 700 J, each step slower than a sampling interval
        value = (value + 600_000_000) % 1_000_000_000
        _set(powercap, "intel-rapl:0", value)
        time.sleep(0.15)
    reading = meter.end()
    assert reading.details["wraps"] == 2
    assert reading.joules == pytest.approx(3 * 600)


def test_idle_power_is_subtracted(powercap):
    meter = RaplMeter(powercap, interval=None)
    meter.idle_watts = 10.0
    meter.begin()
    time.sleep(0.2)
    _set(powercap, "intel-rapl:0", 900_000_000 + 20_000_000)  # 20 J over >= 0.2 s
    reading = meter.end()
    assert reading.joules_gross == pytest.approx(20.0)
    assert reading.joules == pytest.approx(20.0 - 10.0 * reading.seconds)
    assert reading.idle_watts == 10.0


def test_no_readable_counter_falls_back_to_a_labelled_estimate(tmp_path, powercap):
    assert isinstance(meter_for("cpu", rapl_root=tmp_path / "absent"), EstimatedMeter)
    (powercap / "intel-rapl:0" / "energy_uj").unlink()
    (powercap / "intel-rapl:0" / "intel-rapl:0:1" / "energy_uj").unlink()
    assert isinstance(meter_for("cpu", rapl_root=powercap, measure_idle=False), EstimatedMeter)
    assert isinstance(meter_for(None, rapl_root=tmp_path / "x", measure_idle=False), EstimatedMeter)


def test_energy_block_arithmetic_and_labels(monkeypatch):
    monkeypatch.delenv("EVALSUITE_CARBON_INTENSITY", raising=False)
    reading = Reading("estimated", 36.0, 2.0, ["cpu"], assumption="a stated assumption")
    block = energy_block(reading, n_samples=12, tokens=4000)
    assert block["joules_per_sample"] == pytest.approx(3.0)
    assert block["joules_per_1k_tokens"] == pytest.approx(9.0)
    assert block["co2e_g"] == pytest.approx(36.0 / 3.6e6 * 480.0)
    assert "Ember" in block["carbon_intensity_source"] and block["assumption"] == "a stated assumption"
    assert label(block) == "estimated" and label({"method": "measured-rapl"}) == "measured" and label(None) == "n/a"
    monkeypatch.setenv("EVALSUITE_CARBON_INTENSITY", "100")
    assert energy_block(reading, n_samples=0, tokens=None)["co2e_g"] == pytest.approx(1e-3)
    monkeypatch.setenv("EVALSUITE_CARBON_INTENSITY", "lots")
    with pytest.raises(UserError, match="EVALSUITE_CARBON_INTENSITY"):
        energy_block(reading, n_samples=1, tokens=1)


def test_the_record_schema_refuses_an_unlabelled_or_bare_estimate():
    from evalsuite.records import record_problems

    def record(energy):
        return {"schema_version": 2, "run_id": "r", "model": "m", "task": "t", "metrics": {},
                "manifest": {"energy": energy}}

    block = energy_block(Reading("estimated", 2.0, 1.0, ["cpu"], assumption="stated"), n_samples=4, tokens=None)
    assert record_problems(record(block)) == []
    bare = {k: v for k, v in block.items() if k != "assumption"}
    assert any("assumption" in p for p in record_problems(record(bare)))
    assert any("method" in p for p in record_problems(record({**block, "method": "guessed"})))
