"""The policy: supervised fine-tuning of a tactic generator on SFT pairs (segment, step or
whole-proof granularity), with the generator's own prompt encoding, and the retrieval (KNN)
policy at each granularity.

``seg-prover policy train`` drives :class:`PolicyTrainer`; torch and transformers are imported
only when training starts.
"""

from rollout.policy.data import BadLine, PolicyDataset, PolicyExample
from rollout.policy.trainer import PolicyTrainer

__all__ = ["BadLine", "PolicyDataset", "PolicyExample", "PolicyTrainer"]
