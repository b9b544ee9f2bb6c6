"""Training: global-local generative distillation, Wang et al. 2018, evaluation harness, publishing."""
