"""Generative distillation: stage 1 (conditional GAN, ``stage1_gan``), stage 2 (the global and
local matching losses through a random model pool, ``stage2_matching``), the run loop that trains
both (``distillation``), its config (``run_config``) and its checkpoints."""
