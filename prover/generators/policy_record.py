"""What a trained policy checkpoint says about its own prompt: a small JSON beside the weights.

:class:`rollout.PolicyTrainer` writes :data:`RECORD_NAME` into its output directory;
:meth:`HFTacticGenerator.from_pretrained <prover.generators.hf.HFTacticGenerator.from_pretrained>`
reads it when no template is given, so ``--generator hf:OUTPUT_DIR`` serves the checkpoint with
the prompt it was trained on and no flags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.errors import ConfigError, DataFormatError
from prover.generators.templates import PromptTemplate

RECORD_NAME = "seg_prover_policy.json"
"""File name of the record inside a checkpoint directory."""

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PolicyRecord:
    """A checkpoint's prompt template and model kind, with free-form training facts
    (``info``: base model, data file, counts) kept for people reading the folder."""

    template: PromptTemplate
    kind: str
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "kind": self.kind,
                "template": {"text": self.template.text, "name": self.template.name,
                             "source": self.template.source},
                "info": dict(self.info)}


def write_policy_record(directory: str | Path, record: PolicyRecord) -> Path:
    """Write ``record`` as :data:`RECORD_NAME` in ``directory``; returns the file's path."""
    path = Path(directory) / RECORD_NAME
    path.write_text(json.dumps(record.to_dict(), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def read_policy_record(name_or_path: str | Path) -> PolicyRecord | None:
    """The record of a local checkpoint directory, or ``None`` when there is none (a hub
    name, a checkpoint not trained here). A record that cannot be read raises
    :class:`DataFormatError`: serving with a guessed template would fail silently."""
    path = Path(name_or_path) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"cannot read the policy record: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise DataFormatError("expected a JSON object", path=path)
    template = data.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("text"), str):
        raise DataFormatError("missing the template text", path=path, field="template")
    kind = data.get("kind")
    if kind not in ("seq2seq", "causal"):
        raise DataFormatError(f"expected 'seq2seq' or 'causal', got {kind!r}", path=path,
                              field="kind")
    info = data.get("info")
    try:
        prompt = PromptTemplate(template["text"], str(template.get("name", "custom")),
                                str(template.get("source", "")))
    except ConfigError as exc:  # not a usable template
        raise DataFormatError(str(exc), path=path, field="template") from exc
    return PolicyRecord(prompt, kind, info if isinstance(info, dict) else {})


__all__ = ["RECORD_NAME", "PolicyRecord", "read_policy_record", "write_policy_record"]
