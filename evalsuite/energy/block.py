"""The energy block of a record's manifest, and the carbon it implies.

    {"method": "estimated", "joules": 41.2, "joules_per_sample": 0.206,
     "joules_per_1k_tokens": 3.1, "wall_time_s": 18.8, "devices": [...],
     "idle_watts": null, "co2e_g": 0.0055, "carbon_intensity_g_per_kwh": 480,
     "carbon_intensity_source": "...", "assumption": "..."}

CO2e is energy x grid carbon intensity. The default intensity is the world
average of electricity generation in 2023, 480 gCO2e/kWh (Ember, Global
Electricity Review 2024); set `EVALSUITE_CARBON_INTENSITY` (gCO2e/kWh) for the
grid your machine runs on.
"""

from __future__ import annotations

import os

from evalsuite.energy.meters import Reading

DEFAULT_CARBON_INTENSITY = 480.0
DEFAULT_CARBON_SOURCE = "world average 2023, Ember Global Electricity Review 2024 (offline default)"


def carbon_intensity() -> tuple[float, str]:
    """(gCO2e per kWh, where it came from)."""
    value = os.environ.get("EVALSUITE_CARBON_INTENSITY")
    if value:
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number < 0:
            from evalsuite.errors import UserError

            raise UserError(f"EVALSUITE_CARBON_INTENSITY={value!r} is not a carbon intensity; set it to gCO2e per "
                            "kWh, e.g. 350, or unset it")
        return number, "EVALSUITE_CARBON_INTENSITY"
    return DEFAULT_CARBON_INTENSITY, DEFAULT_CARBON_SOURCE


def energy_block(reading: Reading, *, n_samples: int | None, tokens: int | None) -> dict:
    """The manifest's energy block for one record."""
    intensity, source = carbon_intensity()
    joules = reading.joules
    block = {
        "method": reading.method,
        "joules": round(joules, 6),
        "joules_per_sample": round(joules / n_samples, 9) if n_samples else None,
        "joules_per_1k_tokens": round(1000 * joules / tokens, 9) if tokens else None,
        "wall_time_s": round(reading.seconds, 4),
        "devices": list(reading.devices),
        "idle_watts": None if reading.idle_watts is None else round(reading.idle_watts, 4),
        "joules_gross": None if reading.joules_gross is None else round(reading.joules_gross, 6),
        "co2e_g": round(joules / 3.6e6 * intensity, 9),
        "carbon_intensity_g_per_kwh": intensity,
        "carbon_intensity_source": source,
        "n_samples": n_samples,
    }
    if reading.assumption:
        block["assumption"] = reading.assumption
    if reading.details:
        block["details"] = dict(reading.details)
    return block


def label(block: dict | None) -> str:
    """'measured' or 'estimated', for tables and pages that show a figure."""
    if not block:
        return "n/a"
    return "estimated" if block.get("method") == "estimated" else "measured"
