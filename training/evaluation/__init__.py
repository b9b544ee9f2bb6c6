"""The evaluation harness: one protocol for every method (``harness``), the classifier training
inside it, where training images come from (``sources``), and merging split evaluations."""
