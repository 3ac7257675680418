"""What an evaluation cost in energy: meters, the energy block of a record, carbon.

`meter_for(device)` picks the best counter this machine offers: the GPU's NVML
energy counter (through Zeus), the CPU's RAPL counters, or, on machines with
neither, an estimate from CPU time x a rated power per hardware thread. Every
figure carries its method (`measured-nvml`, `measured-rapl`, `estimated`), and an
estimate carries the assumption it rests on, so a measured and an estimated
figure are never compared unmarked.
"""

from evalsuite.energy.block import energy_block, label
from evalsuite.energy.meters import METHODS, Reading, meter_for

__all__ = ["METHODS", "Reading", "energy_block", "label", "meter_for"]
