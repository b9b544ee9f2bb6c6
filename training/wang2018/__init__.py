"""Dataset Distillation of Wang, Zhu, Torralba and Efros (2018): learned pixels and step sizes.

- ``unroll``: the functional inner loop (S steps x E epochs of SGD with learned rates).
- ``distill``: the outer loop (Adam on pixels and rates), fixed-init, random-init and
  pool (pre-trained weights) modes; ``save_result`` writes the runtime-loadable folder.
- ``malicious``: the K -> T poisoning objective of sec. 3.6 (eq. 10) and its metrics.
- ``adaptation``: distillation from pre-trained weights (sec. 3.5) and its real-subset baseline.
- ``linear``: the least-squares analysis of sec. 3.3, exactly.
- ``evaluate``: apply the learned schedule to fresh or given weights and measure test accuracy.
"""

from .distill_config import WangConfig
from .unroll import apply_schedule, sample_init, softplus_inverse, step_slices, unroll

__all__ = ["WangConfig", "apply_schedule", "sample_init", "softplus_inverse", "step_slices", "unroll"]
